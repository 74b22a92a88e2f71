//! Faults seen through the real PC/SC stack (`reader-sim/src/reader.rs`, `6581`): an image that cannot be saved answers
//! `6581` to the client and keeps its bytes; a pcscd restart while clients are busy costs them errors and a reconnect,
//! and no card state.
//!
//! Run with `flock /tmp/zorgcard-pcscd.lock scripts/with-pcscd cargo test -p zorgcard --features pcscd-tests
//! --test faults_pcscd -- --test-threads=1`. The `serve` kill test needs no pcscd: `tests/faults.rs`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reader_sim::image;

const READERS: [&str; 2] = ["Virtual PCD 00 00", "Virtual PCD 00 01"];
const PIN: &[u8] = b"123456";
const WRONG: &[u8] = b"999999";
const HOW_TO_START: &str = "start pcscd with vsmartcard's vpcd driver first: `flock /tmp/zorgcard-pcscd.lock \
     scripts/with-pcscd cargo test -p zorgcard --features pcscd-tests --test faults_pcscd -- --test-threads=1`";

static SLOTS: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    SLOTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// `zorgcard serve` with one image per slot (created from the profile), stopped with `quit` or when dropped.
struct Serve(Child);

impl Serve {
    fn start(cards: &[(&str, &Path)], trace: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_zorgcard"));
        command.arg("serve").arg("--trace").arg(trace);
        for (profile, card) in cards {
            command.args(["--card", &format!("{profile}:{}", card.display())]);
        }
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("zorgcard serve");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        for _ in cards {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            assert!(line.starts_with("ready"), "zorgcard serve: {line:?}: {HOW_TO_START}");
        }
        Serve(child)
    }

    /// `quit`: the images hold everything that was answered.
    fn quit(mut self) {
        self.0.stdin.as_mut().unwrap().write_all(b"quit\n").unwrap();
        assert!(self.0.wait().unwrap().success(), "`quit` ends zorgcard serve");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        // Let pcscd notice the removal before the next test inserts a card.
        std::thread::sleep(Duration::from_millis(600));
    }
}

fn verify(pin: &[u8]) -> Vec<u8> {
    [&[0x00, 0x20, 0x00, 0x01, pin.len() as u8][..], pin].concat()
}

const VERIFY_STATUS: [u8; 4] = [0x00, 0x20, 0x00, 0x01];

fn sw(card: &pcsc_runtime::Card, apdu: &[u8]) -> Result<u16, pcsc_runtime::Error> {
    let mut buf = [0u8; 258];
    let r = card.transmit(apdu, &mut buf)?;
    Ok(u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]]))
}

fn pin_tries(path: &Path) -> u8 {
    image::open(path).unwrap_or_else(|e| panic!("{e}")).info().pin.left
}

/// The image folder replaced by a file while the card is served: VERIFY (wrong or right) answers `6581`, the file
/// keeps its bytes, the trace names the file and the cause, and once the folder is back the counter goes on from
/// the last stored value.
#[test]
fn an_image_that_cannot_be_saved_answers_6581_through_pcscd() {
    let _g = lock();
    let ctx = common::context(READERS[0], HOW_TO_START);
    let root = tempfile::tempdir().unwrap();
    let (dir, moved) = (root.path().join("cards"), root.path().join("cards.moved"));
    std::fs::create_dir(&dir).unwrap();
    let (path, trace) = (dir.join("alice.card"), root.path().join("trace.log"));
    let served = Serve::start(&[("uzi-zorgverlener", &path)], &trace);
    let card = common::connect(&ctx, READERS[0]);
    assert_eq!(sw(&card, &verify(WRONG)).unwrap(), 0x63C2);
    let before = std::fs::read(&path).unwrap();

    std::fs::rename(&dir, &moved).unwrap();
    std::fs::write(&dir, b"not a folder").unwrap();
    assert_eq!(sw(&card, &verify(WRONG)).unwrap(), 0x6581, "a wrong PIN that cannot be stored");
    assert_eq!(sw(&card, &verify(PIN)).unwrap(), 0x6581, "the right PIN: no compare result leaks");
    assert_eq!(sw(&card, &VERIFY_STATUS).unwrap(), 0x63C2, "not verified, no try spent");
    assert_eq!(std::fs::read(moved.join("alice.card")).unwrap(), before, "the image on disk is unchanged");

    std::fs::remove_file(&dir).unwrap();
    std::fs::rename(&moved, &dir).unwrap();
    assert_eq!(sw(&card, &verify(WRONG)).unwrap(), 0x63C1);
    drop(card);
    served.quit();
    assert_eq!(pin_tries(&path), 1);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left behind");
    let trace = std::fs::read_to_string(&trace).unwrap();
    let error = trace.lines().find(|l| l.contains("error:")).unwrap_or_else(|| panic!("no error traced:\n{trace}"));
    assert!(error.contains("6581") && error.contains(&format!("`{}`", path.display())), "{error}");
    assert!(error.contains("Not a directory"), "the cause: {error}");
}

