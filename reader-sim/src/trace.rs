//! APDU traces: every exchange and control event of every slot, one line each, secrets masked.
//!
//! A line is `<time> slot <n> <what>`, the time RFC 3339 UTC with milliseconds (left out in snapshot mode so traces
//! can be golden files):
//!
//! ```text
//! 2026-01-05T09:30:00.125Z slot 0 power on
//! 2026-01-05T09:30:00.126Z slot 0 ATR 3BDC18FF8191FE1FC3060A2B06010401E910050203D1
//! 2026-01-05T09:30:00.140Z slot 0 > VERIFY 00 20 00 01 06 ************
//! 2026-01-05T09:30:00.141Z slot 0 < 63 C2 verification failed, tries left
//! ```
//!
//! C-APDUs are split as ISO 7816-4 §5.1 lays them out: header, Lc and Le bytes spaced, the data field in one run.
//! From the offset `card_os::apdu::describe` gives as `secret_from` (PIN, PUK, private key) every byte prints as
//! `**`, so a trace never holds secret bytes in any form. vpcd asks for the ATR on every presence poll (every
//! 400 ms, pcsc-lite `PCSCLITE_STATUS_POLL_RATE`): such requests are counted, and only an ATR request that follows
//! a power-on or reset — the one that belongs to it — is logged.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::reader::{InProcessReader, ReaderError, Transmit};

/// A control event of a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceEvent {
    /// Cold reset (vpcd `VPCD_CTRL_ON`).
    PowerOn,
    /// Deactivation (vpcd `VPCD_CTRL_OFF`).
    PowerOff,
    /// Warm reset (vpcd `VPCD_CTRL_RESET`).
    Reset,
    /// A vpcd connection was made; the text says with whom.
    Connected(String),
    /// A vpcd connection ended; the text says why.
    Disconnected(String),
    /// The card was taken out of the slot (for vpcd: the socket is closed and stays closed).
    CardRemoved,
    /// The card was put back.
    CardInserted,
    /// Something went wrong that the peer does not see in full (a failed save, a protocol oddity).
    Error(String),
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PowerOn => f.write_str("power on"),
            Self::PowerOff => f.write_str("power off"),
            Self::Reset => f.write_str("reset"),
            Self::Connected(peer) => write!(f, "connected ({peer})"),
            Self::Disconnected(why) => write!(f, "disconnected ({why})"),
            Self::CardRemoved => f.write_str("card removed"),
            Self::CardInserted => f.write_str("card inserted"),
            Self::Error(what) => write!(f, "error: {what}"),
        }
    }
}

enum Sink {
    Off,
    Stdout,
    File(File),
    Memory(Vec<String>),
}

#[derive(Default)]
struct SlotState {
    /// The next ATR request belongs to a power-on or reset and is logged.
    atr_expected: bool,
    /// ATR requests answered but not logged (presence polls).
    atr_polls: u64,
}

struct State {
    sink: Sink,
    slots: HashMap<usize, SlotState>,
}

/// Where trace lines go. Cheap to clone: clones share the sink, so several slots can write to one trace.
#[derive(Clone)]
pub struct Trace {
    state: Arc<Mutex<State>>,
    timestamps: bool,
    enabled: bool,
}

impl Trace {
    fn with_sink(sink: Sink) -> Self {
        let enabled = !matches!(sink, Sink::Off);
        Self { state: Arc::new(Mutex::new(State { sink, slots: HashMap::new() })), timestamps: true, enabled }
    }

    /// No trace: nothing is formatted, only ATR polls are counted.
    pub fn off() -> Self {
        Self::with_sink(Sink::Off)
    }

    /// Lines to standard output.
    pub fn stdout() -> Self {
        Self::with_sink(Sink::Stdout)
    }

