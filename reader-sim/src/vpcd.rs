//! A card slot served over vsmartcard's vpcd protocol, so pcscd (and every PC/SC application) sees the card.
//!
//! The protocol, from vsmartcard `vpcd.c`/`vpcd.h` and `VirtualSmartcard.py`: one TCP stream per reader slot; every
//! message in both directions is a 2-byte big-endian length and that many bytes. vpcd sends every request, the card
//! only answers. A 1-byte message is a control code: `00` power off, `01` power on, `02` reset (no reply to any of
//! these) and `04` get ATR (answered with the ATR). Any other length is a C-APDU, answered with exactly one R-APDU.
//! pcscd polls presence every 400 ms with a get-ATR round trip, between APDUs too: it is answered at once and is
//! not a reset. Slot *n* of a vpcd is port 35963 + *n*.
//!
//! # Threads, not tokio
//!
//! Each slot runs on its own OS thread with blocking `std::net` I/O. The per-APDU path is read, lock, transmit,
//! write; a blocking thread does it with no executor hop (an async task costs an epoll wake-up and a task
//! schedule per message), which keeps it at the transport floor of a trivial echo card. There are a handful of
//! slots per pcscd (2 by default, 16 before pcsc-lite needs patching), so a thread each is cheap, and the
//! orchestration (back-off, remove, insert, stop) is a `Condvar` and a socket `shutdown`, no runtime needed.
//!
//! # Latency
//!
//! Debian 12's vpcd (0.8) sends the length and the payload in two `send()` calls without `TCP_NODELAY`, so its
//! second send waits for our ACK of the first; Linux delays that ACK ~40 ms. `TCP_QUICKACK` is set before every
//! read (Linux clears it again by itself), `TCP_NODELAY` is set once, and every reply frame goes out in one write.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use card_os::Status;

use crate::reader::{InProcessReader, ReaderError, SharedReader, Transmit};
use crate::trace::{Trace, TraceEvent};
use crate::wait::wait_until;

/// vpcd's default port for slot 0 (`VPCDPORT` in vpcd.h, `0x8C7B`); slot *n* is this + *n*.
pub const DEFAULT_PORT: u16 = 35963;

/// The largest payload a frame can carry: the length prefix is 16 bits (`sendToVICC` refuses more).
pub const MAX_FRAME_PAYLOAD: usize = 0xFFFF;

const CTRL_OFF: u8 = 0x00;
const CTRL_ON: u8 = 0x01;
const CTRL_RESET: u8 = 0x02;
const CTRL_ATR: u8 = 0x04;

/// `6700` wrong length: the answer to a frame that cannot be answered in full.
const SW_WRONG_LENGTH: [u8; 2] = Status::WrongLength.to_bytes();
/// `6581` memory failure: the card's new state could not be stored.
const SW_MEMORY_FAILURE: [u8; 2] = Status::MemoryFailure.to_bytes();
/// `6F00` no precise diagnosis: an APDU reached an unpowered card.
const SW_NO_DIAGNOSIS: [u8; 2] = Status::NoPreciseDiagnosis.to_bytes();

/// Who connects to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpcdMode {
    /// Normal mode: vpcd (inside pcscd) listens, the card connects (vicc's default).
    Connect,
    /// Reverse mode: the card listens, vpcd connects (`vicc --reversed`; vpcd's `DEVICENAME` is a host name).
    Listen,
}

/// Where and how one slot talks to vpcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcdConfig {
    /// vpcd's address (connect mode) or ours (listen mode; port 0 picks a free port, see
    /// [`VpcdHandle::listen_addr`]). IPv4: vpcd only speaks `AF_INET`.
    pub addr: SocketAddr,
    /// Connect or listen.
    pub mode: VpcdMode,
    /// The slot number in traces.
    pub slot: usize,
    /// First reconnect delay after a failed attempt; doubled after each failure up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
}

