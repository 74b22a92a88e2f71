//! The portal's operations for a logged-in [`Identity`], without HTTP: each write is one `Store::transact`
//! (`portal/src/store.rs`) run on a blocking thread and returned only after its COMMIT; the rules are the
//! registry's own (`portal/src/registry.rs`, seeds *Registreren organisatie* and *ZORG-ID Smartcard*), with the
//! certificate's UZI number as the actor. What this layer adds is only what a certificate shows and a `--as` flag
//! cannot: the card a holder logs in with must not be blocked or revoked, and an organisation is registered with
//! a UZI-zorgverlenerspas of that organisation.

use std::sync::Arc;

use portal::{
    AuditRow, CardRecord, CardStatus, NewMedewerker, Organisation, PortalError, Refusal, Registry, Role, Store,
    StoreLocation, User,
};

use crate::clock::PortalClock;
use crate::identity::{CardKind, Identity};

/// Why an operation was not done; nothing changed in the database.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The registry's rules refused it.
    #[error("{0}")]
    Refused(Refusal),
    /// It conflicts with what is registered already (an organisation registered twice, a beheerder appointed
    /// twice).
    #[error("{0}")]
    Conflict(Refusal),
    /// The certificate the holder logged in with does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// The portal database failed.
    #[error("{0}")]
    Store(PortalError),
    /// The blocking task running the transaction died.
    #[error("the portal's database task stopped ({0}): the command may not have run; retry it")]
    Task(String),
}

impl From<PortalError> for ServiceError {
    fn from(e: PortalError) -> Self {
        match e {
            PortalError::Refused { refusal, .. } => ServiceError::Refused(refusal),
            other => ServiceError::Store(other),
        }
    }
}

/// The portal database and clock the operations run against.
///
/// Connections are kept open between requests (`Connections`): a new PostgreSQL connection costs milliseconds per
/// request, and an SQLite one re-reads the schema. Writes from this server take an in-process lock first, so that
/// they queue here instead of in SQLite's busy handler, which sleeps and retries (SQLite documentation,
/// `sqlite3_busy_timeout`); other processes (the CLI, a second server) still meet at the database's own lock.
#[derive(Debug, Clone)]
pub struct Portal {
    registry: Arc<StoreLocation>,
    clock: PortalClock,
    connections: Arc<Connections>,
}

/// Open connections to the portal database, reused by the blocking tasks, and the lock this server's writers take.
#[derive(Debug, Default)]
struct Connections {
    idle: std::sync::Mutex<Vec<Store>>,
    writer: std::sync::Mutex<()>,
}

impl Connections {
    /// Runs `f` on an idle connection, or a new one; the connection goes back to the idle ones unless the store
    /// failed (a refused rule leaves it usable).
    fn with<T>(
        &self,
        location: &StoreLocation,
        f: impl FnOnce(&mut Store) -> Result<T, PortalError>,
    ) -> Result<T, PortalError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut store = match idle {
            Some(store) => store,
            None => Store::open(location)?,
        };
        let result = f(&mut store);
        if matches!(result, Ok(_) | Err(PortalError::Refused { .. })) {
            self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(store);
        }
        result
    }
}

/// Whether two certificate serials (upper-case hex) are the same number, leading zero bytes aside.
pub fn same_serial(a: &str, b: &str) -> bool {
    let trim = |s: &str| s.trim_start_matches("00").to_ascii_uppercase();
    trim(a) == trim(b)
}

/// The registered card a certificate (serial, hex) belongs to.
pub fn card_of_certificate<'r>(registry: &'r Registry, serial: &str) -> Option<&'r CardRecord> {
    registry.cards.iter().find(|c| c.issued.certificates.iter().any(|cert| same_serial(&cert.serial, serial)))
}

impl Portal {
    /// Operations on the portal database `registry`, at `clock`.
    pub fn new(registry: StoreLocation, clock: PortalClock) -> Portal {
        Portal { registry: Arc::new(registry), clock, connections: Arc::default() }
    }

