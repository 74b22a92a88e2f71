//! The nine steps of the creation flow, the two cards, and why a card was not made.

use super::*;

/// The steps of the creation flow, in order (seed: *Aanmaken ZORG-ID Smartcard*, Aanmaken stap 1–7; seed: *ZORG-ID
/// Smartcard*, "Aan de slag" stap 3–6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// The UZI pass is valid (seed: *Aanmaken ZORG-ID Smartcard*, Voorbereiding stap 1: "Controleer of uw
    /// UZI-medewerkerspas nog geldig is").
    UziPass,
    /// The holder authenticates with the UZI PIN (seed: *Aanmaken ZORG-ID Smartcard*, stap 3; seed: *ZORG-ID
    /// Smartcard*, "Aan de slag" stap 3).
    UziPin,
    /// The birth date is entered (seed: *Aanmaken ZORG-ID Smartcard*, stap 4).
    BirthDate,
    /// The second card is a blank ZORG-ID Smartcard (seed: *Aanmaken ZORG-ID Smartcard*, stap 5).
    BlankCard,
    /// The new PIN is entered twice (seed: *Aanmaken ZORG-ID Smartcard*, stap 6).
    NewPin,
    /// Key pairs are generated on the new card.
    Keys,
    /// The ZORG-ID TEST CA issues the certificates, written with the PKCS#15 files.
    Certificates,
    /// The PIN and the one-time PUK are set (seed: *Aanmaken ZORG-ID Smartcard*, stap 7).
    Puk,
    /// ACTIVATE: the card is operational for three years (seed: *ZORG-ID Smartcard*, "Aan de slag" stap 6).
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
    /// The holder's organisation is not registered with the portal (seed: *Registreren organisatie*: it registers once,
    /// first).
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
