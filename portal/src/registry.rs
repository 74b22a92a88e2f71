//! The registry: organisations, who manages their cards, the issued cards, and the rules for changing them. It
//! lives in the portal database ([`crate::store`]); its TOML form (serde, registry format 1) is what
//! `zorgcard portal import-toml` reads.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::FORMAT_VERSION;
use super::record::{CardRecord, CardStatus, IssuedCard, parse_rfc3339, rfc3339};
use super::store::{Store, StoreError, StoreLocation};
use super::users::{User, UserStatus};
use issuance::pki::RevokedEntry;

/// The whole registry: what a command's rule reads and changes (loaded from the database inside its transaction),
/// and the layout of a TOML registry file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Registered medewerkers ([`crate::users`]).
    #[serde(default)]
    pub users: Vec<User>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry { format: FORMAT_VERSION, organisations: Vec::new(), cards: Vec::new(), users: Vec::new() }
    }
}

/// A healthcare organisation registered with the portal (seed: *Registreren organisatie*: "eenmalig").
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
    /// No user with that UZI number in an organisation the actor manages.
    #[error("no user `{uzi}` in an organisation `{actor}` manages: check the UZI number in the users list")]
    UnknownUser {
        /// The UZI number asked for.
        uzi: String,
        /// The actor.
        actor: String,
    },
    /// The user's status does not allow it.
    #[error("user `{uzi}` is {status}: {what}")]
    UserStatus {
        /// The user.
        uzi: String,
        /// Their status.
        status: UserStatus,
        /// Why that stops the command, and what to do.
        what: &'static str,
    },
    /// An argument is malformed or conflicts with the registry.
    #[error("{0}")]
    Invalid(String),
}

/// The portal database or a TOML registry could not be used, or the registry refused a command. Every message
/// names the database or the file.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// The portal database could not be opened, read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A portal command other than `import-toml` was given without `--as`.
    #[error("portal: say who acts with --as <UZI number> (e.g. --as 900016528)")]
    NoActor,
    /// The TOML registry file does not exist.
    #[error("TOML registry `{}` does not exist: check the file given to `zorgcard portal import-toml`", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// Reading or writing a TOML registry failed.
    #[error("cannot {action} TOML registry `{}`: {problem}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// `read`, `write`.
        action: &'static str,
        /// The OS error.
        problem: String,
    },
    /// The TOML file is not a registry of this format.
    #[error("TOML registry `{}` is not valid: {problem}: fix it or restore it from a backup", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        problem: String,
    },
    /// The command was refused; nothing changed.
    #[error("portal database `{database}`: {refusal}")]
    Refused {
        /// The database.
        database: StoreLocation,
        /// Why.
        refusal: Refusal,
    },
    /// The card in the reader could not be checked or changed.
    #[error("portal database `{database}`: card `{serial}`: {problem}")]
    Card {
        /// The database.
        database: StoreLocation,
        /// The card.
        serial: String,
        /// What went wrong, and what to do.
        problem: String,
    },
}

