//! A scenario's behaviours as a [`reader_sim::reader::Interceptor`] on the card's one vpcd slot: a per-APDU delay,
//! answers in the card's place and pulling the card mid-command; and the [`Inserter`] that puts a card into the
//! reader after a delay (a late insert, or a pulled card coming back).
//!
//! The interceptor sits in the slot's [`InProcessReader`], so it sees each C-APDU pcscd sends before the card
//! does. Pulling the card is [`InProcessReader::remove`] and a [`ReaderError::NoCard`] answer: the vpcd slot then
//! closes its connection without a reply, which pcscd reports as the card gone (vpcd.c `vicc_eject`); the card
//! goes to the [`Inserter`], which puts it back after the trigger's delay, and the slot reconnects.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use reader_sim::reader::{HostCard, InProcessReader, Interceptor, ReaderError, SharedReader, Transmit};
use reader_sim::trace::{Trace, TraceEvent};
use reader_sim::wait::wait_until;

use super::{Trigger, TriggerAction};

/// A card to put into the reader.
pub struct Insertion {
    /// The card.
    pub card: HostCard,
    /// When, from now; `None`: it stays out (until the scenario stops).
    pub after: Option<Duration>,
}

impl std::fmt::Debug for Insertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Insertion").field("after", &self.after).finish_non_exhaustive()
    }
}

/// A stop flag others can wait on.
#[derive(Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl StopSignal {
    fn lock(&self) -> MutexGuard<'_, bool> {
        self.stopped.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stop(&self) {
        *self.lock() = true;
        self.changed.notify_all();
    }

    fn is_stopped(&self) -> bool {
        *self.lock()
    }

    /// Sleeps `d` (for ever if `None`); true if stopped meanwhile.
    fn sleep(&self, d: Option<Duration>) -> bool {
        wait_until(&self.changed, self.lock(), d, |stopped| *stopped)
    }
}

/// A thread that inserts the cards it is sent into one reader, each after its delay, traced as `card inserted`.
/// Stopping it ends pending delays; a card not yet inserted is dropped with it.
pub struct Inserter {
    sender: Sender<Insertion>,
    signal: Arc<StopSignal>,
    thread: Option<JoinHandle<()>>,
}

impl Inserter {
    /// Starts the thread for `reader`; `slot` labels the trace lines.
    pub fn spawn(reader: SharedReader, trace: Trace, slot: usize) -> std::io::Result<Inserter> {
        let (sender, receiver) = std::sync::mpsc::channel();
        let signal = Arc::new(StopSignal::default());
        let s = signal.clone();
        let thread = std::thread::Builder::new()
            .name(format!("scenario-insert-{slot}"))
            .spawn(move || insert_loop(&receiver, &s, &reader, &trace, slot))?;
        Ok(Inserter { sender, signal, thread: Some(thread) })
    }

    /// Where cards to insert are sent.
    pub fn sender(&self) -> Sender<Insertion> {
        self.sender.clone()
    }

    /// Stops the thread.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.signal.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Inserter {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl std::fmt::Debug for Inserter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inserter").field("running", &self.thread.is_some()).finish_non_exhaustive()
    }
}

fn insert_loop(receiver: &Receiver<Insertion>, signal: &StopSignal, reader: &SharedReader, trace: &Trace, slot: usize) {
    while !signal.is_stopped() {
        let insertion = match receiver.recv_timeout(Duration::from_millis(50)) {
            Ok(insertion) => insertion,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                signal.sleep(None);
                return;
            }
        };
        if signal.sleep(insertion.after) {
            return;
        }
        trace.event(slot, &TraceEvent::CardInserted);
        reader.lock().unwrap_or_else(PoisonError::into_inner).insert(insertion.card);
    }
}

/// A scenario's per-APDU delay and triggers, installed on the slot's reader.
pub struct ScenarioInterceptor {
    triggers: Vec<Trigger>,
    /// Remove triggers fire once.
    fired: Vec<bool>,
    apdu_delay: Duration,
    trace: Trace,
    slot: usize,
    inserter: Sender<Insertion>,
}

impl ScenarioInterceptor {
    /// The behaviours of a scenario with these `triggers` and `apdu_delay`; a pulled card goes to `inserter`.
    pub fn new(
        triggers: Vec<Trigger>,
        apdu_delay: Duration,
        trace: Trace,
        slot: usize,
        inserter: Sender<Insertion>,
    ) -> Self {
        let fired = vec![false; triggers.len()];
        ScenarioInterceptor { triggers, fired, apdu_delay, trace, slot, inserter }
    }

    /// The first trigger for `apdu` that may still fire, marked as fired.
    fn trigger(&mut self, apdu: &[u8]) -> Option<TriggerAction> {
        let fired = &self.fired;
        let (i, t) =
            self.triggers.iter().enumerate().find(|(i, t)| {
                t.on.matches(apdu) && !(fired[*i] && matches!(t.action, TriggerAction::Remove { .. }))
            })?;
        let action = t.action.clone();
        self.fired[i] = true;
        Some(action)
    }

    fn slow(&self) {
        if !self.apdu_delay.is_zero() {
            std::thread::sleep(self.apdu_delay);
        }
    }
}

impl Interceptor for ScenarioInterceptor {
    /// Without the reader a pulled card can only be answered as absent; the slot calls
    /// [`Interceptor::exchange_in_reader`], which really takes it out.
    fn exchange(&mut self, apdu: &[u8], card: &mut dyn Transmit) -> Result<Vec<u8>, ReaderError> {
        let answer = match self.trigger(apdu) {
            Some(TriggerAction::Remove { .. }) => return Err(ReaderError::NoCard),
            Some(TriggerAction::Answer(answer)) => answer,
            None => card.transmit(apdu)?,
        };
        self.slow();
        Ok(answer)
    }

    fn exchange_in_reader(&mut self, apdu: &[u8], reader: &mut InProcessReader) -> Result<Vec<u8>, ReaderError> {
        let answer = match self.trigger(apdu) {
            Some(TriggerAction::Remove { reinsert_after }) => {
                self.trace.event(self.slot, &TraceEvent::CardRemoved);
                if let Some(card) = reader.remove() {
                    // The inserter is gone only when the scenario stops; the card leaves with it then.
                    let _ = self.inserter.send(Insertion { card, after: reinsert_after });
                }
                return Err(ReaderError::NoCard);
            }
            Some(TriggerAction::Answer(answer)) => answer,
            None => reader.transmit(apdu)?,
        };
        self.slow();
        Ok(answer)
    }
}

impl std::fmt::Debug for ScenarioInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScenarioInterceptor")
            .field("triggers", &self.triggers.len())
            .field("apdu_delay", &self.apdu_delay)
            .finish_non_exhaustive()
    }
}
