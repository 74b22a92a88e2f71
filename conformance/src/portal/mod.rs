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
//! The registry is one TOML file (default [`DEFAULT_REGISTRY`]), rewritten atomically
//! (`reader_sim::image::save_atomic`) by each command. One writer at a time: commands do not lock the file.
//!
//! How a decision reaches the card ([`apply_pending`], [`PortalGate`]):
//! - **Block** is a portal decision, not a card state: the real portal refuses a blocked card at its back end and
//!   lifts the block instantly, and the card's own PIN/PUK must not be able to undo it. So the host serving the
//!   card refuses every *use* of a blocked card — presenting or changing the PIN, the PUK, signing, INTERNAL
//!   AUTHENTICATE — with `6985` (conditions of use not satisfied) without passing it to the chip; reading
//!   certificates still works, so an application can show whose card it is. No PIN try is spent, nothing on the
//!   chip changes, and unblock takes effect at the next use.
//! - **Revoke** is final: the card's certificates go on the ZORG-ID TEST CA's CRL at once ([`crate::portal::crl`]), and
//!   the chip is terminated (TERMINATE CARD USAGE, which card-os only accepts after the user PIN) the next time
//!   its holder presents the right PIN through the serving host: the host forwards the VERIFY, sends
//!   TERMINATE CARD USAGE while the PIN is verified and answers the VERIFY with `6285` (termination state), as the
//!   card answers everything from then on.

pub mod crl;

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use card_os::Status;
use reader_sim::reader::{Interceptor, ReaderError, Transmit};
use serde::{Deserialize, Serialize};

use crate::issuance::pki::RevokedEntry;

/// One certificate of an issued card, for the portal registry and the CRL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedCertificate {
    /// `authentication`, `signature` or `encryption`.
    pub role: String,
    /// Serial number, upper-case hex without leading zero bytes (as `openssl x509 -serial` prints it).
    pub serial: String,
}

/// What the portal registry records of a new card: never a secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedCard {
    /// Card serial number (GET DATA `DF32`).
    pub serial: String,
    /// The holder's full name (CN).
    pub holder_name: String,
    /// The holder's UZI number.
    pub uzi_number: String,
    /// The organisation (O).
    pub organisation: String,
    /// URA subscriber number.
    pub subscriber_number: String,
    /// The birth date entered, `YYYY-MM-DD`.
    pub birth_date: String,
    /// Serial of the UZI pass the card was made with.
    pub made_with_uzi_pass: String,
    /// Certificate notBefore, Unix seconds (the issue time).
    pub not_before: i64,
    /// Certificate notAfter, Unix seconds (three years later, minus a second).
    pub not_after: i64,
    /// The three certificates.
    pub certificates: Vec<IssuedCertificate>,
}

impl fmt::Display for IssuedCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ZORG-ID Smartcard {} made for {} (UZI {})", self.serial, self.holder_name, self.uzi_number)?;
        writeln!(f, "organisation      {} (URA {})", self.organisation, self.subscriber_number)?;
        writeln!(
            f,
            "valid             {} .. {}",
            crate::issuance::inspect::utc(self.not_before),
            crate::issuance::inspect::utc(self.not_after)
        )?;
        for c in &self.certificates {
            writeln!(f, "certificate       {:<15} serial {}", c.role, c.serial)?;
        }
        Ok(())
    }
}

/// Registry file used when `--registry` is not given: in the working directory, independent of the fixtures.
pub const DEFAULT_REGISTRY: &str = "zorgcard-portal.toml";

/// The registry format this module reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// TERMINATE CARD USAGE (ISO 7816-9 §6.8, DIALECT.md "Life cycle").
const TERMINATE: [u8; 4] = [0x00, 0xFE, 0x00, 0x00];

// ---------------------------------------------------------------------------------------------
// The registry
// ---------------------------------------------------------------------------------------------

/// The whole registry file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// Always [`FORMAT_VERSION`].
    pub format: u32,
    /// Registered organisations.
    #[serde(default)]
    pub organisations: Vec<Organisation>,
    /// Issued ZORG-ID Smartcards.
    #[serde(default)]
    pub cards: Vec<CardRecord>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry { format: FORMAT_VERSION, organisations: Vec::new(), cards: Vec::new() }
    }
}

