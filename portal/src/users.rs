//! The people of an organisation the portal knows (seed *Registratie gebruikers 2b*, "ZORG-ID Mobiel toevoegen via
//! ZORG-ID Portaal beheerder"): a medewerker is registered by the organisation's administrator or a beheerder,
//! after a face-to-face check of a legal identity document (WID), and is later deactivated or deleted (seed
//! *Handleiding gebruikersbeheerder Zorg*, §3.3 "Gebruikers deactiveren of verwijderen").
//!
//! A user is named by UZI number, the actor the registry's rules take; one row per organisation they work for.
//! What is kept of the WID check is who did it, when, and which kind of document: not the document's number, which
//! the portal has no use for (AVG art. 5(1)(c), data minimisation). Nothing personal beyond the UZI number goes
//! into a command's answer, so the audit (which keeps every answer) holds no names or birth dates, and deleting a
//! user leaves only their UZI number behind.

use serde::{Deserialize, Serialize};

use crate::record::rfc3339;
use crate::registry::{Refusal, Registry, Role};

/// A medewerker of one organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The organisation's URA.
    pub subscriber_number: String,
    /// Their UZI number: who they are when they log in.
    pub uzi_number: String,
    /// First name(s), as in the WID (seed *Registratie gebruikers 2b*, stap 1).
    pub first_names: String,
    /// Surname, as in the WID.
    pub surname: String,
    /// Birth date, `YYYY-MM-DD`.
    pub birth_date: String,
    /// The kind of identity document checked face to face.
    pub wid_document: WidDocument,
    /// UZI number of the administrator or beheerder who checked it.
    pub wid_checked_by: String,
    /// When (RFC 3339 UTC).
    pub wid_checked_at: String,
    /// Active, or deactivated with all their roles.
    pub status: UserStatus,
}

/// Whether a user's roles count (seed *Handleiding gebruikersbeheerder Zorg*, §3.3.1: "Als de gebruiker op
/// inactief gezet wordt, worden alle rollen van deze gebruiker ook op niet-actief gezet").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// Their roles count.
    #[default]
    Active,
    /// Deactivated: no role counts; only now may they be deleted.
    Inactive,
}

impl UserStatus {
    /// As stored (`users.status`).
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Inactive => "inactive",
        }
    }

    /// The stored text read back.
    pub fn parse(text: &str) -> Option<UserStatus> {
        [UserStatus::Active, UserStatus::Inactive].into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for UserStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A legal identity document (seed *Registratie gebruikers 2b*: "WID = wettelijk identiteitsdocument zoals het
/// Nederlands rijbewijs, het Nederlands paspoort/identiteitskaart of het Nederlands vreemdelingendocument").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum WidDocument {
    /// Nederlands paspoort.
    #[default]
    Paspoort,
    /// Nederlandse identiteitskaart.
    Identiteitskaart,
    /// Nederlands rijbewijs.
    Rijbewijs,
    /// Nederlands vreemdelingendocument.
    Vreemdelingendocument,
}

impl WidDocument {
    /// As stored (`users.wid_document`).
    pub fn as_str(self) -> &'static str {
        match self {
            WidDocument::Paspoort => "paspoort",
            WidDocument::Identiteitskaart => "identiteitskaart",
            WidDocument::Rijbewijs => "rijbewijs",
            WidDocument::Vreemdelingendocument => "vreemdelingendocument",
        }
    }

    /// The stored text read back.
    pub fn parse(text: &str) -> Option<WidDocument> {
        [
            WidDocument::Paspoort,
            WidDocument::Identiteitskaart,
            WidDocument::Rijbewijs,
            WidDocument::Vreemdelingendocument,
        ]
        .into_iter()
        .find(|d| d.as_str() == text)
    }
}

/// The face-to-face WID check (seed *Registratie gebruikers 2b*, stap 2): the document shown, and that the one
/// registering confirms they checked it in person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidCheck {
    /// Which document.
    pub document: WidDocument,
    /// Confirmed checked, face to face.
    pub checked: bool,
}

/// What registering a medewerker takes (seed *Registratie gebruikers 2b*, stap 1: "Voornaam/namen, Achternaam,
/// Geboortedatum", "zoals deze in het WID staat").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMedewerker {
    /// Their UZI number.
    pub uzi_number: String,
    /// First name(s).
    pub first_names: String,
    /// Surname.
    pub surname: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// The WID check.
    pub wid_check: WidCheck,
}

/// The fields of [`NewMedewerker`], to say which one a problem is in (a form shows it next to that field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MedewerkerField {
    /// [`NewMedewerker::uzi_number`].
    UziNumber,
    /// [`NewMedewerker::first_names`].
    FirstNames,
    /// [`NewMedewerker::surname`].
    Surname,
    /// [`NewMedewerker::birth_date`].
    BirthDate,
    /// [`WidCheck::checked`].
    WidCheck,
}

