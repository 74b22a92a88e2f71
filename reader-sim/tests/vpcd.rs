//! The vpcd protocol against a fake vpcd: a TcpListener playing pcscd's side (vsmartcard vpcd.c).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use reader_sim::vpcd::{MAX_FRAME_PAYLOAD, encode_reply};
use reader_sim::{HostCard, InProcessReader, SharedReader, Trace, VpcdConfig, VpcdHandle, VpcdServer};

const WAIT: Duration = Duration::from_secs(5);
const CTRL_OFF: u8 = 0x00;
const CTRL_ON: u8 = 0x01;
const CTRL_RESET: u8 = 0x02;
const CTRL_ATR: u8 = 0x04;

/// vpcd's listening side (normal mode).
struct FakeVpcd {
    listener: TcpListener,
}

impl FakeVpcd {
    fn new() -> Self {
        Self::at("127.0.0.1:0".parse().unwrap())
    }

    fn at(addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        Self { listener }
    }

    fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// The card's next connection, if it comes within `within`.
    fn try_accept(&self, within: Duration) -> Option<Conn> {
        let deadline = Instant::now() + within;
        loop {
            match self.listener.accept() {
                Ok((s, _)) => return Some(Conn::new(s)),
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    fn accept(&self) -> Conn {
        self.try_accept(WAIT).expect("the card did not connect")
    }
}

/// One connection, seen from vpcd.
struct Conn {
    stream: TcpStream,
    /// Send the length and the payload in two writes, as Debian 12's vpcd 0.8 does.
    split: bool,
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Self { stream, split: false }
    }

    fn connect(addr: SocketAddr) -> Self {
        Self::new(TcpStream::connect(addr).unwrap())
    }

    fn send(&mut self, payload: &[u8]) {
        let len = u16::try_from(payload.len()).unwrap().to_be_bytes();
        if self.split {
            self.stream.write_all(&len).unwrap();
            self.stream.write_all(payload).unwrap();
        } else {
            let mut frame = len.to_vec();
            frame.extend_from_slice(payload);
            self.stream.write_all(&frame).unwrap();
        }
    }

    fn recv(&mut self) -> Vec<u8> {
        let mut len = [0u8; 2];
        self.stream.read_exact(&mut len).unwrap();
        let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
        self.stream.read_exact(&mut payload).unwrap();
        payload
    }

    fn ctrl(&mut self, code: u8) {
        self.send(&[code]);
    }

    fn atr(&mut self) -> Vec<u8> {
        self.ctrl(CTRL_ATR);
        self.recv()
    }

    fn apdu(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.send(apdu);
        self.recv()
    }

    /// vpcd's power-up: CTRL_ON, then at once CTRL_ATR (ifd-vpcd.c `IFDHPowerICC`).
    fn power_up(&mut self) -> Vec<u8> {
        self.ctrl(CTRL_ON);
        self.atr()
    }

    /// The card closed the connection: reads end (at once, or after whatever was in flight).
    fn assert_closed(&mut self) {
        let mut buf = [0u8; 64];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
                Err(e) => panic!("the card did not close the connection: {e}"),
            }
        }
    }
}

fn shared(card: HostCard) -> SharedReader {
    InProcessReader::with_card(card).into_shared()
}

fn spawn(vpcd: &FakeVpcd, reader: &SharedReader, trace: &Trace) -> VpcdHandle {
    VpcdServer::spawn(vpcd.addr(), reader.clone(), trace.clone()).unwrap()
}

fn tries(reader: &SharedReader) -> u8 {
    pin_tries_left(reader.lock().unwrap().card().unwrap())
}