/// A healthcare organisation registered with the portal (seed 002: "eenmalig").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// URA subscriber number: the organisation's identity in UZI certificates.
    pub subscriber_number: String,
    /// Its name.
    pub name: String,
    /// UZI number of its administrator, the representative who registered it.
    pub administrator: String,
    /// UZI numbers of the beheerders the administrator appointed.
    #[serde(default)]
    pub beheerders: Vec<String>,
    /// When it was registered (RFC 3339 UTC).
    pub registered_at: String,
}

/// The portal's status of a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CardStatus {
    /// In use.
    Active,
    /// Blocked by an administrator or beheerder; can be unblocked.
    Blocked,
    /// Revoked: certificates on the CRL, the chip terminated at its next use. Final.
    Revoked,
}

impl std::fmt::Display for CardStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CardStatus::Active => "active",
            CardStatus::Blocked => "blocked",
            CardStatus::Revoked => "revoked",
        })
    }
}

/// One issued card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardRecord {
    /// Card serial number.
    pub serial: String,
    /// Holder's full name.
    pub holder_name: String,
    /// Holder's UZI number: the worker who may see and revoke this card.
    pub uzi_number: String,
    /// Organisation name.
    pub organisation: String,
    /// URA subscriber number of the organisation whose administrator and beheerders manage the card.
    pub subscriber_number: String,
    /// Birth date entered at creation.
    pub birth_date: String,
    /// Serial of the UZI pass it was made with.
    pub made_with_uzi_pass: String,
    /// Certificate notBefore (RFC 3339 UTC).
    pub valid_from: String,
    /// Certificate notAfter (RFC 3339 UTC).
    pub valid_until: String,
    /// The certificates, for the CRL.
    pub certificates: Vec<IssuedCertificate>,
    /// Portal status.
    pub status: CardStatus,
    /// When it was revoked (RFC 3339 UTC): the CRL's revocationDate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// When the chip executed TERMINATE CARD USAGE (RFC 3339 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated_at: Option<String>,
    /// What happened, oldest first: `<time> <actor> <what>`.
    #[serde(default)]
    pub events: Vec<String>,
}

/// An actor's role towards one organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Registered the organisation; appoints beheerders; manages its cards.
    Administrator,
    /// Appointed by the administrator; manages the organisation's cards.
    Beheerder,
    /// Anyone else: sees and revokes only their own cards.
    Worker,
}

/// A command refused by the registry's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The actor's role does not allow it.
    #[error("`{actor}` may not {action}: {why}")]
    Denied {
        /// UZI number of the actor.
        actor: String,
        /// What was tried.
        action: String,
        /// Who may, per the seeds.
        why: String,
    },
    /// No card with that serial is visible to the actor.
    #[error("no ZORG-ID Smartcard with serial `{serial}` that `{actor}` may see: check the serial with `portal view`")]
    UnknownCard {
        /// The serial asked for.
        serial: String,
        /// The actor.
        actor: String,
    },
    /// The card's status does not allow it.
    #[error("card `{serial}` is {status}: {what}")]
    Status {
        /// The card.
        serial: String,
        /// Its status.
        status: CardStatus,
        /// Why that stops the command.
        what: &'static str,
    },
    /// An argument is malformed or conflicts with the registry.
    #[error("{0}")]
    Invalid(String),
}

/// A registry file could not be used, or the registry refused a command. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// The file does not exist.
    #[error(
        "portal registry `{}` does not exist: register the organisation first (`zorgcard portal register --as <UZI number> --organisation <name> --ura <URA number>`), or pass the right --registry",
        path.display()
    )]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// Reading or writing failed.
    #[error("cannot {action} portal registry `{}`: {problem}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// `read`, `write`.
        action: &'static str,
        /// The OS error.
        problem: String,
    },
    /// The file is not a registry of this format.
    #[error("portal registry `{}` is not valid: {problem}: fix it or restore it from a backup", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        problem: String,
    },
    /// The command was refused.
    #[error("portal registry `{}`: {refusal}", path.display())]
    Refused {
        /// The file.
        path: PathBuf,
        /// Why.
        refusal: Refusal,
    },
    /// The card in the reader could not be checked or changed.
    #[error("portal registry `{}`: card `{serial}`: {problem}", path.display())]
    Card {
        /// The file.
        path: PathBuf,
        /// The card.
        serial: String,
        /// What went wrong, and what to do.
        problem: String,
    },
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}

