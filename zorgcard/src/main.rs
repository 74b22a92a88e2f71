//! `zorgcard`: simulated UZI-pas and ZORG-ID Smartcards in a real PC/SC stack. Argument parsing, one call per
//! subcommand and the mapping of its error to a message and an exit code; the work is in `crate::cli` and
//! the modules it calls.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cli::{CliError, args};

#[derive(Parser)]
#[command(name = "zorgcard", version, about = "Simulated UZI-pas and ZORG-ID Smartcards as virtual PC/SC readers")]
struct Cli {
    /// Say more: the causes under an error, card states in list-readers, each control command serve carries out.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Use the fixtures in DIR (profiles, scripts, scenarios, chaos, pki, keys: the layout `zorgcard fixtures
    /// export` writes) instead of the ones this binary carries.
    #[arg(long, global = true, env = "ZORGCARD_FIXTURES", value_name = "DIR")]
    fixtures: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Put cards in vpcd slots so pcscd shows them to every PC/SC application.
    ///
    /// Example: zorgcard serve --card uzi-zorgverlener --card zorg-id:/tmp/b.card
    ///
    /// Each --card fills the next vpcd slot (slot N = vpcd port + N, up to 16 slots), from --slot on. Prints one
    /// `ready: slot N …` line per slot once vpcd has them all. On standard input: `remove N`, `insert N`,
    /// `clock +DAYS` / `clock -DAYS`, `quit`.
    Serve(args::ServeArgs),
    /// List the PC/SC readers pcscd knows, numbered as -r/--reader takes them (-v: with card and ATR).
    ListReaders,
    /// Print the pcscd reader configuration for vpcd readers (a `reader.conf.d` entry for `pcscd -c DIR`).
    ///
    /// Example: zorgcard pcscd-config --driver target/vpcd-16/libifdvpcd.so --slots 16 > conf.d/vpcd
    PcscdConfig(args::PcscdConfigArgs),
    /// Make and look at card images.
    #[command(subcommand)]
    Card(args::CardCommand),
    /// Run the conformance suite: against simulated cards of every profile (default) or a card in a PC/SC reader.
    ///
    /// Examples: zorgcard conformance
    ///           zorgcard conformance -r "Virtual PCD 00 00" --profile uzi-zorgverlener --junit report.xml
    Conformance(args::ConformanceArgs),
    /// Play application scenarios (PIN almost blocked, expired card, card pulled mid-signature, …) in a vpcd slot.
    #[command(subcommand)]
    Scenario(args::ScenarioCommand),
    /// Play seeded life-cycle events (pull, reset, slow, blocked PIN, expiry, revocation, 6581/6F00/6A84) on a
    /// card while an application uses it; print what was injected and how the application reacted.
    ///
    /// Example: zorgcard chaos --seed 42 --client login.apdus --rule no-verify-after-6983
    Chaos(chaos::ChaosArgs),
    /// Write out the fixtures this binary carries (profiles, scripts, scenarios, TEST PKI, …) to adapt them.
    ///
    /// Example: zorgcard fixtures export my-fixtures && zorgcard --fixtures my-fixtures conformance
    #[command(subcommand)]
    Fixtures(args::FixturesCommand),
    /// Replay a recorded APDU dialogue against a simulated card and report the differences.
    ///
    /// Example: zorgcard replay --trace real-card.log --profile uzi-medewerker
    Replay(args::ReplayArgs),
    /// Record an APDU dialogue with a card in a PC/SC reader (a real card too), for `zorgcard replay`.
    ///
    /// Example: PIN=123456 zorgcard record -r omnikey --apdus login.apdus --trace real.log --pin-from-env PIN
    Record(args::RecordArgs),
    /// Create a ZORG-ID Smartcard from a blank card with a valid UZI-medewerkerspas (two PC/SC readers).
    ///
    /// Example: zorgcard personalise --uzi-reader "Virtual PCD 00 00" --blank-reader "Virtual PCD 00 01"
    ///          --birth-date 1980-05-17 --uzi-pin-from-env UZI_PIN --pin-from-env NEW_PIN
    ///
    /// Without the flags it asks on the terminal. The one-time PUK is shown once, on standard output, and stored
    /// nowhere.
    Personalise(args::PersonaliseArgs),
    /// The ZORG-ID Portaal's card management: register, appoint, view, block, unblock, revoke.
    ///
    /// Example: zorgcard portal --as 900000001 view
    Portal(args::PortalArgs),
    /// Make a Firefox profile that logs in with the card: TEST CAs trusted, OpenSC added, PIN script for WebDriver.
    ///
    /// Example: zorgcard browser-profile --out ff-profile --trust server-ca.pem
    BrowserProfile(args::BrowserProfileArgs),
    /// The test CA's revocation list of ZORG-ID Smartcards.
    #[command(subcommand)]
    Crl(args::CrlCommand),
}

fn main() -> ExitCode {
    let Cli { verbose, fixtures, command } = Cli::parse();
    let out = &mut std::io::stdout();
    let result = cli::select_fixtures(fixtures.as_deref()).and_then(|()| run(command, verbose, out));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zorgcard: {}", e.report(verbose));
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(command: Command, verbose: bool, out: &mut std::io::Stdout) -> Result<(), CliError> {
    match command {
        Command::Serve(a) => cli::serve(a, verbose),
        Command::ListReaders => cli::list_readers(verbose),
        Command::PcscdConfig(a) => cli::pcscd_config(a, out),
        Command::Card(c) => cli::card(c, out),
        Command::Conformance(a) => cli::conformance(a),
        Command::Scenario(c) => cli::scenario(c, out),
        Command::Fixtures(c) => cli::fixtures(c, out),
        Command::Chaos(a) => chaos::chaos_main(&a).map(drop).map_err(CliError::from),
        Command::Replay(a) => cli::replay(a, out),
        Command::Record(a) => cli::record(a, out),
        Command::Personalise(a) => cli::personalise(a, out, &mut std::io::stderr()),
        Command::Portal(a) => cli::portal(a, out),
        Command::Crl(c) => cli::crl(c),
        Command::BrowserProfile(a) => cli::browser_profile(a, out),
    }
}
