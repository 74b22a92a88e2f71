//! The registry as table rows, the same for every backend: the rows a backend read become a [`Registry`]
//! ([`Rows::into_registry`]), and what a rule changed becomes the rows to write ([`changes`]). The backends
//! (`sqlite.rs`, `postgres.rs`) only run their SQL.

use std::collections::BTreeMap;

use super::{StoreError, StoreLocation};
use crate::record::{CardRecord, CardStatus, IssuedCard, IssuedCertificate};
use crate::registry::{Organisation, Registry};
use crate::users::{User, UserStatus, WidDocument};

/// Every row of the registry's tables, each table in the order its rows were written (certificates and events by
/// card and position).
#[derive(Debug, Default)]
pub(super) struct Rows {
    /// `organisations`, each with no beheerders yet.
    pub organisations: Vec<Organisation>,
    /// `beheerders`: (subscriber number, UZI number).
    pub beheerders: Vec<(String, String)>,
    /// `certificates`: (card serial, certificate).
    pub certificates: Vec<(String, IssuedCertificate)>,
    /// `card_events`: (card serial, event).
    pub events: Vec<(String, String)>,
    /// `cards`.
    pub cards: Vec<CardRow>,
    /// `users`.
    pub users: Vec<UserRow>,
}

/// One row of `users`: the user, with their status and WID document as stored.
#[derive(Debug)]
pub(super) struct UserRow {
    /// The user; `status` and `wid_document` are set from the two texts.
    pub user: User,
    /// `active` or `inactive`.
    pub status: String,
    /// `paspoort`, `identiteitskaart`, `rijbewijs` or `vreemdelingendocument`.
    pub wid_document: String,
}

/// One row of `cards`: the card without its certificates, and its status as stored.
#[derive(Debug)]
pub(super) struct CardRow {
    /// The card as issued; `certificates` empty.
    pub issued: IssuedCard,
    /// `active`, `blocked` or `revoked`.
    pub status: String,
    /// When it was revoked (RFC 3339).
    pub revoked_at: Option<String>,
    /// When the chip was terminated (RFC 3339).
    pub terminated_at: Option<String>,
}

impl Rows {
    /// The registry these rows hold; a status the registry cannot have is [`StoreError::Corrupt`].
    pub fn into_registry(self, database: &StoreLocation) -> Result<Registry, StoreError> {
        let mut beheerders: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (org, uzi) in self.beheerders {
            beheerders.entry(org).or_default().push(uzi);
        }
        let organisations = self
            .organisations
            .into_iter()
            .map(|mut o| {
                o.beheerders = beheerders.remove(&o.subscriber_number).unwrap_or_default();
                o
            })
            .collect();
        let mut certificates: BTreeMap<String, Vec<IssuedCertificate>> = BTreeMap::new();
        for (card, cert) in self.certificates {
            certificates.entry(card).or_default().push(cert);
        }
        let mut events: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (card, event) in self.events {
            events.entry(card).or_default().push(event);
        }
        let mut cards = Vec::with_capacity(self.cards.len());
        for CardRow { mut issued, status, revoked_at, terminated_at } in self.cards {
            let status = parse_status(&status).ok_or_else(|| StoreError::Corrupt {
                database: database.clone(),
                problem: format!("card `{}` has status `{status}` (active, blocked or revoked)", issued.serial),
            })?;
            issued.certificates = certificates.remove(&issued.serial).unwrap_or_default();
            let mut record = CardRecord::new(issued);
            record.status = status;
            record.revoked_at = revoked_at;
            record.terminated_at = terminated_at;
            record.events = events.remove(&record.issued.serial).unwrap_or_default();
            cards.push(record);
        }
        let mut users = Vec::with_capacity(self.users.len());
        for UserRow { mut user, status, wid_document } in self.users {
            let corrupt = |problem: String| StoreError::Corrupt { database: database.clone(), problem };
            user.status = UserStatus::parse(&status).ok_or_else(|| {
                corrupt(format!("user `{}` has status `{status}` (active or inactive)", user.uzi_number))
            })?;
            user.wid_document = WidDocument::parse(&wid_document)
                .ok_or_else(|| corrupt(format!("user `{}` has WID document `{wid_document}`", user.uzi_number)))?;
            users.push(user);
        }
        Ok(Registry { format: crate::FORMAT_VERSION, organisations, cards, users })
    }
}

fn parse_status(text: &str) -> Option<CardStatus> {
    [CardStatus::Active, CardStatus::Blocked, CardStatus::Revoked].into_iter().find(|s| s.to_string() == text)
}

