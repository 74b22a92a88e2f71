//! Issuance: everything that decides what goes on a fixture card before it is served.
//!
//! - [`pki`]: the TEST-ONLY CA hierarchy, the UZI-register and ZORG-ID certificate profiles (CPS UZI-register §7.1),
//!   and CRLs.
//! - [`test_keys`]: the TEST-ONLY pool of RSA-2048 holder keys (`fixtures/keys/`); [`key_import`]: the IsoApplet
//!   APDUs that inject such a key into the card.
//! - [`pkcs15`]: DER encoders for the PKCS#15 files OpenSC reads (EF.DIR, ODF, TokenInfo, AODF, PrKDF, PuKDF, CDF).
//! - [`profile`]: card profiles loaded from `fixtures/profiles/*.toml`.
//! - [`card_new`]: personalising a fixture card through the card's own commands (`zorgcard card new`).
//! - [`inspect`]: reading a card back through its commands (`zorgcard card inspect`).

pub mod card_new;
pub mod inspect;
pub mod key_import;
pub mod pkcs15;
pub mod pki;
pub mod profile;
pub mod test_keys;

/// What can stop a card being made from a profile: the profile itself, the TEST PKI, or the personalisation. Every
/// command that makes cards (`serve`, the suite, `card new`) carries it as one variant, so the three causes and
/// their messages are written once, here.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// A profile could not be loaded.
    #[error(transparent)]
    Profile(#[from] profile::ProfileError),
    /// The test PKI's fixtures could not be read.
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    /// A card could not be personalised.
    #[error(transparent)]
    CardNew(#[from] card_new::CardNewError),
}

/// `From` each cause of a [`CardError`] for an error enum with a `Card(CardError)` variant, so that `?` on a
/// profile, PKI or personalisation result works in that enum's functions as it did with three variants.
#[macro_export]
macro_rules! from_card_errors {
    ($error:ty) => {
        impl From<$crate::profile::ProfileError> for $error {
            fn from(e: $crate::profile::ProfileError) -> Self {
                Self::Card(e.into())
            }
        }
        impl From<$crate::pki::PkiError> for $error {
            fn from(e: $crate::pki::PkiError) -> Self {
                Self::Card(e.into())
            }
        }
        impl From<$crate::card_new::CardNewError> for $error {
            fn from(e: $crate::card_new::CardNewError) -> Self {
                Self::Card(e.into())
            }
        }
    };
}
