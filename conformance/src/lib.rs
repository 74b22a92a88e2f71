//! The zorgcard harness (host side): everything that decides *what* goes on a card.
//!
//! Modules:
//! - [`pki`]: the test-only CA hierarchy and UZI-register / ZORG-ID certificate profiles, CRLs.
//! - [`test_keys`]: the TEST-ONLY pool of RSA-2048 holder keys (`fixtures/keys/`) and their CRT form;
//!   [`key_import`]: the APDUs that inject such a key into the card.
//! - [`pkcs15`]: DER encoders for the PKCS#15 files OpenSC reads (EF.DIR, ODF, TokenInfo, AODF, PrKDF, PuKDF, CDF).
//! - [`profile`]: card profiles loaded from `fixtures/profiles/*.toml`.
//! - [`card_new`]: personalising a fixture card through the card's own commands; [`exchange`]: APDU exchanges
//!   with GET RESPONSE and whole-EF reads, as middleware does them.
//! - [`serve`]: fixture cards in vpcd slots (`zorgcard serve`); [`inspect`]: `zorgcard card inspect`.

pub mod card_new;
pub mod crl;
pub mod exchange;
pub mod inspect;
pub mod key_import;
pub mod pcsc_reader;
pub mod personaliser;
pub mod pkcs15;
pub mod pki;
pub mod portal;
pub mod profile;
pub mod replay;
pub mod report;
pub mod scenario;
pub mod script;
pub mod serve;
pub mod suite;
pub mod test_keys;