    /// Lines appended to a file (created if missing).
    pub fn file(path: impl AsRef<Path>) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self::with_sink(Sink::File(file)))
    }

    /// Lines kept in memory, for tests and snapshots; read them with [`Trace::lines`].
    pub fn memory() -> Self {
        Self::with_sink(Sink::Memory(Vec::new()))
    }

    /// This handle writes lines without timestamps (golden snapshots). Other clones keep their setting.
    pub fn without_timestamps(mut self) -> Self {
        self.timestamps = false;
        self
    }

    /// Whether lines go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The lines of a memory trace so far (empty for other sinks).
    pub fn lines(&self) -> Vec<String> {
        match &self.lock().sink {
            Sink::Memory(lines) => lines.clone(),
            _ => Vec::new(),
        }
    }

    /// Logs a C-APDU: `> NAME hex`, secret bytes masked.
    pub fn command(&self, slot: usize, apdu: &[u8]) {
        if self.enabled {
            let description = card_os::apdu::describe(apdu);
            let text = format_command(apdu, description.secret_from);
            self.write(slot, format_args!("> {} {text}", description.name));
        }
    }

    /// Logs an R-APDU: `< data SW1 SW2 meaning`.
    pub fn response(&self, slot: usize, rapdu: &[u8]) {
        if self.enabled {
            self.write(slot, format_args!("< {}", format_response(rapdu)));
        }
    }

    /// Logs a control event. A power-on or reset makes the next ATR request of the slot worth logging.
    pub fn event(&self, slot: usize, event: &TraceEvent) {
        if matches!(event, TraceEvent::PowerOn | TraceEvent::Reset) {
            self.lock().slots.entry(slot).or_default().atr_expected = true;
        }
        if self.enabled {
            self.write(slot, format_args!("{event}"));
        }
    }

    /// Records an ATR request answered with `atr`: logged if it follows a power-on or reset, otherwise only counted.
    pub fn atr_request(&self, slot: usize, atr: &[u8]) {
        let log = {
            let mut state = self.lock();
            let s = state.slots.entry(slot).or_default();
            if std::mem::take(&mut s.atr_expected) {
                true
            } else {
                s.atr_polls += 1;
                false
            }
        };
        if log && self.enabled {
            self.write(slot, format_args!("ATR {}", hex::encode_upper(atr)));
        }
    }

    /// How many ATR requests of `slot` were counted without being logged (presence polls).
    pub fn atr_polls(&self, slot: usize) -> u64 {
        self.lock().slots.get(&slot).map_or(0, |s| s.atr_polls)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a half-written line at worst; tracing goes on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, slot: usize, what: fmt::Arguments<'_>) {
        let mut line = String::with_capacity(96);
        if self.timestamps {
            line.push_str(&rfc3339_utc_ms(SystemTime::now()));
            line.push(' ');
        }
        let _ = write!(line, "slot {slot} {what}");
        let mut state = self.lock();
        // A trace that cannot be written must not stop the card: errors are dropped.
        match &mut state.sink {
            Sink::Off => {}
            Sink::Stdout => {
                let _ = writeln!(io::stdout().lock(), "{line}");
            }
            Sink::File(file) => {
                line.push('\n');
                let _ = file.write_all(line.as_bytes());
            }
            Sink::Memory(lines) => lines.push(line),
        }
    }
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace").field("enabled", &self.enabled).field("timestamps", &self.timestamps).finish()
    }
}

/// Splits a C-APDU into ISO 7816-4 §5.1 fields: header, Lc, data, Le. Anything that fits no case is header + data.
fn apdu_fields(apdu: &[u8]) -> [std::ops::Range<usize>; 4] {
    let n = apdu.len();
    if n <= 4 {
        return [0..n, n..n, n..n, n..n];
    }
    let (lc_len, lc, ext) = if apdu[4] != 0 || n == 5 {
        (1, usize::from(apdu[4]), false)
    } else if n >= 7 {
        (3, usize::from(u16::from_be_bytes([apdu[5], apdu[6]])), true)
    } else {
        return [0..4, 4..4, 4..n, n..n];
    };
    // Case 2: only Le after the header.
    if n == 5 || (ext && n == 7) {
        return [0..4, 4..4, 4..4, 4..n];
    }
    let data_start = 4 + lc_len;
    let data_end = data_start + lc;
    let le_len = if ext { 2 } else { 1 };
    if n == data_end || n == data_end + le_len {
        [0..4, 4..data_start, data_start..data_end, data_end..n]
    } else {
        [0..4, 4..4, 4..n, n..n]
    }
}

fn push_byte(out: &mut String, apdu: &[u8], i: usize, secret_from: Option<usize>) {
    if secret_from.is_some_and(|s| i >= s) {
        out.push_str("**");
    } else {
        let _ = write!(out, "{:02X}", apdu[i]);
    }
}