pub(crate) fn check_uzi_number(what: &str, value: &str) -> Result<(), Refusal> {
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
        if let Some((key, card)) = registry.cards.iter().find_map(|c| c.unknown.keys().next().map(|k| (k, c))) {
            return Err(PortalError::Invalid {
                path: path.to_path_buf(),
                problem: format!("card `{}` has an unknown field `{key}`", card.issued.serial),
            });
        }
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
        self.cards.iter().find(|c| c.issued.serial == serial)
    }

    /// `actor`'s role towards the organisation `subscriber_number`. A deactivated user's beheerder appointment
    /// does not count (seed *Handleiding gebruikersbeheerder Zorg*, §3.3.1: all their roles go inactive).
    pub fn role(&self, actor: &str, subscriber_number: &str) -> Role {
        match self.organisation(subscriber_number) {
            Some(o) if o.administrator == actor => Role::Administrator,
            Some(o) if o.beheerders.iter().any(|b| b == actor) && !self.is_deactivated(actor, subscriber_number) => {
                Role::Beheerder
            }
            _ => Role::Worker,
        }
    }

    /// Seed: *Registreren organisatie*: the representative registers the organisation once and becomes its
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
                    "{} is registered already, with administrator `{}`; an organisation registers once (Registreren organisatie)",
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
            [] => {
                return Err(denied(
                    "only the administrator of the organisation appoints beheerders (Registreren organisatie)",
                ));
            }
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
    pub fn record_issued(&mut self, card: &IssuedCard) -> Result<String, Refusal> {
        if self.organisation(&card.subscriber_number).is_none() {
            return Err(Refusal::Invalid(format!(
                "organisation URA {} ({}) is not registered: register it first",
                card.subscriber_number, card.organisation
            )));
        }
        if self.card(&card.serial).is_some() {
            return Err(Refusal::Invalid(format!("a card with serial `{}` is recorded already", card.serial)));
        }
        self.cards.push(CardRecord::new(card.clone()));
        Ok(format!("card {} of {} recorded\n", card.serial, card.holder_name))
    }

    /// `portal import-toml`: adds the organisations and cards of `imported` (a TOML registry, `file`). Refused, so
    /// nothing is added, when any of them is here already, is in the file twice, or belongs to an organisation that
    /// is neither here nor in the file.
    pub fn import(&mut self, imported: Registry, file: &Path) -> Result<String, Refusal> {
        let conflict = |what: String| {
            Refusal::Invalid(format!("`{}` cannot be imported: {what}; nothing was imported", file.display()))
        };
        let (orgs, cards) = (imported.organisations.len(), imported.cards.len());
        for org in imported.organisations {
            if self.organisation(&org.subscriber_number).is_some() {
                return Err(conflict(format!("organisation URA {} is registered already", org.subscriber_number)));
            }
            let mut seen = Vec::new();
            for b in org.beheerders.iter().chain([&org.administrator]) {
                check_uzi_number("a beheerder", b)?;
                if seen.contains(&b) {
                    return Err(conflict(format!("`{b}` manages URA {} twice", org.subscriber_number)));
                }
                seen.push(b);
            }
            self.organisations.push(org);
        }
        for card in imported.cards {
            if self.card(&card.issued.serial).is_some() {
                return Err(conflict(format!("a card with serial `{}` is recorded already", card.issued.serial)));
            }
            if self.organisation(&card.issued.subscriber_number).is_none() {
                return Err(conflict(format!(
                    "card `{}` belongs to URA {}, which is not registered",
                    card.issued.serial, card.issued.subscriber_number
                )));
            }
            self.cards.push(card);
        }
        Ok(format!("{orgs} organisation(s) and {cards} card(s) imported from `{}`\n", file.display()))
    }

    fn may_manage(&self, actor: &str, card: &CardRecord) -> bool {
        self.role(actor, &card.issued.subscriber_number) != Role::Worker
    }

    fn may_see(&self, actor: &str, card: &CardRecord) -> bool {
        card.issued.uzi_number == actor || self.may_manage(actor, card)
    }

    fn visible_card(&self, actor: &str, serial: &str) -> Result<usize, Refusal> {
        self.cards
            .iter()
            .position(|c| c.issued.serial == serial && self.may_see(actor, c))
            .ok_or_else(|| Refusal::UnknownCard { serial: serial.into(), actor: actor.into() })
    }

    /// Bekijken: one card in detail, or a table of the cards the actor may see.
    pub fn view(&self, actor: &str, serial: Option<&str>) -> Result<String, Refusal> {
        let mut out = String::new();
        if let Some(serial) = serial {
            let c = &self.cards[self.visible_card(actor, serial)?];
            let _ = writeln!(out, "ZORG-ID Smartcard {}", c.issued.serial);
            let _ = writeln!(
                out,
                "holder        {} (UZI {}), born {}",
                c.issued.holder_name, c.issued.uzi_number, c.issued.birth_date
            );
            let _ = writeln!(out, "organisation  {} (URA {})", c.issued.organisation, c.issued.subscriber_number);
            let _ = writeln!(out, "status        {}", describe_status(c));
            let _ = writeln!(out, "valid         {} .. {}", rfc3339(c.issued.not_before), rfc3339(c.issued.not_after));
            let _ = writeln!(out, "made with     UZI pass {}", c.issued.made_with_uzi_pass);
            for cert in &c.issued.certificates {
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
                c.issued.serial,
                c.issued.holder_name,
                c.issued.uzi_number,
                c.issued.organisation,
                c.status.to_string(),
                rfc3339(c.issued.not_after).get(..10).unwrap_or_default()
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
            card.issued.holder_name
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
        Ok(format!("card {serial} of {} unblocked: it works again from its next use\n", card.issued.holder_name))
    }

    /// Intrekken: administrator or beheerder of the organisation, or the holder (seed: *ZORG-ID Smartcard*, "Eigen
    /// beheer"). Final.
    pub fn revoke(&mut self, actor: &str, serial: &str, now: i64) -> Result<String, Refusal> {
        let i = match self.managed_card(actor, serial, "revoke") {
            Ok(i) => i,
            Err(Refusal::Denied { .. }) if self.card(serial).is_some_and(|c| c.issued.uzi_number == actor) => {
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
            card.issued.holder_name,
            card.issued.certificates.len()
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
            "only the administrator or a beheerder of the organisation blocks and unblocks cards (Registreren organisatie)"
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
                c.issued.certificates.iter().filter_map(move |cert| {
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

/// Records a card made by the personaliser in the portal database (which must exist), in one transaction.
pub fn record_issued(database: impl Into<StoreLocation>, card: &IssuedCard) -> Result<(), PortalError> {
    let mut store = Store::open(database)?;
    let actor = card.uzi_number.clone();
    store.transact(&actor, &format!("record-issued {}", card.serial), card.not_before, |r| r.record_issued(card))?;
    Ok(())
}