impl NewMedewerker {
    /// Every problem in the fields (seed *Registratie gebruikers 2b*, stap 1 and 2), in the order of the form;
    /// [`Registry::register_medewerker`] refuses with the first one.
    pub fn problems(&self, now: i64) -> Vec<(MedewerkerField, Refusal)> {
        let mut problems = Vec::new();
        if let Err(r) = crate::registry::check_uzi_number("the medewerker's UZI number", &self.uzi_number) {
            problems.push((MedewerkerField::UziNumber, r));
        }
        let names = [
            (MedewerkerField::FirstNames, "first names", &self.first_names),
            (MedewerkerField::Surname, "surname", &self.surname),
        ];
        for (field, what, value) in names {
            if value.trim().is_empty() {
                let why = format!("the medewerker's {what} are empty: give them as in the WID");
                problems.push((field, Refusal::Invalid(why)));
            }
        }
        if let Err(r) = check_birth_date(&self.birth_date, now) {
            problems.push((MedewerkerField::BirthDate, r));
        }
        if !self.wid_check.checked {
            problems.push((MedewerkerField::WidCheck, Refusal::Invalid(
                "the face-to-face WID check is not confirmed: check the medewerker's identity document in person, then confirm it (seed *Registratie gebruikers 2b*, stap 2)".into(),
            )));
        }
        problems
    }
}

/// Checks a birth date: `YYYY-MM-DD`, a real day, not after `now`.
fn check_birth_date(text: &str, now: i64) -> Result<(), Refusal> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format).map_err(|_| {
        Refusal::Invalid(format!("birth date `{text}` is not a date written YYYY-MM-DD (e.g. 1990-05-17)"))
    })?;
    let today = time::OffsetDateTime::from_unix_timestamp(now).map(|t| t.date()).unwrap_or(time::Date::MAX);
    if date > today {
        return Err(Refusal::Invalid(format!(
            "birth date `{text}` is in the future (today is {today}): give the date in the WID"
        )));
    }
    Ok(())
}

impl Registry {
    /// The user `uzi_number` of organisation `subscriber_number`.
    pub fn user(&self, subscriber_number: &str, uzi_number: &str) -> Option<&User> {
        self.users.iter().find(|u| u.subscriber_number == subscriber_number && u.uzi_number == uzi_number)
    }

    /// Whether `uzi_number` is a deactivated user of the organisation: then none of their roles there count.
    pub fn is_deactivated(&self, uzi_number: &str, subscriber_number: &str) -> bool {
        self.user(subscriber_number, uzi_number).is_some_and(|u| u.status == UserStatus::Inactive)
    }

    /// Seed *Registratie gebruikers 2b*, stap 3 "Nieuwe gebruiker opvoeren": the administrator or a beheerder
    /// of organisation `ura` registers a medewerker, once the WID check of stap 2 is done; the check is recorded
    /// as theirs, at `now`.
    pub fn register_medewerker(
        &mut self,
        actor: &str,
        ura: &str,
        new: &NewMedewerker,
        now: i64,
    ) -> Result<String, Refusal> {
        let Some(org) = self.organisation(ura) else {
            return Err(Refusal::Invalid(format!(
                "organisation URA {ura} is not registered: check the URA (`portal view` lists yours)"
            )));
        };
        let org_name = org.name.clone();
        if self.role(actor, ura) == Role::Worker {
            return Err(Refusal::Denied {
                actor: actor.into(),
                action: format!("register a medewerker at URA {ura}"),
                why: "only the administrator or a beheerder of the organisation registers medewerkers (seed *Registratie gebruikers 2b*, stap 3)".into(),
            });
        }
        if let Some((_, refusal)) = new.problems(now).into_iter().next() {
            return Err(refusal);
        }
        if self.user(ura, &new.uzi_number).is_some() {
            return Err(Refusal::Invalid(format!(
                "`{}` is registered at {org_name} already: see the users list",
                new.uzi_number
            )));
        }
        self.users.push(User {
            subscriber_number: ura.into(),
            uzi_number: new.uzi_number.clone(),
            first_names: new.first_names.trim().into(),
            surname: new.surname.trim().into(),
            birth_date: new.birth_date.clone(),
            wid_document: new.wid_check.document,
            wid_checked_by: actor.into(),
            wid_checked_at: rfc3339(now),
            status: UserStatus::Active,
        });
        Ok(format!(
            "medewerker `{}` registered at {org_name} (URA {ura}); WID check ({}) by `{actor}`\n",
            new.uzi_number,
            new.wid_check.document.as_str()
        ))
    }

