//! The zorgcard harness: what checks a card, or an application against a card.
//!
//! - [`suite`]: the data-driven conformance suite (scripts, runner, reports), against simulated cards in-process or
//!   a card in a PC/SC reader.
//! - [`scenario`]: application scenarios played in a vpcd slot (a card, its setup, and the events around it).
//!
//! It builds on `issuance` (what goes on a card) and `reader-sim` (how bytes reach it), and knows neither the
//! portal, the personaliser nor the command line: `tests/architecture.rs` in the `zorgcard` crate checks that.

pub mod scenario;
pub mod suite;