#[test]
fn power_up_atr_apdus_and_presence_polls() {
    let vpcd = FakeVpcd::new();
    let reader = shared(card_with_pin());
    let trace = Trace::memory().without_timestamps();
    let handle = spawn(&vpcd, &reader, &trace);
    let mut conn = vpcd.accept();
    assert!(!handle.wait_ready(Duration::from_millis(50)), "not ready before vpcd has spoken");

    // pcscd's presence poll before anything else: answered, not a power-up.
    assert_eq!(conn.atr(), uzi_atr());
    assert!(handle.wait_ready(Duration::MAX));
    assert!(!reader.lock().unwrap().is_powered());
    assert_eq!(conn.power_up(), uzi_atr());
    assert!(reader.lock().unwrap().is_powered());
    assert_eq!(conn.apdu(&verify(PIN)), [0x90, 0x00]);
    // A poll between APDUs is not a reset: the PIN stays verified.
    assert_eq!(conn.atr(), uzi_atr());
    assert_eq!(conn.apdu(&VERIFY_STATUS), [0x90, 0x00]);
    // RESET and OFF have no reply: the next frame read is the ATR asked after them.
    conn.ctrl(CTRL_RESET);
    assert_eq!(conn.atr(), uzi_atr());
    assert_eq!(conn.apdu(&VERIFY_STATUS), [0x63, 0xC3]);
    conn.ctrl(CTRL_OFF);
    assert_eq!(conn.atr(), uzi_atr());
    assert!(!reader.lock().unwrap().is_powered());
    // An unknown control code is ignored, as VirtualSmartcard.py does.
    conn.ctrl(0x7E);
    assert_eq!(conn.atr(), uzi_atr());

    assert_eq!(trace.atr_polls(0), 4);
    let lines = trace.lines();
    let atr_line = format!("slot 0 ATR {UZI_ATR_HEX}");
    assert_eq!(lines.iter().filter(|l| **l == atr_line).count(), 2, "{lines:#?}");
    assert!(lines.contains(&"slot 0 > VERIFY 00 20 00 01 06 ************".to_owned()), "{lines:#?}");
    handle.stop();
}

#[test]
fn a_dropped_connection_is_reconnected_and_the_card_keeps_its_state() {
    let vpcd = FakeVpcd::new();
    let reader = shared(card_with_pin());
    let trace = Trace::memory().without_timestamps();
    let handle = spawn(&vpcd, &reader, &trace);

    let mut conn = vpcd.accept();
    conn.power_up();
    assert_eq!(conn.apdu(&verify(b"000000")), [0x63, 0xC2]);
    drop(conn); // pcscd restarts

    let mut conn = vpcd.accept();
    assert_eq!(tries(&reader), 2, "the PIN counter changed across the reconnect");
    conn.power_up();
    assert!(handle.wait_connections(2, WAIT));
    assert_eq!(conn.apdu(&VERIFY_STATUS), [0x63, 0xC2]);

    // The verification, though, is lost with the connection (a removed card).
    assert_eq!(conn.apdu(&verify(PIN)), [0x90, 0x00]);
    drop(conn);
    let mut conn = vpcd.accept();
    assert!(!reader.lock().unwrap().is_powered());
    conn.power_up();
    assert!(handle.wait_connections(3, WAIT));
    assert_eq!(conn.apdu(&VERIFY_STATUS), [0x63, 0xC3]);
    assert_eq!(tries(&reader), 3);

    let lines = trace.lines();
    assert_eq!(lines.iter().filter(|l| l.contains("disconnected (closed by vpcd)")).count(), 2, "{lines:#?}");
}

#[test]
fn frames_are_never_truncated() {
    // A reply the 16-bit length cannot carry is answered 67 00, never cut (vpicc-rs's `as u16` bug).
    let mut out = Vec::new();
    encode_reply(&vec![0x61; 70_000], &mut out);
    assert_eq!(out, [0x00, 0x02, 0x67, 0x00]);
    encode_reply(&vec![0x61; MAX_FRAME_PAYLOAD], &mut out);
    assert_eq!(out.len(), 2 + MAX_FRAME_PAYLOAD);
    assert_eq!(&out[..2], &[0xFF, 0xFF]);

    // The largest C-APDU vpcd can send gets one well-formed reply, and the stream stays in step.
    let vpcd = FakeVpcd::new();
    let reader = shared(blank_card());
    let handle = spawn(&vpcd, &reader, &Trace::off());
    let mut conn = vpcd.accept();
    conn.power_up();
    let mut huge = vec![0x00, 0xD6, 0x00, 0x00, 0x00, 0xFF, 0xF8];
    huge.resize(MAX_FRAME_PAYLOAD, 0xEE);
    let reply = conn.apdu(&huge);
    assert!(reply.len() >= 2 && reply.len() <= MAX_FRAME_PAYLOAD, "{reply:02X?}");
    assert_eq!(conn.atr(), uzi_atr());
    // An empty frame (vpcd never sends one) gets 67 00 rather than silence.
    assert_eq!(conn.apdu(&[]), [0x67, 0x00]);
    assert_eq!(sw(&conn.apdu(&GET_LIFE_CYCLE)), [0x90, 0x00]);
    handle.stop();
}