    /// The users the actor manages (of every organisation they administer or are an active beheerder of).
    pub fn users_of(&self, actor: &str) -> Result<Vec<&User>, Refusal> {
        let managed: Vec<&str> = self
            .organisations
            .iter()
            .filter(|o| self.role(actor, &o.subscriber_number) != Role::Worker)
            .map(|o| o.subscriber_number.as_str())
            .collect();
        if managed.is_empty() {
            return Err(Refusal::Denied {
                actor: actor.into(),
                action: "list users".into(),
                why: "only the administrator or a beheerder of an organisation manages its users (seed *Handleiding gebruikersbeheerder Zorg*, §3)".into(),
            });
        }
        Ok(self.users.iter().filter(|u| managed.contains(&u.subscriber_number.as_str())).collect())
    }

    /// Index of user `uzi` of an organisation the actor manages (`ura` says which when there are several).
    fn managed_user(&self, actor: &str, uzi: &str, ura: Option<&str>) -> Result<usize, Refusal> {
        let found: Vec<usize> = self
            .users
            .iter()
            .enumerate()
            .filter(|(_, u)| u.uzi_number == uzi && ura.is_none_or(|x| u.subscriber_number == x))
            .filter(|(_, u)| self.role(actor, &u.subscriber_number) != Role::Worker)
            .map(|(i, _)| i)
            .collect();
        match found.as_slice() {
            [i] => Ok(*i),
            [] => Err(Refusal::UnknownUser { uzi: uzi.into(), actor: actor.into() }),
            _ => Err(Refusal::Invalid(format!(
                "`{uzi}` is a user of several organisations `{actor}` manages: say which with the URA (--ura, ?ura=)"
            ))),
        }
    }

    /// Seed *Handleiding gebruikersbeheerder Zorg*, §3.3.1: deactivating a user sets all their roles inactive, so
    /// a deactivated beheerder is no longer one ([`Registry::role`]). The administrator, who registered the
    /// organisation, is not deactivated this way.
    pub fn deactivate_user(&mut self, actor: &str, uzi: &str, ura: Option<&str>) -> Result<String, Refusal> {
        let i = self.managed_user(actor, uzi, ura)?;
        let ura = self.users[i].subscriber_number.clone();
        if self.organisation(&ura).is_some_and(|o| o.administrator == uzi) {
            return Err(Refusal::Denied {
                actor: actor.into(),
                action: format!("deactivate `{uzi}`"),
                why: format!("`{uzi}` is the administrator of URA {ura}, who registered it; the administrator stays"),
            });
        }
        let user = &mut self.users[i];
        if user.status == UserStatus::Inactive {
            return Err(Refusal::UserStatus { uzi: uzi.into(), status: user.status, what: "deactivated already" });
        }
        user.status = UserStatus::Inactive;
        Ok(format!("user `{uzi}` of URA {ura} deactivated: none of their roles count any more\n"))
    }

    /// Seed *Handleiding gebruikersbeheerder Zorg*, §3.3.2: a user is deleted only once deactivated, and then
    /// "De gebruiker en alle bijbehorende gegevens worden volledig verwijderd": their row and their beheerder
    /// appointment go. The audit keeps only their UZI number (see the module documentation).
    pub fn delete_user(&mut self, actor: &str, uzi: &str, ura: Option<&str>) -> Result<String, Refusal> {
        let i = self.managed_user(actor, uzi, ura)?;
        let user = &self.users[i];
        if user.status != UserStatus::Inactive {
            return Err(Refusal::UserStatus {
                uzi: uzi.into(),
                status: user.status,
                what: "active: deactivate them first (seed *Handleiding gebruikersbeheerder Zorg*, §3.3.2)",
            });
        }
        let ura = user.subscriber_number.clone();
        self.users.remove(i);
        if let Some(org) = self.organisations.iter_mut().find(|o| o.subscriber_number == ura) {
            org.beheerders.retain(|b| b != uzi);
        }
        Ok(format!("user `{uzi}` of URA {ura} deleted with all their data\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_named_in_the_order_of_the_form() {
        let new = NewMedewerker {
            uzi_number: "12".into(),
            first_names: " ".into(),
            surname: String::new(),
            birth_date: "2025-02-30".into(),
            wid_check: WidCheck { document: WidDocument::Paspoort, checked: false },
        };
        let fields: Vec<MedewerkerField> = new.problems(1_750_000_000).into_iter().map(|(f, _)| f).collect();
        let order = [
            MedewerkerField::UziNumber,
            MedewerkerField::FirstNames,
            MedewerkerField::Surname,
            MedewerkerField::BirthDate,
            MedewerkerField::WidCheck,
        ];
        assert_eq!(fields, order);
        let good = NewMedewerker {
            uzi_number: "900030001".into(),
            first_names: "Anna".into(),
            surname: "de Vries".into(),
            birth_date: "1990-05-17".into(),
            wid_check: WidCheck { document: WidDocument::Rijbewijs, checked: true },
        };
        assert!(good.problems(1_750_000_000).is_empty());
        let future = NewMedewerker { birth_date: "2999-01-01".into(), ..good };
        assert!(future.problems(1_750_000_000)[0].1.to_string().contains("in the future"));
    }
}
