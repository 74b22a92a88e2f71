//! The reference ZORG-ID Smartcard personaliser: a care worker makes their own ZORG-ID Smartcard with their own,
//! still valid UZI-medewerkerspas op naam.
//!
//! This is the "Aanmaken ZORG-ID Smartcard" flow of `seeds/002_9d0d588546332f3e.txt` (steps 1–7) and the
//! "Persoonlijke aanmaak" of `seeds/003_ee747b7425e6bc58.txt`, run against two readers — the UZI pass in one, the
//! blank ZORG-ID Smartcard in the other — through nothing but [`Transmit`], so the same code runs in-process in
//! tests and through pcscd ([`personalise_main`]). The nine [`Step`]s each refuse with a [`PersonaliseError`] that
//! names the step, what was found and what to do:
//!
//! 1. the UZI pass is valid: operational, PIN not blocked, inside its validity, a type that may make one (N);
//! 2. the holder authenticates with the UZI PIN: VERIFY, then INTERNAL AUTHENTICATE on a fresh random challenge,
//!    checked against the UZI authentication certificate, itself checked against the TEST UZI-register CA;
//! 3. the birth date is entered; 4. the second card is really blank; 5. the new PIN is entered twice;
//! 6. keys are generated on the new card; 7. the ZORG-ID TEST CA issues its certificates for three years;
//! 8. the PIN and a one-time PUK are set, the PUK handed back once as a [`OneTimePuk`]; 9. the card is activated.
//!
//! All-or-nothing: card-os rolls a card whose personalisation was not finished with ACTIVATE back to blank at its
//! next reset or power-up (`card_os::Card::reset`), so a card pulled at any step comes back blank; ACTIVATE is the
//! last command sent, so once it is confirmed the card is complete. The PIN and PUK only travel in VERIFY and
//! CHANGE REFERENCE DATA, which every trace masks, and are never formatted into a message.

use std::fmt;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

use card_os::{Clock as _, Status};
use der::asn1::{Ia5StringRef, ObjectIdentifier, PrintableStringRef, Utf8StringRef};
use der::{Any, Decode, Tag, Tagged};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use reader_sim::platform::ClockHandle;
use reader_sim::reader::{ReaderError, Transmit};
use x509_cert::certificate::Certificate;

use crate::issuance::card_new::{self, CardNewError, Personaliser};
use crate::issuance::pkcs15::{self, KeySpec, KeyUsage, PinSpec, TokenSpec};
use crate::issuance::pki::{self, CertRole, Holder, HolderType, Issuer, PkiError, TestPki};
use crate::issuance::profile::{self, KeyType, PinSettings, Profile};
use crate::suite::script::HashAlg;

/// Length of the one-time PUK: 8 digits, inside the ZORG-ID profile's PUK policy (6–16 digits) and no longer
/// than the user PIN's maximum, so `pkcs15-tool --unblock-pin` accepts it (see `pkcs15::PinSpec`).
pub const PUK_DIGITS: usize = 8;

/// Youngest holder accepted, in years. The seeds ask for the birth date without a rule; 16 is the youngest age at
/// which someone works in Dutch healthcare (apprentices, holiday jobs), so a later date is a typing error.
pub const MIN_AGE_YEARS: i32 = 16;

/// Oldest plausible birth date, in years before today: anything earlier is a typing error.
pub const MAX_AGE_YEARS: i32 = 120;

/// Length of the INTERNAL AUTHENTICATE challenge: 32 random bytes, as much entropy as the P-256 key offers.
const CHALLENGE_LEN: usize = 32;

/// The authentication certificate of a UZI pass (PKCS#15 layout, `pkcs15::certificate_fid(1)`).
const UZI_AUTH_CERT_PATH: [u16; 2] = [pkcs15::DF_PKCS15, 0x4301];

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_GN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.42");
const OID_SN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.4");

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// A PIN as typed by the holder. `Debug` prints `***`, there is no `Display`, and the bytes are overwritten when
/// it is dropped (best effort: the optimiser is asked not to skip it with `black_box`).
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps a typed value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into().into_bytes())
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&self.0);
    }
}

/// The one-time PUK of a new ZORG-ID Smartcard (seed 002, step 7: "U krijgt nu de eenmalige pukcode … te zien").
///
/// Not `Clone`, `Debug` prints `***`, no `Display`: the only way to the digits is [`OneTimePuk::show`], which
/// consumes it, so the PUK is shown exactly once and by whoever holds the value — never by a log, trace or file
/// of this crate.
pub struct OneTimePuk(Secret);

impl OneTimePuk {
    /// Writes the digits (nothing else) to `out` and forgets them.
    pub fn show(self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(self.0.bytes())
    }
}

impl fmt::Debug for OneTimePuk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimePuk(***)")
    }
}

// ---------------------------------------------------------------------------------------------
// Steps and errors
// ---------------------------------------------------------------------------------------------

/// The steps of the creation flow, in order (seed 002 "Aanmaken", seed 003 steps 3–6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// The UZI pass is valid (seed 002 "Voorbereiding" step 1: "Controleer of uw UZI-medewerkerspas nog geldig is").
    UziPass,
    /// The holder authenticates with the UZI PIN (seed 002 step 3, seed 003 step 3).
    UziPin,
    /// The birth date is entered (seed 002 step 4).
    BirthDate,
    /// The second card is a blank ZORG-ID Smartcard (seed 002 step 5).
    BlankCard,
    /// The new PIN is entered twice (seed 002 step 6).
    NewPin,
    /// Key pairs are generated on the new card.
    Keys,
    /// The ZORG-ID TEST CA issues the certificates, written with the PKCS#15 files.
    Certificates,
    /// The PIN and the one-time PUK are set (seed 002 step 7).
    Puk,
    /// ACTIVATE: the card is operational for three years (seed 003 step 6).
    Finalise,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 9] = [
        Step::UziPass,
        Step::UziPin,
        Step::BirthDate,
        Step::BlankCard,
        Step::NewPin,
        Step::Keys,
        Step::Certificates,
        Step::Puk,
        Step::Finalise,
    ];

    /// 1-based position.
    pub fn number(self) -> usize {
        Step::ALL.iter().position(|s| *s == self).map_or(0, |i| i + 1)
    }

    fn what(self) -> &'static str {
        match self {
            Step::UziPass => "checking the UZI pass",
            Step::UziPin => "authenticating with the UZI PIN",
            Step::BirthDate => "entering the birth date",
            Step::BlankCard => "checking the blank ZORG-ID Smartcard",
            Step::NewPin => "choosing the new PIN",
            Step::Keys => "generating the keys on the new card",
            Step::Certificates => "issuing and writing the certificates",
            Step::Puk => "setting the PIN and the one-time PUK",
            Step::Finalise => "finalising the new card",
        }
    }

    /// What the holder does after a failure at this step: before anything was written to the new card it is
    /// untouched, afterwards it rolls back to blank at its next reset.
    fn advice(self) -> &'static str {
        if self <= Step::NewPin {
            "nothing was written to the ZORG-ID Smartcard; start again"
        } else {
            "the ZORG-ID Smartcard was not finalised and is blank again once it is reset or reinserted; start again"
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {} of 9 ({})", self.number(), self.what())
    }
}