impl VpcdConfig {
    /// Connect to vpcd at `addr` (normal mode), labelled slot 0.
    pub fn connect(addr: SocketAddr) -> Self {
        Self {
            addr,
            mode: VpcdMode::Connect,
            slot: 0,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
        }
    }

    /// Listen at `addr` for vpcd to connect (reverse mode), labelled slot 0.
    pub fn listen(addr: SocketAddr) -> Self {
        Self { mode: VpcdMode::Listen, ..Self::connect(addr) }
    }

    /// Slot `n` of the local vpcd: connect to `127.0.0.1:35963 + n`, labelled slot `n`.
    pub fn local_slot(n: u16) -> Self {
        let port = DEFAULT_PORT.saturating_add(n);
        Self::connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into()).slot(usize::from(n))
    }

    /// The slot number in traces.
    pub fn slot(mut self, slot: usize) -> Self {
        self.slot = slot;
        self
    }

    /// Reconnect back-off bounds.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max.max(min);
        self
    }
}

impl From<SocketAddr> for VpcdConfig {
    fn from(addr: SocketAddr) -> Self {
        Self::connect(addr)
    }
}

/// Appends the frame for reply `payload` to `out` (cleared first). A payload the 16-bit length cannot carry is
/// replaced by `67 00`, never truncated (vpicc-rs casts the length to `u16` and so corrupts the stream).
pub fn encode_reply(payload: &[u8], out: &mut Vec<u8>) {
    let payload = if payload.len() > MAX_FRAME_PAYLOAD { &SW_WRONG_LENGTH[..] } else { payload };
    out.clear();
    out.reserve(2 + payload.len());
    // The length fits: checked just above.
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(payload);
}

/// A change in a slot's link with vpcd, reported as it happens so a server can log one line per event: which
/// slot, which address, connected or not and why (see [`VpcdServer::spawn_reporting`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotEvent {
    /// The slot ([`VpcdConfig::slot`]).
    pub slot: usize,
    /// vpcd's address (connect mode) or ours (listen mode).
    pub addr: SocketAddr,
    /// What happened.
    pub kind: SlotEventKind,
}

/// What happened to a slot's link with vpcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotEventKind {
    /// vpcd's first message arrived on a new connection: pcscd has the card (again, after a restart).
    Connected {
        /// The other end, e.g. `127.0.0.1:35963`.
        peer: String,
    },
    /// The connection ended.
    Disconnected {
        /// Why: `closed by vpcd` (pcscd stopped), `card removed`, `stopped`, an I/O error.
        why: String,
    },
    /// An attempt to reach (or listen for) vpcd failed; the slot keeps trying with back-off. Reported once per
    /// run of failures, not for every attempt.
    Retrying {
        /// The failure.
        error: String,
        /// The longest delay between attempts.
        every: Duration,
    },
}

impl std::fmt::Display for SlotEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "slot {} ({}): ", self.slot, self.addr)?;
        match &self.kind {
            SlotEventKind::Connected { peer } => write!(f, "connected with vpcd ({peer})"),
            SlotEventKind::Disconnected { why } => write!(f, "disconnected from vpcd ({why})"),
            SlotEventKind::Retrying { error, every } => {
                write!(f, "cannot reach vpcd ({error}); retrying up to every {every:?}")
            }
        }
    }
}

/// Starts vpcd slots.
#[derive(Debug)]
pub struct VpcdServer;

impl VpcdServer {
    /// Serves the card in `reader` on one vpcd slot, on a thread of its own, until [`VpcdHandle::stop`].
    ///
    /// Connect mode retries with exponential back-off (100 ms … 2 s by default) until vpcd is there, and again
    /// after every dropped connection (pcscd restarted). The card keeps its state in `reader` throughout; a
    /// dropped connection powers it off, as pulling a card out of a reader would. Listen mode binds before
    /// returning, so an address in use is reported here.
    pub fn spawn(config: impl Into<VpcdConfig>, reader: SharedReader, trace: Trace) -> io::Result<VpcdHandle> {
        Self::start(config.into(), reader, trace, None)
    }