fn check_uzi_number(what: &str, value: &str) -> Result<(), Refusal> {
    if value.len() == 9 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Refusal::Invalid(format!("{what} `{value}` is not a UZI number (9 digits, e.g. 900016528)")))
    }
}

impl Registry {
    /// Reads a registry; a missing file is [`PortalError::NotFound`].
    pub fn load(path: &Path) -> Result<Registry, PortalError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(PortalError::NotFound { path: path.to_path_buf() });
            }
            Err(e) => return Err(PortalError::Io { path: path.to_path_buf(), action: "read", problem: e.to_string() }),
        };
        let registry: Registry = toml::from_str(&text).map_err(|e| PortalError::Invalid {
            path: path.to_path_buf(),
            problem: e.to_string().trim().to_string(),
        })?;
        if registry.format != FORMAT_VERSION {
            return Err(PortalError::Invalid {
                path: path.to_path_buf(),
                problem: format!("format {} (this zorgcard reads format {FORMAT_VERSION})", registry.format),
            });
        }
        Ok(registry)
    }

    /// Reads a registry, or starts an empty one if the file does not exist yet.
    pub fn load_or_new(path: &Path) -> Result<Registry, PortalError> {
        match Registry::load(path) {
            Err(PortalError::NotFound { .. }) => Ok(Registry::default()),
            other => other,
        }
    }

    /// Writes the registry atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), PortalError> {
        let text = toml::to_string_pretty(self).map_err(|e| PortalError::Io {
            path: path.to_path_buf(),
            action: "encode",
            problem: e.to_string(),
        })?;
        let text = format!("# zorgcard TEST portal registry: issued ZORG-ID Smartcards (no secrets).\n{text}");
        reader_sim::image::save_atomic(path, text.as_bytes()).map_err(|e| PortalError::Io {
            path: path.to_path_buf(),
            action: "write",
            problem: e.to_string(),
        })
    }

    /// The organisation with URA number `subscriber_number`.
    pub fn organisation(&self, subscriber_number: &str) -> Option<&Organisation> {
        self.organisations.iter().find(|o| o.subscriber_number == subscriber_number)
    }

    /// The card with serial `serial`.
    pub fn card(&self, serial: &str) -> Option<&CardRecord> {
        self.cards.iter().find(|c| c.serial == serial)
    }

    /// `actor`'s role towards the organisation `subscriber_number`.
    pub fn role(&self, actor: &str, subscriber_number: &str) -> Role {
        match self.organisation(subscriber_number) {
            Some(o) if o.administrator == actor => Role::Administrator,
            Some(o) if o.beheerders.iter().any(|b| b == actor) => Role::Beheerder,
            _ => Role::Worker,
        }
    }

    /// Seed 002 "Registreren organisatie": the representative registers the organisation once and becomes its
    /// administrator.
    pub fn register(&mut self, actor: &str, name: &str, subscriber_number: &str, now: i64) -> Result<String, Refusal> {
        check_uzi_number("--as", actor)?;
        if subscriber_number.len() != 8 || !subscriber_number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::Invalid(format!(
                "URA number `{subscriber_number}` is not 8 digits (the subscriber number in UZI certificates, e.g. 90000001)"
            )));
        }
        if name.trim().is_empty() {
            return Err(Refusal::Invalid("the organisation name is empty: give --organisation".into()));
        }
        if let Some(o) = self.organisation(subscriber_number) {
            return Err(Refusal::Denied {
                actor: actor.into(),
                action: format!("register URA {subscriber_number}"),
                why: format!(
                    "{} is registered already, with administrator `{}`; an organisation registers once (seed 002)",
                    o.name, o.administrator
                ),
            });
        }
        self.organisations.push(Organisation {
            subscriber_number: subscriber_number.into(),
            name: name.into(),
            administrator: actor.into(),
            beheerders: Vec::new(),
            registered_at: rfc3339(now),
        });
        Ok(format!("{name} (URA {subscriber_number}) registered; `{actor}` is its administrator\n"))
    }

    /// The administrator appoints a beheerder. With several organisations, `organisation` says which.
    pub fn appoint(&mut self, actor: &str, beheerder: &str, organisation: Option<&str>) -> Result<String, Refusal> {
        check_uzi_number("the beheerder", beheerder)?;
        let denied = |why: &str| Refusal::Denied {
            actor: actor.into(),
            action: format!("appoint `{beheerder}` as beheerder"),
            why: why.into(),
        };
        let mine: Vec<usize> = self
            .organisations
            .iter()
            .enumerate()
            .filter(|(_, o)| o.administrator == actor && organisation.is_none_or(|u| o.subscriber_number == u))
            .map(|(i, _)| i)
            .collect();
        let index = match mine.as_slice() {
            [i] => *i,
            [] => return Err(denied("only the administrator of the organisation appoints beheerders (seed 002)")),
            _ => {
                return Err(Refusal::Invalid(format!(
                    "`{actor}` administers several organisations: say which with --ura"
                )));
            }
        };
        let org = &mut self.organisations[index];
        if org.administrator == beheerder || org.beheerders.iter().any(|b| b == beheerder) {
            return Err(Refusal::Invalid(format!("`{beheerder}` already manages {}", org.name)));
        }
        org.beheerders.push(beheerder.into());
        Ok(format!("`{beheerder}` is now a beheerder of {} (URA {})\n", org.name, org.subscriber_number))
    }

    /// Records a card made by the personaliser; its organisation must be registered.
    pub fn record_issued(&mut self, card: &IssuedCard) -> Result<(), Refusal> {
        if self.organisation(&card.subscriber_number).is_none() {
            return Err(Refusal::Invalid(format!(
                "organisation URA {} ({}) is not registered: register it first",
                card.subscriber_number, card.organisation
            )));
        }
        if self.card(&card.serial).is_some() {
            return Err(Refusal::Invalid(format!("a card with serial `{}` is recorded already", card.serial)));
        }
        self.cards.push(CardRecord {
            serial: card.serial.clone(),
            holder_name: card.holder_name.clone(),
            uzi_number: card.uzi_number.clone(),
            organisation: card.organisation.clone(),
            subscriber_number: card.subscriber_number.clone(),
            birth_date: card.birth_date.clone(),
            made_with_uzi_pass: card.made_with_uzi_pass.clone(),
            valid_from: rfc3339(card.not_before),
            valid_until: rfc3339(card.not_after),
            certificates: card.certificates.clone(),
            status: CardStatus::Active,
            revoked_at: None,
            terminated_at: None,
            events: vec![format!(
                "{} {} made with UZI pass {}",
                rfc3339(card.not_before),
                card.uzi_number,
                card.made_with_uzi_pass
            )],
        });
        Ok(())
    }

    fn may_manage(&self, actor: &str, card: &CardRecord) -> bool {
        self.role(actor, &card.subscriber_number) != Role::Worker
    }

    fn may_see(&self, actor: &str, card: &CardRecord) -> bool {
        card.uzi_number == actor || self.may_manage(actor, card)
    }

    fn visible_card(&self, actor: &str, serial: &str) -> Result<usize, Refusal> {
        self.cards
            .iter()
            .position(|c| c.serial == serial && self.may_see(actor, c))
            .ok_or_else(|| Refusal::UnknownCard { serial: serial.into(), actor: actor.into() })
    }

    /// Bekijken: one card in detail, or a table of the cards the actor may see.
    pub fn view(&self, actor: &str, serial: Option<&str>) -> Result<String, Refusal> {
        let mut out = String::new();
        if let Some(serial) = serial {
            let c = &self.cards[self.visible_card(actor, serial)?];
            let _ = writeln!(out, "ZORG-ID Smartcard {}", c.serial);
            let _ = writeln!(out, "holder        {} (UZI {}), born {}", c.holder_name, c.uzi_number, c.birth_date);
            let _ = writeln!(out, "organisation  {} (URA {})", c.organisation, c.subscriber_number);
            let _ = writeln!(out, "status        {}", describe_status(c));
            let _ = writeln!(out, "valid         {} .. {}", c.valid_from, c.valid_until);
            let _ = writeln!(out, "made with     UZI pass {}", c.made_with_uzi_pass);
            for cert in &c.certificates {
                let _ = writeln!(out, "certificate   {:<15} serial {}", cert.role, cert.serial);
            }
            for e in &c.events {
                let _ = writeln!(out, "event         {e}");
            }
            return Ok(out);
        }
        let visible: Vec<&CardRecord> = self.cards.iter().filter(|c| self.may_see(actor, c)).collect();
        let roles: Vec<String> = self
            .organisations
            .iter()
            .filter_map(|o| match self.role(actor, &o.subscriber_number) {
                Role::Administrator => Some(format!("administrator of {}", o.name)),
                Role::Beheerder => Some(format!("beheerder of {}", o.name)),
                Role::Worker => None,
            })
            .collect();
        let who = if roles.is_empty() { "worker: own cards only".to_string() } else { roles.join(", ") };
        let _ = writeln!(out, "{} card(s) visible to `{actor}` ({who})", visible.len());
        if !visible.is_empty() {
            let _ = writeln!(
                out,
                "{:<17} {:<24} {:<10} {:<24} {:<10} valid until",
                "serial", "holder", "UZI", "organisation", "status"
            );
        }
        for c in visible {
            let _ = writeln!(
                out,
                "{:<17} {:<24} {:<10} {:<24} {:<10} {}",
                c.serial,
                c.holder_name,
                c.uzi_number,
                c.organisation,
                c.status.to_string(),
                c.valid_until.get(..10).unwrap_or(&c.valid_until)
            );
        }
        Ok(out)
    }

    /// Blokkeren: administrator or beheerder of the card's organisation; an active card.
    pub fn block(&mut self, actor: &str, serial: &str, now: i64) -> Result<String, Refusal> {
        let i = self.managed_card(actor, serial, "block")?;
        let card = &mut self.cards[i];
        match card.status {
            CardStatus::Active => {}
            CardStatus::Blocked => {
                return Err(Refusal::Status {
                    serial: serial.into(),
                    status: card.status,
                    what: "it is blocked already",
                });
            }
            CardStatus::Revoked => {
                return Err(Refusal::Status {
                    serial: serial.into(),
                    status: card.status,
                    what: "revocation is final",
                });
            }
        }
        card.status = CardStatus::Blocked;
        card.events.push(format!("{} {actor} blocked", rfc3339(now)));
        Ok(format!(
            "card {serial} of {} blocked: it is refused from its next use until it is unblocked\n",
            card.holder_name
        ))
    }

    /// Deblokkeren: administrator or beheerder; a blocked card.
    pub fn unblock(&mut self, actor: &str, serial: &str, now: i64) -> Result<String, Refusal> {
        let i = self.managed_card(actor, serial, "unblock")?;
        let card = &mut self.cards[i];
        if card.status != CardStatus::Blocked {
            return Err(Refusal::Status {
                serial: serial.into(),
                status: card.status,
                what: if card.status == CardStatus::Revoked { "revocation is final" } else { "it is not blocked" },
            });
        }
        card.status = CardStatus::Active;
        card.events.push(format!("{} {actor} unblocked", rfc3339(now)));
        Ok(format!("card {serial} of {} unblocked: it works again from its next use\n", card.holder_name))
    }

    /// Intrekken: administrator or beheerder of the organisation, or the holder (seed 003, "Eigen beheer"). Final.
    pub fn revoke(&mut self, actor: &str, serial: &str, now: i64) -> Result<String, Refusal> {
        let i = match self.managed_card(actor, serial, "revoke") {
            Ok(i) => i,
            Err(Refusal::Denied { .. }) if self.card(serial).is_some_and(|c| c.uzi_number == actor) => {
                self.visible_card(actor, serial)?
            }
            Err(e) => return Err(e),
        };
        let card = &mut self.cards[i];
        if card.status == CardStatus::Revoked {
            return Err(Refusal::Status { serial: serial.into(), status: card.status, what: "it is revoked already" });
        }
        card.status = CardStatus::Revoked;
        card.revoked_at = Some(rfc3339(now));
        card.events.push(format!("{} {actor} revoked", rfc3339(now)));
        Ok(format!(
            "card {serial} of {} revoked: its {} certificates are on the ZORG-ID TEST CA's CRL (`zorgcard crl write` / `crl serve`); the card is terminated the next time its holder presents the PIN\n",
            card.holder_name,
            card.certificates.len()
        ))
    }

    /// Index of a card the actor manages, or why not.
    fn managed_card(&self, actor: &str, serial: &str, action: &str) -> Result<usize, Refusal> {
        let i = self.visible_card(actor, serial)?;
        let card = &self.cards[i];
        if self.may_manage(actor, card) {
            return Ok(i);
        }
        let why = if action == "revoke" {
            "only the administrator or a beheerder of the organisation, or the holder, revokes a card (seeds 002, 003)"
        } else {
            "only the administrator or a beheerder of the organisation blocks and unblocks cards (seed 002)"
        };
        Err(Refusal::Denied { actor: actor.into(), action: format!("{action} card `{serial}`"), why: why.into() })
    }

    /// The CRL entries of every revoked card: each of its certificates, revoked at the card's revocation time.
    pub fn revoked_entries(&self) -> Vec<RevokedEntry> {
        self.cards
            .iter()
            .filter(|c| c.status == CardStatus::Revoked)
            .flat_map(|c| {
                let at = c.revoked_at.as_deref().and_then(parse_rfc3339).unwrap_or(0);
                c.certificates.iter().filter_map(move |cert| {
                    hex::decode(&cert.serial).ok().map(|serial| RevokedEntry { serial, revoked_at: at })
                })
            })
            .collect()
    }
}

