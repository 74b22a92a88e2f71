//! Record and compare: replay a recorded APDU dialogue against a fresh simulated card and report where the
//! simulator answers differently (`zorgcard replay --trace FILE --profile P`).
//!
//! This is how a vendor shows that their application does with the simulator what it did with a real card: record
//! the application's session with a real card (through a PC/SC reader, [`record`] / [`record_main`]) or with a
//! simulated one (`zorgcard serve --trace`, `zorgcard scenario run --trace`), then replay it. Both write the trace
//! format of `reader_sim::trace`; this module reads it back.
//!
//! # What is compared
//!
//! Per exchange: the status word and the length of the response data. Contents are not compared: certificates,
//! serial numbers and random numbers differ between any two cards. ECDSA signatures (PSO COMPUTE DIGITAL SIGNATURE,
//! INTERNAL AUTHENTICATE) are DER `SEQUENCE{r, s}` of 70 to 72 bytes at random, so two signatures count as the same
//! length. An exchange recorded without an answer (the card was pulled, the reader failed) differs from any answer.
//!
//! # Masked secrets
//!
//! Traces never hold a PIN, PUK or key: those bytes are `**`. The replay puts back the profile's values, of the
//! same length as the masked run, using the recorded answer to tell a right secret from a wrong one:
//! - VERIFY: the card's current PIN (PUK for reference `02`) if the recorded answer was `9000` (or none), else a
//!   wrong value of that length (every character changed).
//! - CHANGE REFERENCE DATA `00 24 00 01`: old PIN as for VERIFY, then a new PIN of the remaining length made from
//!   the profile's PIN (cut, or lengthened with digits); a recorded success makes it the current PIN, so later
//!   VERIFYs use it. P1 `01` (personalisation): the profile's PIN or PUK, shaped to the length.
//! - RESET RETRY COUNTER: the PUK (right or wrong as above), then a new PIN as for CHANGE REFERENCE DATA.
//! - PUT DATA (key import): the TEST-ONLY injected key of the profile's serial and that key reference.
//!
//! A value of another length than the profile's is therefore always a wrong one.
//!
//! Why this file is just over 600 lines: recording and comparing share the recorded-event type and the alignment
//! rules, which read best together; its tests are in `replay/tests.rs`.

use std::fmt;
use std::io::{self, BufRead as _};
use std::path::{Path, PathBuf};

use reader_sim::reader::{InProcessReader, ReaderError, Transmit};
use reader_sim::trace::{Trace, TraceEvent, TraceLine, TraceRecord, Traced, parse_line};

use issuance::card_new::{CardNewError, NewCardOptions, injected_test_key, new_card};
use issuance::pki::{PkiError, TestPki};
use issuance::profile::{self, DisplayPath, Profile, ProfileError};
use reader_sim::pcsc::{PcscReader, PcscReaderError};

