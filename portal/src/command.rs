//! `zorgcard portal`: one command against the portal database, as one transaction ([`crate::store`]).

use std::path::PathBuf;

use super::registry::{PortalError, Registry};
use super::store::{Store, StoreLocation};
use super::users::{NewMedewerker, WidCheck, WidDocument};

/// `zorgcard portal --database DB --as UZI-NUMBER <action>`.
#[derive(Debug, Clone)]
pub struct PortalCommand {
    /// The portal database (`--database` or `--registry`: a file or a `postgres://` URL, default
    /// [`super::DEFAULT_REGISTRY`]).
    pub registry: StoreLocation,
    /// UZI number of the actor (`--as`); may be empty only for `import-toml`.
    pub actor: String,
    /// What to do.
    pub action: PortalAction,
}

/// The portal's operations (`zorgcard portal … ACTION`; the doc comments are the command-line help).
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum PortalAction {
    /// Register the organisation; the actor becomes its administrator.
    Register {
        /// Organisation name.
        #[arg(long)]
        organisation: String,
        /// URA subscriber number (8 digits).
        #[arg(long)]
        ura: String,
    },
    /// Appoint a beheerder (administrator only).
    Appoint {
        /// UZI number of the new beheerder.
        beheerder: String,
        /// Which organisation, when the actor administers several.
        #[arg(long)]
        ura: Option<String>,
    },
    /// Show cards (bekijken): all of the organisation, or one.
    View {
        /// One card in detail; all visible cards without.
        serial: Option<String>,
    },
    /// Block a card (blokkeren): refused at its next use.
    Block {
        /// The card's serial number.
        serial: String,
    },
    /// Unblock a card (deblokkeren).
    Unblock {
        /// The card's serial number.
        serial: String,
    },
    /// Revoke a card (intrekken): certificates on the CRL, the card terminated at its next use.
    Revoke {
        /// The card's serial number.
        serial: String,
    },
    /// Register a medewerker (administrator or beheerder), after the face-to-face WID check.
    RegisterMedewerker {
        /// The organisation's URA.
        #[arg(long)]
        ura: String,
        /// The medewerker's UZI number.
        #[arg(long)]
        uzi_number: String,
        /// First name(s), as in the WID.
        #[arg(long)]
        first_names: String,
        /// Surname, as in the WID.
        #[arg(long)]
        surname: String,
        /// Birth date, YYYY-MM-DD.
        #[arg(long)]
        birth_date: String,
        /// The identity document checked face to face.
        #[arg(long, value_enum)]
        wid_document: WidDocument,
        /// Confirms the WID check was done face to face; refused without.
        #[arg(long)]
        wid_checked: bool,
    },
    /// Deactivate a user: all their roles go inactive.
    DeactivateUser {
        /// The user's UZI number.
        uzi_number: String,
        /// Which organisation, when the user is in several the actor manages.
        #[arg(long)]
        ura: Option<String>,
    },
    /// Delete a deactivated user and all their data.
    DeleteUser {
        /// The user's UZI number.
        uzi_number: String,
        /// Which organisation, when the user is in several the actor manages.
        #[arg(long)]
        ura: Option<String>,
    },
    /// List the users of the organisations the actor manages.
    Users,
    /// Bring a TOML registry (the older `zorgcard-portal.toml`) into the database, all or nothing.
    ImportToml {
        /// The TOML registry file.
        file: PathBuf,
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

/// Runs one portal command at `now` (Unix seconds). A command that changes the registry is one transaction
/// ([`Store::transact`]): its answer is returned only after the commit; a refused one changes nothing.
pub fn portal_run(cmd: &PortalCommand, now: i64) -> Result<String, PortalError> {
    let database = &cmd.registry;
    let actor = cmd.actor.as_str();
    if actor.is_empty() && !matches!(cmd.action, PortalAction::ImportToml { .. }) {
        return Err(PortalError::NoActor);
    }
    let command = describe(&cmd.action);
    let open = || Store::open(database);
    match &cmd.action {
        PortalAction::ImportToml { file } => {
            // Parsed before the database is touched: a damaged file creates and changes nothing.
            let imported = Registry::load(file)?;
            let who = if actor.is_empty() { "import-toml" } else { actor };
            Store::open_or_create(database)?.transact(who, &command, now, |r| r.import(imported, file))
        }
        PortalAction::Register { organisation, ura } => {
            Store::open_or_create(database)?
                .transact(actor, &command, now, |r| r.register(actor, organisation, ura, now))
        }
        PortalAction::Appoint { beheerder, ura } => {
            open()?.transact(actor, &command, now, |r| r.appoint(actor, beheerder, ura.as_deref()))
        }
        PortalAction::View { serial } => {
            let registry = open()?.registry()?;
            registry
                .view(actor, serial.as_deref())
                .map_err(|refusal| PortalError::Refused { database: database.clone(), refusal })
        }
        PortalAction::Block { serial } => open()?.transact(actor, &command, now, |r| r.block(actor, serial, now)),
        PortalAction::Unblock { serial } => open()?.transact(actor, &command, now, |r| r.unblock(actor, serial, now)),
        PortalAction::Revoke { serial } => open()?.transact(actor, &command, now, |r| r.revoke(actor, serial, now)),
        PortalAction::RegisterMedewerker { .. }
        | PortalAction::DeactivateUser { .. }
        | PortalAction::DeleteUser { .. } => users_run(cmd, &command, now),
        PortalAction::Users => {
            let registry = open()?.registry()?;
            let users = registry
                .users_of(actor)
                .map_err(|refusal| PortalError::Refused { database: database.clone(), refusal })?;
            let mut out = format!("{} user(s) managed by `{actor}`\n", users.len());
            for u in users {
                out.push_str(&format!(
                    "{} {:<10} {} {} (born {}) {}\n",
                    u.subscriber_number, u.uzi_number, u.first_names, u.surname, u.birth_date, u.status
                ));
            }
            Ok(out)
        }
    }
}

/// The user commands, each one transaction.
fn users_run(cmd: &PortalCommand, command: &str, now: i64) -> Result<String, PortalError> {
    let actor = cmd.actor.as_str();
    let mut store = Store::open(&cmd.registry)?;
    match &cmd.action {
        PortalAction::RegisterMedewerker {
            ura,
            uzi_number,
            first_names,
            surname,
            birth_date,
            wid_document,
            wid_checked,
        } => {
            let new = NewMedewerker {
                uzi_number: uzi_number.clone(),
                first_names: first_names.clone(),
                surname: surname.clone(),
                birth_date: birth_date.clone(),
                wid_check: WidCheck { document: *wid_document, checked: *wid_checked },
            };
            store.transact(actor, command, now, |r| r.register_medewerker(actor, ura, &new, now))
        }
        PortalAction::DeactivateUser { uzi_number, ura } => {
            store.transact(actor, command, now, |r| r.deactivate_user(actor, uzi_number, ura.as_deref()))
        }
        PortalAction::DeleteUser { uzi_number, ura } => {
            store.transact(actor, command, now, |r| r.delete_user(actor, uzi_number, ura.as_deref()))
        }
        _ => Ok(String::new()),
    }
}

/// The command as the audit table records it: never a name or birth date (`portal/src/users.rs`).
fn describe(action: &PortalAction) -> String {
    match action {
        PortalAction::Register { organisation, ura } => format!("register {ura} {organisation}"),
        PortalAction::Appoint { beheerder, ura } => match ura {
            Some(ura) => format!("appoint {beheerder} --ura {ura}"),
            None => format!("appoint {beheerder}"),
        },
        PortalAction::View { .. } => "view".into(),
        PortalAction::Block { serial } => format!("block {serial}"),
        PortalAction::Unblock { serial } => format!("unblock {serial}"),
        PortalAction::Revoke { serial } => format!("revoke {serial}"),
        PortalAction::ImportToml { file } => format!("import-toml {}", file.display()),
        PortalAction::RegisterMedewerker { ura, uzi_number, .. } => {
            format!("register-medewerker {uzi_number} --ura {ura}")
        }
        PortalAction::DeactivateUser { uzi_number, .. } => format!("deactivate-user {uzi_number}"),
        PortalAction::DeleteUser { uzi_number, .. } => format!("delete-user {uzi_number}"),
        PortalAction::Users => "users".into(),
    }
}
