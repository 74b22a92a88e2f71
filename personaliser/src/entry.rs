//! Where the holder's entries come from: given in advance, or typed on the terminal.

use std::io::{self, IsTerminal, Write};

use super::*;

/// Where the holder's entries come from, asked for at the step that needs them (the seed's order: UZI PIN,
/// birth date, new PIN twice), so a refused UZI pass never asks for a new PIN.
pub trait Entry {
    /// The PIN of the UZI pass (step 2).
    fn uzi_pin(&mut self) -> Result<Secret<Vec<u8>>, PersonaliseError>;
    /// The birth date as typed, `YYYY-MM-DD` (step 3).
    fn birth_date(&mut self) -> Result<String, PersonaliseError>;
    /// The new PIN and its repetition (step 5).
    fn new_pin(&mut self) -> Result<NewPin, PersonaliseError>;
}

/// The new PIN and its repetition, both as typed: the personaliser compares them, not the entry.
pub type NewPin = (Secret<Vec<u8>>, Secret<Vec<u8>>);

/// Entries known in advance (tests, CI).
#[derive(Debug)]
pub struct GivenEntry {
    /// The UZI PIN.
    pub uzi_pin: Secret<Vec<u8>>,
    /// The birth date as typed.
    pub birth_date: String,
    /// The new PIN.
    pub new_pin: Secret<Vec<u8>>,
    /// Its repetition.
    pub new_pin_again: Secret<Vec<u8>>,
}

impl GivenEntry {
    /// All four entries.
    pub fn new(uzi_pin: &str, birth_date: &str, new_pin: &str, new_pin_again: &str) -> Self {
        let secret = |v: &str| Secret::new(v.as_bytes().to_vec());
        GivenEntry {
            uzi_pin: secret(uzi_pin),
            birth_date: birth_date.into(),
            new_pin: secret(new_pin),
            new_pin_again: secret(new_pin_again),
        }
    }
}

impl Entry for GivenEntry {
    fn uzi_pin(&mut self) -> Result<Secret<Vec<u8>>, PersonaliseError> {
        Ok(self.uzi_pin.clone())
    }

    fn birth_date(&mut self) -> Result<String, PersonaliseError> {
        Ok(self.birth_date.clone())
    }

    fn new_pin(&mut self) -> Result<NewPin, PersonaliseError> {
        Ok((self.new_pin.clone(), self.new_pin_again.clone()))
    }
}

/// Entries from environment variables where given, else typed: prompts go to standard error (standard output is
/// the caller's, for the PUK). On a terminal a PIN is read from it without echo (`rpassword`); from a pipe (CI) it
/// is read as a line of standard input.
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
    fn from_env(step: Step, what: &'static str, var: &str) -> Result<Secret<Vec<u8>>, PersonaliseError> {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Secret::new(v.into_bytes())),
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

    /// Asks on standard error and reads one line: without echo from the terminal, or from standard input.
    fn prompt(step: Step, what: &'static str, prompt: &str, secret: bool) -> Result<Secret<Vec<u8>>, PersonaliseError> {
        let input_error = |e: io::Error| {
            let problem = if e.kind() == io::ErrorKind::UnexpectedEof {
                "standard input ended: type it on a terminal, or pass it with the flag for CI".to_string()
            } else {
                e.to_string()
            };
            PersonaliseError::Input { step, what, problem }
        };
        let mut err = io::stderr().lock();
        write!(err, "{prompt}: ").and_then(|()| err.flush()).map_err(input_error)?;
        let line = if secret && io::stdin().is_terminal() {
            rpassword::read_password()
        } else {
            // Deprecated for `read_password_with_config`, which takes its reader by value and buffers it privately:
            // given stdin it could swallow the next line of piped input (the PIN's repetition). The locked stdin
            // shares the process's one buffer.
            #[allow(deprecated)]
            rpassword::read_password_from_bufread(&mut io::stdin().lock())
        };
        Ok(Secret::new(line.map_err(input_error)?.into_bytes()))
    }
}

impl Entry for TerminalEntry {
    fn uzi_pin(&mut self) -> Result<Secret<Vec<u8>>, PersonaliseError> {
        match &self.uzi_pin_env {
            Some(var) => Self::from_env(Step::UziPin, "UZI PIN", var),
            None => Self::prompt(Step::UziPin, "UZI PIN", "PIN of your UZI pass", true),
        }
    }

    fn birth_date(&mut self) -> Result<String, PersonaliseError> {
        match &self.birth_date {
            Some(d) => Ok(d.clone()),
            None => {
                let typed = Self::prompt(Step::BirthDate, "birth date", "Your date of birth (YYYY-MM-DD)", false)?;
                Ok(String::from_utf8_lossy(typed.expose()).into_owned())
            }
        }
    }

    fn new_pin(&mut self) -> Result<NewPin, PersonaliseError> {
        match &self.pin_env {
            Some(var) => {
                Ok((Self::from_env(Step::NewPin, "new PIN", var)?, Self::from_env(Step::NewPin, "new PIN", var)?))
            }
            None => {
                let first = Self::prompt(Step::NewPin, "new PIN", "New PIN for your ZORG-ID Smartcard", true)?;
                let again = Self::prompt(Step::NewPin, "new PIN", "The same PIN again", true)?;
                Ok((first, again))
            }
        }
    }
}