/// Why a replay or a recording could not be made. Messages name the file (and line) and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}: check the path and permissions")]
    Io {
        /// The file.
        path: DisplayPath,
        /// The underlying error.
        source: io::Error,
    },
    /// A trace line is not one zorgcard writes.
    #[error(
        "trace `{path}`: line {line}: {problem}: the file is damaged or not a zorgcard trace; fix or delete that \
             line (a trace is written by `zorgcard serve --trace`, `zorgcard scenario run --trace` or \
             `crate::record`)"
    )]
    Damaged {
        /// The file.
        path: DisplayPath,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// The trace holds no exchange.
    #[error("trace `{path}` holds no APDU exchange (`> …` and `< …` lines): record a session first")]
    Empty {
        /// The file.
        path: DisplayPath,
    },
    /// The profile could not be loaded.
    #[error(transparent)]
    Profile(Box<ProfileError>),
    /// The test PKI could not be loaded.
    #[error("the test PKI failed: {0}")]
    Pki(Box<PkiError>),
    /// The simulated card could not be made.
    #[error(transparent)]
    CardNew(Box<CardNewError>),
    /// The simulated card's reader failed (it should not).
    #[error("replaying trace line {line}: the in-process reader failed: {source}")]
    Reader {
        /// The trace line being replayed.
        line: usize,
        /// What went wrong.
        source: ReaderError,
    },
    /// A line of an APDU list is not an APDU.
    #[error(
        "APDU list `{path}`: line {line}: {problem}: write one C-APDU per line in hex (`00 A4 04 00 …`), \
             `#` for comments"
    )]
    ApduList {
        /// The file.
        path: DisplayPath,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// The PC/SC reader could not be used.
    #[error(transparent)]
    Pcsc(Box<PcscReaderError>),
    /// An exchange with the recorded card failed.
    #[error("recording: APDU {index} (list line {line}) failed: {source}")]
    Record {
        /// 1-based APDU number.
        index: usize,
        /// Its line in the APDU list.
        line: usize,
        /// What went wrong.
        source: ReaderError,
    },
    /// The trace file could not be written.
    #[error("cannot write the trace `{}`: {source}: check the directory and permissions", .path.display())]
    TraceWrite {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// A control event of a recorded slot, as far as a replay cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedEvent {
    /// Power on or warm reset: the card starts afresh (verification lost).
    Reset,
    /// Power off, card removed, connection ended: the card is unpowered.
    PowerOff,
    /// Anything else (connected, card inserted, ATR, errors): nothing to do.
    Other,
}

impl RecordedEvent {
    /// What a traced control event means for a replay.
    pub fn of(event: &TraceEvent) -> RecordedEvent {
        match event {
            TraceEvent::PowerOn | TraceEvent::Reset => RecordedEvent::Reset,
            TraceEvent::PowerOff | TraceEvent::CardRemoved | TraceEvent::Disconnected(_) => RecordedEvent::PowerOff,
            TraceEvent::Connected(_) | TraceEvent::CardInserted | TraceEvent::Error(_) => RecordedEvent::Other,
        }
    }
}

/// One recorded exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedExchange {
    /// The trace line of the command.
    pub line: usize,
    /// The command's name as the trace gave it.
    pub name: String,
    /// The C-APDU; `None` for a masked byte.
    pub command: Vec<Option<u8>>,
    /// The R-APDU (data and status word); `None` when the trace shows no answer.
    pub response: Option<Vec<u8>>,
}

/// What happened on a slot, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedStep {
    /// A control event.
    Event(RecordedEvent),
    /// An exchange.
    Exchange(RecordedExchange),
}

/// A parsed trace: the steps of one slot (the first that holds an exchange).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedTrace {
    /// The file.
    pub path: PathBuf,
    /// The slot replayed.
    pub slot: usize,
    /// Other slots with exchanges, not replayed.
    pub other_slots: Vec<usize>,
    /// The slot's steps.
    pub steps: Vec<RecordedStep>,
}

impl RecordedTrace {
    /// The exchanges, in order.
    pub fn exchanges(&self) -> impl Iterator<Item = &RecordedExchange> {
        self.steps.iter().filter_map(|s| match s {
            RecordedStep::Exchange(e) => Some(e),
            RecordedStep::Event(_) => None,
        })
    }
}

/// Reads a trace file (see `reader_sim::trace`).
pub fn read_trace(path: &Path) -> Result<RecordedTrace, ReplayError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ReplayError::Io { path: DisplayPath(path.to_owned()), source })?;
    parse_trace(path, &text)
}