    /// [`VpcdServer::spawn`], sending a [`SlotEvent`] to `events` at each connect, disconnect and first failed
    /// attempt of a run, in the order they happen. A dropped receiver is ignored: the slot goes on serving.
    pub fn spawn_reporting(
        config: impl Into<VpcdConfig>,
        reader: SharedReader,
        trace: Trace,
        events: Sender<SlotEvent>,
    ) -> io::Result<VpcdHandle> {
        Self::start(config.into(), reader, trace, Some(events))
    }

    fn start(
        config: VpcdConfig,
        reader: SharedReader,
        trace: Trace,
        events: Option<Sender<SlotEvent>>,
    ) -> io::Result<VpcdHandle> {
        let listener = match config.mode {
            VpcdMode::Listen => Some(bind(config.addr)?),
            VpcdMode::Connect => None,
        };
        let listen_addr = listener.as_ref().map(TcpListener::local_addr).transpose()?;
        // Rebinding after a removal must get the same port, also when port 0 was asked.
        let config = VpcdConfig { addr: listen_addr.unwrap_or(config.addr), ..config };
        let shared = Arc::new(Shared { control: Mutex::new(Control::default()), changed: Condvar::new() });
        let slot =
            Slot { config: config.clone(), reader, trace: trace.clone(), shared: shared.clone(), listener, events };
        let thread =
            std::thread::Builder::new().name(format!("vpcd-slot-{}", config.slot)).spawn(move || slot.run())?;
        Ok(VpcdHandle { shared, thread: Some(thread), listen_addr, trace, slot: config.slot })
    }
}

#[derive(Default)]
struct Control {
    stop: bool,
    removed: bool,
    /// Bumped by stop/remove/insert, so back-off and accept waits end early.
    generation: u64,
    /// Connections on which vpcd has spoken. A TCP connect can succeed into vpcd's listen backlog while vpcd still
    /// serves another card; only vpcd's first message shows that this card is the one in the reader.
    connections: u64,
    connected: bool,
    /// A clone of the live connection, so another thread can shut it down to end a blocking read.
    stream: Option<TcpStream>,
}

struct Shared {
    control: Mutex<Control>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut Control)) {
        let mut c = self.lock();
        f(&mut c);
        c.generation += 1;
        if let Some(stream) = c.stream.as_ref().filter(|_| c.stop || c.removed) {
            // Ends the slot thread's blocking read: vpcd sees the socket close, i.e. the card removed.
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        drop(c);
        self.changed.notify_all();
    }

    /// Waits up to `timeout` (`Duration::MAX`: for ever) for `ready(control)`; returns whether it held.
    fn wait_for(&self, timeout: Duration, ready: impl Fn(&Control) -> bool) -> bool {
        wait_until(&self.changed, self.lock(), Some(timeout), ready)
    }
}

/// Controls a running slot. Dropping it stops the slot, like [`VpcdHandle::stop`].
pub struct VpcdHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    listen_addr: Option<SocketAddr>,
    trace: Trace,
    slot: usize,
}