fn describe_status(c: &CardRecord) -> String {
    match (c.status, &c.revoked_at, &c.terminated_at) {
        (CardStatus::Revoked, Some(r), Some(t)) => format!("revoked {r}, card terminated {t}"),
        (CardStatus::Revoked, Some(r), None) => {
            format!("revoked {r}, card not terminated yet (at its next use with the PIN)")
        }
        (status, _, _) => status.to_string(),
    }
}

/// Records a card made by the personaliser in the registry file (which must exist).
pub fn record_issued(path: &Path, card: &IssuedCard) -> Result<(), PortalError> {
    let mut registry = Registry::load(path)?;
    registry.record_issued(card).map_err(|refusal| PortalError::Refused { path: path.to_path_buf(), refusal })?;
    registry.save(path)
}

// ---------------------------------------------------------------------------------------------
// The CLI entry
// ---------------------------------------------------------------------------------------------

/// `zorgcard portal --registry FILE --as UZI-NUMBER <action>`.
#[derive(Debug, Clone)]
pub struct PortalCommand {
    /// The registry file (`--registry`, default [`DEFAULT_REGISTRY`]).
    pub registry: PathBuf,
    /// UZI number of the actor (`--as`).
    pub actor: String,
    /// What to do.
    pub action: PortalAction,
}