    /// The portal's clock.
    pub fn clock(&self) -> PortalClock {
        self.clock.clone()
    }

    /// The registry as committed now.
    pub async fn read(&self) -> Result<Registry, ServiceError> {
        let (path, connections) = (Arc::clone(&self.registry), Arc::clone(&self.connections));
        tokio::task::spawn_blocking(move || connections.with(&path, |s| Ok(s.registry()?)))
            .await
            .map_err(|e| ServiceError::Task(e.to_string()))?
            .map_err(ServiceError::Store)
    }

    /// One transaction: `rule` gets the registry, `now`, and a flag to set when its refusal is a conflict.
    async fn write(
        &self,
        who: &Identity,
        command: String,
        rule: impl FnOnce(&mut Registry, i64, &mut bool) -> Result<String, Refusal> + Send + 'static,
    ) -> Result<String, ServiceError> {
        let (path, connections) = (Arc::clone(&self.registry), Arc::clone(&self.connections));
        let actor = who.uzi_number.clone();
        let now = self.clock.now();
        let (result, conflict) = tokio::task::spawn_blocking(move || {
            let mut conflict = false;
            let _writer = connections.writer.lock().unwrap_or_else(|e| e.into_inner());
            let result =
                connections.with(&path, |s| s.transact(&actor, &command, now, |r| rule(r, now, &mut conflict)));
            (result, conflict)
        })
        .await
        .map_err(|e| ServiceError::Task(e.to_string()))?;
        result.map_err(|e| match ServiceError::from(e) {
            ServiceError::Refused(r) if conflict => ServiceError::Conflict(r),
            other => other,
        })
    }

    /// Refuses a holder whose card (the one whose certificate they logged in with) is blocked or revoked in the
    /// registry: the block is the portal's own decision (`portal/src/lib.rs`), so it holds at the portal too.
    pub async fn admit(&self, who: &Identity) -> Result<(), ServiceError> {
        let registry = self.read().await?;
        match card_of_certificate(&registry, &who.certificate_serial) {
            Some(c) if c.status == CardStatus::Blocked => Err(ServiceError::Forbidden(format!(
                "card {} is blocked in the portal: its administrator or a beheerder of {} can unblock it",
                c.issued.serial, c.issued.organisation
            ))),
            Some(c) if c.status == CardStatus::Revoked => Err(ServiceError::Forbidden(format!(
                "card {} is revoked (final): log in with another card",
                c.issued.serial
            ))),
            _ => Ok(()),
        }
    }

    /// Seed *Registreren organisatie*, *Valideren organisatie* stap 2: only a UZI-zorgverlenerspas registers an
    /// organisation.
    pub fn may_register(who: &Identity) -> Result<(), ServiceError> {
        if who.card == CardKind::Zorgverlenerspas {
            return Ok(());
        }
        Err(ServiceError::Forbidden(format!(
            "registering an organisation takes a UZI-zorgverlenerspas (card type Z); you logged in with a {}",
            who.card
        )))
    }

    /// The registered organisations where `who` is administrator or beheerder, with that role, and the one of
    /// their pass's URA (as [`Role::Worker`] when they manage it not).
    pub async fn roles(&self, who: &Identity) -> Result<Vec<(Organisation, Role)>, ServiceError> {
        let registry = self.read().await?;
        let roles =
            registry.organisations.iter().map(|o| (o.clone(), registry.role(&who.uzi_number, &o.subscriber_number)));
        Ok(roles.filter(|(o, role)| *role != Role::Worker || o.subscriber_number == who.ura).collect())
    }

