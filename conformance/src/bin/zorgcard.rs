//! `zorgcard`: simulated UZI-pas and ZORG-ID Smartcards in a real PC/SC stack. Argument parsing and calls only;
//! the work is in the `conformance` and `reader-sim` crates.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use card_os::Platform as _;
use clap::{Args, Parser, Subcommand};
use conformance::issuance::card_new::{NewCardOptions, new_card};
use conformance::issuance::pki::TestPki;
use conformance::issuance::{inspect, profile};
use conformance::serve::{SlotSpec, serve, wait_ready};
use reader_sim::image::Rollback;
use reader_sim::trace::Trace;

#[derive(Parser)]
#[command(name = "zorgcard", version, about = "Simulated UZI-pas and ZORG-ID Smartcards as virtual PC/SC readers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Put cards in vpcd slots so pcscd shows them to every PC/SC application.
    ///
    /// Example: zorgcard serve --profile uzi-zorgverlener
    ///
    /// Several --profile/--card pairs fill several slots (slot n = vpcd port + n). With --card, the image is
    /// created from the profile if absent and kept across runs. Prints one `ready` line once connected.
    /// On standard input: `remove N`, `insert N`, `clock +DAYS` / `clock -DAYS`, `quit`.
    Serve(ServeArgs),
    /// Make and look at card images.
    #[command(subcommand)]
    Card(CardCommand),
    /// Run the conformance suite: against simulated cards of every profile (default) or a card in a PC/SC reader.
    ///
    /// Examples: zorgcard conformance
    ///           zorgcard conformance --reader "Virtual PCD 00 00" --profile uzi-zorgverlener --junit report.xml
    Conformance(ConformanceCli),
    /// Play application scenarios (PIN almost blocked, expired card, card pulled mid-signature, …) in a vpcd slot.
    #[command(subcommand)]
    Scenario(ScenarioCommand),
    /// Play seeded life-cycle events (pull, reset, slow, blocked PIN, expiry, revocation, 6581/6F00/6A84) on a
    /// card while an application uses it; print what was injected and how the application reacted.
    ///
    /// Example: zorgcard chaos --seed 42 --client login.apdus --rule no-verify-after-6983
    Chaos(conformance::chaos::ChaosArgs),
    /// Replay a recorded APDU dialogue against a simulated card and report the differences.
    ///
    /// Example: zorgcard replay --trace real-card.log --profile uzi-medewerker
    Replay {
        /// A trace written by `--trace` or recorded from a real card.
        #[arg(long)]
        trace: PathBuf,
        /// The profile of the simulated card to compare with.
        #[arg(long)]
        profile: String,
    },
    /// Record an APDU dialogue with a card in a PC/SC reader (a real card too), for `zorgcard replay`.
    ///
    /// Example: PIN=123456 zorgcard record --reader "OMNIKEY 3x21 00 00" --apdus login.apdus --trace real.log
    ///          --pin-from-env PIN
    Record {
        #[arg(long)]
        reader: String,
        /// One C-APDU per line in hex, `#` comments; `$PIN` stands for the PIN.
        #[arg(long)]
        apdus: PathBuf,
        /// The trace written (PIN masked).
        #[arg(long)]
        trace: PathBuf,
        /// Environment variable holding the PIN for `$PIN`.
        #[arg(long)]
        pin_from_env: Option<String>,
    },
    /// Create a ZORG-ID Smartcard from a blank card with a valid UZI-medewerkerspas (two PC/SC readers).
    ///
    /// Example: zorgcard personalise --uzi-reader "Virtual PCD 00 00" --blank-reader "Virtual PCD 00 01"
    ///          --birth-date 1980-05-17 --uzi-pin-from-env UZI_PIN --pin-from-env NEW_PIN
    ///
    /// Without the flags it asks on the terminal. The one-time PUK is shown once, on standard output, and stored
    /// nowhere.
    Personalise(PersonaliseCli),
    /// The ZORG-ID Portaal's card management: register, appoint, view, block, unblock, revoke.
    ///
    /// Example: zorgcard portal --as 900000001 view
    Portal(PortalCli),
    /// The test CA's revocation list of ZORG-ID Smartcards.
    #[command(subcommand)]
    Crl(CrlCli),
}