/// Which of the two cards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// The care worker's UZI-medewerkerspas.
    UziPass,
    /// The ZORG-ID Smartcard being made.
    NewCard,
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Which::UziPass => "UZI pass",
            Which::NewCard => "ZORG-ID Smartcard",
        })
    }
}

/// Why a ZORG-ID Smartcard was not made. Every message names the step, what was found and what to do; none
/// contains a PIN or PUK.
#[derive(Debug, thiserror::Error)]
pub enum PersonaliseError {
    /// A reader failed or a card was pulled.
    #[error("{step}: the reader of the {card} failed: {source}; put the card back: {}", step.advice())]
    Reader {
        /// Where it happened.
        step: Step,
        /// Which card.
        card: Which,
        /// The reader's error.
        source: ReaderError,
    },
    /// The UZI pass refused a command that a valid pass answers.
    #[error("{step}: the UZI pass answered {status} to {command}: use a working UZI-medewerkerspas op naam")]
    UziRefused {
        /// Where it happened.
        step: Step,
        /// The command.
        command: &'static str,
        /// Its status word.
        status: Status,
    },
    /// The UZI pass is not operational (blank, blocked for good, terminated).
    #[error("{}: the UZI pass is {state}, not operational: {advice}", Step::UziPass)]
    UziNotOperational {
        /// Life-cycle state as read (GET DATA `DF31`).
        state: String,
        /// What to do.
        advice: &'static str,
    },
    /// The UZI PIN is blocked.
    #[error(
        "{step}: the PIN of the UZI pass is blocked (0 of {max} tries left): unblock it with the PUK of the UZI pass (UZI-pas software) first, then start again"
    )]
    UziPinBlocked {
        /// Where it was found.
        step: Step,
        /// The PIN's maximum tries.
        max: u8,
    },
    /// The UZI pass is outside its validity.
    #[error("{}: the UZI pass {problem}: {advice}", Step::UziPass)]
    UziExpired {
        /// What was found, with the dates.
        problem: String,
        /// What to do.
        advice: &'static str,
    },
    /// The UZI authentication certificate is unreadable, invalid or not from the TEST UZI-register.
    #[error("{step}: the authentication certificate of the UZI pass {problem}: use a valid UZI-medewerkerspas op naam")]
    UziCertificate {
        /// Where it happened.
        step: Step,
        /// What is wrong.
        problem: String,
    },
    /// The UZI pass is of a type that may not make a ZORG-ID Smartcard.
    #[error("{}: this is a {what} (card type {letter}): {advice}", Step::UziPass)]
    UziCardType {
        /// The card-type letter of the 2.5.5.5 otherName.
        letter: char,
        /// The card type in words.
        what: &'static str,
        /// Why not, and what to use.
        advice: &'static str,
    },
    /// The holder's organisation is not registered with the portal (seed 002: it registers once, first).
    #[error(
        "{}: organisation {organisation} (URA {subscriber_number}) is not registered with the ZORG-ID portal: its administrator registers it first (`zorgcard portal register`)",
        Step::UziPass
    )]
    OrganisationNotRegistered {
        /// Organisation name from the UZI certificate.
        organisation: String,
        /// URA subscriber number.
        subscriber_number: String,
    },
    /// Wrong UZI PIN.
    #[error(
        "{}: wrong PIN for the UZI pass, tries left: {tries_left}; enter the PIN of this UZI pass (it is blocked when no tries are left)",
        Step::UziPin
    )]
    UziPinWrong {
        /// Tries left on the UZI pass.
        tries_left: u8,
    },
    /// The last try of the UZI PIN was spent (or the PIN was blocked meanwhile).
    #[error(
        "{}: wrong PIN for the UZI pass, which is now blocked: unblock it with the PUK of the UZI pass (UZI-pas software), then start again",
        Step::UziPin
    )]
    UziPinNowBlocked,
    /// INTERNAL AUTHENTICATE did not prove possession of the certified key.
    #[error(
        "{}: {problem}: the pass did not prove it holds the key of its certificate; use your own, genuine UZI pass",
        Step::UziPin
    )]
    UziAuthentication {
        /// What went wrong.
        problem: String,
    },
    /// The birth date is missing, malformed or implausible.
    #[error("{}: {given:?} {problem}: enter the date of birth as YYYY-MM-DD, e.g. 1984-03-27", Step::BirthDate)]
    BirthDate {
        /// What was entered.
        given: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The second card is not a blank ZORG-ID Smartcard.
    #[error("{}: {problem}", Step::BlankCard)]
    NotBlank {
        /// What was found and what to do.
        problem: String,
    },
    /// The two PIN entries differ.
    #[error("{}: the two PINs differ: enter the same new PIN twice", Step::NewPin)]
    PinMismatch,
    /// The new PIN does not meet the ZORG-ID PIN policy.
    #[error("{}: the new PIN {problem}", Step::NewPin)]
    PinPolicy {
        /// What is wrong, with the policy.
        problem: String,
    },
    /// The new card refused a personalisation command.
    #[error("{step}: {source}; {}", step.advice())]
    NewCard {
        /// Where it happened.
        step: Step,
        /// The card's refusal.
        source: CardNewError,
    },
    /// The test CA could not issue a certificate.
    #[error("{step}: the ZORG-ID TEST CA could not issue a certificate: {source}; {}", step.advice())]
    Pki {
        /// Where it happened.
        step: Step,
        /// The CA's error.
        source: PkiError,
    },
    /// ACTIVATE was sent but its answer was lost (card pulled at that moment): the card may be complete.
    #[error(
        "{}: the ZORG-ID Smartcard did not confirm ACTIVATE ({problem}): it may be operational; reinsert it and check it (GET DATA DF31 = 05 is complete, 01 is blank: start again). The one-time PUK is handed back with this error: keep it if the card is complete",
        Step::Finalise
    )]
    ActivationUnconfirmed {
        /// The reader's error.
        problem: String,
        /// The PUK that was set on the card, in case it was activated.
        puk: OneTimePuk,
    },
    /// Reading an entry (PIN, birth date) failed.
    #[error("{step}: cannot read the {what}: {problem}")]
    Input {
        /// Where it happened.
        step: Step,
        /// What was asked for.
        what: &'static str,
        /// Why it could not be read, and what to do.
        problem: String,
    },
    /// The personaliser could not start (readers, fixtures, registry).
    #[error("cannot start the personaliser: {problem}")]
    Setup {
        /// What is wrong and what to do.
        problem: String,
    },
}