/// One row to write.
#[derive(Debug)]
pub(super) enum Change<'a> {
    /// A new row in `organisations`.
    Organisation(&'a Organisation),
    /// A new row in `beheerders`.
    Beheerder {
        /// The organisation.
        subscriber_number: &'a str,
        /// The beheerder's UZI number.
        uzi: &'a str,
    },
    /// A new row in `cards`, with its rows in `certificates`.
    NewCard(&'a CardRecord),
    /// The card's status, `revoked_at` and `terminated_at` changed.
    CardStatus(&'a CardRecord),
    /// A beheerder appointment gone: its user was deleted.
    DeleteBeheerder {
        /// The organisation.
        subscriber_number: &'a str,
        /// The beheerder's UZI number.
        uzi: &'a str,
    },
    /// A new row in `users`.
    User(&'a User),
    /// The user's status changed.
    UserStatus(&'a User),
    /// A user deleted (seed *Handleiding gebruikersbeheerder Zorg*, §3.3.2).
    DeleteUser(&'a User),
    /// A new row in `card_events`.
    Event {
        /// The card.
        serial: &'a str,
        /// Its place among the card's events, from 0.
        position: i64,
        /// The event.
        event: &'a str,
    },
}

/// What `after` adds to or changes in `before`, in an order the foreign keys accept (an organisation before its
/// beheerders, users and cards, a card before its events). Only a deleted user's row and beheerder appointment
/// are ever deleted.
pub(super) fn changes<'a>(before: &'a Registry, after: &'a Registry) -> Vec<Change<'a>> {
    let mut out = Vec::new();
    for org in &before.organisations {
        let now = after.organisation(&org.subscriber_number).map(|o| o.beheerders.as_slice()).unwrap_or_default();
        for uzi in org.beheerders.iter().filter(|b| !now.contains(b)) {
            out.push(Change::DeleteBeheerder { subscriber_number: &org.subscriber_number, uzi });
        }
    }
    for user in &before.users {
        if after.user(&user.subscriber_number, &user.uzi_number).is_none() {
            out.push(Change::DeleteUser(user));
        }
    }
    for org in &after.organisations {
        let old = before.organisation(&org.subscriber_number);
        if old.is_none() {
            out.push(Change::Organisation(org));
        }
        let known = old.map(|o| o.beheerders.as_slice()).unwrap_or_default();
        for uzi in org.beheerders.iter().filter(|b| !known.contains(b)) {
            out.push(Change::Beheerder { subscriber_number: &org.subscriber_number, uzi });
        }
    }
    for card in &after.cards {
        let old = before.card(&card.issued.serial);
        match old {
            None => out.push(Change::NewCard(card)),
            Some(old) if old != card => out.push(Change::CardStatus(card)),
            Some(_) => {}
        }
        let known = old.map_or(0, |o| o.events.len());
        for (n, event) in card.events.iter().enumerate().skip(known) {
            out.push(Change::Event { serial: &card.issued.serial, position: n as i64, event });
        }
    }
    for user in &after.users {
        match before.user(&user.subscriber_number, &user.uzi_number) {
            None => out.push(Change::User(user)),
            Some(old) if old != user => out.push(Change::UserStatus(user)),
            Some(_) => {}
        }
    }
    out
}

/// The one organisation `changes` touch, for the audit row's `subscriber_number`: what ties the row to the
/// organisation whose administrator and beheerders may read it (`GET /api/audit`). `None` when the changes touch
/// several (an `import-toml` of more than one organisation) or none; such rows are read only from the database.
pub(super) fn organisation<'a>(changes: &[Change<'a>], after: &'a Registry) -> Option<&'a str> {
    let mut found: Option<&str> = None;
    for change in changes {
        let ura = match *change {
            Change::Organisation(org) => Some(org.subscriber_number.as_str()),
            Change::Beheerder { subscriber_number, .. } | Change::DeleteBeheerder { subscriber_number, .. } => {
                Some(subscriber_number)
            }
            Change::User(u) | Change::UserStatus(u) | Change::DeleteUser(u) => Some(u.subscriber_number.as_str()),
            Change::NewCard(card) | Change::CardStatus(card) => Some(card.issued.subscriber_number.as_str()),
            Change::Event { serial, .. } => after.card(serial).map(|c| c.issued.subscriber_number.as_str()),
        };
        match (found, ura) {
            (_, None) => {}
            (None, Some(u)) => found = Some(u),
            (Some(f), Some(u)) if f == u => {}
            (Some(_), Some(_)) => return None,
        }
    }
    found
}
