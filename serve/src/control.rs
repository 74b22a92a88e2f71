//! The control loop of `zorgcard serve` on standard input: `remove N`, `insert N`, `clock +DAYS` / `clock -DAYS`,
//! `quit`. A test or a person pulls a card out of slot N and puts it back (pcscd sees the reader empty, as with a
//! real card pulled from a reader), or moves every card's clock (to pass the end of its three-year validity).
//!
//! The loop reads from any [`BufRead`] and acts on any [`Slots`], so it is tested without vpcd or pcscd.

use std::io::{BufRead, Write};

/// A line of the control input, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlCommand {
    /// `remove N`: take the card out of slot N (the reader stays, empty).
    Remove(usize),
    /// `insert N`: put slot N's card back.
    Insert(usize),
    /// `clock +DAYS` / `clock -DAYS`: set every card's clock to real time plus DAYS (not cumulative).
    Clock(i64),
    /// `quit`: stop serving.
    Quit,
}

/// The help line printed after a line that is not a command.
pub const COMMANDS: &str = "commands: remove N, insert N, clock +DAYS, clock -DAYS, quit";

/// Why a control line was not carried out. Each message says what to type instead.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// `remove` or `insert` without a slot number.
    #[error("{command}: which slot? e.g. `{command} 0`")]
    MissingSlot {
        /// `remove` or `insert`.
        command: &'static str,
    },
    /// A slot number that is not a number or not a slot served here.
    #[error("{command}: no served slot `{given}`; the slots are {served}")]
    UnknownSlot {
        /// `remove` or `insert`.
        command: &'static str,
        /// The word given.
        given: String,
        /// The served slot numbers.
        served: String,
    },
    /// `clock` without a whole number of days.
    #[error("clock: give a whole number of days, e.g. `clock +1096` (three years on) or `clock 0` (real time)")]
    BadDays,
    /// Anything else.
    #[error("unknown command `{line}`; {COMMANDS}")]
    Unknown {
        /// The line as read.
        line: String,
    },
}

/// What [`run`] acts on: the served slots.
pub trait Slots {
    /// The slot numbers served, in order.
    fn numbers(&self) -> Vec<usize>;
    /// Takes the card out of `slot`.
    fn remove(&self, slot: usize);
    /// Puts the card of `slot` back.
    fn insert(&self, slot: usize);
    /// Sets every card's clock to real time plus `days`.
    fn set_clock_offset_days(&self, days: i64);
}

/// Why [`run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// `quit` was read.
    Quit,
    /// The input ended (or failed): a CI job or a service with `< /dev/null`.
    InputClosed,
}

/// Parses one line; `Ok(None)` for a blank line. `served` are the slot numbers a command may name.
pub fn parse(line: &str, served: &[usize]) -> Result<Option<ControlCommand>, ControlError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let slot = |command: &'static str, word: Option<&&str>| {
        let word = word.ok_or(ControlError::MissingSlot { command })?;
        word.parse::<usize>().ok().filter(|n| served.contains(n)).ok_or_else(|| ControlError::UnknownSlot {
            command,
            given: (*word).to_owned(),
            served: served.iter().map(usize::to_string).collect::<Vec<_>>().join(", "),
        })
    };
    match words.as_slice() {
        [] => Ok(None),
        ["remove", rest @ ..] if rest.len() <= 1 => {
            slot("remove", rest.first()).map(|n| Some(ControlCommand::Remove(n)))
        }
        ["insert", rest @ ..] if rest.len() <= 1 => {
            slot("insert", rest.first()).map(|n| Some(ControlCommand::Insert(n)))
        }
        ["clock", days] => days
            .strip_prefix('+')
            .unwrap_or(days)
            .parse::<i64>()
            .map(|d| Some(ControlCommand::Clock(d)))
            .map_err(|_| ControlError::BadDays),
        ["clock", ..] => Err(ControlError::BadDays),
        ["quit"] => Ok(Some(ControlCommand::Quit)),
        _ => Err(ControlError::Unknown { line: line.trim().to_owned() }),
    }
}

/// Reads commands until `quit` or the end of `input`, and carries them out on `slots`. Mistakes are answered on
/// `diagnostics` (standard error in `serve`) and the loop goes on; with `verbose`, every command done is said too.
pub fn run(input: &mut dyn BufRead, slots: &dyn Slots, diagnostics: &mut dyn Write, verbose: bool) -> Ended {
    let served = slots.numbers();
    let mut line = String::new();
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => return Ended::InputClosed,
            Ok(_) => {}
        }
        let done = match parse(&line, &served) {
            Ok(None) => continue,
            Ok(Some(ControlCommand::Quit)) => return Ended::Quit,
            Ok(Some(ControlCommand::Remove(n))) => {
                slots.remove(n);
                format!("slot {n}: card removed")
            }
            Ok(Some(ControlCommand::Insert(n))) => {
                slots.insert(n);
                format!("slot {n}: card inserted")
            }
            Ok(Some(ControlCommand::Clock(days))) => {
                slots.set_clock_offset_days(days);
                format!("clock: real time {days:+} days on every card")
            }
            Err(e) => {
                let _ = writeln!(diagnostics, "{e}");
                continue;
            }
        };
        if verbose {
            let _ = writeln!(diagnostics, "{done}");
        }
    }
}

#[cfg(test)]
mod tests;