/// The portal's operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalAction {
    /// `register --organisation NAME --ura NUMBER`: register an organisation; the actor becomes its administrator.
    Register {
        /// Organisation name.
        organisation: String,
        /// URA subscriber number (8 digits).
        ura: String,
    },
    /// `appoint UZI-NUMBER [--ura NUMBER]`: the administrator appoints a beheerder.
    Appoint {
        /// UZI number of the new beheerder.
        beheerder: String,
        /// Which organisation, when the actor administers several.
        ura: Option<String>,
    },
    /// `view [SERIAL]`: bekijken.
    View {
        /// One card in detail; all visible cards without.
        serial: Option<String>,
    },
    /// `block SERIAL`: blokkeren.
    Block {
        /// The card.
        serial: String,
    },
    /// `unblock SERIAL`: deblokkeren.
    Unblock {
        /// The card.
        serial: String,
    },
    /// `revoke SERIAL`: intrekken.
    Revoke {
        /// The card.
        serial: String,
    },
}

/// Runs one portal command now; returns what to print.
pub fn portal_main(cmd: PortalCommand) -> Result<String, PortalError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    portal_run(&cmd, now)
}

/// Runs one portal command at `now` (Unix seconds); the registry is saved only when the command changed it.
pub fn portal_run(cmd: &PortalCommand, now: i64) -> Result<String, PortalError> {
    let path = cmd.registry.as_path();
    let refused = |refusal| PortalError::Refused { path: path.to_path_buf(), refusal };
    let actor = cmd.actor.as_str();
    let mut registry = match cmd.action {
        PortalAction::Register { .. } => Registry::load_or_new(path)?,
        _ => Registry::load(path)?,
    };
    let (out, changed) = match &cmd.action {
        PortalAction::Register { organisation, ura } => (registry.register(actor, organisation, ura, now), true),
        PortalAction::Appoint { beheerder, ura } => (registry.appoint(actor, beheerder, ura.as_deref()), true),
        PortalAction::View { serial } => (registry.view(actor, serial.as_deref()), false),
        PortalAction::Block { serial } => (registry.block(actor, serial, now), true),
        PortalAction::Unblock { serial } => (registry.unblock(actor, serial, now), true),
        PortalAction::Revoke { serial } => (registry.revoke(actor, serial, now), true),
    };
    let out = out.map_err(refused)?;
    if changed {
        registry.save(path)?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Reaching the card
// ---------------------------------------------------------------------------------------------

/// What the portal decided about a card, as enforced at its use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardAccess {
    /// The card is not in the registry (not issued through this portal): nothing to enforce.
    NotRegistered,
    /// Active.
    Allowed,
    /// Blocked: every use is refused with `6985` by the serving host.
    Blocked,
    /// Revoked; `terminated` once the chip has executed TERMINATE CARD USAGE.
    Revoked {
        /// The chip is terminated.
        terminated: bool,
    },
}

/// Called by the host serving a card each time the card is used: reads the registry, checks that the card in
/// `reader` has serial `serial`, and for a revoked card whose user PIN is verified in the current session (VERIFY
/// status `00 20 00 01` answers `9000`) terminates it now and records that. A revoked card without a verified PIN
/// stays `Revoked { terminated: false }` until its holder presents the PIN ([`PortalGate`] does that at the
/// holder's next VERIFY).
pub fn apply_pending(registry: &Path, serial: &str, reader: &mut dyn Transmit) -> Result<CardAccess, PortalError> {
    let mut reg = Registry::load(registry)?;
    let Some(index) = reg.cards.iter().position(|c| c.serial == serial) else {
        return Ok(CardAccess::NotRegistered);
    };
    let card_err = |problem: String| PortalError::Card { path: registry.to_path_buf(), serial: serial.into(), problem };
    let reader_err = |e: ReaderError| card_err(format!("the reader failed: {e}"));
    let on_card = reader.transmit(&[0x00, 0xCA, 0xDF, 0x32, 0x00]).map_err(reader_err)?;
    if !on_card.ends_with(&[0x90, 0x00]) || on_card[..on_card.len() - 2] != *serial.as_bytes() {
        return Err(card_err(format!(
            "the card in the reader is `{}`, not this card: serve the right card",
            String::from_utf8_lossy(on_card.get(..on_card.len().saturating_sub(2)).unwrap_or_default())
        )));
    }
    match reg.cards[index].status {
        CardStatus::Active => return Ok(CardAccess::Allowed),
        CardStatus::Blocked => return Ok(CardAccess::Blocked),
        CardStatus::Revoked => {}
    }
    let life_cycle = reader.transmit(&[0x00, 0xCA, 0xDF, 0x31, 0x00]).map_err(reader_err)?;
    let terminated = if life_cycle == [0x0C, 0x90, 0x00] {
        true
    } else if reader.transmit(&[0x00, 0x20, 0x00, 0x01]).map_err(reader_err)? == [0x90, 0x00] {
        let answer = reader.transmit(&TERMINATE).map_err(reader_err)?;
        if answer != [0x90, 0x00] {
            return Err(card_err(format!(
                "TERMINATE CARD USAGE answered {}: the card stays revoked on the CRL; try again at its next use",
                sw_text(&answer)
            )));
        }
        true
    } else {
        false
    };
    if terminated && reg.cards[index].terminated_at.is_none() {
        let now = rfc3339(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .unwrap_or(0),
        );
        let card = &mut reg.cards[index];
        card.terminated_at = Some(now.clone());
        card.events.push(format!("{now} host terminated the card (TERMINATE CARD USAGE) at its use"));
        reg.save(registry)?;
    }
    Ok(CardAccess::Revoked { terminated })
}

fn sw_text(answer: &[u8]) -> String {
    match answer {
        [.., a, b] => Status::from_sw(u16::from_be_bytes([*a, *b])).to_string(),
        _ => "nothing".into(),
    }
}

/// The serving host's enforcement of the portal: wraps the reader of one card and applies [`apply_pending`] at
/// every *use* of the card (presenting or changing the PIN or PUK, PSO, INTERNAL AUTHENTICATE); everything else
/// passes straight through.
///
/// - blocked: the use is answered `6985` without reaching the chip;
/// - revoked, not yet terminated: a VERIFY that the chip accepts is followed by TERMINATE CARD USAGE and answered
///   `6285`; a wrong PIN is answered by the chip as usual;
/// - the registry cannot be read: the use is answered `6F00` (fail closed) and the error kept in
///   [`PortalGate::last_error`].
#[derive(Debug)]
pub struct PortalGate<T> {
    inner: T,
    registry: PathBuf,
    serial: String,
    last_error: Option<String>,
}

impl<T> PortalGate<T> {
    /// Enforces `registry`'s decisions about the card `serial` held in `inner`.
    pub fn new(inner: T, registry: impl Into<PathBuf>, serial: impl Into<String>) -> Self {
        PortalGate { inner, registry: registry.into(), serial: serial.into(), last_error: None }
    }

    /// The wrapped reader.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the reader.
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// Why the last use was answered `6F00`, if it was.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

/// A command that uses the card: VERIFY with a PIN (P1 `00`, data), CHANGE REFERENCE DATA, RESET RETRY COUNTER,
/// PSO, INTERNAL AUTHENTICATE.
fn is_use(apdu: &[u8]) -> bool {
    matches!(apdu, [_, 0x20, 0x00, _, _, ..] | [_, 0x24 | 0x2C | 0x2A | 0x88, ..])
}

impl<T: Transmit> Transmit for PortalGate<T> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        gate(&self.registry, &self.serial, &mut self.last_error, apdu, &mut self.inner)
    }
}