/// `00 20 00 01 06 ************`: spaced header, Lc and Le, the data in one run, `**` from `secret_from` on.
pub fn format_command(apdu: &[u8], secret_from: Option<usize>) -> String {
    let [header, lc, data, le] = apdu_fields(apdu);
    let mut out = String::with_capacity(apdu.len() * 2 + 16);
    for range in [header, lc] {
        for i in range {
            push_byte(&mut out, apdu, i, secret_from);
            out.push(' ');
        }
    }
    if !data.is_empty() {
        for i in data {
            push_byte(&mut out, apdu, i, secret_from);
        }
        out.push(' ');
    }
    for i in le {
        push_byte(&mut out, apdu, i, secret_from);
        out.push(' ');
    }
    out.truncate(out.trim_end().len());
    out
}

/// `6F1A... 90 00 meaning`: the data in one run, SW1 SW2 spaced, the status meaning from `card_os::Status`.
pub fn format_response(rapdu: &[u8]) -> String {
    let Some(split) = rapdu.len().checked_sub(2) else {
        return format!("{} (too short for a status word)", hex::encode_upper(rapdu));
    };
    let (data, sw) = rapdu.split_at(split);
    let status = card_os::Status::from_sw(u16::from_be_bytes([sw[0], sw[1]]));
    let mut out = String::with_capacity(rapdu.len() * 2 + 48);
    if !data.is_empty() {
        out.push_str(&hex::encode_upper(data));
        out.push(' ');
    }
    let _ = write!(out, "{:02X} {:02X} {}", sw[0], sw[1], status.description());
    out
}

/// RFC 3339 UTC with milliseconds, `2026-01-05T09:30:00.125Z`. Dates from Howard Hinnant's `civil_from_days`
/// (proleptic Gregorian), so the crate needs no date library for one format.
pub fn rfc3339_utc_ms(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Any [`Transmit`] with every exchange traced: the in-process reader, or a PC/SC reader of the harness.
#[derive(Debug)]
pub struct Traced<T> {
    inner: T,
    trace: Trace,
    slot: usize,
}

impl<T> Traced<T> {
    /// Wraps `inner`; its lines are labelled `slot`.
    pub fn new(inner: T, trace: Trace, slot: usize) -> Self {
        Self { inner, trace, slot }
    }

    /// The wrapped reader.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The wrapped reader, mutably (calls through it are not traced).
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the reader.
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// The trace.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }
}

impl<T: Transmit> Transmit for Traced<T> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        self.trace.command(self.slot, apdu);
        let result = self.inner.transmit(apdu);
        match &result {
            Ok(rapdu) => self.trace.response(self.slot, rapdu),
            Err(e) => self.trace.event(self.slot, &TraceEvent::Error(e.to_string())),
        }
        result
    }
}

impl Traced<InProcessReader> {
    /// [`InProcessReader::power_on`], traced with the ATR.
    pub fn power_on(&mut self) -> Result<Vec<u8>, ReaderError> {
        self.trace.event(self.slot, &TraceEvent::PowerOn);
        let atr = self.inner.power_on()?;
        self.trace.atr_request(self.slot, &atr);
        Ok(atr)
    }

    /// [`InProcessReader::power_off`], traced.
    pub fn power_off(&mut self) {
        self.trace.event(self.slot, &TraceEvent::PowerOff);
        self.inner.power_off();
    }

