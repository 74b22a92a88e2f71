//! `zorgcard personalise`: the flow on two PC/SC readers through pcscd.

use super::*;

/// `zorgcard personalise`: its flags (`--uzi-reader R1 --blank-reader R2 --birth-date YYYY-MM-DD
/// --uzi-pin-from-env VAR --pin-from-env VAR`); without a flag the value is asked for on the terminal.
#[derive(Debug, Clone, Default)]
pub struct PersonaliseArgs {
    /// PC/SC name of the reader holding the UZI pass.
    pub uzi_reader: String,
    /// PC/SC name of the reader holding the blank ZORG-ID Smartcard.
    pub blank_reader: String,
    /// Birth date, `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// Name of the environment variable holding the UZI PIN.
    pub uzi_pin_from_env: Option<String>,
    /// Name of the environment variable holding the new PIN.
    pub pin_from_env: Option<String>,
    /// Portal database (a file or a `postgres://` URL): the organisation must be registered there, and the new
    /// card is recorded in it.
    pub registry: Option<portal::StoreLocation>,
}

/// Runs the personaliser on two PC/SC readers, the holder's entries from the flags' environment variables or the
/// terminal ([`TerminalEntry`]). The caller shows the outcome's card and then, once, its PUK.
pub fn personalise_main(args: &PersonaliseArgs) -> Result<PersonaliseOutcome, PersonaliseError> {
    let mut entry = TerminalEntry {
        birth_date: args.birth_date.clone(),
        uzi_pin_env: args.uzi_pin_from_env.clone(),
        pin_env: args.pin_from_env.clone(),
    };
    personalise_readers(args, &mut entry)
}

/// [`personalise_main`] with the entries from `entry`. Both cards are reset first (a half-personalised card rolls
/// back to blank, a UZI pass left verified by another application is logged out); on failure the new card is
/// reset again so it is blank when the holder takes it out. With `args.registry` the organisation must be
/// registered there and the new card is recorded in it.
pub fn personalise_readers(
    args: &PersonaliseArgs,
    entry: &mut dyn Entry,
) -> Result<PersonaliseOutcome, PersonaliseError> {
    use reader_sim::pcsc::PcscReader;

    if args.uzi_reader == args.blank_reader {
        return Err(PersonaliseError::Setup {
            problem: format!(
                "--uzi-reader and --blank-reader are both `{}`: put the UZI pass and the blank card in two readers",
                args.uzi_reader
            ),
        });
    }
    let setup = |problem: String| PersonaliseError::Setup { problem };
    let pki = TestPki::fixtures().map_err(|e| setup(e.to_string()))?;
    let zorg_id = profile::load("zorg-id").map_err(|e| setup(e.to_string()))?;
    let mut options = PersonaliseOptions::new(&pki, &zorg_id);
    if let Some(path) = &args.registry {
        let registry = portal::Store::open(path).and_then(|mut s| s.registry()).map_err(|e| setup(e.to_string()))?;
        options.registered_organisations =
            Some(registry.organisations.iter().map(|o| o.subscriber_number.clone()).collect());
    }
    let connect = |name: &str, what: &str| PcscReader::connect(name).map_err(|e| setup(format!("{what}: {e}")));
    let mut uzi = connect(&args.uzi_reader, "UZI pass")?;
    let mut blank = connect(&args.blank_reader, "blank ZORG-ID Smartcard")?;
    let _ = uzi.reset();
    let _ = blank.reset();
    let result = personalise(&mut uzi, &mut blank, entry, &options);
    let _ = uzi.reset();
    let mut outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            if !matches!(e, PersonaliseError::ActivationUnconfirmed { .. }) {
                let _ = blank.reset();
            }
            return Err(e);
        }
    };
    if let Some(path) = &args.registry
        && let Err(e) = portal::record_issued(path, &outcome.card)
    {
        outcome.warnings.push(format!(
            "the card is complete but could not be recorded in the portal registry: {e}; record it again with its serial {}",
            outcome.card.serial
        ));
    }
    Ok(outcome)
}
