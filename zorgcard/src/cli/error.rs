//! The one error type of the `zorgcard` binary: every command's error, and the outcomes that end it non-zero.

use reader_sim::image::ImageFileError;

use chaos::ChaosError;
use conformance::scenario::ScenarioError;
use conformance::suite::SuiteError;
use personaliser::PersonaliseError;
use portal::PortalError;
use portal::crl::CrlError;
use reader_sim::pcsc::PcscReaderError;
use replay::ReplayError;
use serve::ServeError;

/// Why a `zorgcard` command failed. The modules' errors already name the thing and the fix, so they are passed
/// through unchanged; the variants of its own say what the outcome was.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The fixture set could not be chosen or exported.
    #[error(transparent)]
    Fixtures(#[from] fixtures::FixturesError),
    /// A card could not be made from its profile (the profile, the TEST PKI, or the personalisation).
    #[error(transparent)]
    Card(#[from] issuance::CardError),
    /// An image file could not be read or written.
    #[error(transparent)]
    Image(#[from] ImageFileError),
    /// `serve` could not start.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The PC/SC service or a reader could not be used.
    #[error(transparent)]
    Pcsc(#[from] PcscReaderError),
    /// The conformance suite could not run.
    #[error(transparent)]
    Suite(#[from] SuiteError),
    /// A scenario could not be played.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// `record` or `replay` failed.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The personaliser failed.
    #[error(transparent)]
    Personalise(#[from] PersonaliseError),
    /// The portal refused or failed.
    #[error(transparent)]
    Portal(#[from] PortalError),
    /// `portal serve` could not start.
    #[error(transparent)]
    PortalWeb(#[from] portal_web::WebError),
    /// `chaos` could not run, or a rule it checks was broken.
    #[error(transparent)]
    Chaos(#[from] ChaosError),
    /// `pcscd-config` cannot describe these readers.
    #[error(transparent)]
    PcscdConfig(#[from] serve::pcscd_config::PcscdConfigError),
    /// `crl write` or `crl serve` failed.
    #[error(transparent)]
    Crl(#[from] CrlError),
    /// `browser-profile` could not make the profile.
    #[error(transparent)]
    BrowserProfile(#[from] crate::cli::browser_profile::BrowserProfileError),
    /// Standard output could not be written (a closed pipe, a full disk).
    #[error("could not write the output: {0}")]
    Output(#[from] std::io::Error),
    /// `-r`/`--reader` matched no reader, or several.
    #[error("{0}")]
    Reader(String),
    /// `card inspect` showed the banks of an image that does not open.
    #[error("{0}")]
    Refused(ImageFileError),
    /// The conformance suite ran, and checks failed.
    #[error("conformance: checks failed (see the report above)")]
    ChecksFailed,
    /// The replayed card answered differently from the trace.
    #[error("replay: the simulated card answered differently (see the differences above)")]
    ReplayDiffers,
}

issuance::from_card_errors!(CliError);

impl CliError {
    /// The process exit code: 1 when the command ran and found failures (checks, replay differences), 2 when it
    /// could not do its work. Scripts tell "the card is wrong" from "the setup is wrong" by it.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::ChecksFailed | CliError::ReplayDiffers | CliError::Chaos(ChaosError::RuleBroken { .. }) => 1,
            _ => 2,
        }
    }

    /// The message, and with `verbose` the chain of causes under it, one per line.
    pub fn report(&self, verbose: bool) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause.filter(|_| verbose) {
            let line = c.to_string();
            if !text.contains(&line) {
                text.push_str(&format!("\n  caused by: {line}"));
            }
            cause = c.source();
        }
        text
    }
}
