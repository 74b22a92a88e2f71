//! The `zorgcard` command line: one function per subcommand, called by the thin binary (`src/bin/zorgcard.rs`),
//! which only parses the arguments, calls one of these, and maps the [`CliError`] to a message and an exit code.
//!
//! - [`args`]: the clap argument types and their `--help` text.
//! - [`mod@browser_profile`]: `browser-profile`, a Firefox profile that logs in with the card.
//! - [`readers`]: `list-readers` and the `-r`/`--reader` argument.
//! - [`CliError`]: every command's error, and the outcomes that end the process non-zero.
//!
//! Results go to standard output, diagnostics to standard error, so `zorgcard … > file` keeps only the results.

pub mod args;
pub mod browser_profile;
mod error;
pub mod readers;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use card_os::Platform as _;
use reader_sim::image::Rollback;

pub use error::CliError;

use fixtures::{self, FixtureSet};
use issuance::card_new::{NewCardOptions, new_card};
use issuance::pki::TestPki;
use issuance::{inspect, profile};
use serve::{READY_TIMEOUT, ServeOptions, slots};

fn rollback(accept: bool) -> Rollback {
    if accept { Rollback::Accept } else { Rollback::Refuse }
}

/// `zorgcard card new` and `zorgcard card inspect`.
pub fn card(command: args::CardCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        args::CardCommand::New { profile, out: file, serial } => {
            let profile = profile::load(&profile)?;
            let made = new_card(&profile, &TestPki::fixtures()?, &NewCardOptions { serial, ..Default::default() })?;
            reader_sim::image::save_atomic(&file, made.card.platform().nvm().as_bytes())?;
            writeln!(out, "{} card written to {}", profile.name, file.display())?;
            Ok(())
        }
        args::CardCommand::Inspect { file, accept_rollback } => {
            let found = inspect::inspect(&file, rollback(accept_rollback))?;
            write!(out, "{}", found.report)?;
            found.refused.map_or(Ok(()), |e| Err(CliError::Refused(e)))
        }
    }
}

/// `zorgcard serve`: the slots from the arguments, then [`serve::serve_main`] on the process's standard
/// input and output.
pub fn serve(a: args::ServeArgs, verbose: bool) -> Result<(), CliError> {
    let exists = |p: &str| Path::new(p).is_file();
    let options = ServeOptions {
        slots: slots::plan(&a.profiles, &a.cards, a.slot, rollback(a.accept_rollback), &exists)
            .map_err(serve::ServeError::from)?,
        vpcd: a.vpcd,
        reverse: a.reverse,
        trace: a.trace,
        registry: a.registry,
        ready_timeout: READY_TIMEOUT,
    };
    let stdin = std::io::stdin();
    serve::serve_main(&options, &mut stdin.lock(), &mut std::io::stdout(), &mut std::io::stderr(), verbose)?;
    Ok(())
}

/// `zorgcard list-readers`.
pub fn list_readers(verbose: bool) -> Result<(), CliError> {
    readers::list_readers(&mut std::io::stdout(), &mut std::io::stderr(), verbose)
}

/// `zorgcard conformance`: the report on standard output; failed checks end in [`CliError::ChecksFailed`].
pub fn conformance(a: args::ConformanceArgs) -> Result<(), CliError> {
    let reader = a.reader.as_deref().map(readers::resolve).transpose()?;
    let args = conformance::suite::ConformanceArgs { reader, profiles: a.profiles, scripts: a.scripts, junit: a.junit };
    match conformance::suite::conformance_main(&args)? {
        0 => Ok(()),
        _ => Err(CliError::ChecksFailed),
    }
}

/// `zorgcard scenario list` (on `out`) and `zorgcard scenario run`.
pub fn scenario(command: args::ScenarioCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        args::ScenarioCommand::List => {
            let names = conformance::scenario::names();
            let width = names.iter().map(String::len).max().unwrap_or(0);
            for name in names {
                let scenario = conformance::scenario::load(&name)?;
                writeln!(out, "{name:<width$}  {}", scenario.description)?;
            }
            Ok(())
        }
        args::ScenarioCommand::Run { file, vpcd, slot, trace, seconds } => {
            let duration = seconds.map(Duration::from_secs);
            conformance::scenario::scenario_main(&conformance::scenario::ScenarioArgs {
                file,
                vpcd,
                slot,
                trace,
                duration,
            })?;
            Ok(())
        }
    }
}

/// `--fixtures DIR` (or `ZORGCARD_FIXTURES`): the directory replaces the fixtures the binary carries, for the
/// whole process; without it the embedded set is used ([`::fixtures`]).
pub fn select_fixtures(dir: Option<&Path>) -> Result<(), CliError> {
    let set = match dir {
        Some(dir) => FixtureSet::dir(dir)?,
        None => FixtureSet::Embedded,
    };
    Ok(fixtures::select(set)?)
}

/// `zorgcard fixtures export DIR`: writes the embedded set, one line per file on `out`.
pub fn fixtures(command: args::FixturesCommand, out: &mut dyn Write) -> Result<(), CliError> {
    let args::FixturesCommand::Export { dir, force } = command;
    let written = fixtures::export(&dir, force)?;
    for path in &written {
        writeln!(out, "wrote {}", path.display())?;
    }
    writeln!(out, "{} files written to {}; use them with --fixtures {}", written.len(), dir.display(), dir.display())?;
    Ok(())
}

