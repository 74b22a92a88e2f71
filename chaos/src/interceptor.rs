//! The [`ChaosInterceptor`]: on the slot's reader, it draws one number per C-APDU from the seeded generator and
//! plays the event the rates give for it, then logs the APDU, its status word and the event.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};

use card_os::PinRef;
use card_os::pin::Secret;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt as _, SeedableRng as _};
use reader_sim::platform::ClockHandle;
use reader_sim::reader::{InProcessReader, Interceptor, ReaderError, Transmit};
use reader_sim::trace::{Trace, TraceEvent};

use super::event::{ChaosEvent, SeenApdu};
use super::rates::Rates;
use conformance::scenario::Insertion;

/// The APDUs seen and the events played, shared between the interceptor and whoever sums up the run.
pub type ChaosLog = Arc<Mutex<Vec<SeenApdu>>>;

/// ISO 7816-4 `6983`: authentication method blocked.
const SW_BLOCKED: u16 = 0x6983;

/// Everything the interceptor needs besides the rates and the seed.
pub struct ChaosTarget {
    /// The card's clock, moved for `expired`.
    pub clock: ClockHandle,
    /// The clock offset (days) the card is served at, which `expired` moves ahead from.
    pub served_days: i64,
    /// The profile's PIN: `revoked` verifies it before TERMINATE CARD USAGE, `pin_blocked` tries anything else.
    pub pin: Secret<Vec<u8>>,
    /// Where a pulled card goes to be put back.
    pub inserter: Sender<Insertion>,
    /// The trace the events are written to, as `error: chaos: …` lines of `slot`.
    pub trace: Trace,
    /// The slot in the trace.
    pub slot: usize,
}

/// Plays seeded events on the card, one draw per C-APDU.
pub struct ChaosInterceptor {
    rates: Rates,
    rng: ChaCha8Rng,
    target: ChaosTarget,
    log: ChaosLog,
    played_once: Vec<ChaosEvent>,
}

impl ChaosInterceptor {
    /// An interceptor drawing from `seed`; what it sees goes to `log`.
    pub fn new(rates: Rates, seed: u64, target: ChaosTarget, log: ChaosLog) -> Self {
        ChaosInterceptor { rates, rng: ChaCha8Rng::seed_from_u64(seed), target, log, played_once: Vec::new() }
    }

    /// The event for the next APDU. One draw per APDU whatever happens, so positions depend only on the seed and
    /// the number of APDUs before; a once-only event already played draws nothing.
    fn draw(&mut self) -> Option<ChaosEvent> {
        let u: f64 = self.rng.random();
        let event = self.rates.pick(u)?;
        if event.is_once() {
            if self.played_once.contains(&event) {
                return None;
            }
            self.played_once.push(event);
        }
        Some(event)
    }

    fn note(&self, index: usize, event: ChaosEvent, detail: &str) {
        let what = format!("chaos: {event} at APDU {}{detail}", index + 1);
        self.target.trace.event(self.target.slot, &TraceEvent::Error(what));
    }

    /// Wrong VERIFYs until the card answers `6983`; the wrong PIN differs from the right one in every digit.
    fn block_pin(&self, reader: &mut InProcessReader) -> String {
        let wrong = Secret::new(
            self.target
                .pin
                .expose()
                .iter()
                .map(|b| if b.is_ascii_digit() { b'0' + (b - b'0' + 1) % 10 } else { b'0' })
                .collect::<Vec<u8>>(),
        );
        let apdu = verify_apdu(&wrong);
        for tries in 1..=16 {
            match reader.transmit(apdu.expose()).ok().as_deref().map(sw) {
                Some(SW_BLOCKED) => return format!(" ({tries} wrong VERIFYs)"),
                Some(s) if s >> 4 == 0x63C => {}
                other => return format!(" (not blocked: a wrong VERIFY answered {})", show(other)),
            }
        }
        " (not blocked after 16 wrong VERIFYs)".into()
    }

