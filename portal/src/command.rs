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