/// `zorgcard replay`: the differences on `out`; any difference ends in [`CliError::ReplayDiffers`].
pub fn replay(a: args::ReplayArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let report = replay::replay_main(&replay::ReplayArgs { trace: a.trace, profile: a.profile })?;
    write!(out, "{report}")?;
    if report.exit_code() == 0 { Ok(()) } else { Err(CliError::ReplayDiffers) }
}

/// `zorgcard record`.
pub fn record(a: args::RecordArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let reader = readers::resolve(&a.reader)?;
    let args = replay::RecordArgs { reader, apdus: a.apdus, trace: a.trace, pin_from_env: a.pin_from_env };
    let n = replay::record_main(&args)?;
    writeln!(out, "{n} exchanges recorded to {}", args.trace.display())?;
    Ok(())
}

/// `zorgcard personalise`: the card on `out`, then the one-time PUK, once; warnings on `diagnostics`.
pub fn personalise(a: args::PersonaliseArgs, out: &mut dyn Write, diagnostics: &mut dyn Write) -> Result<(), CliError> {
    let args = personaliser::PersonaliseArgs {
        uzi_reader: readers::resolve(&a.uzi_reader)?,
        blank_reader: readers::resolve(&a.blank_reader)?,
        birth_date: a.birth_date,
        uzi_pin_from_env: a.uzi_pin_from_env,
        pin_from_env: a.pin_from_env,
        registry: a.registry,
    };
    let outcome = personaliser::personalise_main(&args)?;
    for w in &outcome.warnings {
        writeln!(diagnostics, "warning: {w}")?;
    }
    write!(out, "{}", outcome.card)?;
    write!(out, "one-time PUK (shown once, write it down): ")?;
    outcome.puk.show(out)?;
    writeln!(out)?;
    Ok(())
}

/// `zorgcard portal`.
pub fn portal(a: args::PortalArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let action = match a.action {
        args::PortalSubcommand::Serve(serve) if a.actor.is_none() => {
            return Ok(portal_web::serve_main(&a.registry, &serve, out)?);
        }
        args::PortalSubcommand::Serve(_) => return Err(portal_web::WebError::ActorFlag.into()),
        args::PortalSubcommand::Local(action) => action,
    };
    let command = portal::PortalCommand { registry: a.registry, actor: a.actor.unwrap_or_default(), action };
    write!(out, "{}", portal::portal_main(command)?)?;
    Ok(())
}

/// `zorgcard crl write` and `zorgcard crl serve`.
pub fn crl(command: args::CrlCommand) -> Result<(), CliError> {
    use portal::crl::CrlCommand as Do;
    let command = match command {
        args::CrlCommand::Write { registry, out } => Do::Write { registry, out },
        args::CrlCommand::Serve { registry, addr, seconds } => {
            Do::Serve { registry, addr, duration: seconds.map(Duration::from_secs) }
        }
    };
    portal::crl::crl_main(command)?;
    Ok(())
}

/// `zorgcard pcscd-config`: the `reader.conf` entry of [`serve::pcscd_config::VpcdReaders`], on standard output,
/// after a comment saying where its slot ports listen (Debian's driver: every interface).
pub fn pcscd_config(a: args::PcscdConfigArgs, out: &mut dyn Write) -> Result<(), CliError> {
    use serve::pcscd_config::{PcscdConfigError, VpcdReaders, listens_on_loopback};
    let readers = match (a.driver, a.prefix) {
        (_, Some(prefix)) => VpcdReaders::project(&prefix, a.slots, a.port)?,
        (None, None) if a.slots == serve::pcscd_config::SYSTEM_VPCD_SLOTS => VpcdReaders::system(a.port),
        (None, None) => VpcdReaders::built(serve::pcscd_config::SYSTEM_VPCD_DRIVER, a.slots, a.port)?,
        (Some(driver), None) => VpcdReaders::built(driver, a.slots, a.port)?,
    };
    if !readers.driver.is_file() {
        return Err(PcscdConfigError::DriverMissing(readers.driver).into());
    }
    let readers = match a.listen {
        Some(addr) => readers.listen_on(addr)?,
        None => readers,
    };
    match readers.listen {
        Some(addr) => writeln!(out, "# slot ports listen on {addr} (--listen)")?,
        None if listens_on_loopback(&readers.driver)? => writeln!(out, "# slot ports listen on 127.0.0.1")?,
        None => writeln!(
            out,
            "# slot ports listen on every interface (Debian's vpcd): other hosts can reach the reader; \
             scripts/build-vpcd-16 builds one on 127.0.0.1"
        )?,
    }
    write!(out, "{}", readers.reader_conf())?;
    Ok(())
}

/// `zorgcard browser-profile`: the profile folder, then what it holds on `out`.
pub fn browser_profile(a: args::BrowserProfileArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let spec = browser_profile::ProfileSpec { out: &a.out, module: &a.module, trust: &a.trust };
    let trusted = browser_profile::make_profile(&spec)?;
    writeln!(out, "Firefox profile written to {}", a.out.display())?;
    writeln!(out, "  PKCS#11 module: {}", a.module.display())?;
    writeln!(out, "  trusted CAs: {}", trusted.join(", "))?;
    writeln!(out, "  run: firefox-esr -profile {} (WebDriver: run pin-prompt.js in chrome context)", a.out.display())?;
    Ok(())
}