/// Parses trace text; `path` names the file in messages. Empty lines and `#` comments are skipped.
pub fn parse_trace(path: &Path, text: &str) -> Result<RecordedTrace, ReplayError> {
    let damaged =
        |line: usize, problem: String| ReplayError::Damaged { path: DisplayPath(path.to_owned()), line, problem };
    let mut per_slot: Vec<(usize, Vec<RecordedStep>)> = Vec::new();
    // The command of each slot still waiting for its answer, as an index into that slot's steps.
    let mut pending: Vec<(usize, usize)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let Some(TraceRecord { slot, line, .. }) = parse_line(raw).map_err(|p| damaged(line_no, p))? else {
            continue;
        };
        let k = per_slot.iter().position(|(s, _)| *s == slot).unwrap_or_else(|| {
            per_slot.push((slot, Vec::new()));
            per_slot.len() - 1
        });
        let steps = &mut per_slot[k].1;
        let waiting = pending.iter().position(|(s, _)| *s == slot);
        match line {
            TraceLine::Command { name, bytes } => {
                if let Some(k) = waiting {
                    pending.remove(k);
                }
                steps.push(RecordedStep::Exchange(RecordedExchange {
                    line: line_no,
                    name,
                    command: bytes,
                    response: None,
                }));
                pending.push((slot, steps.len() - 1));
            }
            TraceLine::Response(rapdu) => {
                let Some(k) = waiting else {
                    return Err(damaged(line_no, "an answer without a command before it".into()));
                };
                let (_, index) = pending.remove(k);
                if let Some(RecordedStep::Exchange(e)) = steps.get_mut(index) {
                    e.response = Some(rapdu);
                }
            }
            TraceLine::Atr(_) => steps.push(RecordedStep::Event(RecordedEvent::Other)),
            TraceLine::Event(event) => {
                let event = RecordedEvent::of(&event);
                if event != RecordedEvent::Other {
                    // A power change before the answer: the command got none. (After an `error:` line an answer
                    // may still come: vpcd answers a failed exchange with 6F00.)
                    if let Some(k) = waiting {
                        pending.remove(k);
                    }
                }
                steps.push(RecordedStep::Event(event));
            }
        }
    }
    let mut with_exchanges =
        per_slot.into_iter().filter(|(_, steps)| steps.iter().any(|s| matches!(s, RecordedStep::Exchange(_))));
    let Some((slot, steps)) = with_exchanges.next() else {
        return Err(ReplayError::Empty { path: DisplayPath(path.to_owned()) });
    };
    let other_slots = with_exchanges.map(|(s, _)| s).collect();
    Ok(RecordedTrace { path: path.to_owned(), slot, other_slots, steps })
}

/// What one side answered: the status word (`None`: no answer) and the length of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// SW1 SW2; `None` when there was no answer.
    pub sw: Option<u16>,
    /// Response data bytes, without the status word.
    pub len: usize,
}

impl Outcome {
    fn of(rapdu: Option<&[u8]>) -> Outcome {
        match rapdu {
            Some([data @ .., a, b]) => Outcome { sw: Some(u16::from_be_bytes([*a, *b])), len: data.len() },
            Some(short) => Outcome { sw: None, len: short.len() },
            None => Outcome { sw: None, len: 0 },
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.sw {
            Some(sw) => write!(f, "{sw:04X} with {} data bytes", self.len),
            None => f.write_str("no answer"),
        }
    }
}

/// One exchange, recorded and replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComparedExchange {
    /// 1-based position among the slot's exchanges.
    pub index: usize,
    /// The trace line of the command.
    pub line: usize,
    /// The command's name (`VERIFY`, `PSO`, …).
    pub command: String,
    /// What the recorded card answered.
    pub recorded: Outcome,
    /// What the simulated card answered.
    pub simulated: Outcome,
    /// Whether they differ (status word, or length except between two signatures).
    pub differs: bool,
}

/// The result of a replay. Its `Display` is the readable report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// The trace file.
    pub trace: PathBuf,
    /// The profile of the simulated card.
    pub profile: String,
    /// The slot replayed.
    pub slot: usize,
    /// Other slots of the trace, not replayed.
    pub other_slots: Vec<usize>,
    /// Every exchange.
    pub exchanges: Vec<ComparedExchange>,
}

impl ReplayReport {
    /// The exchanges that differ.
    pub fn differences(&self) -> impl Iterator<Item = &ComparedExchange> {
        self.exchanges.iter().filter(|e| e.differs)
    }

