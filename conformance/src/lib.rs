//! The zorgcard harness (host side): everything that decides *what* goes on a card, and the `zorgcard` CLI.
//!
//! It is not the chip (`card-os`) and it does not move bytes (`reader-sim`); it drives both. The folders show the
//! architecture, and dependencies point down this list, never up:
//! - [`issuance`]: the test PKI, PKCS#15, card profiles, `card new` and `card inspect`.
//! - [`exchange`]: APDU exchanges with GET RESPONSE and whole-EF reads, as middleware does them;
//!   [`pcsc_reader`]: a card in a PC/SC reader as a [`reader_sim::reader::Transmit`].
//! - [`suite`]: the data-driven conformance suite (scripts, runner, reports).
//! - [`scenario`]: application scenarios played in a vpcd slot.
//! - [`chaos`]: `zorgcard chaos`, seeded life-cycle events on a scenario's card, and a summary of the reactions.
//! - [`replay`]: `zorgcard record` and `zorgcard replay`.
//! - [`portal`]: the ZORG-ID portal registry, its records of issued cards, and the CRL.
//! - [`personaliser`]: the reference ZORG-ID personaliser (two readers).
//! - [`serve`]: fixture cards in vpcd slots (`zorgcard serve`), and its control loop on standard input;
//!   [`pcscd_config`]: pcscd for many readers (a `reader.conf` per vpcd build, a pcscd per job).
//! - [`cli`]: the `zorgcard` subcommands the thin binary calls, and their one error type.
//! - [`fixtures`]: the fixtures the binary carries (or a directory of the same layout), the one way to reach them;
//!   [`fixture_format`]: what the profile, scenario and script files share (reading, `format = N`, errors).

pub mod chaos;
pub mod cli;
pub mod exchange;
pub mod fixture_format;
pub mod fixtures;
pub mod issuance;
pub mod pcsc_reader;
pub mod pcscd_config;
pub mod personaliser;
pub mod portal;
pub mod replay;
pub mod scenario;
pub mod serve;
pub mod suite;