#[derive(Args)]
struct ConformanceCli {
    /// A PC/SC reader to test the card in (e.g. "Virtual PCD 00 00", or a real Omnikey); default: in-process.
    #[arg(long)]
    reader: Option<String>,
    /// Profiles to check (in-process: default all); with --reader, the one profile the card claims.
    #[arg(long = "profile")]
    profiles: Vec<String>,
    /// Script files or folders (default: fixtures/scripts).
    #[arg(long = "script")]
    scripts: Vec<PathBuf>,
    /// Also write a JUnit XML report.
    #[arg(long)]
    junit: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ScenarioCommand {
    /// Play one scenario. Example: zorgcard scenario run fixtures/scenarios/expired-card.toml --trace dialogue.log
    Run {
        /// A scenario file, or the name of a shipped one.
        file: PathBuf,
        #[arg(long, default_value = "127.0.0.1:35963")]
        vpcd: SocketAddr,
        #[arg(long, default_value_t = 0)]
        slot: usize,
        /// APDU trace file (secrets masked); `-` for standard output.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Stop after this many seconds (default: until `quit` or killed).
        #[arg(long)]
        seconds: Option<u64>,
    },
}

#[derive(Args)]
struct PersonaliseCli {
    #[arg(long)]
    uzi_reader: String,
    #[arg(long)]
    blank_reader: String,
    /// The holder's birth date, YYYY-MM-DD.
    #[arg(long)]
    birth_date: Option<String>,
    /// Name of the environment variable holding the UZI pass PIN.
    #[arg(long)]
    uzi_pin_from_env: Option<String>,
    /// Name of the environment variable holding the new card's PIN (used for both entries).
    #[arg(long)]
    pin_from_env: Option<String>,
    /// Portal registry the organisation is registered in and the new card is recorded in.
    #[arg(long)]
    registry: Option<PathBuf>,
}

#[derive(Args)]
struct PortalCli {
    /// Who acts: a UZI number (administrator, beheerder or worker).
    #[arg(long = "as")]
    actor: String,
    /// The registry file.
    #[arg(long, default_value = conformance::portal::DEFAULT_REGISTRY)]
    registry: PathBuf,
    #[command(subcommand)]
    action: PortalActionCli,
}

#[derive(Subcommand)]
enum PortalActionCli {
    /// Register the organisation; the actor becomes its administrator.
    Register {
        #[arg(long)]
        organisation: String,
        #[arg(long)]
        ura: String,
    },
    /// Appoint a beheerder (administrator only).
    Appoint {
        beheerder: String,
        #[arg(long)]
        ura: Option<String>,
    },
    /// Show cards (bekijken): all of the organisation, or one.
    View { serial: Option<String> },
    /// Block a card (blokkeren): refused at its next use.
    Block { serial: String },
    /// Unblock a card (deblokkeren).
    Unblock { serial: String },
    /// Revoke a card (intrekken): certificates on the CRL, the card terminated at its next use.
    Revoke { serial: String },
}

#[derive(Subcommand)]
enum CrlCli {
    /// Write the CRL (DER, and PEM next to it). Example: zorgcard crl write --out zorg-id-ca.crl
    Write {
        #[arg(long, default_value = conformance::portal::DEFAULT_REGISTRY)]
        registry: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve the CRL over HTTP on loopback for applications that fetch it.
    ///
    /// Example: zorgcard crl serve --addr 127.0.0.1:8080   (GET /zorg-id-ca.crl)
    Serve {
        #[arg(long, default_value = conformance::portal::DEFAULT_REGISTRY)]
        registry: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Stop after this many seconds (default: until killed).
        #[arg(long)]
        seconds: Option<u64>,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Card profile: uzi-zorgverlener, uzi-medewerker, uzi-medewerker-niet-op-naam, zorg-id, zorg-id-blank, or a
    /// path to a profile .toml. Repeat for more slots.
    #[arg(long = "profile")]
    profiles: Vec<String>,
    /// Image file for the slot of the same position; created from the profile when absent, saved after every
    /// change.
    #[arg(long = "card")]
    cards: Vec<PathBuf>,
    /// Where vpcd listens (slot 0).
    #[arg(long, default_value = "127.0.0.1:35963")]
    vpcd: SocketAddr,
    /// First slot number (port offset).
    #[arg(long, default_value_t = 0)]
    slot: usize,
    /// Reverse mode: listen for vpcd instead of connecting.
    #[arg(long)]
    reverse: bool,
    /// APDU trace file (PIN, PUK and keys masked); `-` for standard output.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Portal registry (`zorgcard portal`): a card blocked or revoked there is refused at its next use.
    #[arg(long)]
    registry: Option<PathBuf>,
    /// Open a --card image whose newest state is damaged at the older state it still holds. That state may have
    /// PIN or PUK tries back that were spent since: only when you mean it.
    #[arg(long)]
    accept_rollback: bool,
}

#[derive(Subcommand)]
enum CardCommand {
    /// Personalise a fixture card and save its image.
    ///
    /// Example: zorgcard card new --profile uzi-zorgverlener --out alice.card
    New {
        #[arg(long)]
        profile: String,
        #[arg(long)]
        out: PathBuf,
        /// Serial number (default: the profile's).
        #[arg(long)]
        serial: Option<String>,
    },
    /// Show holder, type, life cycle, tries left, validity, keys and certificates of an image (never a secret).
    ///
    /// Example: zorgcard card inspect alice.card
    Inspect {
        file: PathBuf,
        /// If the newest state is damaged, show the older state the image still holds (PIN or PUK tries spent
        /// since may be back in it). Without it, a damaged image shows its banks and fails.
        #[arg(long)]
        accept_rollback: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("zorgcard: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Card(CardCommand::New { profile, out, serial }) => {
            let profile = profile::load(&profile).map_err(|e| e.to_string())?;
            let pki = TestPki::fixtures().map_err(|e| e.to_string())?;
            let made = new_card(&profile, &pki, &NewCardOptions { serial, ..Default::default() })
                .map_err(|e| e.to_string())?;
            reader_sim::image::save_atomic(&out, made.card.platform().nvm().as_bytes()).map_err(|e| e.to_string())?;
            println!("{} card written to {}", profile.name, out.display());
            Ok(())
        }
        Command::Card(CardCommand::Inspect { file, accept_rollback }) => {
            let found = inspect::inspect(&file, rollback(accept_rollback)).map_err(|e| e.to_string())?;
            print!("{}", found.report);
            found.refused.map_or(Ok(()), |e| Err(e.to_string()))
        }
        Command::Serve(args) => serve_command(args),
        Command::Conformance(c) => {
            let args = conformance::suite::ConformanceArgs {
                reader: c.reader,
                profiles: c.profiles,
                scripts: c.scripts,
                junit: c.junit,
            };
            let code = conformance::suite::conformance_main(&args).map_err(|e| e.to_string())?;
            if code == 0 { Ok(()) } else { Err(format!("conformance: failures (exit code {code})")) }
        }
        Command::Scenario(ScenarioCommand::Run { file, vpcd, slot, trace, seconds }) => {
            let args = conformance::scenario::ScenarioArgs {
                file,
                vpcd,
                slot,
                trace,
                duration: seconds.map(Duration::from_secs),
            };
            conformance::scenario::scenario_main(&args).map_err(|e| e.to_string())
        }
        Command::Chaos(args) => conformance::chaos::chaos_main(&args).map(drop).map_err(|e| e.to_string()),
        Command::Replay { trace, profile } => {
            let report = conformance::replay::replay_main(&conformance::replay::ReplayArgs { trace, profile })
                .map_err(|e| e.to_string())?;
            print!("{report}");
            if report.exit_code() == 0 { Ok(()) } else { Err("replay: the simulated card answered differently".into()) }
        }
        Command::Record { reader, apdus, trace, pin_from_env } => {
            let args = conformance::replay::RecordArgs { reader, apdus, trace, pin_from_env };
            let n = conformance::replay::record_main(&args).map_err(|e| e.to_string())?;
            println!("{n} exchanges recorded to {}", args.trace.display());
            Ok(())
        }
        Command::Personalise(p) => {
            let args = conformance::personaliser::PersonaliseArgs {
                uzi_reader: p.uzi_reader,
                blank_reader: p.blank_reader,
                birth_date: p.birth_date,
                uzi_pin_from_env: p.uzi_pin_from_env,
                pin_from_env: p.pin_from_env,
                registry: p.registry,
            };
            let outcome = conformance::personaliser::personalise_main(&args).map_err(|e| e.to_string())?;
            for w in &outcome.warnings {
                eprintln!("warning: {w}");
            }
            print!("{}", outcome.card);
            print!("one-time PUK (shown once, write it down): ");
            outcome.puk.show(&mut std::io::stdout()).map_err(|e| e.to_string())?;
            println!();
            Ok(())
        }
        Command::Portal(p) => {
            use conformance::portal::{PortalAction, PortalCommand};
            let action = match p.action {
                PortalActionCli::Register { organisation, ura } => PortalAction::Register { organisation, ura },
                PortalActionCli::Appoint { beheerder, ura } => PortalAction::Appoint { beheerder, ura },
                PortalActionCli::View { serial } => PortalAction::View { serial },
                PortalActionCli::Block { serial } => PortalAction::Block { serial },
                PortalActionCli::Unblock { serial } => PortalAction::Unblock { serial },
                PortalActionCli::Revoke { serial } => PortalAction::Revoke { serial },
            };
            let out = conformance::portal::portal_main(PortalCommand { registry: p.registry, actor: p.actor, action })
                .map_err(|e| e.to_string())?;
            print!("{out}");
            Ok(())
        }
        Command::Crl(c) => {
            use conformance::portal::crl::CrlCommand;
            let cmd = match c {
                CrlCli::Write { registry, out } => CrlCommand::Write { registry, out },
                CrlCli::Serve { registry, addr, seconds } => {
                    CrlCommand::Serve { registry, addr, duration: seconds.map(Duration::from_secs) }
                }
            };
            conformance::portal::crl::crl_main(cmd).map_err(|e| e.to_string())
        }
    }
}

fn rollback(accept: bool) -> Rollback {
    if accept { Rollback::Accept } else { Rollback::Refuse }
}

fn serve_command(args: ServeArgs) -> Result<(), String> {
    let n = args.profiles.len().max(args.cards.len()).max(1);
    let specs: Vec<SlotSpec> = (0..n)
        .map(|i| SlotSpec {
            profile: args.profiles.get(i).cloned(),
            card: args.cards.get(i).cloned(),
            rollback: rollback(args.accept_rollback),
        })
        .collect();
    let trace = match &args.trace {
        None => Trace::off(),
        Some(p) if p.as_os_str() == "-" => Trace::stdout(),
        Some(p) => Trace::file(p).map_err(|e| format!("trace file {}: {e}", p.display()))?,
    };
    let slots = serve(&specs, args.vpcd, args.slot, args.reverse, trace, args.registry.as_deref())
        .map_err(|e| e.to_string())?;
    if !wait_ready(&slots, Duration::from_secs(30)) {
        return Err(format!(
            "vpcd at {} did not accept a connection within 30 s: start pcscd with the vpcd driver (`pcscd --foreground`, package vsmartcard-vpcd)",
            args.vpcd
        ));
    }
    for s in &slots {
        println!("ready: slot {} {} serial {} via vpcd {}", s.slot, s.label, s.serial, s.addr);
    }
    let clocks: Vec<_> =
        slots.iter().filter_map(|s| s.reader.lock().ok()?.card().map(|c| c.platform().clock_handle())).collect();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        let slot =
            |w: Option<&&str>| w.and_then(|s| s.parse::<usize>().ok()).and_then(|n| slots.iter().find(|s| s.slot == n));
        match words.as_slice() {
            ["remove", rest @ ..] => match slot(rest.first()) {
                Some(s) => s.handle.remove_card(),
                None => eprintln!("remove: which slot?"),
            },
            ["insert", rest @ ..] => match slot(rest.first()) {
                Some(s) => s.handle.insert_card(),
                None => eprintln!("insert: which slot?"),
            },
            ["clock", days] => match days.trim_start_matches('+').parse::<i64>() {
                Ok(d) => clocks.iter().for_each(|c| c.set_offset_days(d)),
                Err(_) => eprintln!("clock: give a whole number of days, e.g. `clock +1096`"),
            },
            ["quit"] => return Ok(()),
            [] => {}
            _ => eprintln!("commands: remove N, insert N, clock +DAYS, quit"),
        }
    }
    // Standard input closed (CI, a service, `< /dev/null`): serve until killed.
    loop {
        std::thread::park();
    }
}