    /// `0` when the simulated card answered like the recorded one, `1` when an exchange differs. (The CLI exits
    /// with `2` for a [`ReplayError`].)
    pub fn exit_code(&self) -> i32 {
        i32::from(self.differences().next().is_some())
    }
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.differences().count();
        writeln!(
            f,
            "replay of `{}` (slot {}, {} exchanges) on a fresh `{}` card: {}",
            DisplayPath(self.trace.clone()),
            self.slot,
            self.exchanges.len(),
            self.profile,
            match n {
                0 => "no differences in status words and lengths".to_owned(),
                1 => "1 difference".to_owned(),
                n => format!("{n} differences"),
            }
        )?;
        for e in self.differences() {
            writeln!(
                f,
                "  #{} (line {}) {}: recorded {}, simulated {}",
                e.index, e.line, e.command, e.recorded, e.simulated
            )?;
        }
        if !self.other_slots.is_empty() {
            let slots: Vec<String> = self.other_slots.iter().map(ToString::to_string).collect();
            writeln!(f, "  (slots {} of the trace were not replayed)", slots.join(", "))?;
        }
        Ok(())
    }
}

/// An ECDSA signature as the card returns it (DER `SEQUENCE{r, s}`), whose length varies from one to the next.
fn is_signature(data: &[u8]) -> bool {
    p256::ecdsa::Signature::from_der(data).is_ok()
}

/// The PIN and PUK the simulated card holds now, as the replay changes them.
struct Secrets {
    pin: String,
    puk: String,
}

/// `base` cut or lengthened (with digits) to `n` characters.
fn shaped(base: &str, n: usize) -> Vec<u8> {
    let mut v: Vec<u8> = base.bytes().take(n).collect();
    let mut digit = b'1';
    while v.len() < n {
        v.push(digit);
        digit = if digit == b'9' { b'0' } else { digit + 1 };
    }
    v
}

/// `n` characters, each different from `value`'s at the same place: never the right secret.
fn wrong(value: &str, n: usize) -> Vec<u8> {
    let v = value.as_bytes();
    (0..n).map(|i| if v.get(i) == Some(&b'9') { b'8' } else { b'9' }).collect()
}

/// Fills the masked bytes of `exchange` (see the module doc); returns the C-APDU.
fn unmask(exchange: &RecordedExchange, profile: &Profile, secrets: &mut Secrets) -> Vec<u8> {
    let masked = exchange.command.iter().filter(|b| b.is_none()).count();
    let mut apdu: Vec<u8> = exchange.command.iter().map(|b| b.unwrap_or(0)).collect();
    if masked == 0 {
        return apdu;
    }
    let ok = exchange.response.as_deref().is_none_or(|r| r.ends_with(&[0x90, 0x00]));
    let pick = |current: &str, n: usize| {
        if ok && current.len() == n { current.as_bytes().to_vec() } else { wrong(current, n) }
    };
    let (ins, p1, p2) = (apdu.get(1).copied(), apdu.get(2).copied(), apdu.get(3).copied());
    let key_ref = p2.map(card_os::KeyRef::try_from);
    let secret: Vec<u8> = match (ins, p1, p2) {
        (Some(0x20), _, Some(0x02)) => pick(&secrets.puk, masked),
        (Some(0x20), _, _) => pick(&secrets.pin, masked),
        (Some(0x24), Some(0x00), _) => {
            let old_len = secrets.pin.len().min(masked);
            let mut v = pick(&secrets.pin, old_len);
            let new = shaped(&profile.pin.value, masked - old_len);
            v.extend_from_slice(&new);
            if ok {
                secrets.pin = String::from_utf8_lossy(&new).into_owned();
            }
            v
        }
        (Some(0x24), _, Some(0x02)) => {
            let v = shaped(&profile.puk.value, masked);
            secrets.puk = String::from_utf8_lossy(&v).into_owned();
            v
        }
        (Some(0x24), _, _) => {
            let v = shaped(&profile.pin.value, masked);
            secrets.pin = String::from_utf8_lossy(&v).into_owned();
            v
        }
        (Some(0x2C), Some(0x00), _) => {
            let puk_len = secrets.puk.len().min(masked);
            let mut v = pick(&secrets.puk, puk_len);
            let new = shaped(&profile.pin.value, masked - puk_len);
            v.extend_from_slice(&new);
            if ok {
                secrets.pin = String::from_utf8_lossy(&new).into_owned();
            }
            v
        }
        (Some(0x2C), _, _) => pick(&secrets.puk, masked),
        (Some(0xDA), _, _) if let Some(Ok(key_ref)) = key_ref => {
            let scalar: [u8; 32] = injected_test_key(&profile.serial, key_ref).to_bytes().into();
            scalar.iter().copied().cycle().take(masked).collect()
        }
        _ => vec![0; masked],
    };
    let mut fill = secret.into_iter();
    for (byte, recorded) in apdu.iter_mut().zip(&exchange.command) {
        if recorded.is_none() {
            *byte = fill.next().unwrap_or(0);
        }
    }
    apdu
}

