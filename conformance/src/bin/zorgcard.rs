//! `zorgcard`: simulated UZI-pas and ZORG-ID Smartcards in a real PC/SC stack. Argument parsing and calls only;
//! the work is in the `conformance` and `reader-sim` crates.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use card_os::Platform as _;
use clap::{Args, Parser, Subcommand};
use conformance::card_new::{NewCardOptions, new_card};
use conformance::pki::TestPki;
use conformance::serve::{SlotSpec, serve, wait_ready};
use conformance::{inspect, profile};
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
    Inspect { file: PathBuf },
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
        Command::Card(CardCommand::Inspect { file }) => {
            print!("{}", inspect::inspect(&file).map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::Serve(args) => serve_command(args),
    }
}

fn serve_command(args: ServeArgs) -> Result<(), String> {
    let n = args.profiles.len().max(args.cards.len()).max(1);
    let specs: Vec<SlotSpec> =
        (0..n).map(|i| SlotSpec { profile: args.profiles.get(i).cloned(), card: args.cards.get(i).cloned() }).collect();
    let trace = match &args.trace {
        None => Trace::off(),
        Some(p) if p.as_os_str() == "-" => Trace::stdout(),
        Some(p) => Trace::file(p).map_err(|e| format!("trace file {}: {e}", p.display()))?,
    };
    let slots = serve(&specs, args.vpcd, args.slot, args.reverse, trace).map_err(|e| e.to_string())?;
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