impl VpcdHandle {
    /// Waits until the first connection with vpcd is made (returns at once if one has been); false after
    /// `timeout`. `Duration::MAX` waits for ever.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        self.shared.wait_for(timeout, |c| c.connections > 0)
    }

    /// Waits until `n` connections have been made in all (reconnects count); false after `timeout`.
    pub fn wait_connections(&self, n: u64, timeout: Duration) -> bool {
        self.shared.wait_for(timeout, |c| c.connections >= n)
    }

    /// Waits until no connection is open; false after `timeout`.
    pub fn wait_disconnected(&self, timeout: Duration) -> bool {
        self.shared.wait_for(timeout, |c| !c.connected)
    }

    /// Whether a connection with vpcd is open now.
    pub fn is_connected(&self) -> bool {
        self.shared.lock().connected
    }

    /// How many connections vpcd has spoken on so far.
    pub fn connections(&self) -> u64 {
        self.shared.lock().connections
    }

    /// The address listened on (listen mode), with the real port if 0 was asked.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen_addr
    }

    /// Takes the card out of the virtual reader: the socket is closed and not reopened until
    /// [`VpcdHandle::insert_card`], so pcscd reports the slot empty (vpcd.c `vicc_eject`). The card stays in its
    /// [`SharedReader`], powered off.
    pub fn remove_card(&self) {
        self.trace.event(self.slot, &TraceEvent::CardRemoved);
        self.shared.update(|c| c.removed = true);
    }

    /// Puts the card back: the slot reconnects at once.
    pub fn insert_card(&self) {
        self.trace.event(self.slot, &TraceEvent::CardInserted);
        self.shared.update(|c| c.removed = false);
    }

    /// Closes the connection and ends the slot's thread. The card stays in its [`SharedReader`].
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.shared.update(|c| c.stop = true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for VpcdHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl std::fmt::Debug for VpcdHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VpcdHandle")
            .field("slot", &self.slot)
            .field("listen_addr", &self.listen_addr)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

/// How a connection ended.
enum End {
    /// The socket failed or was closed (by vpcd, or by us through remove/stop).
    Socket(io::Error),
    /// The reader's slot is empty: the harness took the card out of the `SharedReader`.
    NoCard,
}

/// The state of one slot's thread.
struct Slot {
    config: VpcdConfig,
    reader: SharedReader,
    trace: Trace,
    shared: Arc<Shared>,
    /// Listen mode: bound while the card is in, closed while it is out, so vpcd's connect is refused then.
    listener: Option<TcpListener>,
    /// Where connection events go, if anyone listens.
    events: Option<Sender<SlotEvent>>,
}

impl Slot {
    fn reader(&self) -> MutexGuard<'_, InProcessReader> {
        // card-os never panics; a poisoned lock comes from a harness panic and leaves the reader sound.
        self.reader.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn report(&self, kind: SlotEventKind) {
        if let Some(events) = &self.events {
            // Nobody listening any more is no reason to stop serving.
            let _ = events.send(SlotEvent { slot: self.config.slot, addr: self.config.addr, kind });
        }
    }

    fn run(mut self) {
        let slot = self.config.slot;
        let mut backoff = self.config.backoff_min;
        let mut failure_logged = false;
        loop {
            if !self.wait_until_wanted() {
                return;
            }
            let generation = self.shared.lock().generation;
            let stream = match self.open() {
                Ok(Some(stream)) => stream,
                Ok(None) => continue,
                Err(e) => {
                    if !failure_logged {
                        let what = match self.config.mode {
                            VpcdMode::Connect => {
                                format!("cannot reach vpcd at {}: {e}", self.config.addr)
                            }
                            VpcdMode::Listen => {
                                format!("cannot listen for vpcd at {}: {e}", self.config.addr)
                            }
                        };
                        self.report(SlotEventKind::Retrying { error: e.to_string(), every: self.config.backoff_max });
                        let what = format!("{what}; retrying up to every {:?}", self.config.backoff_max);
                        self.trace.event(slot, &TraceEvent::Error(what));
                        failure_logged = true;
                    }
                    self.shared.wait_for(backoff, |c| c.generation != generation);
                    backoff = (backoff * 2).min(self.config.backoff_max);
                    continue;
                }
            };
            backoff = self.config.backoff_min;
            failure_logged = false;
            if !self.register(&stream) {
                continue;
            }
            // Only a connection vpcd spoke on was reported as connected; only such a one reports its end.
            let connections_before = self.shared.lock().connections;
            let peer = stream.peer_addr().map_or_else(|_| "vpcd".to_owned(), |a| a.to_string());
            self.trace.event(slot, &TraceEvent::Connected(peer.clone()));
            let end = self.serve(&stream, &peer);
            // A dropped connection is a card pulled out of the reader: power off, verification lost.
            self.reader().power_off();
            let closed_by_vpcd = matches!(&end, End::Socket(e) if e.kind() == io::ErrorKind::UnexpectedEof);
            let why = match end {
                End::NoCard => "the reader's slot is empty".to_owned(),
                End::Socket(_) if self.shared.lock().stop => "stopped".to_owned(),
                End::Socket(_) if self.shared.lock().removed => "card removed".to_owned(),
                End::Socket(e) if e.kind() == io::ErrorKind::UnexpectedEof => "closed by vpcd".to_owned(),
                End::Socket(e) => e.to_string(),
            };
            if closed_by_vpcd {
                // vpcd went away (pcscd stopped). Answer its FIN with a reset rather than our own FIN, so its port
                // is left with no TIME_WAIT and a restarted pcscd can bind it at once (vpcd sets no SO_REUSEADDR).
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            } else {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
            self.shared.update(|c| {
                c.connected = false;
                c.stream = None;
            });
            if self.shared.lock().connections > connections_before {
                self.report(SlotEventKind::Disconnected { why: why.clone() });
            }
            self.trace.event(slot, &TraceEvent::Disconnected(why));
        }
    }

    /// Blocks until the slot should be connected (not removed, a card in the reader); false when stopped.
    fn wait_until_wanted(&mut self) -> bool {
        loop {
            {
                let c = self.shared.lock();
                if c.stop {
                    return false;
                }
                if !c.removed && self.reader().has_card() {
                    return true;
                }
            }
            // A listening socket would let the kernel complete vpcd's connect (backlog) for an absent card.
            self.listener = None;
            // The reader's slot has no notification of its own: a card put into it is seen within 100 ms.
            let generation = self.shared.lock().generation;
            self.shared.wait_for(Duration::from_millis(100), |c| c.generation != generation);
        }
    }

    /// One connection attempt. `Ok(None)`: nothing yet, or the wait was interrupted (listen mode).
    fn open(&mut self) -> io::Result<Option<TcpStream>> {
        if self.config.mode == VpcdMode::Connect {
            return TcpStream::connect_timeout(&self.config.addr, Duration::from_secs(2)).map(Some);
        }
        let listener = match &mut self.listener {
            Some(listener) => listener,
            empty => empty.insert(bind(self.config.addr)?),
        };
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                Ok(Some(stream))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let generation = self.shared.lock().generation;
                self.shared.wait_for(Duration::from_millis(20), |c| c.generation != generation);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Records the live connection for remove/stop; false (and the stream closed) if one of them came first.
    fn register(&self, stream: &TcpStream) -> bool {
        let clone = stream.try_clone();
        let mut c = self.shared.lock();
        let Ok(clone) = clone else {
            return false;
        };
        if c.stop || c.removed {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return false;
        }
        c.stream = Some(clone);
        c.connected = true;
        c.generation += 1;
        drop(c);
        self.shared.changed.notify_all();
        true
    }

    /// The message loop of one connection.
    fn serve(&self, stream: &TcpStream, peer: &str) -> End {
        let slot = self.config.slot;
        if let Err(e) = stream.set_nodelay(true) {
            return End::Socket(e);
        }
        let mut stream = stream;
        let mut len = [0u8; 2];
        let mut buf = vec![0u8; MAX_FRAME_PAYLOAD];
        let mut out = Vec::with_capacity(2 + MAX_FRAME_PAYLOAD);
        let mut first = true;
        loop {
            quickack(stream);
            if let Err(e) = stream.read_exact(&mut len) {
                return End::Socket(e);
            }
            let n = usize::from(u16::from_be_bytes(len));
            quickack(stream);
            if let Err(e) = stream.read_exact(&mut buf[..n]) {
                return End::Socket(e);
            }
            if first {
                first = false;
                self.shared.control.lock().unwrap_or_else(PoisonError::into_inner).connections += 1;
                self.shared.changed.notify_all();
                self.report(SlotEventKind::Connected { peer: peer.to_owned() });
            }
            let reply: Option<Vec<u8>> = match &buf[..n] {
                [] => {
                    // vpcd never sends an empty frame; answering keeps a peer that waits for a reply alive.
                    self.trace.event(slot, &TraceEvent::Error("empty frame from vpcd".into()));
                    Some(SW_WRONG_LENGTH.to_vec())
                }
                [code] => match self.control(*code) {
                    Ok(reply) => reply,
                    Err(end) => return end,
                },
                apdu => match self.exchange(apdu) {
                    Ok(reply) => Some(reply),
                    Err(end) => return end,
                },
            };
            if let Some(reply) = reply {
                encode_reply(&reply, &mut out);
                // One write per frame: a split reply would meet vpcd's delayed ACK just like its split request.
                if let Err(e) = stream.write_all(&out) {
                    return End::Socket(e);
                }
            }
        }
    }

    /// A 1-byte control message (vpcd.h `VPCD_CTRL_*`); only get-ATR has a reply.
    fn control(&self, code: u8) -> Result<Option<Vec<u8>>, End> {
        let slot = self.config.slot;
        match code {
            CTRL_OFF => {
                self.trace.event(slot, &TraceEvent::PowerOff);
                self.reader().power_off();
                Ok(None)
            }
            CTRL_ON | CTRL_RESET => {
                let event = if code == CTRL_ON { TraceEvent::PowerOn } else { TraceEvent::Reset };
                self.trace.event(slot, &event);
                let result = self.reader().power_on();
                result.map(|_| None).map_err(|_| End::NoCard)
            }
            CTRL_ATR => {
                let atr = self.reader().atr().ok_or(End::NoCard)?;
                self.trace.atr_request(slot, &atr);
                Ok(Some(atr))
            }
            other => {
                // VirtualSmartcard.py logs an unknown control code and goes on; so do we.
                self.trace.event(slot, &TraceEvent::Error(format!("unknown vpcd control code {other:02X} ignored")));
                Ok(None)
            }
        }
    }

    /// A C-APDU: exactly one R-APDU back.
    fn exchange(&self, apdu: &[u8]) -> Result<Vec<u8>, End> {
        let slot = self.config.slot;
        self.trace.command(slot, apdu);
        let result = self.reader().transmit(apdu);
        let reply = match result {
            Ok(reply) => reply,
            Err(ReaderError::NoCard) => return Err(End::NoCard),
            Err(e) => {
                self.trace.event(slot, &TraceEvent::Error(e.to_string()));
                match e {
                    ReaderError::Save(_) => SW_MEMORY_FAILURE.to_vec(),
                    _ => SW_NO_DIAGNOSIS.to_vec(),
                }
            }
        };
        self.trace.response(slot, &reply);
        Ok(reply)
    }
}

/// A listening socket for reverse mode, polled so that stop() and remove_card() are seen while nobody connects.
/// std sets `SO_REUSEADDR` on Unix, so rebinding after a removal does not wait for TIME_WAIT.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Linux: ACK at once what the next read receives. Not sticky (tcp(7)), hence before every read.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn quickack(stream: &TcpStream) {
    // A failure only costs latency, never correctness.
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn quickack(_stream: &TcpStream) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_framed_big_endian_and_never_truncated() {
        let mut out = Vec::new();
        encode_reply(&[0x90, 0x00], &mut out);
        assert_eq!(out, [0x00, 0x02, 0x90, 0x00]);
        encode_reply(&vec![0xAB; MAX_FRAME_PAYLOAD], &mut out);
        assert_eq!(&out[..2], &[0xFF, 0xFF]);
        assert_eq!(out.len(), 2 + MAX_FRAME_PAYLOAD);
        encode_reply(&vec![0xAB; 70_000], &mut out);
        assert_eq!(out, [0x00, 0x02, 0x67, 0x00]);
    }

    #[test]
    fn local_slot_n_is_port_plus_n() {
        let c = VpcdConfig::local_slot(1);
        assert_eq!(c.addr, "127.0.0.1:35964".parse::<SocketAddr>().unwrap());
        assert_eq!(c.slot, 1);
        assert_eq!(c.mode, VpcdMode::Connect);
    }
}