/// Replays `trace` on a fresh card of `profile` and compares every exchange.
pub fn replay(trace: &RecordedTrace, profile: &Profile) -> Result<ReplayReport, ReplayError> {
    let pki = TestPki::fixtures().map_err(|e| ReplayError::Pki(Box::new(e)))?;
    let made = new_card(profile, &pki, &NewCardOptions::default()).map_err(|e| ReplayError::CardNew(Box::new(e)))?;
    let mut reader = InProcessReader::with_card(made.card);
    let mut secrets = Secrets { pin: profile.pin.value.clone(), puk: profile.puk.value.clone() };
    let mut exchanges = Vec::new();
    for step in &trace.steps {
        match step {
            RecordedStep::Event(RecordedEvent::Reset) => {
                reader.reset().map_err(|source| ReplayError::Reader { line: 0, source })?;
            }
            RecordedStep::Event(RecordedEvent::PowerOff) => reader.power_off(),
            RecordedStep::Event(RecordedEvent::Other) => {}
            RecordedStep::Exchange(e) => {
                let reader_err = |source| ReplayError::Reader { line: e.line, source };
                if !reader.is_powered() {
                    reader.power_on().map_err(reader_err)?;
                }
                let apdu = unmask(e, profile, &mut secrets);
                let answer = reader.transmit(&apdu).map_err(reader_err)?;
                let recorded = Outcome::of(e.response.as_deref());
                let simulated = Outcome::of(Some(&answer));
                let both_signatures = recorded.sw == Some(0x9000)
                    && simulated.sw == Some(0x9000)
                    && e.response.as_deref().is_some_and(|r| is_signature(&r[..r.len() - 2]))
                    && is_signature(&answer[..answer.len() - 2]);
                let differs = recorded.sw != simulated.sw || (recorded.len != simulated.len && !both_signatures);
                exchanges.push(ComparedExchange {
                    index: exchanges.len() + 1,
                    line: e.line,
                    command: e.name.clone(),
                    recorded,
                    simulated,
                    differs,
                });
            }
        }
    }
    Ok(ReplayReport {
        trace: trace.path.clone(),
        profile: profile.name.clone(),
        slot: trace.slot,
        other_slots: trace.other_slots.clone(),
        exchanges,
    })
}

/// The arguments of `zorgcard replay --trace FILE --profile P`.
#[derive(Debug, Clone)]
pub struct ReplayArgs {
    /// The recorded trace.
    pub trace: PathBuf,
    /// The simulated card's profile: a name or a path to a profile `.toml`.
    pub profile: String,
}

/// `zorgcard replay --trace FILE --profile P`: replays the trace on a fresh card of the profile. Print the report with
/// `{}` and exit with [`ReplayReport::exit_code`].
pub fn replay_main(args: &ReplayArgs) -> Result<ReplayReport, ReplayError> {
    let profile = profile::load(&args.profile).map_err(|e| ReplayError::Profile(Box::new(e)))?;
    let trace = read_trace(&args.trace)?;
    replay(&trace, &profile)
}

/// Runs `apdus` through `reader`, one after the other, tracing every exchange as `slot` of `trace` (secrets
/// masked): a recording in the same format as `zorgcard serve --trace`. Stops at the first failed exchange (the
/// trace shows it). Returns the R-APDUs.
pub fn record(
    reader: &mut dyn Transmit,
    apdus: &[Vec<u8>],
    trace: &Trace,
    slot: usize,
) -> Result<Vec<Vec<u8>>, (usize, ReaderError)> {
    let mut traced = Traced::new(reader, trace.clone(), slot);
    let mut answers = Vec::with_capacity(apdus.len());
    for (i, apdu) in apdus.iter().enumerate() {
        answers.push(traced.transmit(apdu).map_err(|e| (i, e))?);
    }
    Ok(answers)
}

