//! Status words (ISO/IEC 7816-4 §5.6, tables 5–6).
//!
//! A handler returns `Result<T, Status>`: the error type *is* the status word, so no code path can forget to
//! answer. Warnings (`62xx`, `63xx`) may carry response data; errors never do.

use core::fmt;

/// One variant per meaning; each doc comment gives the hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `9000`
    Success,
    /// `61xx`: xx more bytes available with GET RESPONSE (`00` = 256 or more).
    MoreAvailable(u8),
    /// `6282`: end of file reached before reading Le bytes.
    EndOfFileBeforeLe,
    /// `6285`: selected file (here: the card) in termination state.
    TerminationState,
    /// `63Cx`: verification failed, x tries left.
    RemainingRetries(u8),
    /// `6581`: memory failure (the NVM write did not complete, e.g. power lost).
    MemoryFailure,
    /// `6700`: wrong length (Lc or Le).
    WrongLength,
    /// `6881`: logical channel not supported.
    LogicalChannelNotSupported,
    /// `6882`: secure messaging not supported.
    SecureMessagingNotSupported,
    /// `6883`: last command of the chain expected.
    LastCommandOfChainExpected,
    /// `6981`: command incompatible with file structure.
    IncompatibleFileStructure,
    /// `6982`: security status not satisfied.
    SecurityStatusNotSatisfied,
    /// `6983`: authentication method blocked.
    AuthenticationBlocked,
    /// `6984`: reference data not usable (PIN not set; key outside its validity window).
    ReferenceDataNotUsable,
    /// `6985`: conditions of use not satisfied.
    ConditionsOfUseNotSatisfied,
    /// `6986`: command not allowed (no current EF).
    NoCurrentEf,
    /// `6A80`: incorrect parameters in the data field.
    IncorrectData,
    /// `6A81`: function not supported.
    FunctionNotSupported,
    /// `6A82`: file or application not found.
    FileNotFound,
    /// `6A84`: not enough memory space in the file.
    NotEnoughMemory,
    /// `6A86`: incorrect parameters P1-P2.
    IncorrectP1P2,
    /// `6A88`: referenced data or reference data not found.
    ReferenceNotFound,
    /// `6A89`: file already exists.
    FileAlreadyExists,
    /// `6A8A`: DF name already exists.
    DfNameAlreadyExists,
    /// `6B00`: wrong parameters P1-P2 (offset outside the EF).
    OffsetOutsideFile,
    /// `6Cxx`: wrong Le field; xx is the exact number of available bytes.
    WrongLe(u8),
    /// `6D00`: instruction code not supported or invalid.
    InstructionNotSupported,
    /// `6E00`: class not supported.
    ClassNotSupported,
    /// `6F00`: no precise diagnosis.
    NoPreciseDiagnosis,
    /// Any other status word, as read from the wire by a host.
    Other(u16),
}

impl Status {
    /// The two status bytes as one number, `SW1 << 8 | SW2`.
    pub const fn to_u16(self) -> u16 {
        match self {
            Status::Success => 0x9000,
            Status::MoreAvailable(n) => 0x6100 | n as u16,
            Status::EndOfFileBeforeLe => 0x6282,
            Status::TerminationState => 0x6285,
            Status::RemainingRetries(n) => 0x63C0 | (n as u16 & 0x0F),
            Status::MemoryFailure => 0x6581,
            Status::WrongLength => 0x6700,
            Status::LogicalChannelNotSupported => 0x6881,
            Status::SecureMessagingNotSupported => 0x6882,
            Status::LastCommandOfChainExpected => 0x6883,
            Status::IncompatibleFileStructure => 0x6981,
            Status::SecurityStatusNotSatisfied => 0x6982,
            Status::AuthenticationBlocked => 0x6983,
            Status::ReferenceDataNotUsable => 0x6984,
            Status::ConditionsOfUseNotSatisfied => 0x6985,
            Status::NoCurrentEf => 0x6986,
            Status::IncorrectData => 0x6A80,
            Status::FunctionNotSupported => 0x6A81,
            Status::FileNotFound => 0x6A82,
            Status::NotEnoughMemory => 0x6A84,
            Status::IncorrectP1P2 => 0x6A86,
            Status::ReferenceNotFound => 0x6A88,
            Status::FileAlreadyExists => 0x6A89,
            Status::DfNameAlreadyExists => 0x6A8A,
            Status::OffsetOutsideFile => 0x6B00,
            Status::WrongLe(n) => 0x6C00 | n as u16,
            Status::InstructionNotSupported => 0x6D00,
            Status::ClassNotSupported => 0x6E00,
            Status::NoPreciseDiagnosis => 0x6F00,
            Status::Other(sw) => sw,
        }
    }