impl PersonaliseError {
    /// The step this error belongs to (`None` for setup problems).
    pub fn step(&self) -> Option<Step> {
        Some(match self {
            Self::Reader { step, .. }
            | Self::UziRefused { step, .. }
            | Self::UziPinBlocked { step, .. }
            | Self::UziCertificate { step, .. }
            | Self::NewCard { step, .. }
            | Self::Pki { step, .. }
            | Self::Input { step, .. } => *step,
            Self::UziNotOperational { .. }
            | Self::UziExpired { .. }
            | Self::UziCardType { .. }
            | Self::OrganisationNotRegistered { .. } => Step::UziPass,
            Self::UziPinWrong { .. } | Self::UziPinNowBlocked | Self::UziAuthentication { .. } => Step::UziPin,
            Self::BirthDate { .. } => Step::BirthDate,
            Self::NotBlank { .. } => Step::BlankCard,
            Self::PinMismatch | Self::PinPolicy { .. } => Step::NewPin,
            Self::ActivationUnconfirmed { .. } => Step::Finalise,
            Self::Setup { .. } => return None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Entries (what the holder types)
// ---------------------------------------------------------------------------------------------

/// Where the holder's entries come from, asked for at the step that needs them (the seed's order: UZI PIN,
/// birth date, new PIN twice), so a refused UZI pass never asks for a new PIN.
pub trait Entry {
    /// The PIN of the UZI pass (step 2).
    fn uzi_pin(&mut self) -> Result<Secret, PersonaliseError>;
    /// The birth date as typed, `YYYY-MM-DD` (step 3).
    fn birth_date(&mut self) -> Result<String, PersonaliseError>;
    /// The new PIN and its repetition (step 5).
    fn new_pin(&mut self) -> Result<(Secret, Secret), PersonaliseError>;
}

/// Entries known in advance (tests, CI).
#[derive(Debug)]
pub struct GivenEntry {
    /// The UZI PIN.
    pub uzi_pin: Secret,
    /// The birth date as typed.
    pub birth_date: String,
    /// The new PIN.
    pub new_pin: Secret,
    /// Its repetition.
    pub new_pin_again: Secret,
}

impl GivenEntry {
    /// All four entries.
    pub fn new(uzi_pin: &str, birth_date: &str, new_pin: &str, new_pin_again: &str) -> Self {
        GivenEntry {
            uzi_pin: uzi_pin.into(),
            birth_date: birth_date.into(),
            new_pin: new_pin.into(),
            new_pin_again: new_pin_again.into(),
        }
    }
}

impl Entry for GivenEntry {
    fn uzi_pin(&mut self) -> Result<Secret, PersonaliseError> {
        Ok(Secret(self.uzi_pin.0.clone()))
    }

    fn birth_date(&mut self) -> Result<String, PersonaliseError> {
        Ok(self.birth_date.clone())
    }

    fn new_pin(&mut self) -> Result<(Secret, Secret), PersonaliseError> {
        Ok((Secret(self.new_pin.0.clone()), Secret(self.new_pin_again.0.clone())))
    }
}

/// Entries from environment variables where given, else typed on the terminal: prompts go to standard error
/// (standard output is the caller's, for the PUK) and PINs are read without echo (`stty -echo` on the
/// controlling terminal; the standard library has no termios and the crate takes no new dependency for it).
#[derive(Debug, Default)]
pub struct TerminalEntry {
    /// Birth date given on the command line.
    pub birth_date: Option<String>,
    /// Environment variable holding the UZI PIN.
    pub uzi_pin_env: Option<String>,
    /// Environment variable holding the new PIN (entered "twice" by reading it twice).
    pub pin_env: Option<String>,
}

impl TerminalEntry {
    fn from_env(step: Step, what: &'static str, var: &str) -> Result<Secret, PersonaliseError> {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
            Ok(_) => Err(PersonaliseError::Input {
                step,
                what,
                problem: format!("environment variable `{var}` is empty: set it to the {what}"),
            }),
            Err(e) => Err(PersonaliseError::Input {
                step,
                what,
                problem: format!(
                    "environment variable `{var}`: {e}: set it to the {what}, or leave the flag out to type it"
                ),
            }),
        }
    }

    fn prompt(step: Step, what: &'static str, prompt: &str, secret: bool) -> Result<String, PersonaliseError> {
        let input_error = |e: io::Error| PersonaliseError::Input { step, what, problem: e.to_string() };
        let mut err = io::stderr().lock();
        write!(err, "{prompt}: ").and_then(|()| err.flush()).map_err(input_error)?;
        let _echo = if secret { NoEcho::start() } else { None };
        let mut line = String::new();
        let n = io::stdin().lock().read_line(&mut line).map_err(input_error)?;
        if secret {
            let _ = writeln!(err);
        }
        if n == 0 {
            return Err(PersonaliseError::Input {
                step,
                what,
                problem: "standard input ended: type it on a terminal, or pass it with the flag for CI".into(),
            });
        }
        let value = line.trim_end_matches(['\r', '\n']).to_string();
        wipe(line);
        Ok(value)
    }
}

/// Overwrites a `String`'s bytes before it is dropped.
fn wipe(s: String) {
    let mut bytes = s.into_bytes();
    bytes.iter_mut().for_each(|b| *b = 0);
    std::hint::black_box(&bytes);
}

/// Terminal echo off while a PIN is typed; back on when dropped.
struct NoEcho;

impl NoEcho {
    fn start() -> Option<NoEcho> {
        if !io::stdin().is_terminal() {
            return None;
        }
        let ok = std::process::Command::new("stty")
            .arg("-echo")
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(NoEcho)
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        let _ = std::process::Command::new("stty").arg("echo").stdin(std::process::Stdio::inherit()).status();
    }
}

impl Entry for TerminalEntry {
    fn uzi_pin(&mut self) -> Result<Secret, PersonaliseError> {
        match &self.uzi_pin_env {
            Some(var) => Self::from_env(Step::UziPin, "UZI PIN", var),
            None => Self::prompt(Step::UziPin, "UZI PIN", "PIN of your UZI pass", true).map(Secret::new),
        }
    }

    fn birth_date(&mut self) -> Result<String, PersonaliseError> {
        match &self.birth_date {
            Some(d) => Ok(d.clone()),
            None => Self::prompt(Step::BirthDate, "birth date", "Your date of birth (YYYY-MM-DD)", false),
        }
    }

    fn new_pin(&mut self) -> Result<(Secret, Secret), PersonaliseError> {
        match &self.pin_env {
            Some(var) => {
                Ok((Self::from_env(Step::NewPin, "new PIN", var)?, Self::from_env(Step::NewPin, "new PIN", var)?))
            }
            None => {
                let first = Self::prompt(Step::NewPin, "new PIN", "New PIN for your ZORG-ID Smartcard", true)?;
                let again = Self::prompt(Step::NewPin, "new PIN", "The same PIN again", true)?;
                Ok((Secret::new(first), Secret::new(again)))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Options and outcome
// ---------------------------------------------------------------------------------------------

/// What the personaliser needs besides the two cards.
#[derive(Debug, Clone)]
pub struct PersonaliseOptions<'a> {
    /// The TEST PKI: the UZI-register CAs check the UZI pass, the ZORG-ID CA issues the new certificates.
    pub pki: &'a TestPki,
    /// PIN policy of the new card (the `zorg-id` profile's `[pin]`); its `value` is not used and left empty.
    pub pin: PinSettings,
    /// PUK policy of the new card (the `zorg-id` profile's `[puk]`); must admit [`PUK_DIGITS`] digits. Its
    /// `value` is not used and left empty.
    pub puk: PinSettings,
    /// The personaliser's clock ("today" for validity and birth date, the certificates' issue time). Tests share
    /// it with the cards to move everything past three years at once.
    pub clock: ClockHandle,
    /// Accept a UZI-zorgverlenerspas (type Z) too. Off by default: the ZORG-ID Smartcard replaces the
    /// UZI-medewerkerspas op naam (seed 003: "functioneert als vervanging van de UZI-medewerkerspas op naam"),
    /// whose reimbursement stops; a zorgverlener keeps the zorgverlenerspas.
    pub allow_zorgverlenerspas: bool,
    /// URA subscriber numbers of the organisations registered with the portal; `None` skips the check. Seed 002:
    /// "Is uw organisatie geregistreerd bij ZORG-ID …? Dan kunt u … aanmaken".
    pub registered_organisations: Option<Vec<String>>,
    /// The type of the keys generated on the new card: the `zorg-id` profile's (RSA-2048 by default, as the
    /// UZI-medewerkerspas op naam it replaces, seed 003).
    pub key_type: KeyType,
}

impl<'a> PersonaliseOptions<'a> {
    /// The PIN/PUK policy of `zorg_id` (normally the `zorg-id` profile), the system clock, N passes only, no
    /// registry check.
    pub fn new(pki: &'a TestPki, zorg_id: &Profile) -> Self {
        PersonaliseOptions {
            pki,
            pin: PinSettings { value: String::new(), ..zorg_id.pin.clone() },
            puk: PinSettings { value: String::new(), ..zorg_id.puk.clone() },
            clock: ClockHandle::new(),
            allow_zorgverlenerspas: false,
            registered_organisations: None,
            key_type: zorg_id.key_type(1),
        }
    }

    fn now(&self) -> i64 {
        i64::try_from(self.clock.clock().now()).unwrap_or(i64::MAX)
    }
}

// The record of an issued card is the portal registry's (`portal.rs`); the personaliser fills it in.
pub use crate::portal::{IssuedCard, IssuedCertificate};

/// A new, operational ZORG-ID Smartcard: its record and its one-time PUK.
#[derive(Debug)]
pub struct PersonaliseOutcome {
    /// For the portal registry.
    pub card: IssuedCard,
    /// Show it once ([`OneTimePuk::show`]).
    pub puk: OneTimePuk,
    /// Things that went wrong after the card was complete (e.g. the registry could not be updated).
    pub warnings: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The flow
// ---------------------------------------------------------------------------------------------

/// The holder as read from the UZI authentication certificate.
struct UziHolder {
    holder: Holder,
    public_key: pki::HolderPublicKey,
}

/// Makes a ZORG-ID Smartcard: the UZI pass in `uzi`, a blank ZORG-ID Smartcard in `blank`, both powered.
///
/// On an error the new card is not finalised; the caller resets it (or the holder reinserts it) and it is blank
/// again. The one exception is [`PersonaliseError::ActivationUnconfirmed`], which carries the PUK.
pub fn personalise(
    uzi: &mut dyn Transmit,
    blank: &mut dyn Transmit,
    entry: &mut dyn Entry,
    options: &PersonaliseOptions<'_>,
) -> Result<PersonaliseOutcome, PersonaliseError> {
    check_policy(options)?;

    // 1. The UZI pass is valid.
    let now = options.now();
    let uzi_serial = check_uzi_pass(uzi, now)?;
    let cert = read_ef(uzi, &UZI_AUTH_CERT_PATH, Step::UziPass, Which::UziPass)?;
    let uzi_holder = check_uzi_certificate(&cert, options, now)?;

    // 2. Authenticate with the UZI PIN.
    let pin = entry.uzi_pin()?;
    authenticate(uzi, &pin, &uzi_holder.public_key)?;
    drop(pin);

    // 3. The birth date.
    let birth_date = entry.birth_date()?;
    check_birth_date(&birth_date, now)?;

    // 4. The second card is blank.
    let serial = check_blank(blank)?;

    // 5. The new PIN, twice.
    let (new_pin, again) = entry.new_pin()?;
    check_new_pin(&new_pin, &again, &options.pin)?;
    drop(again);

    // 6. Keys on the new card.
    let mut p = Personaliser::new(blank, "zorg-id");
    let card_err = |step: Step| move |source: CardNewError| new_card_error(step, source);
    p.select_path(&[]).map_err(card_err(Step::Keys))?;
    let mut publics = Vec::new();
    for key_ref in card_os::KeyRef::ALL {
        publics.push((key_ref.to_byte(), p.generate_key(key_ref, options.key_type).map_err(card_err(Step::Keys))?));
    }

    // 7. Certificates from the ZORG-ID TEST CA, three years, holder data from the UZI certificate.
    // From the start of the issue day, as the card's own validity (card-os `lifecycle.rs`): card and certificates
    // expire together.
    let issued_at = now.div_euclid(86_400) * 86_400;
    let pki_err = |source| PersonaliseError::Pki { step: Step::Certificates, source };
    let mut keys = Vec::new();
    let mut certificates = Vec::new();
    for (key_ref, public) in publics {
        let role = card_new::role(key_ref);
        let der = options
            .pki
            .issue(Issuer::ZorgId, &uzi_holder.holder, role, &public, serial.as_bytes(), issued_at)
            .map_err(pki_err)?;
        let summary = pki::certificate_summary(&der).map_err(pki_err)?;
        certificates
            .push(IssuedCertificate { role: role_name(role).into(), serial: hex::encode_upper(&summary.serial) });
        keys.push(KeySpec {
            key_ref,
            id: vec![key_ref],
            label: card_new::key_label(key_ref).into(),
            usage: KeyUsage::for_key(key_ref, &public).unwrap_or(KeyUsage::ENCRYPTION),
            user_consent: key_ref == 2,
            public_key: public,
            certificate_der: Some(der),
        });
    }
    let ca_certs = vec![
        (Issuer::ZorgId.common_name().to_string(), options.pki.ca_der(Issuer::ZorgId)),
        (pki::ROOT_COMMON_NAME.to_string(), options.pki.root_der()),
    ];
    let token = TokenSpec {
        serial: serial.clone(),
        label: format!("ZORG-ID Smartcard {serial}"),
        manufacturer: "zorgcard TEST".into(),
    };
    let pins = PinSpec {
        pin_min: options.pin.min_len,
        pin_max: options.pin.max_len,
        puk_min: options.puk.min_len,
        puk_max: options.puk.max_len,
    };
    p.write_layout(&pkcs15::layout(&token, &pins, &keys, &ca_certs)).map_err(card_err(Step::Certificates))?;

    // 8. The PIN and the one-time PUK.
    let puk = generate_puk()?;
    p.set_secret(pkcs15::USER_PIN_REF, new_pin.bytes()).map_err(card_err(Step::Puk))?;
    drop(new_pin);
    p.set_secret(pkcs15::PUK_REF, puk.bytes()).map_err(card_err(Step::Puk))?;

    // 9. ACTIVATE, the last command: once confirmed, the card is complete.
    match p.activate() {
        Ok(()) => {}
        Err(CardNewError::Reader { source, .. }) => {
            return Err(PersonaliseError::ActivationUnconfirmed { problem: source.to_string(), puk: OneTimePuk(puk) });
        }
        Err(source) => return Err(new_card_error(Step::Finalise, source)),
    }

    let holder = &uzi_holder.holder;
    Ok(PersonaliseOutcome {
        card: IssuedCard {
            serial,
            holder_name: holder.common_name.clone(),
            uzi_number: holder.uzi_number.clone(),
            organisation: holder.organisation.clone(),
            subscriber_number: holder.subscriber_number.clone(),
            birth_date,
            made_with_uzi_pass: uzi_serial,
            not_before: issued_at,
            not_after: pki::add_three_years(issued_at) - 1,
            certificates,
        },
        puk: OneTimePuk(puk),
        warnings: Vec::new(),
    })
}

fn new_card_error(step: Step, source: CardNewError) -> PersonaliseError {
    match source {
        CardNewError::Reader { source, .. } => PersonaliseError::Reader { step, card: Which::NewCard, source },
        source => PersonaliseError::NewCard { step, source },
    }
}

fn role_name(role: CertRole) -> &'static str {
    match role {
        CertRole::Authentication => "authentication",
        CertRole::Signature => "signature",
        CertRole::Encryption => "encryption",
    }
}

/// The options' PUK policy must admit the PUK this personaliser makes.
fn check_policy(options: &PersonaliseOptions<'_>) -> Result<(), PersonaliseError> {
    let n = PUK_DIGITS as u8;
    if n < options.puk.min_len || n > options.puk.max_len {
        return Err(PersonaliseError::Setup {
            problem: format!(
                "the ZORG-ID PUK policy allows {}–{} digits but the one-time PUK has {PUK_DIGITS}: fix `[puk]` of the zorg-id profile",
                options.puk.min_len, options.puk.max_len
            ),
        });
    }
    Ok(())
}

// ---- APDU plumbing ----------------------------------------------------------------------------

/// One exchange, `61xx` followed by GET RESPONSE: the data and the final status.
fn exchange(
    reader: &mut dyn Transmit,
    apdu: &[u8],
    step: Step,
    card: Which,
) -> Result<(Vec<u8>, Status), PersonaliseError> {
    crate::exchange::exchange(reader, apdu).map_err(|source| PersonaliseError::Reader { step, card, source })
}

/// GET DATA `00 CA P1 P2 00` (DIALECT.md "Life cycle").
fn get_data(
    reader: &mut dyn Transmit,
    tag: u16,
    step: Step,
    card: Which,
) -> Result<(Vec<u8>, Status), PersonaliseError> {
    let [p1, p2] = tag.to_be_bytes();
    exchange(reader, &[0x00, 0xCA, p1, p2, 0x00], step, card)
}

/// SELECT by path from the MF with the FCP, then READ BINARY the whole EF.
fn read_ef(reader: &mut dyn Transmit, path: &[u16], step: Step, card: Which) -> Result<Vec<u8>, PersonaliseError> {
    use crate::exchange::ReadEfError;
    let where_ = hex::encode_upper(path.iter().flat_map(|f| f.to_be_bytes()).collect::<Vec<u8>>());
    let cert_err = |problem: String| PersonaliseError::UziCertificate { step, problem };
    crate::exchange::read_ef(reader, path).map_err(|e| match e {
        ReadEfError::Reader(source) => PersonaliseError::Reader { step, card, source },
        ReadEfError::Select(status) => cert_err(format!("cannot be selected at 3F00/{where_}: {status}")),
        ReadEfError::NoSize => cert_err(format!("EF 3F00/{where_} has no size in its FCP")),
        ReadEfError::Read { offset, status } => {
            cert_err(format!("READ BINARY of 3F00/{where_} at offset {offset} answered {status}"))
        }
    })
}

// ---- Step 1: the UZI pass ---------------------------------------------------------------------

/// Life cycle, PIN tries and validity window of the UZI pass (GET DATA `DF31`, `DF33`, `DF30`); its serial.
fn check_uzi_pass(uzi: &mut dyn Transmit, now: i64) -> Result<String, PersonaliseError> {
    let step = Step::UziPass;
    let refused = |command, status| PersonaliseError::UziRefused { step, command, status };
    let (lc, status) = get_data(uzi, 0xDF31, step, Which::UziPass)?;
    if status != Status::Success {
        return Err(refused("GET DATA DF31 (life cycle)", status));
    }
    match lc.as_slice() {
        [0x05] => {}
        [0x06] => {
            return Err(PersonaliseError::UziNotOperational {
                state: "blocked for good (06: its PUK is used up)".into(),
                advice: "apply for a new UZI-medewerkerspas at the UZI-register",
            });
        }
        [0x0C] => {
            return Err(PersonaliseError::UziNotOperational {
                state: "terminated (0C: revoked)".into(),
                advice: "apply for a new UZI-medewerkerspas at the UZI-register",
            });
        }
        other => {
            return Err(PersonaliseError::UziNotOperational {
                state: format!("not personalised (life cycle {})", hex::encode_upper(other)),
                advice: "put your own, personalised UZI-medewerkerspas op naam in the first reader",
            });
        }
    }
    let (tries, status) = get_data(uzi, 0xDF33, step, Which::UziPass)?;
    match (status, tries.as_slice()) {
        (Status::Success, [0, max, ..]) => return Err(PersonaliseError::UziPinBlocked { step, max: *max }),
        (Status::Success, [_, _, ..]) => {}
        (status, _) => return Err(refused("GET DATA DF33 (tries)", status)),
    }
    let (validity, status) = get_data(uzi, 0xDF30, step, Which::UziPass)?;
    if status != Status::Success {
        return Err(refused("GET DATA DF30 (validity)", status));
    }
    let window = std::str::from_utf8(&validity)
        .ok()
        .filter(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| PersonaliseError::UziRefused { step, command: "GET DATA DF30 (validity)", status })?;
    let (from, until) = window.split_at(8);
    let today = yyyymmdd(now);
    if today.as_str() < from {
        return Err(PersonaliseError::UziExpired {
            problem: format!("is valid from {} and today is {}", dashed(from), dashed(&today)),
            advice: "wait until it is valid, or check the computer's date",
        });
    }
    if today.as_str() >= until {
        return Err(PersonaliseError::UziExpired {
            problem: format!("expired on {} (today is {})", dashed(until), dashed(&today)),
            advice: "a ZORG-ID Smartcard can only be made with a valid UZI pass (seed 002, Voorbereiding step 1); apply for a new UZI pass",
        });
    }
    let (serial, status) = get_data(uzi, 0xDF32, step, Which::UziPass)?;
    if status != Status::Success {
        return Err(refused("GET DATA DF32 (serial)", status));
    }
    Ok(String::from_utf8_lossy(&serial).into_owned())
}

/// The authentication certificate: issued by the TEST UZI-register CA of its type (signature checked), inside
/// its validity, of a type that may make a ZORG-ID Smartcard, of a registered organisation; the holder data.
fn check_uzi_certificate(
    der: &[u8],
    options: &PersonaliseOptions<'_>,
    now: i64,
) -> Result<UziHolder, PersonaliseError> {
    let step = Step::UziPass;
    let bad = |problem: String| PersonaliseError::UziCertificate { step, problem };
    let summary = pki::certificate_summary(der).map_err(|e| bad(format!("is unreadable ({e})")))?;
    let san =
        summary.san_uzi.clone().ok_or_else(|| bad("has no UZI otherName (2.5.5.5) in its SubjectAltName".into()))?;
    // CPS UZI-register §7.1: `<CA OID>-1-<UZI no>-<Z|N|M>-<subscriber no>-<role>-<AGB code>`.
    let fields: Vec<&str> = san.split('-').collect();
    let [ca_oid, _version, uzi_number, letter, subscriber, role, agb] = fields.as_slice() else {
        return Err(bad(format!("has a malformed UZI otherName {san:?}")));
    };
    if *ca_oid == pki::OID_CA_ZORG_ID_TEST {
        return Err(PersonaliseError::UziCardType {
            letter: 'N',
            what: "ZORG-ID Smartcard, not a UZI pass",
            advice: "put your UZI-medewerkerspas op naam in the first reader and the blank ZORG-ID Smartcard in the second",
        });
    }
    let card_type = match *letter {
        "N" => HolderType::N,
        "Z" if options.allow_zorgverlenerspas => HolderType::Z,
        "Z" => {
            return Err(PersonaliseError::UziCardType {
                letter: 'Z',
                what: "UZI-zorgverlenerspas",
                advice: "the ZORG-ID Smartcard replaces the UZI-medewerkerspas op naam (seed 003); keep using your zorgverlenerspas, or make the ZORG-ID Smartcard with a UZI-medewerkerspas op naam",
            });
        }
        "M" => {
            return Err(PersonaliseError::UziCardType {
                letter: 'M',
                what: "UZI-medewerkerspas niet op naam",
                advice: "it belongs to a function, not a person, and a ZORG-ID Smartcard is personal (seed 002: \"UZI-medewerkerspas op naam\"); use a UZI-medewerkerspas op naam",
            });
        }
        other => return Err(bad(format!("names an unknown card type {other:?} in {san:?}"))),
    };
    if *ca_oid != card_type.uzi_ca_oid() {
        return Err(bad(format!("names CA {ca_oid} in {san:?}, not the UZI-register CA of type {letter}")));
    }
    verify_issued_by(der, &options.pki.ca_der(Issuer::Uzi(card_type)))
        .map_err(|problem| bad(format!("{problem} (TEST UZI-register CA of type {letter})")))?;
    if now < summary.not_before {
        return Err(PersonaliseError::UziExpired {
            problem: format!("has a certificate valid from {}", crate::issuance::inspect::utc(summary.not_before)),
            advice: "wait until it is valid, or check the computer's date",
        });
    }
    if now > summary.not_after {
        return Err(PersonaliseError::UziExpired {
            problem: format!("has a certificate that expired on {}", crate::issuance::inspect::utc(summary.not_after)),
            advice: "a ZORG-ID Smartcard can only be made with a valid UZI pass; apply for a new UZI pass",
        });
    }
    if summary.uzi_number.as_deref() != Some(*uzi_number) {
        return Err(bad(format!(
            "has subject serialNumber {:?} but UZI number {uzi_number} in {san:?}",
            summary.uzi_number
        )));
    }
    let cert = Certificate::from_der(der).map_err(|e| bad(format!("is unreadable ({e})")))?;
    let attr = |oid: ObjectIdentifier| {
        cert.tbs_certificate().subject().iter().find(|atv| atv.oid == oid).and_then(|atv| any_to_string(&atv.value))
    };
    let common_name = attr(OID_CN).ok_or_else(|| bad("has no commonName".into()))?;
    let organisation = attr(OID_O).ok_or_else(|| bad("has no organizationName".into()))?;
    let holder = Holder {
        holder_type: HolderType::N,
        uzi_number: (*uzi_number).into(),
        given_name: attr(OID_GN),
        surname: attr(OID_SN),
        common_name,
        title: None,
        organisation,
        subscriber_number: (*subscriber).into(),
        role: (*role).into(),
        agb_code: (*agb).into(),
    };
    if holder.given_name.is_none() || holder.surname.is_none() {
        return Err(bad("has no givenName or surname: a ZORG-ID Smartcard is made for a named person".into()));
    }
    if let Some(registered) = &options.registered_organisations
        && !registered.iter().any(|r| r == subscriber)
    {
        return Err(PersonaliseError::OrganisationNotRegistered {
            organisation: holder.organisation.clone(),
            subscriber_number: holder.subscriber_number.clone(),
        });
    }
    let public_key = summary.public_key.ok_or_else(|| bad("has neither an RSA nor a P-256 public key".into()))?;
    Ok(UziHolder { holder, public_key })
}

/// X.509 signature check (RFC 5280 §6.1.3 (a)(1)) of `cert_der` under the key of `ca_der`, and the issuer name;
/// see [`pki::verify_issued_by`].
pub fn verify_issued_by(cert_der: &[u8], ca_der: &[u8]) -> Result<(), String> {
    pki::verify_issued_by(cert_der, ca_der)
}

fn any_to_string(any: &Any) -> Option<String> {
    match any.tag() {
        Tag::Utf8String => Utf8StringRef::try_from(any).ok().map(|s| s.to_string()),
        Tag::PrintableString => PrintableStringRef::try_from(any).ok().map(|s| s.to_string()),
        Tag::Ia5String => Ia5StringRef::try_from(any).ok().map(|s| s.to_string()),
        _ => None,
    }
}

// ---- Step 2: authentication -------------------------------------------------------------------

/// VERIFY with the UZI PIN, then INTERNAL AUTHENTICATE `00 88 00 01 Lc challenge 00` on a fresh challenge from
/// the OS RNG, verified with the certified public key (DIALECT.md: an RSA key pads the SHA-256 DigestInfo of the
/// challenge the host sends, PKCS#1 v1.5; a P-256 key answers ECDSA-SHA256 over the challenge); then the PIN
/// verification is dropped (`00 20 FF 01`) so the UZI pass leaves the flow as it came in.
fn authenticate(
    uzi: &mut dyn Transmit,
    pin: &Secret,
    public_key: &pki::HolderPublicKey,
) -> Result<(), PersonaliseError> {
    let step = Step::UziPin;
    let Some(len) = u8::try_from(pin.bytes().len()).ok().filter(|n| (1..=16).contains(n)) else {
        return Err(PersonaliseError::Input {
            step,
            what: "UZI PIN",
            problem: "it must be 1 to 16 characters: enter the PIN of the UZI pass".into(),
        });
    };
    let mut verify = vec![0x00, 0x20, 0x00, 0x01, len];
    verify.extend_from_slice(pin.bytes());
    let result = exchange(uzi, &verify, step, Which::UziPass);
    verify.iter_mut().for_each(|b| *b = 0);
    match result?.1 {
        Status::Success => {}
        Status::RemainingRetries(0) | Status::AuthenticationBlocked => return Err(PersonaliseError::UziPinNowBlocked),
        Status::RemainingRetries(n) => return Err(PersonaliseError::UziPinWrong { tries_left: n }),
        status => return Err(PersonaliseError::UziRefused { step, command: "VERIFY", status }),
    }
    let mut challenge = [0u8; CHALLENGE_LEN];
    getrandom::fill(&mut challenge).map_err(|e| PersonaliseError::Setup {
        problem: format!("the operating system gave no random challenge ({e})"),
    })?;
    let hash = <sha2::Sha256 as sha2::Digest>::digest(challenge);
    let data = match public_key {
        pki::HolderPublicKey::Rsa { .. } => crate::suite::digest_info(HashAlg::Sha256, &hash),
        pki::HolderPublicKey::P256 { .. } => challenge.to_vec(),
    };
    let mut apdu = vec![0x00, 0x88, 0x00, 0x01, data.len() as u8];
    apdu.extend_from_slice(&data);
    apdu.push(0x00);
    let (signature, status) = exchange(uzi, &apdu, step, Which::UziPass)?;
    if status != Status::Success {
        return Err(PersonaliseError::UziRefused { step, command: "INTERNAL AUTHENTICATE", status });
    }
    let not_verified = || PersonaliseError::UziAuthentication {
        problem: "the signature over the challenge does not verify with the authentication certificate".into(),
    };
    match public_key {
        pki::HolderPublicKey::Rsa { .. } => {
            let key = public_key.checked_rsa().map_err(|e| PersonaliseError::UziAuthentication {
                problem: format!("the certificate's RSA key is not usable: {e}"),
            })?;
            key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &hash, &signature).map_err(|_| not_verified())?;
        }
        pki::HolderPublicKey::P256 { sec1 } => {
            let key = VerifyingKey::from_sec1_bytes(sec1).map_err(|_| PersonaliseError::UziAuthentication {
                problem: "the certificate's key is not a P-256 point".into(),
            })?;
            let signature = Signature::from_der(&signature).map_err(|_| PersonaliseError::UziAuthentication {
                problem: "INTERNAL AUTHENTICATE answered no DER ECDSA signature".into(),
            })?;
            key.verify(&challenge, &signature).map_err(|_| not_verified())?;
        }
    }
    let (_, status) = exchange(uzi, &[0x00, 0x20, 0xFF, 0x01], step, Which::UziPass)?;
    if status != Status::Success {
        return Err(PersonaliseError::UziRefused { step, command: "VERIFY (log out)", status });
    }
    Ok(())
}

// ---- Step 3: birth date -----------------------------------------------------------------------

/// `YYYY-MM-DD`, a real calendar date, not in the future, the holder at least [`MIN_AGE_YEARS`] and at most
/// [`MAX_AGE_YEARS`] years old today.
pub fn check_birth_date(given: &str, now: i64) -> Result<time::Date, PersonaliseError> {
    let err = |problem: &str| PersonaliseError::BirthDate { given: given.into(), problem: problem.into() };
    let shape = given.len() == 10
        && given.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if given.trim().is_empty() {
        return Err(err("is empty"));
    }
    if !shape {
        return Err(err("is not in the form YYYY-MM-DD"));
    }
    let date = time::Date::parse(given, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| err("is not a date in the calendar"))?;
    let today = time::OffsetDateTime::from_unix_timestamp(now)
        .map_err(|_| err("cannot be checked: the clock is wrong"))?
        .date();
    if date > today {
        return Err(err("is in the future"));
    }
    if date > years_before(today, MIN_AGE_YEARS) {
        return Err(err(&format!("makes the holder younger than {MIN_AGE_YEARS}")));
    }
    if date < years_before(today, MAX_AGE_YEARS) {
        return Err(err(&format!("is more than {MAX_AGE_YEARS} years ago")));
    }
    Ok(date)
}

/// The same day `years` earlier; 29 February becomes 28 February.
fn years_before(date: time::Date, years: i32) -> time::Date {
    let year = date.year() - years;
    time::Date::from_calendar_date(year, date.month(), date.day())
        .or_else(|_| time::Date::from_calendar_date(year, date.month(), date.day() - 1))
        .unwrap_or(date)
}

// ---- Step 4: the blank card -------------------------------------------------------------------

/// GET DATA `DF31` = `01` and no DF `5015`; the card serial.
fn check_blank(blank: &mut dyn Transmit) -> Result<String, PersonaliseError> {
    let step = Step::BlankCard;
    let not_blank = |problem: String| PersonaliseError::NotBlank { problem };
    let (lc, status) = get_data(blank, 0xDF31, step, Which::NewCard)?;
    match (status, lc.as_slice()) {
        (Status::Success, [0x01]) => {}
        (Status::Success, [0x03]) => {
            return Err(not_blank(
                "the second card is being personalised (life cycle 03): remove and reinsert it, it rolls back to blank, then start again".into(),
            ));
        }
        (Status::Success, [b]) => {
            return Err(not_blank(format!(
                "the second card is not blank (life cycle {b:02X}: {}): put a new, blank ZORG-ID Smartcard in the second reader",
                match b {
                    0x05 => "operational, already personalised",
                    0x06 => "blocked",
                    0x0C => "terminated",
                    _ => "unknown",
                }
            )));
        }
        (status, _) => {
            return Err(not_blank(format!(
                "the second card answered {status} to GET DATA DF31: put a blank ZORG-ID Smartcard in the second reader"
            )));
        }
    }
    let (_, status) = exchange(blank, &[0x00, 0xA4, 0x08, 0x0C, 0x02, 0x50, 0x15], step, Which::NewCard)?;
    if status != Status::FileNotFound {
        return Err(not_blank(format!(
            "the second card already has a PKCS#15 application (SELECT 3F00/5015 answered {status}): put a blank ZORG-ID Smartcard in the second reader"
        )));
    }
    let (serial, status) = get_data(blank, 0xDF32, step, Which::NewCard)?;
    if status != Status::Success || serial.is_empty() {
        return Err(not_blank(format!("the second card has no serial number (GET DATA DF32 answered {status})")));
    }
    String::from_utf8(serial).map_err(|_| not_blank("the second card's serial number is not text".into()))
}

// ---- Step 5: the new PIN ----------------------------------------------------------------------

/// Both entries equal, length inside the ZORG-ID policy, printable ASCII (the card's `Charset::Printable`).
fn check_new_pin(pin: &Secret, again: &Secret, policy: &PinSettings) -> Result<(), PersonaliseError> {
    if pin.bytes() != again.bytes() {
        return Err(PersonaliseError::PinMismatch);
    }
    let n = pin.bytes().len();
    if n < usize::from(policy.min_len) || n > usize::from(policy.max_len) {
        return Err(PersonaliseError::PinPolicy {
            problem: format!(
                "has {n} characters; the ZORG-ID Smartcard needs {} to {}: choose another PIN",
                policy.min_len, policy.max_len
            ),
        });
    }
    if !pin.bytes().iter().all(|b| (0x20..=0x7E).contains(b)) {
        return Err(PersonaliseError::PinPolicy {
            problem:
                "has a character outside printable ASCII (letters, digits, punctuation, space): choose another PIN"
                    .into(),
        });
    }
    Ok(())
}

// ---- Step 8: the PUK --------------------------------------------------------------------------

/// [`PUK_DIGITS`] uniform random digits from the OS RNG (bytes ≥ 250 are drawn again, so `% 10` has no bias).
fn generate_puk() -> Result<Secret, PersonaliseError> {
    let mut digits = Vec::with_capacity(PUK_DIGITS);
    let mut buf = [0u8; 16];
    while digits.len() < PUK_DIGITS {
        getrandom::fill(&mut buf).map_err(|e| PersonaliseError::Setup {
            problem: format!("the operating system gave no random bytes for the PUK ({e})"),
        })?;
        for b in buf.iter().filter(|b| **b < 250) {
            if digits.len() < PUK_DIGITS {
                digits.push(b'0' + b % 10);
            }
        }
    }
    buf.iter_mut().for_each(|b| *b = 0);
    Ok(Secret(digits))
}

// ---- Dates ------------------------------------------------------------------------------------

fn yyyymmdd(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day()),
        Err(_) => "00000000".into(),
    }
}

fn dashed(yyyymmdd: &str) -> String {
    match (yyyymmdd.get(..4), yyyymmdd.get(4..6), yyyymmdd.get(6..8)) {
        (Some(y), Some(m), Some(d)) => format!("{y}-{m}-{d}"),
        _ => yyyymmdd.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Through pcscd
// ---------------------------------------------------------------------------------------------

/// `zorgcard personalise`: the flags of issue 5 (`--uzi-reader R1 --blank-reader R2 --birth-date YYYY-MM-DD
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
    /// Portal registry: the organisation must be registered there, and the new card is recorded in it.
    pub registry: Option<PathBuf>,
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
    use crate::pcsc_reader::PcscReader;

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
        let registry = crate::portal::Registry::load(path).map_err(|e| setup(e.to_string()))?;
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
        && let Err(e) = crate::portal::record_issued(path, &outcome.card)
    {
        outcome.warnings.push(format!(
            "the card is complete but could not be recorded in the portal registry: {e}; record it again with its serial {}",
            outcome.card.serial
        ));
    }
    Ok(outcome)
}