/// The portal in a reader slot (`zorgcard serve --registry`): the same decisions as [`PortalGate`], installed as the
/// slot's [`Interceptor`], so block, unblock and revoke reach the card through pcscd at its next use.
#[derive(Debug)]
pub struct PortalInterceptor {
    registry: PathBuf,
    serial: String,
    last_error: Option<String>,
}

impl PortalInterceptor {
    /// Enforces `registry`'s decisions about the card `serial` in the slot it is installed on.
    pub fn new(registry: impl Into<PathBuf>, serial: impl Into<String>) -> Self {
        PortalInterceptor { registry: registry.into(), serial: serial.into(), last_error: None }
    }
}

impl Interceptor for PortalInterceptor {
    fn exchange(&mut self, apdu: &[u8], card: &mut dyn Transmit) -> Result<Vec<u8>, ReaderError> {
        gate(&self.registry, &self.serial, &mut self.last_error, apdu, card)
    }
}

/// One exchange through the portal's decisions (see [`PortalGate`]).
fn gate(
    registry: &Path,
    serial: &str,
    last_error: &mut Option<String>,
    apdu: &[u8],
    inner: &mut dyn Transmit,
) -> Result<Vec<u8>, ReaderError> {
    if !is_use(apdu) {
        return inner.transmit(apdu);
    }
    let access = match apply_pending(registry, serial, inner) {
        Ok(access) => access,
        Err(e) => {
            *last_error = Some(e.to_string());
            return Ok(vec![0x6F, 0x00]);
        }
    };
    *last_error = None;
    match access {
        CardAccess::Blocked => Ok(vec![0x69, 0x85]),
        CardAccess::Revoked { terminated: false } if matches!(apdu, [_, 0x20, 0x00, ..]) => {
            let answer = inner.transmit(apdu)?;
            if answer != [0x90, 0x00] {
                return Ok(answer);
            }
            match apply_pending(registry, serial, inner) {
                Ok(CardAccess::Revoked { terminated: true }) => Ok(vec![0x62, 0x85]),
                Ok(_) => Ok(answer),
                Err(e) => {
                    *last_error = Some(e.to_string());
                    Ok(vec![0x6F, 0x00])
                }
            }
        }
        _ => inner.transmit(apdu),
    }
}