    /// SW1 and SW2.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.to_u16().to_be_bytes()
    }

    /// Decode a status word read from the wire (used by hosts for traces and checks).
    pub const fn from_sw(sw: u16) -> Status {
        let [sw1, sw2] = sw.to_be_bytes();
        match (sw1, sw2) {
            (0x90, 0x00) => Status::Success,
            (0x61, n) => Status::MoreAvailable(n),
            (0x62, 0x82) => Status::EndOfFileBeforeLe,
            (0x62, 0x85) => Status::TerminationState,
            (0x63, n) if n & 0xF0 == 0xC0 => Status::RemainingRetries(n & 0x0F),
            (0x65, 0x81) => Status::MemoryFailure,
            (0x67, 0x00) => Status::WrongLength,
            (0x68, 0x81) => Status::LogicalChannelNotSupported,
            (0x68, 0x82) => Status::SecureMessagingNotSupported,
            (0x68, 0x83) => Status::LastCommandOfChainExpected,
            (0x69, 0x81) => Status::IncompatibleFileStructure,
            (0x69, 0x82) => Status::SecurityStatusNotSatisfied,
            (0x69, 0x83) => Status::AuthenticationBlocked,
            (0x69, 0x84) => Status::ReferenceDataNotUsable,
            (0x69, 0x85) => Status::ConditionsOfUseNotSatisfied,
            (0x69, 0x86) => Status::NoCurrentEf,
            (0x6A, 0x80) => Status::IncorrectData,
            (0x6A, 0x81) => Status::FunctionNotSupported,
            (0x6A, 0x82) => Status::FileNotFound,
            (0x6A, 0x84) => Status::NotEnoughMemory,
            (0x6A, 0x86) => Status::IncorrectP1P2,
            (0x6A, 0x88) => Status::ReferenceNotFound,
            (0x6A, 0x89) => Status::FileAlreadyExists,
            (0x6A, 0x8A) => Status::DfNameAlreadyExists,
            (0x6B, 0x00) => Status::OffsetOutsideFile,
            (0x6C, n) => Status::WrongLe(n),
            (0x6D, 0x00) => Status::InstructionNotSupported,
            (0x6E, 0x00) => Status::ClassNotSupported,
            (0x6F, 0x00) => Status::NoPreciseDiagnosis,
            _ => Status::Other(sw),
        }
    }

    /// Warnings (SW1 `62`/`63`) keep the response data; errors drop it (ISO 7816-4 §5.6).
    pub const fn is_warning(self) -> bool {
        matches!(self.to_bytes()[0], 0x62 | 0x63)
    }

    /// What the status word means, in words, for traces and reports.
    pub const fn description(&self) -> &'static str {
        match self {
            Status::Success => "OK",
            Status::MoreAvailable(_) => "more data available (GET RESPONSE)",
            Status::EndOfFileBeforeLe => "end of file reached before Le bytes",
            Status::TerminationState => "card terminated",
            Status::RemainingRetries(_) => "verification failed, tries left",
            Status::MemoryFailure => "memory failure",
            Status::WrongLength => "wrong length",
            Status::LogicalChannelNotSupported => "logical channel not supported",
            Status::SecureMessagingNotSupported => "secure messaging not supported",
            Status::LastCommandOfChainExpected => "last command of the chain expected",
            Status::IncompatibleFileStructure => "command incompatible with file structure",
            Status::SecurityStatusNotSatisfied => "security status not satisfied",
            Status::AuthenticationBlocked => "authentication method blocked",
            Status::ReferenceDataNotUsable => "reference data not usable",
            Status::ConditionsOfUseNotSatisfied => "conditions of use not satisfied",
            Status::NoCurrentEf => "no current EF",
            Status::IncorrectData => "incorrect data field",
            Status::FunctionNotSupported => "function not supported",
            Status::FileNotFound => "file or application not found",
            Status::NotEnoughMemory => "not enough memory",
            Status::IncorrectP1P2 => "incorrect P1-P2",
            Status::ReferenceNotFound => "referenced data not found",
            Status::FileAlreadyExists => "file already exists",
            Status::DfNameAlreadyExists => "DF name already exists",
            Status::OffsetOutsideFile => "offset outside the file",
            Status::WrongLe(_) => "wrong Le, resend with the exact length",
            Status::InstructionNotSupported => "instruction not supported",
            Status::ClassNotSupported => "class not supported",
            Status::NoPreciseDiagnosis => "no precise diagnosis",
            Status::Other(_) => "unknown status",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} {}", self.to_u16(), self.description())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_word() {
        for sw in 0u16..=0xFFFF {
            assert_eq!(Status::from_sw(sw).to_u16(), sw, "{sw:04X}");
        }
    }
}
