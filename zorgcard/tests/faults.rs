//! `zorgcard serve` killed with SIGKILL at random moments while a client changes the card (the power-cut rule of
//! `card-os/src/image.rs`): every time, the image opens and holds the state of the last acknowledged command or of the
//! one in flight, never an older one. A PIN try once answered `63Cx` is never given back.
//!
//! No pcscd needed: `serve --reverse` listens for vpcd, and this test is the vpcd end (vsmartcard's vpcd protocol:
//! 2-byte big-endian length, then a 1-byte control code or an APDU). `tests/faults_pcscd.rs` has the faults seen
//! through pcscd. Set `ZORGCARD_FAULTS_SEED` to replay the moments of a failed run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reader_sim::image;

const KILLS: usize = 40;
const PROFILE: &str = "uzi-zorgverlener";
/// The fixture profile's PIN, and the one the client changes it to and back.
const PINS: [&[u8; 6]; 2] = [b"123456", b"654321"];
const WRONG: &[u8; 6] = b"999999";
const CTRL_ON: u8 = 0x01;

/// The card state the client can know: PIN tries left and which of [`PINS`] is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct State {
    tries: u8,
    pin: usize,
}

/// What the client knows when the server dies: the state after the last answer it got, and the state the command
/// in flight (sent, not answered) would leave.
#[derive(Clone, Copy, Debug)]
struct Known {
    acked: State,
    pending: Option<State>,
    answers: usize,
}

/// The next command of the load, the answer it must get and the state it leaves: a wrong PIN, the right PIN
/// (the counter is back at 3), a PIN change; again and again.
fn next(step: usize, s: State) -> (Vec<u8>, [u8; 2], State) {
    let apdu = |ins: u8, data: &[u8]| [&[0x00, ins, 0x00, 0x01, data.len() as u8][..], data].concat();
    match step % 3 {
        0 => (apdu(0x20, WRONG), [0x63, 0xC0 | (s.tries - 1)], State { tries: s.tries - 1, ..s }),
        1 => (apdu(0x20, PINS[s.pin]), [0x90, 0x00], State { tries: 3, ..s }),
        _ => (apdu(0x24, &[&PINS[s.pin][..], PINS[1 - s.pin]].concat()), [0x90, 0x00], State { pin: 1 - s.pin, ..s }),
    }
}

/// A small deterministic generator for the kill moments (xorshift64*); the seed is printed.
struct Moments(u64);