#[test]
fn remove_and_insert_close_and_reopen_the_slot() {
    let vpcd = FakeVpcd::new();
    let reader = shared(card_with_pin());
    let trace = Trace::memory().without_timestamps();
    let handle = spawn(&vpcd, &reader, &trace);
    let mut conn = vpcd.accept();
    conn.power_up();
    assert_eq!(conn.apdu(&verify(b"000000")), [0x63, 0xC2]);

    handle.remove_card();
    conn.assert_closed();
    assert!(handle.wait_disconnected(WAIT));
    assert!(!reader.lock().unwrap().is_powered());
    // Removed means removed: no reconnect while out, however long vpcd waits.
    assert!(vpcd.try_accept(Duration::from_millis(700)).is_none());

    handle.insert_card();
    let mut conn = vpcd.accept();
    conn.power_up();
    assert_eq!(conn.apdu(&VERIFY_STATUS), [0x63, 0xC2]);
    let lines = trace.lines();
    assert!(lines.contains(&"slot 0 card removed".to_owned()), "{lines:#?}");
    assert!(lines.contains(&"slot 0 disconnected (card removed)".to_owned()), "{lines:#?}");
    assert!(lines.contains(&"slot 0 card inserted".to_owned()), "{lines:#?}");
}

#[test]
fn a_card_taken_out_of_the_shared_reader_leaves_the_slot_empty() {
    let vpcd = FakeVpcd::new();
    let reader = shared(blank_card());
    let handle = spawn(&vpcd, &reader, &Trace::off());
    let mut conn = vpcd.accept();
    conn.power_up();
    let card = reader.lock().unwrap().remove().unwrap();
    // The next presence poll finds no card: the connection closes instead of answering.
    conn.ctrl(CTRL_ATR);
    conn.assert_closed();
    assert!(vpcd.try_accept(Duration::from_millis(300)).is_none());

    reader.lock().unwrap().insert(card);
    let mut conn = vpcd.accept();
    assert_eq!(conn.power_up(), uzi_atr());
    handle.stop();
}

#[test]
fn reverse_mode_listens_for_vpcd() {
    let reader = shared(card_with_pin());
    let config = VpcdConfig::listen("127.0.0.1:0".parse().unwrap()).slot(1);
    let trace = Trace::memory().without_timestamps();
    let handle = VpcdServer::spawn(config, reader.clone(), trace.clone()).unwrap();
    let addr = handle.listen_addr().unwrap();
    assert_ne!(addr.port(), 0);

    let mut conn = Conn::connect(addr);
    assert_eq!(conn.power_up(), uzi_atr());
    assert!(handle.wait_ready(WAIT));
    assert_eq!(conn.apdu(&verify(b"000000")), [0x63, 0xC2]);
    drop(conn);
    assert!(handle.wait_disconnected(WAIT));

    let mut conn = Conn::connect(addr);
    assert_eq!(conn.power_up(), uzi_atr());
    assert_eq!(conn.apdu(&VERIFY_STATUS), [0x63, 0xC2]);

    // A removed card stops listening: vpcd's connect is refused, not parked in the backlog.
    handle.remove_card();
    conn.assert_closed();
    assert!(handle.wait_disconnected(WAIT));
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "still listening with the card removed");
        std::thread::sleep(Duration::from_millis(20));
    }
    handle.insert_card();
    let deadline = Instant::now() + WAIT;
    let mut conn = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break Conn::new(s),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("not listening again after insert: {e}"),
        }
    };
    assert_eq!(conn.power_up(), uzi_atr());
    assert!(trace.lines().iter().all(|l| l.starts_with("slot 1 ")));
    handle.stop();
}

#[test]
fn the_card_waits_for_vpcd_with_back_off() {
    // A port nobody listens on yet: pcscd is not started.
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let reader = shared(blank_card());
    let trace = Trace::memory().without_timestamps();
    let handle = VpcdServer::spawn(addr, reader, trace.clone()).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert!(!handle.wait_ready(Duration::ZERO));

    let vpcd = FakeVpcd::at(addr);
    // Back-off is at most 2 s, so the card is there well within 3 s of vpcd.
    let mut conn = vpcd.try_accept(Duration::from_secs(3)).expect("no reconnect within the back-off ceiling");
    assert_eq!(conn.power_up(), uzi_atr());
    assert!(handle.wait_ready(WAIT));
    // The failed attempts are logged once, not once per retry.
    let lines = trace.lines();
    assert_eq!(lines.iter().filter(|l| l.contains("cannot reach vpcd")).count(), 1, "{lines:#?}");
}

