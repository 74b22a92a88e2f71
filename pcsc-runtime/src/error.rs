//! What a PC/SC call answered, one variant per return code of pcsc-lite's `pcsclite.h` (the codes are Microsoft's,
//! `winerror.h`), plus [`Error::NotInstalled`] for a machine with no PC/SC library at all.

macro_rules! errors {
    ($( $(#[$doc:meta])* $name:ident = $code:literal => $text:literal, )*) => {
        /// A PC/SC failure. `Copy`, so it can be matched and passed on freely; [`Error::code`] gives the number.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Error {
            /// No PC/SC client library could be opened (`libpcsclite.so.1`, the PCSC framework, `winscard.dll`).
            NotInstalled,
            $( $(#[$doc])* $name, )*
            /// A code this crate does not name.
            Unknown(u32),
        }

        impl Error {
            /// The error for a PC/SC return code (never `SCARD_S_SUCCESS`).
            pub fn from_code(code: u32) -> Error {
                match code {
                    $( $code => Error::$name, )*
                    other => Error::Unknown(other),
                }
            }

            /// The PC/SC return code (`0x8010_00xx`); 0 for [`Error::NotInstalled`], which has none.
            pub fn code(self) -> u32 {
                match self {
                    Error::NotInstalled => 0,
                    $( Error::$name => $code, )*
                    Error::Unknown(code) => code,
                }
            }

            fn text(self) -> &'static str {
                match self {
                    Error::NotInstalled => "no PC/SC library on this machine (libpcsclite.so.1)",
                    $( Error::$name => $text, )*
                    Error::Unknown(_) => "an unknown PC/SC error",
                }
            }
        }
    };
}

errors! {
    /// `SCARD_F_INTERNAL_ERROR`.
    InternalError = 0x8010_0001 => "an internal consistency check failed",
    /// `SCARD_E_CANCELLED`.
    Cancelled = 0x8010_0002 => "the action was cancelled by an SCardCancel request",
    /// `SCARD_E_INVALID_HANDLE`.
    InvalidHandle = 0x8010_0003 => "the supplied handle was invalid",
    /// `SCARD_E_INVALID_PARAMETER`.
    InvalidParameter = 0x8010_0004 => "one or more of the supplied parameters could not be properly interpreted",
    /// `SCARD_E_INVALID_TARGET`.
    InvalidTarget = 0x8010_0005 => "registry startup information is missing or invalid",
    /// `SCARD_E_NO_MEMORY`.
    NoMemory = 0x8010_0006 => "not enough memory available to complete this command",
    /// `SCARD_F_WAITED_TOO_LONG`.
    WaitedTooLong = 0x8010_0007 => "an internal consistency timer has expired",
    /// `SCARD_E_INSUFFICIENT_BUFFER`.
    InsufficientBuffer = 0x8010_0008 => "the data buffer to receive returned data is too small",
    /// `SCARD_E_UNKNOWN_READER`.
    UnknownReader = 0x8010_0009 => "the specified reader name is not recognized",
    /// `SCARD_E_TIMEOUT`.
    Timeout = 0x8010_000A => "the user-specified timeout value has expired",
    /// `SCARD_E_SHARING_VIOLATION`.
    SharingViolation = 0x8010_000B => "the smart card cannot be accessed because of other connections outstanding",
    /// `SCARD_E_NO_SMARTCARD`.
    NoSmartcard = 0x8010_000C => "the operation requires a smart card, but no smart card is in the device",
    /// `SCARD_E_UNKNOWN_CARD`.
    UnknownCard = 0x8010_000D => "the specified smart card name is not recognized",
    /// `SCARD_E_CANT_DISPOSE`.
    CantDispose = 0x8010_000E => "the system could not dispose of the media in the requested manner",
    /// `SCARD_E_PROTO_MISMATCH`.
    ProtoMismatch = 0x8010_000F => "the requested protocols are incompatible with the protocol in use",
    /// `SCARD_E_NOT_READY`.
    NotReady = 0x8010_0010 => "the reader or smart card is not ready to accept commands",
    /// `SCARD_E_INVALID_VALUE`.
    InvalidValue = 0x8010_0011 => "one or more of the supplied parameter values could not be properly interpreted",
    /// `SCARD_E_SYSTEM_CANCELLED`.
    SystemCancelled = 0x8010_0012 => "the action was cancelled by the system",
    /// `SCARD_F_COMM_ERROR`.
    CommError = 0x8010_0013 => "an internal communications error has been detected",
    /// `SCARD_F_UNKNOWN_ERROR`.
    UnknownError = 0x8010_0014 => "an internal error has been detected, but the source is unknown",
    /// `SCARD_E_INVALID_ATR`.
    InvalidAtr = 0x8010_0015 => "an ATR obtained from the registry is not a valid ATR string",
    /// `SCARD_E_NOT_TRANSACTED`.
    NotTransacted = 0x8010_0016 => "an attempt was made to end a non-existent transaction",
    /// `SCARD_E_READER_UNAVAILABLE`.
    ReaderUnavailable = 0x8010_0017 => "the specified reader is not currently available for use",
    /// `SCARD_P_SHUTDOWN`.
    Shutdown = 0x8010_0018 => "the operation has been aborted to allow the server application to exit",
    /// `SCARD_E_PCI_TOO_SMALL`.
    PciTooSmall = 0x8010_0019 => "the PCI receive buffer was too small",
    /// `SCARD_E_READER_UNSUPPORTED`.
    ReaderUnsupported = 0x8010_001A => "the reader driver does not meet minimal requirements for support",
    /// `SCARD_E_DUPLICATE_READER`.
    DuplicateReader = 0x8010_001B => "the reader driver did not produce a unique reader name",
    /// `SCARD_E_CARD_UNSUPPORTED`.
    CardUnsupported = 0x8010_001C => "the smart card does not meet minimal requirements for support",
    /// `SCARD_E_NO_SERVICE`.
    NoService = 0x8010_001D => "the smart card resource manager (pcscd) is not running",
    /// `SCARD_E_SERVICE_STOPPED`.
    ServiceStopped = 0x8010_001E => "the smart card resource manager has shut down",
    /// `SCARD_E_UNEXPECTED`.
    Unexpected = 0x8010_001F => "an unexpected card error has occurred",
    /// `SCARD_E_UNSUPPORTED_FEATURE`.
    UnsupportedFeature = 0x8010_0022 => "this smart card does not support the requested feature",
    /// `SCARD_E_NO_READERS_AVAILABLE`.
    NoReadersAvailable = 0x8010_002E => "cannot find a smart card reader",
    /// `SCARD_W_UNSUPPORTED_CARD`.
    UnsupportedCard = 0x8010_0065 => "the reader cannot communicate with the card, due to ATR string configuration conflicts",
    /// `SCARD_W_UNRESPONSIVE_CARD`.
    UnresponsiveCard = 0x8010_0066 => "the smart card is not responding to a reset",
    /// `SCARD_W_UNPOWERED_CARD`.
    UnpoweredCard = 0x8010_0067 => "power has been removed from the smart card",
    /// `SCARD_W_RESET_CARD`.
    ResetCard = 0x8010_0068 => "the smart card has been reset, so any shared state information is invalid",
    /// `SCARD_W_REMOVED_CARD`.
    RemovedCard = 0x8010_0069 => "the smart card has been removed, so further communication is not possible",
    /// `SCARD_W_SECURITY_VIOLATION`.
    SecurityViolation = 0x8010_006A => "access was denied because of a security violation",
    /// `SCARD_W_WRONG_CHV`.
    WrongChv = 0x8010_006B => "the card cannot be accessed because the wrong PIN was presented",
    /// `SCARD_W_CHV_BLOCKED`.
    ChvBlocked = 0x8010_006C => "the card cannot be accessed because the maximum number of PIN entry attempts has been reached",
    /// `SCARD_W_EOF`.
    Eof = 0x8010_006D => "the end of the smart card file has been reached",
    /// `SCARD_W_CANCELLED_BY_USER`.
    CancelledByUser = 0x8010_006E => "the action was cancelled by the user",
    /// `SCARD_W_CARD_NOT_AUTHENTICATED`.
    CardNotAuthenticated = 0x8010_006F => "no PIN was presented to the smart card",
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NotInstalled => write!(f, "{}: {}", self.text(), crate::HOW_TO_INSTALL),
            _ => write!(f, "{} (0x{:08X})", self.text(), self.code()),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_ones_are_kept() {
        for e in [Error::NoService, Error::RemovedCard, Error::NoReadersAvailable, Error::Timeout] {
            assert_eq!(Error::from_code(e.code()), e);
        }
        assert_eq!(Error::from_code(0x8010_0042), Error::Unknown(0x8010_0042));
        assert_eq!(Error::Unknown(0x8010_0042).code(), 0x8010_0042);
    }

    #[test]
    fn messages_name_the_code_or_what_to_install() {
        assert_eq!(Error::NoService.to_string(), "the smart card resource manager (pcscd) is not running (0x8010001D)");
        assert!(Error::NotInstalled.to_string().ends_with("apt-get install pcscd libpcsclite1 vsmartcard-vpcd"));
    }
}