impl Moments {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// A free loopback port for `serve --reverse`.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// `zorgcard serve --reverse` on the image, its standard error (one line per vpcd event) to `log`. It says
/// `ready` once the client is connected.
fn serve(card: &Path, addr: SocketAddr, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_zorgcard"))
        .args(["serve", "--reverse", "--vpcd", &addr.to_string(), "--card", &format!("{PROFILE}:{}", card.display())])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("zorgcard serve")
}

/// Waits for `serve`'s `ready` line.
fn wait_ready(child: &mut Child, log: &Path) {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let errors = std::fs::read_to_string(log).unwrap_or_default();
    assert!(line.starts_with("ready"), "zorgcard serve did not start: {line:?}\n{errors}");
}

/// One vpcd message out, its reply (if any) back.
fn send(stream: &mut TcpStream, payload: &[u8], reply: bool) -> std::io::Result<Vec<u8>> {
    stream.write_all(&[&(payload.len() as u16).to_be_bytes()[..], payload].concat())?;
    if !reply {
        return Ok(Vec::new());
    }
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// Connects as vpcd, powers the card and runs the load until the server goes away.
fn load(addr: SocketAddr, known: Arc<Mutex<Known>>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => panic!("serve --reverse does not listen on {addr}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    stream.set_nodelay(true).unwrap();
    if send(&mut stream, &[CTRL_ON], false).is_err() {
        return;
    }
    let mut step = 0;
    loop {
        let state = known.lock().unwrap().acked;
        // Start each round at a wrong PIN with 3 tries left, so the counter never blocks.
        let (apdu, expected, after) = next(step, state);
        known.lock().unwrap().pending = Some(after);
        match send(&mut stream, &apdu, true) {
            Ok(answer) => {
                assert_eq!(answer, expected, "step {step} from {state:?}");
                let mut k = known.lock().unwrap();
                k.acked = after;
                k.pending = None;
                k.answers += 1;
            }
            Err(_) => return,
        }
        step += 1;
    }
}

/// The state an image holds, read through the library: its counter, and which PIN a VERIFY accepts on a copy of
/// the card in memory (the file is not written).
fn state_on_disk(path: &Path) -> State {
    let mut card = image::open(path).unwrap_or_else(|e| panic!("the image does not open after a kill: {e}"));
    let tries = card.info().pin.left;
    let verify = [&[0x00, 0x20, 0x00, 0x01, 0x06][..], PINS[0]].concat();
    let pin = if card.transmit(&verify) == [0x90, 0x00] { 0 } else { 1 };
    State { tries, pin }
}

#[test]
fn serve_killed_at_random_moments_leaves_the_old_or_the_new_state() {
    let seed = std::env::var("ZORGCARD_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
    eprintln!("kill moments: ZORGCARD_FAULTS_SEED={seed}");
    let mut moments = Moments(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.card");
    let log = tempfile::NamedTempFile::new().unwrap();
    let addr = free_port();
    let mut state = State { tries: 3, pin: 0 };
    let (mut answers, mut in_flight_landed) = (0, 0);
    let mut temporaries = std::collections::BTreeSet::new();
    for kill in 0..KILLS {
        let mut child = serve(&path, addr, log.path());
        let known = Arc::new(Mutex::new(Known { acked: state, pending: None, answers: 0 }));
        let client = std::thread::spawn({
            let known = known.clone();
            move || load(addr, known)
        });
        wait_ready(&mut child, log.path());
        std::thread::sleep(Duration::from_micros(moments.below(150_000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        client.join().unwrap();
        temporaries.extend(std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()));
        let known = *known.lock().unwrap();
        let found = state_on_disk(&path);
        assert!(
            found == known.acked || Some(found) == known.pending,
            "kill {kill} (seed {seed}): the image holds {found:?}, but the client had {known:?}"
        );
        in_flight_landed += usize::from(Some(found) == known.pending);
        answers += known.answers;
        // The next round starts from what survived, at 3 tries so that a wrong PIN comes first.
        state = found;
        if state.tries < 3 {
            let mut reader = reader_sim::InProcessReader::open(&path).unwrap();
            reader.power_on().unwrap();
            let right = [&[0x00, 0x20, 0x00, 0x01, 0x06][..], PINS[state.pin]].concat();
            assert_eq!(reader_sim::Transmit::transmit(&mut reader, &right).unwrap(), [0x90, 0x00]);
            state.tries = 3;
        }
    }
    eprintln!(
        "{KILLS} kills, {answers} acknowledged commands; {in_flight_landed} kills found the command in flight stored, \
         {} kills left a temporary file (killed inside a save)",
        temporaries.len() - 1
    );
    let mut reader = reader_sim::InProcessReader::open(&path).unwrap();
    reader.power_on().unwrap();
    let wrong = [&[0x00, 0x20, 0x00, 0x01, 0x06][..], WRONG].concat();
    assert_eq!(reader_sim::Transmit::transmit(&mut reader, &wrong).unwrap(), [0x63, 0xC2]);
    state.tries = 2;
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["alice.card"], "a save removes the temporary files the kills left");
    assert!(answers > KILLS, "the load ran: {answers} answers in {KILLS} rounds");
    let out = Command::new(env!("CARGO_BIN_EXE_zorgcard")).args(["card", "inspect"]).arg(&path).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "zorgcard card inspect: {report}{}", String::from_utf8_lossy(&out.stderr));
    let pin = format!("PIN         {} of 3 tries left", state.tries);
    assert!(report.contains(&pin) && report.contains("current; operational"), "zorgcard card inspect: {report}");
}
