//! `zorgcard portal`: one command against the registry file.

use std::path::PathBuf;

use super::registry::{PortalError, Registry};

/// `zorgcard portal --registry FILE --as UZI-NUMBER <action>`.
#[derive(Debug, Clone)]
pub struct PortalCommand {
    /// The registry file (`--registry`, default [`super::DEFAULT_REGISTRY`]).
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