    /// The organisations `who` manages (administrator or beheerder), as [`Registry::users_of`] counts them; a
    /// worker gets the registry's refusal.
    pub async fn managed(&self, who: &Identity) -> Result<Vec<Organisation>, ServiceError> {
        let managed: Vec<Organisation> =
            self.roles(who).await?.into_iter().filter(|(_, r)| *r != Role::Worker).map(|(o, _)| o).collect();
        if managed.is_empty() {
            return Err(ServiceError::Refused(Refusal::Denied {
                actor: who.uzi_number.clone(),
                action: "manage medewerkers".into(),
                why: "only the administrator or a beheerder of an organisation manages its users (seed *Handleiding gebruikersbeheerder Zorg*, §3)".into(),
            }));
        }
        Ok(managed)
    }

    /// The organisations `who` is the administrator of: only they appoint beheerders (seed *Registreren
    /// organisatie*, "Registreren administrator").
    pub async fn administered(&self, who: &Identity) -> Result<Vec<Organisation>, ServiceError> {
        let administered: Vec<Organisation> =
            self.roles(who).await?.into_iter().filter(|(_, r)| *r == Role::Administrator).map(|(o, _)| o).collect();
        if administered.is_empty() {
            return Err(ServiceError::Forbidden(format!(
                "`{}` is not the administrator of an organisation: only the administrator appoints beheerders",
                who.uzi_number
            )));
        }
        Ok(administered)
    }

    /// Seed *Registreren organisatie*: a UZI-zorgverlenerspas holder registers their own organisation (the URA on
    /// their pass) once, and becomes its administrator.
    pub async fn register(&self, who: &Identity, name: String, ura: Option<String>) -> Result<String, ServiceError> {
        Portal::may_register(who)?;
        let ura = ura.unwrap_or_else(|| who.ura.clone());
        if ura != who.ura {
            return Err(ServiceError::Forbidden(format!(
                "your UZI-pas is for URA {}, so you may register that organisation, not URA {ura}",
                who.ura
            )));
        }
        let actor = who.uzi_number.clone();
        self.write(who, format!("register {ura} {name}"), move |r, now, conflict| {
            *conflict = r.organisation(&ura).is_some();
            r.register(&actor, &name, &ura, now)
        })
        .await
    }

    /// The administrator of URA `ura` appoints `beheerder` (a UZI number).
    pub async fn appoint(&self, who: &Identity, ura: String, beheerder: String) -> Result<String, ServiceError> {
        let actor = who.uzi_number.clone();
        self.write(who, format!("appoint {beheerder} --ura {ura}"), move |r, _, conflict| {
            *conflict = r.organisation(&ura).is_some_and(|o| {
                o.administrator == actor && (o.administrator == beheerder || o.beheerders.contains(&beheerder))
            });
            r.appoint(&actor, &beheerder, Some(&ura))
        })
        .await
    }

    /// Bekijken: the cards `who` may see, by the registry's own rule (`Registry::view`).
    pub async fn cards(&self, who: &Identity) -> Result<Vec<CardRecord>, ServiceError> {
        let registry = self.read().await?;
        let visible = |c: &&CardRecord| registry.view(&who.uzi_number, Some(&c.issued.serial)).is_ok();
        Ok(registry.cards.iter().filter(visible).cloned().collect())
    }

    /// One card, if `who` may see it.
    pub async fn card(&self, who: &Identity, serial: &str) -> Result<CardRecord, ServiceError> {
        let registry = self.read().await?;
        registry.view(&who.uzi_number, Some(serial)).map_err(ServiceError::Refused)?;
        registry.card(serial).cloned().ok_or_else(|| {
            ServiceError::Refused(Refusal::UnknownCard { serial: serial.into(), actor: who.uzi_number.clone() })
        })
    }

