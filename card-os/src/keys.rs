//! Key references and roles (ISO 7816-8 §5.1; the UZI-pas carries three key pairs, CPS §1 table 4).
//!
//! Private keys live only in the card image and are loaded for one operation at a time (see `sign.rs`);
//! no command ever reads one out.

use crate::status::Status;

/// How many key slots a card has.
pub const KEY_SLOTS: usize = 3;

/// A private key reference (`84` in MSE, P2 of GENERATE / PUT DATA / INTERNAL AUTHENTICATE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyRef {
    /// `01`: authentication ("authenticiteit"): client authentication and signatures within a session.
    Authentication,
    /// `02`: non-repudiation signature ("handtekening"): a fresh PIN verification for every signature.
    Signature,
    /// `03`: encryption ("vertrouwelijkheid"): never signs.
    Encryption,
}

impl KeyRef {
    /// All references, in slot order.
    pub const ALL: [KeyRef; KEY_SLOTS] = [KeyRef::Authentication, KeyRef::Signature, KeyRef::Encryption];

    /// Unknown references answer `6A88`.
    pub fn from_byte(b: u8) -> Result<Self, Status> {
        match b {
            0x01 => Ok(KeyRef::Authentication),
            0x02 => Ok(KeyRef::Signature),
            0x03 => Ok(KeyRef::Encryption),
            _ => Err(Status::ReferenceNotFound),
        }
    }

    pub const fn to_byte(self) -> u8 {
        match self {
            KeyRef::Authentication => 0x01,
            KeyRef::Signature => 0x02,
            KeyRef::Encryption => 0x03,
        }
    }

    pub const fn index(self) -> usize {
        self.to_byte() as usize - 1
    }

    /// The key may sign with PSO COMPUTE DIGITAL SIGNATURE.
    pub const fn may_sign(self) -> bool {
        matches!(self, KeyRef::Authentication | KeyRef::Signature)
    }

    /// The key may answer INTERNAL AUTHENTICATE.
    pub const fn may_authenticate(self) -> bool {
        matches!(self, KeyRef::Authentication)
    }
}

/// Where a key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// GENERATE ASYMMETRIC KEY PAIR on the card (ZORG-ID Smartcard).
    Generated,
    /// Injected by the personaliser with PUT DATA (UZI-pas: CPS §6.1.1, keys made in the personaliser's HSM).
    Imported,
}

/// What a host may know of a key slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    pub key: KeyRef,
    pub origin: KeyOrigin,
    /// Uncompressed SEC1 point `04‖X‖Y`.
    pub public: [u8; 65],
}