    /// VERIFY with the right PIN, then TERMINATE CARD USAGE, as the revoked-card scenario's setup does.
    fn revoke(&self, reader: &mut InProcessReader) -> String {
        let verify = verify_apdu(&self.target.pin);
        let verified = reader.transmit(verify.expose()).ok().as_deref().map(sw);
        match reader.transmit(&[0x00, 0xFE, 0x00, 0x00]).ok().as_deref().map(sw) {
            Some(0x9000) => String::new(),
            other => {
                format!(" (not terminated: VERIFY answered {}, TERMINATE CARD USAGE {})", show(verified), show(other))
            }
        }
    }

    /// Plays `event` (if any) around the exchange of `apdu`; `None` from the inner exchange: the card was pulled.
    fn play(
        &mut self,
        index: usize,
        event: Option<ChaosEvent>,
        apdu: &[u8],
        reader: &mut InProcessReader,
    ) -> Result<Vec<u8>, ReaderError> {
        let Some(event) = event else { return reader.transmit(apdu) };
        match event {
            ChaosEvent::Pull => {
                self.note(index, event, "");
                self.target.trace.event(self.target.slot, &TraceEvent::CardRemoved);
                if let Some(card) = reader.remove() {
                    let _ = self.target.inserter.send(Insertion { card, after: Some(self.rates.reinsert_after) });
                }
                Err(ReaderError::NoCard)
            }
            ChaosEvent::Reset => {
                self.note(index, event, "");
                reader.reset()?;
                self.target.trace.event(self.target.slot, &TraceEvent::Reset);
                reader.transmit(apdu)
            }
            ChaosEvent::Slow => {
                self.note(index, event, &format!(" (+{} ms)", self.rates.slow.as_millis()));
                std::thread::sleep(self.rates.slow);
                reader.transmit(apdu)
            }
            ChaosEvent::PinBlocked => {
                let detail = self.block_pin(reader);
                self.note(index, event, &detail);
                reader.transmit(apdu)
            }
            ChaosEvent::Expired => {
                self.target.clock.set_offset_days(self.target.served_days.saturating_add(self.rates.expiry_days));
                self.note(index, event, &format!(" (+{} days)", self.rates.expiry_days));
                reader.transmit(apdu)
            }
            ChaosEvent::Revoked => {
                let detail = self.revoke(reader);
                self.note(index, event, &detail);
                reader.transmit(apdu)
            }
            ChaosEvent::Transient(status) => {
                self.note(index, event, "");
                Ok(status.to_be_bytes().to_vec())
            }
        }
    }
}

impl Interceptor for ChaosInterceptor {
    /// Without the reader nothing can be played on the card; the slot calls
    /// [`Interceptor::exchange_in_reader`]. Here the APDU only passes.
    fn exchange(&mut self, apdu: &[u8], card: &mut dyn Transmit) -> Result<Vec<u8>, ReaderError> {
        card.transmit(apdu)
    }

    fn exchange_in_reader(&mut self, apdu: &[u8], reader: &mut InProcessReader) -> Result<Vec<u8>, ReaderError> {
        let index = self.log.lock().unwrap_or_else(PoisonError::into_inner).len();
        let event = self.draw();
        let answer = self.play(index, event, apdu, reader);
        let seen = SeenApdu { apdu: apdu.to_vec(), sw: answer.as_ref().ok().map(|a| sw(a)), event };
        self.log.lock().unwrap_or_else(PoisonError::into_inner).push(seen);
        answer
    }
}

impl std::fmt::Debug for ChaosInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosInterceptor").field("rates", &self.rates).finish_non_exhaustive()
    }
}

/// The status word at the end of an R-APDU (0 if it has none).
pub fn sw(answer: &[u8]) -> u16 {
    match answer {
        [.., a, b] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

fn show(sw: Option<u16>) -> String {
    sw.map_or_else(|| "nothing".to_owned(), |sw| format!("{sw:04X}"))
}

/// VERIFY of the user PIN (`00 20 00 01`), built by [`reader_sim::exchange::command`] and wiped after use like the PIN.
fn verify_apdu(pin: &Secret<Vec<u8>>) -> Secret<Vec<u8>> {
    Secret::new(
        reader_sim::exchange::command([0x00, 0x20, 0x00, PinRef::User.to_byte()], pin.expose(), None)
            .unwrap_or_default(),
    )
}
