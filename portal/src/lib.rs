//! The ZORG-ID portal's card management: a small persisted registry of issued ZORG-ID Smartcards, who may manage
//! them, and how the portal's decisions reach a simulated card.
//!
//! Seed `002_9d0d588546332f3e.txt` ("Registreren organisatie"): a representative of a healthcare organisation
//! registers it once and becomes its portal *administrator*, who can then "bekijken, blokkeren, deblokkeren,
//! intrekken" every linked card. Seed `003_ee747b7425e6bc58.txt`: the representative is the organisation's
//! *beheerder* and can revoke cards; the care worker handles "aanmaken en intrekken" of their own card
//! ("Eigen beheer"). So here:
//!
//! | actor | register | appoint | view | block / unblock | revoke |
//! |---|---|---|---|---|---|
//! | administrator (one per organisation) | once, first | beheerders | all cards of the organisation | yes | yes |
//! | beheerder (appointed) | — | — | all cards of the organisation | yes | yes |
//! | worker (everyone else) | — | — | their own cards | — | their own cards |
//!
//! Actors are named by UZI number (`--as 900016528`): the real portal knows them from the UZI pass they log in
//! with; this test portal trusts the flag.
//!
//! The registry lives in a database ([`store`]): by default one SQLite file ([`DEFAULT_REGISTRY`]), or a
//! PostgreSQL database for a portal run as a service (`--database postgres://…`, [`StoreLocation`]).
//! Every command is one transaction: it takes the write lock, reads, applies the rule in [`Registry`], writes the
//! change and an audit row, and commits; it is acknowledged only after the commit, so concurrent commands each
//! land or are refused whole. A registry kept in the older TOML file is brought in once with
//! `zorgcard portal import-toml FILE`.
//!
//! How a decision reaches the card ([`apply_pending`], [`PortalGate`]):
//! - **Block** is a portal decision, not a card state: the real portal refuses a blocked card at its back end and
//!   lifts the block instantly, and the card's own PIN/PUK must not be able to undo it. So the host serving the
//!   card refuses every *use* of a blocked card — presenting or changing the PIN, the PUK, signing, INTERNAL
//!   AUTHENTICATE — with `6985` (conditions of use not satisfied) without passing it to the chip; reading
//!   certificates still works, so an application can show whose card it is. No PIN try is spent, nothing on the
//!   chip changes, and unblock takes effect at the next use.
//! - **Revoke** is final: the card's certificates go on the ZORG-ID TEST CA's CRL at once ([`crate::crl`]), and
//!   the chip is terminated (TERMINATE CARD USAGE, which card-os only accepts after the user PIN) the next time
//!   its holder presents the right PIN through the serving host: the host forwards the VERIFY, sends
//!   TERMINATE CARD USAGE while the PIN is verified and answers the VERIFY with `6285` (termination state), as the
//!   card answers everything from then on.

//!
//! Modules: [`record`] (an issued card), [`registry`] (the registry and its rules), [`store`] (the database and its
//! transactions), [`users`] (medewerkers: registered, deactivated, deleted), [`command`] (the CLI's portal commands), [`gate`] (decisions reaching the card), [`crl`] (the CRL
//! of revoked cards).

pub mod command;
pub mod crl;
pub mod gate;
pub mod record;
pub mod registry;
pub mod store;
pub mod users;

pub use self::command::{PortalAction, PortalCommand, portal_main, portal_run};
pub use self::gate::{CardAccess, PortalGate, PortalInterceptor, apply_pending};
pub use self::record::{CardRecord, CardStatus, IssuedCard, IssuedCertificate};
pub use self::registry::{Organisation, PortalError, Refusal, Registry, Role, record_issued};
pub use self::store::{AuditRow, Store, StoreError, StoreLocation};
pub use self::users::{MedewerkerField, NewMedewerker, User, UserStatus, WidCheck, WidDocument};

/// Portal database used when `--database` is not given: in the working directory, independent of the fixtures.
pub const DEFAULT_REGISTRY: &str = "zorgcard-portal.db";

/// The TOML registry format `zorgcard portal import-toml` reads (and `Registry::save` writes).
pub const FORMAT_VERSION: u32 = 1;