    /// [`InProcessReader::reset`], traced with the ATR.
    pub fn reset(&mut self) -> Result<Vec<u8>, ReaderError> {
        self.trace.event(self.slot, &TraceEvent::Reset);
        let atr = self.inner.reset()?;
        self.trace.atr_request(self.slot, &atr);
        Ok(atr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_known_instants() {
        let at = |s: u64, ms: u64| UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms);
        assert_eq!(rfc3339_utc_ms(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_utc_ms(at(951_782_400, 7)), "2000-02-29T00:00:00.007Z");
        assert_eq!(rfc3339_utc_ms(at(1_767_605_400, 125)), "2026-01-05T09:30:00.125Z");
        assert_eq!(rfc3339_utc_ms(at(4_107_542_399, 999)), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn command_layout_follows_iso7816_cases() {
        assert_eq!(format_command(&[0x00, 0x84, 0x00, 0x00], None), "00 84 00 00");
        assert_eq!(format_command(&[0x00, 0x84, 0x00, 0x00, 0x08], None), "00 84 00 00 08");
        assert_eq!(format_command(&[0, 0xA4, 0, 0x0C, 2, 0x3F, 0x00], None), "00 A4 00 0C 02 3F00");
        assert_eq!(format_command(&[0, 0xA4, 0, 0, 2, 0x3F, 0x00, 0], None), "00 A4 00 00 02 3F00 00");
        assert_eq!(format_command(&[0, 0xB0, 0, 0, 0, 0x10, 0], None), "00 B0 00 00 00 10 00");
        assert_eq!(
            format_command(&[0, 0xD6, 0, 0, 0, 0, 2, 0xAA, 0xBB, 0x10, 0x00], None),
            "00 D6 00 00 00 00 02 AABB 10 00"
        );
        assert_eq!(format_command(&[0, 0xD6, 0, 0, 9, 1], None), "00 D6 00 00 0901");
        assert_eq!(format_command(&[0x00, 0x20], None), "00 20");
    }

    #[test]
    fn secret_bytes_are_masked() {
        let verify = [0x00, 0x20, 0x00, 0x01, 0x06, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36];
        assert_eq!(format_command(&verify, Some(5)), "00 20 00 01 06 ************");
        assert_eq!(format_command(&verify, Some(0)), "** ** ** ** ** ************");
    }

    #[test]
    fn atr_polls_are_counted_not_logged() {
        let trace = Trace::memory().without_timestamps();
        trace.atr_request(0, &[0x3B, 0x00]);
        trace.event(0, &TraceEvent::PowerOn);
        trace.atr_request(0, &[0x3B, 0x00]);
        trace.atr_request(0, &[0x3B, 0x00]);
        assert_eq!(trace.lines(), ["slot 0 power on", "slot 0 ATR 3B00"]);
        assert_eq!(trace.atr_polls(0), 2);
    }
}

/// What one trace line says, parsed back: the reader of the format lives beside its writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceLine {
    /// `> NAME bytes`: a C-APDU; a masked (secret) byte is `None`.
    Command {
        /// The command's name (`card_os::apdu::describe`).
        name: String,
        /// The C-APDU, `None` where the trace shows `**`.
        bytes: Vec<Option<u8>>,
    },
    /// `< [data] SW1 SW2 meaning`: an R-APDU, data and status word (or fewer than two bytes, as the card sent them).
    Response(Vec<u8>),
    /// `ATR hex`: the ATR answered after a power-on or reset.
    Atr(Vec<u8>),
    /// A control event.
    Event(TraceEvent),
}

/// One parsed trace line: when (absent in snapshot mode), which slot, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRecord {
    /// The RFC 3339 time as written, if the trace has timestamps.
    pub time: Option<String>,
    /// The slot.
    pub slot: usize,
    /// What happened.
    pub line: TraceLine,
}

fn is_timestamp(token: &str) -> bool {
    token.len() >= 20 && token.ends_with('Z') && token.as_bytes()[0].is_ascii_digit() && token.contains('T')
}

fn is_byte_token(token: &str) -> bool {
    token.len() == 2 && (token == "**" || token.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Parses one line written by [`Trace`]. Empty lines and `#` comments are `Ok(None)`; anything else that is not
/// a trace line is an error saying what is wrong with it.
pub fn parse_line(raw: &str) -> Result<Option<TraceRecord>, String> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (time, rest) = match line.split_once(' ') {
        Some((first, after)) if is_timestamp(first) => (Some(first.to_owned()), after),
        _ => (None, line),
    };
    let after_slot = rest.strip_prefix("slot ").ok_or("the line does not start with `[time] slot N`")?;
    let (slot_text, what) = after_slot.split_once(' ').unwrap_or((after_slot, ""));
    let slot = slot_text.parse().map_err(|_| format!("`{slot_text}` is not a slot number"))?;
    let line = if let Some(command) = what.strip_prefix("> ") {
        parse_command(command)?
    } else if let Some(response) = what.strip_prefix("< ") {
        TraceLine::Response(parse_response(response)?)
    } else if let Some(atr) = what.strip_prefix("ATR ") {
        TraceLine::Atr(hex::decode(atr).map_err(|_| format!("`{atr}` is not an ATR in hex"))?)
    } else {
        TraceLine::Event(what.parse()?)
    };
    Ok(Some(TraceRecord { time, slot, line }))
}

/// `NAME 00 20 00 01 06 ************`: the name, then 2-character byte tokens and runs of bytes.
fn parse_command(text: &str) -> Result<TraceLine, String> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let start = tokens.iter().position(|t| is_byte_token(t)).ok_or("a command line with no bytes")?;
    let name = tokens[..start].join(" ");
    if name.is_empty() {
        return Err("a command line with no command name".into());
    }
    let run: String = tokens[start..].concat();
    if !run.len().is_multiple_of(2) {
        return Err(format!("an odd number of hex digits in `{}`", tokens[start..].join(" ")));
    }
    let mut bytes = Vec::with_capacity(run.len() / 2);
    for pair in run.as_bytes().chunks(2) {
        let pair = std::str::from_utf8(pair).map_err(|_| "a non-ASCII byte")?;
        if pair == "**" {
            bytes.push(None);
        } else {
            bytes.push(Some(u8::from_str_radix(pair, 16).map_err(|_| format!("`{pair}` is not a hex byte"))?));
        }
    }
    if let [Some(_), Some(ins), ..] = bytes.as_slice() {
        let expected = card_os::apdu::describe_ins(*ins);
        if expected != name {
            return Err(format!("the command is named {name} but its INS {ins:02X} is {expected}"));
        }
    }
    Ok(TraceLine::Command { name, bytes })
}

/// `[data] SW1 SW2 meaning`, the meaning being `card_os::Status::description`; or `hex (too short …)`.
fn parse_response(text: &str) -> Result<Vec<u8>, String> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let hex_of = |t: &str| hex::decode(t).map_err(|_| format!("`{t}` is not hex"));
    if tokens.len() >= 2 && text.ends_with("(too short for a status word)") {
        return hex_of(tokens[0]);
    }
    let meaning_ok = |sw: &[u8], rest: &[&str]| {
        let status = card_os::Status::from_sw(u16::from_be_bytes([sw[0], sw[1]]));
        rest.join(" ") == status.description()
    };
    let is_sw_byte = |t: &str| t.len() == 2 && t.bytes().all(|b| b.is_ascii_hexdigit());
    if tokens.len() >= 2 && is_sw_byte(tokens[0]) && is_sw_byte(tokens[1]) {
        let sw = hex_of(&format!("{}{}", tokens[0], tokens[1]))?;
        if meaning_ok(&sw, &tokens[2..]) {
            return Ok(sw);
        }
    }
    if tokens.len() >= 3 && is_sw_byte(tokens[1]) && is_sw_byte(tokens[2]) {
        let mut rapdu = hex_of(tokens[0])?;
        let sw = hex_of(&format!("{}{}", tokens[1], tokens[2]))?;
        if meaning_ok(&sw, &tokens[3..]) {
            rapdu.extend_from_slice(&sw);
            return Ok(rapdu);
        }
    }
    Err(format!("`{text}` is not `[data] SW1 SW2 meaning`"))
}

impl std::str::FromStr for TraceEvent {
    type Err = String;

    /// The inverse of `Display`.
    fn from_str(text: &str) -> Result<Self, String> {
        let inner = |prefix: &str| text.strip_prefix(prefix).and_then(|t| t.strip_suffix(')')).map(str::to_owned);
        Ok(match text {
            "power on" => TraceEvent::PowerOn,
            "power off" => TraceEvent::PowerOff,
            "reset" => TraceEvent::Reset,
            "card removed" => TraceEvent::CardRemoved,
            "card inserted" => TraceEvent::CardInserted,
            t if t.starts_with("error: ") => TraceEvent::Error(t["error: ".len()..].to_owned()),
            _ => match (inner("connected ("), inner("disconnected (")) {
                (Some(peer), _) => TraceEvent::Connected(peer),
                (_, Some(why)) => TraceEvent::Disconnected(why),
                _ => return Err(format!("`{text}` is no trace event")),
            },
        })
    }
}