    /// The audit of every organisation `who` administers or is a beheerder of, oldest first: what was done to
    /// its cards and people is the business of those who manage them (the same roles as `Registry::view`'s
    /// "all cards of the organisation"); a worker gets [`ServiceError::Forbidden`].
    pub async fn audit(&self, who: &Identity) -> Result<Vec<AuditRow>, ServiceError> {
        let registry = self.read().await?;
        let managed: Vec<String> = registry
            .organisations
            .iter()
            .filter(|o| registry.role(&who.uzi_number, &o.subscriber_number) != Role::Worker)
            .map(|o| o.subscriber_number.clone())
            .collect();
        if managed.is_empty() {
            return Err(ServiceError::Forbidden(format!(
                "`{}` is neither administrator nor beheerder of an organisation: the audit is theirs to read; ask your organisation's administrator",
                who.uzi_number
            )));
        }
        let path = Arc::clone(&self.registry);
        tokio::task::spawn_blocking(move || {
            let mut store = Store::open(path.as_ref())?;
            let mut rows = Vec::new();
            for ura in &managed {
                rows.extend(store.audit(ura)?);
            }
            rows.sort_by_key(|r| r.id);
            Ok(rows)
        })
        .await
        .map_err(|e| ServiceError::Task(e.to_string()))?
        .map_err(|e: portal::StoreError| ServiceError::Store(e.into()))
    }

    /// Seed *Registratie gebruikers 2b*, stap 3: the administrator or a beheerder of `ura` registers a
    /// medewerker after the face-to-face WID check (`Registry::register_medewerker`). The audit records the UZI
    /// number only.
    pub async fn register_medewerker(
        &self,
        who: &Identity,
        ura: String,
        new: NewMedewerker,
    ) -> Result<String, ServiceError> {
        let actor = who.uzi_number.clone();
        let command = format!("register-medewerker {} --ura {ura}", new.uzi_number);
        self.write(who, command, move |r, now, conflict| {
            *conflict = r.user(&ura, &new.uzi_number).is_some() && r.role(&actor, &ura) != Role::Worker;
            r.register_medewerker(&actor, &ura, &new, now)
        })
        .await
    }

    /// Seed *Handleiding gebruikersbeheerder Zorg*, §3.3: deactivate or delete user `uzi`.
    pub async fn manage_user(
        &self,
        who: &Identity,
        action: UserAction,
        uzi: String,
        ura: Option<String>,
    ) -> Result<String, ServiceError> {
        let actor = who.uzi_number.clone();
        let command = format!("{} {uzi}", action.name());
        self.write(who, command, move |r, _, _| match action {
            UserAction::Deactivate => r.deactivate_user(&actor, &uzi, ura.as_deref()),
            UserAction::Delete => r.delete_user(&actor, &uzi, ura.as_deref()),
        })
        .await
    }

    /// The users of the organisations `who` manages.
    pub async fn users(&self, who: &Identity) -> Result<Vec<User>, ServiceError> {
        let registry = self.read().await?;
        let users = registry.users_of(&who.uzi_number).map_err(ServiceError::Refused)?;
        Ok(users.into_iter().cloned().collect())
    }

    /// Blokkeren, deblokkeren or intrekken of card `serial`.
    pub async fn change(&self, who: &Identity, action: CardAction, serial: String) -> Result<String, ServiceError> {
        let actor = who.uzi_number.clone();
        self.write(who, format!("{} {serial}", action.name()), move |r, now, _| match action {
            CardAction::Block => r.block(&actor, &serial, now),
            CardAction::Unblock => r.unblock(&actor, &serial, now),
            CardAction::Revoke => r.revoke(&actor, &serial, now),
        })
        .await
    }
}

/// What is done to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAction {
    /// Deactiveren.
    Deactivate,
    /// Verwijderen.
    Delete,
}

impl UserAction {
    /// The CLI's name of it, as the audit table records commands.
    pub fn name(self) -> &'static str {
        match self {
            UserAction::Deactivate => "deactivate-user",
            UserAction::Delete => "delete-user",
        }
    }
}

/// What is done to a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardAction {
    /// Blokkeren.
    Block,
    /// Deblokkeren.
    Unblock,
    /// Intrekken.
    Revoke,
}

impl CardAction {
    /// The CLI's name of it, as the audit table records commands.
    pub fn name(self) -> &'static str {
        match self {
            CardAction::Block => "block",
            CardAction::Unblock => "unblock",
            CardAction::Revoke => "revoke",
        }
    }
}