/// Debian 12's vpcd writes length and APDU separately without TCP_NODELAY: without a quick ACK on the card's
/// side every APDU would wait ~40 ms for the delayed ACK.
#[test]
fn split_frames_from_an_old_vpcd_do_not_stall() {
    let vpcd = FakeVpcd::new();
    let reader = shared(blank_card());
    let handle = spawn(&vpcd, &reader, &Trace::off());
    let mut conn = vpcd.accept();
    conn.split = true;
    conn.power_up();
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        assert_eq!(sw(&conn.apdu(&GET_LIFE_CYCLE)), [0x90, 0x00]);
        assert_eq!(conn.atr(), uzi_atr());
    }
    let per_exchange = start.elapsed() / (2 * n);
    // 40 ms per stalled exchange; a healthy loopback exchange takes tens of microseconds.
    assert!(per_exchange < Duration::from_millis(5), "{per_exchange:?} per exchange: the Nagle/delayed-ACK stall");
    handle.stop();
}

#[test]
fn several_cards_each_in_its_own_slot() {
    let serials: [&[u8]; 3] = [b"SLOT0", b"SLOT1", b"SLOT2"];
    let trace = Trace::memory().without_timestamps();
    let mut slots = Vec::new();
    for (n, serial) in serials.iter().enumerate() {
        let vpcd = FakeVpcd::new();
        let reader = shared(blank_card_with_serial(serial));
        let config = VpcdConfig::connect(vpcd.addr()).slot(n);
        let handle = VpcdServer::spawn(config, reader, trace.clone()).unwrap();
        let mut conn = vpcd.accept();
        conn.power_up();
        slots.push((handle, conn));
    }
    for _ in 0..3 {
        for ((_, conn), serial) in slots.iter_mut().zip(serials) {
            let reply = conn.apdu(&[0x00, 0xCA, 0xDF, 0x32, 0x00]);
            assert_eq!(&reply[..reply.len() - 2], serial);
        }
    }
    let lines = trace.lines();
    for n in 0..3 {
        assert!(lines.iter().any(|l| l.starts_with(&format!("slot {n} > GET DATA"))), "{lines:#?}");
    }
}

#[test]
fn stop_closes_the_connection_promptly() {
    let vpcd = FakeVpcd::new();
    let reader = shared(blank_card());
    let handle = spawn(&vpcd, &reader, &Trace::off());
    let mut conn = vpcd.accept();
    conn.power_up();
    let start = Instant::now();
    handle.stop();
    assert!(start.elapsed() < Duration::from_secs(1));
    conn.assert_closed();
    assert!(vpcd.try_accept(Duration::from_millis(300)).is_none());
    // The card is still in its reader, powered off, for whoever comes next.
    assert!(reader.lock().unwrap().has_card());
    assert!(!reader.lock().unwrap().is_powered());
}

/// `zorgcard serve` logs each (re)connection: the slot reports connect, disconnect and retry in the order they
/// happen, also when vpcd's listener goes away (pcscd stopped) and comes back on the same port.
#[test]
fn connection_events_arrive_in_order_across_a_vpcd_restart() {
    use reader_sim::{SlotEvent, SlotEventKind};
    let vpcd = FakeVpcd::new();
    let addr = vpcd.addr();
    let reader = shared(card_with_pin());
    let (tx, rx) = std::sync::mpsc::channel::<SlotEvent>();
    let config = VpcdConfig::connect(addr).slot(3).backoff(Duration::from_millis(20), Duration::from_millis(200));
    let handle = VpcdServer::spawn_reporting(config, reader, Trace::off(), tx).unwrap();
    let next = || rx.recv_timeout(WAIT).expect("no slot event");

    let mut conn = vpcd.accept();
    assert_eq!(conn.atr(), uzi_atr());
    let first = next();
    assert_eq!((first.slot, first.addr), (3, addr), "{first}");
    assert!(matches!(first.kind, SlotEventKind::Connected { .. }), "{first}");
    assert!(first.to_string().starts_with(&format!("slot 3 ({addr}): connected with vpcd")), "{first}");

    // pcscd stops: its connection and its listening socket go.
    drop(conn);
    drop(vpcd);
    let gone = next();
    assert_eq!(gone.kind, SlotEventKind::Disconnected { why: "closed by vpcd".into() }, "{gone}");
    let retrying = next();
    assert!(matches!(retrying.kind, SlotEventKind::Retrying { .. }), "{retrying}");

    // pcscd is back on the same port.
    let vpcd = FakeVpcd::at(addr);
    let mut conn = vpcd.accept();
    assert_eq!(conn.atr(), uzi_atr());
    let back = next();
    assert!(matches!(back.kind, SlotEventKind::Connected { .. }), "{back}");

    handle.stop();
    let stopped = next();
    assert_eq!(stopped.kind, SlotEventKind::Disconnected { why: "stopped".into() }, "{stopped}");
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "nothing after the stop");
}
