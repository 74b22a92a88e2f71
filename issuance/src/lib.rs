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