/// The arguments of a recording from a PC/SC reader ([`record_main`]).
#[derive(Debug, Clone)]
pub struct RecordArgs {
    /// The PC/SC reader with the card to record (e.g. an Omnikey, or "Virtual PCD 00 00").
    pub reader: String,
    /// The APDU list: one C-APDU per line in hex, `#` comments; `$PIN` stands for the PIN's bytes.
    pub apdus: PathBuf,
    /// The trace written (appended).
    pub trace: PathBuf,
    /// The environment variable holding the PIN for `$PIN` (never a command-line argument: it would show in `ps`).
    pub pin_from_env: Option<String>,
}

/// Reads an APDU list; `$PIN` is replaced by `pin`'s bytes. Returns `(line, apdu)` pairs.
pub fn read_apdu_list(path: &Path, pin: Option<&[u8]>) -> Result<Vec<(usize, Vec<u8>)>, ReplayError> {
    let display = || DisplayPath(path.to_owned());
    let file = std::fs::File::open(path).map_err(|source| ReplayError::Io { path: display(), source })?;
    let mut apdus = Vec::new();
    for (i, line) in io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| ReplayError::Io { path: display(), source })?;
        let text = line.split('#').next().unwrap_or("").trim();
        if text.is_empty() {
            continue;
        }
        let bad = |problem: String| ReplayError::ApduList { path: display(), line: i + 1, problem };
        let text = if text.contains("$PIN") {
            let pin = pin.ok_or_else(|| bad("`$PIN` but no PIN given (--pin-from-env VAR)".into()))?;
            text.replace("$PIN", &hex::encode(pin))
        } else {
            text.to_owned()
        };
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let apdu = hex::decode(&compact).map_err(|e| bad(format!("`{text}` is not hex ({e})")))?;
        if apdu.len() < 4 {
            return Err(bad("shorter than a command header (CLA INS P1 P2)".into()));
        }
        apdus.push((i + 1, apdu));
    }
    Ok(apdus)
}

/// Records from a real card (`--reader R --apdus LIST --trace FILE [--pin-from-env VAR]` once wired): connects to the card in a
/// PC/SC reader, resets it (so the recording starts from a known state), runs the APDU list and writes the trace
/// as slot 0. Returns how many exchanges were recorded.
pub fn record_main(args: &RecordArgs) -> Result<usize, ReplayError> {
    let pin = match &args.pin_from_env {
        Some(var) => Some(std::env::var(var).map_err(|_| ReplayError::ApduList {
            path: DisplayPath(args.apdus.clone()),
            line: 0,
            problem: format!("the environment variable `{var}` holding the PIN is not set"),
        })?),
        None => None,
    };
    let apdus = read_apdu_list(&args.apdus, pin.as_deref().map(str::as_bytes))?;
    let pcsc_err = |e| ReplayError::Pcsc(Box::new(e));
    let mut reader = PcscReader::connect(&args.reader).map_err(pcsc_err)?;
    reader.reset().map_err(pcsc_err)?;
    let trace =
        Trace::file(&args.trace).map_err(|source| ReplayError::TraceWrite { path: args.trace.clone(), source })?;
    trace.event(0, &TraceEvent::Connected(format!("PC/SC reader {}", args.reader)));
    trace.event(0, &TraceEvent::Reset);
    trace.atr_request(0, &reader.atr());
    let list: Vec<Vec<u8>> = apdus.iter().map(|(_, a)| a.clone()).collect();
    let answers = record(&mut reader, &list, &trace, 0).map_err(|(i, source)| ReplayError::Record {
        index: i + 1,
        line: apdus.get(i).map_or(0, |(l, _)| *l),
        source,
    })?;
    trace.event(0, &TraceEvent::Disconnected("recording done".into()));
    Ok(answers.len())
}

#[cfg(test)]
mod tests;