/// What one client knows of its card's PIN counter (see `tests/faults.rs`).
#[derive(Default)]
struct Known {
    acked: u8,
    pending: Option<u8>,
    answers: usize,
    errors: usize,
    reconnects: usize,
}

/// A PC/SC connection to `reader`, waiting (up to 30 s) for pcscd and the card to be there.
fn reconnect(reader: &str) -> pcsc_runtime::Card {
    let name = std::ffi::CString::new(reader).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let card = pcsc_runtime::Context::establish(pcsc_runtime::Scope::User)
            .and_then(|ctx| ctx.connect(&name, pcsc_runtime::ShareMode::Shared, pcsc_runtime::Protocols::ANY));
        match card {
            Ok(card) => return card,
            Err(e) if Instant::now() > deadline => panic!("no card in `{reader}` 30 s after the restart: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Wrong PIN, right PIN, again and again; on an error, reconnect and check the counter is the acknowledged one
/// or the one of the command in flight.
fn busy_client(reader: &'static str, known: Arc<Mutex<Known>>, stop: Arc<AtomicBool>) {
    let mut card = reconnect(reader);
    let mut wrong = true;
    while !stop.load(Ordering::SeqCst) {
        let acked = known.lock().unwrap().acked;
        let (apdu, after) = if wrong { (verify(WRONG), acked - 1) } else { (verify(PIN), 3) };
        known.lock().unwrap().pending = Some(after);
        match sw(&card, &apdu) {
            Ok(answer) => {
                let expected = if wrong { 0x63C0 | u16::from(after) } else { 0x9000 };
                assert_eq!(answer, expected, "{reader}: {known_state:?}", known_state = acked);
                let mut k = known.lock().unwrap();
                (k.acked, k.pending, k.answers) = (after, None, k.answers + 1);
                wrong = !wrong;
            }
            Err(_) => {
                known.lock().unwrap().errors += 1;
                drop(card);
                card = reconnect(reader);
                let status = sw(&card, &VERIFY_STATUS).expect("VERIFY status after the reconnect");
                let mut k = known.lock().unwrap();
                let found = (status & 0x000F) as u8;
                assert!(
                    status & 0xFFF0 == 0x63C0 && (found == k.acked || Some(found) == k.pending),
                    "{reader} after the restart answers {status:04X}; the client had {} acknowledged, {:?} in flight",
                    k.acked,
                    k.pending
                );
                (k.acked, k.pending, k.reconnects) = (found, None, k.reconnects + 1);
                wrong = found == 3;
            }
        }
    }
}

/// Waits (up to 60 s) until every client satisfies `ok`.
fn wait_for(knowns: &[Arc<Mutex<Known>>], what: &str, ok: impl Fn(&Known) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !knowns.iter().all(|k| ok(&k.lock().unwrap())) {
        assert!(Instant::now() < deadline, "the clients never {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_pcscd_restart_with_busy_clients_loses_nothing() {
    let _g = lock();
    let _ctx = common::context(READERS[0], HOW_TO_START);
    let dir = tempfile::tempdir().unwrap();
    let paths = [dir.path().join("alice.card"), dir.path().join("bob.card")];
    let served =
        Serve::start(&[("uzi-zorgverlener", &paths[0]), ("uzi-medewerker", &paths[1])], &dir.path().join("trace.log"));
    let stop = Arc::new(AtomicBool::new(false));
    let knowns: Vec<Arc<Mutex<Known>>> =
        READERS.iter().map(|_| Arc::new(Mutex::new(Known { acked: 3, ..Known::default() }))).collect();
    let clients: Vec<_> = READERS
        .iter()
        .zip(&knowns)
        .map(|(reader, known)| {
            let (known, stop) = (known.clone(), stop.clone());
            std::thread::spawn(move || busy_client(reader, known, stop))
        })
        .collect();
    wait_for(&knowns, "got going", |k| k.answers >= 5);
    let before: Vec<usize> = knowns.iter().map(|k| k.lock().unwrap().answers).collect();

    common::restart_pcscd(HOW_TO_START);
    wait_for(&knowns, "reconnected", |k| k.reconnects >= 1);
    let after: Vec<usize> = knowns.iter().map(|k| k.lock().unwrap().answers).collect();
    wait_for(&knowns, "went on after the reconnect", |k| k.answers >= 5 + after.iter().max().unwrap());
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.join().expect("a client failed");
    }
    served.quit();
    for ((path, known), answered) in paths.iter().zip(&knowns).zip(before) {
        let known = known.lock().unwrap();
        assert!(known.errors >= 1, "{}: the client saw no error when pcscd went", path.display());
        eprintln!(
            "{}: {answered} answers before the restart, {} in all, {} errors, {} reconnects",
            path.display(),
            known.answers,
            known.errors,
            known.reconnects
        );
        assert_eq!(pin_tries(path), known.acked, "{}: the image holds the last acknowledged counter", path.display());
    }
}
