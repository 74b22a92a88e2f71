//! Aggregate APDU/s through one real pcscd with 1, 2, 4, 8 and 16 busy readers, beside the transport floor.
//!
//! `scripts/build-vpcd-16 && cargo run --release -p conformance --example bench_readers -- [SECONDS] [ROUNDS]`
//! (root: the pcscd runs in its own mount namespace, see `serve::pcscd_config`; ports 36200..=36215, so it
//! leaves the default pcscd alone). Not a test: the figures depend on the machine.
//!
//! One pcscd with the 16-slot vpcd, 16 personalised UZI cards (in this process, one `VpcdServer` thread each).
//! Each measurement runs a client process (this example again, with `ZORGCARD_BENCH_CLIENT` set): N threads,
//! each with its own PC/SC context and reader, sending one loop for SECONDS (default 1.5), counted together.
//! Loops:
//! - `echo`: every APDU answered `90 00` by an interceptor in front of the card: the transport floor (pcscd, vpcd,
//!   our slot thread), with no card work;
//! - `read`: READ BINARY of 128 bytes of the authentication certificate;
//! - `sign`: PSO COMPUTE DIGITAL SIGNATURE, RSA-2048 PKCS#1 v1.5 over a SHA-256 DigestInfo.
//!
//! The machine is shared and noisy, so every round measures the anchor, one busy `echo` reader, first, and the
//! table gives each figure as APDU/s and as a multiple of that round's anchor (medians over the rounds).

use std::ffi::CString;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use conformance::suite::digest_info;
use conformance::suite::script::HashAlg;
use issuance::card_new::{NewCardOptions, new_card};
use issuance::pki::TestPki;
use issuance::profile;
use reader_sim::reader::{InProcessReader, Interceptor, ReaderError, Transmit};
use reader_sim::trace::Trace;
use reader_sim::vpcd::{VpcdConfig, VpcdServer};
use serve::pcscd_config::{CSOCK_ENV, IsolatedPcscd, MAX_READERS, VpcdReaders};
use sha2::Digest;

const CLIENT_ENV: &str = "ZORGCARD_BENCH_CLIENT";
const BASE_PORT: u16 = 36200;
const BUSY: [usize; 5] = [1, 2, 4, 8, 16];
const LOOPS: [&str; 3] = ["echo", "read", "sign"];

/// Answers `90 00` in the card's place while `echo` is set.
struct Echo(Arc<AtomicBool>);

impl Interceptor for Echo {
    fn exchange(&mut self, apdu: &[u8], card: &mut dyn Transmit) -> Result<Vec<u8>, ReaderError> {
        if self.0.load(Ordering::Relaxed) { Ok(vec![0x90, 0x00]) } else { card.transmit(apdu) }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Ok(spec) = std::env::var(CLIENT_ENV) {
        return client(&spec);
    }
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1.5);
    let rounds: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    let driver = std::env::var_os("ZORGCARD_VPCD16_DRIVER").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/vpcd-16/libifdvpcd.so")
    });
    let readers = VpcdReaders::built(driver, MAX_READERS, BASE_PORT)?;
    let dir = tempfile::tempdir()?;
    let pcscd = IsolatedPcscd::start(&readers, dir.path())?;

    let profile = profile::load("uzi-zorgverlener")?;
    let pki = TestPki::fixtures()?;
    let echo = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for n in 0..MAX_READERS {
        let options = NewCardOptions { serial: Some(format!("90000000000002{n:02}")), ..Default::default() };
        let mut reader = InProcessReader::with_card(new_card(&profile, &pki, &options)?.card);
        reader.set_interceptor(Some(Box::new(Echo(echo.clone()))));
        let config = VpcdConfig::connect(readers.slot_addr(n)).slot(usize::from(n));
        handles.push(VpcdServer::spawn(config, reader.into_shared(), Trace::off())?);
    }
    for h in &handles {
        if !h.wait_ready(Duration::from_secs(10)) {
            return Err("vpcd did not take a card".into());
        }
    }
    eprintln!("bench_readers: 1 pcscd, 16-slot vpcd, 16 cards; {rounds} rounds of {seconds} s per figure");

    // figures[loop][busy] = per-round (APDU/s, ×anchor)
    let mut figures = vec![vec![Vec::new(); BUSY.len()]; LOOPS.len()];
    let exe = std::env::current_exe()?;
    let measure = |lp: &str, busy: usize| -> Result<f64, Box<dyn std::error::Error>> {
        echo.store(lp == "echo", Ordering::Relaxed);
        let out = Command::new(&exe)
            .env(CLIENT_ENV, format!("{lp} {busy} {seconds}"))
            .env(CSOCK_ENV, pcscd.socket())
            .output()?;
        if !out.status.success() {
            return Err(format!("client {lp} {busy} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(String::from_utf8(out.stdout)?.trim().parse()?)
    };
    for round in 0..rounds {
        let anchor = measure("echo", 1)?;
        eprintln!("round {round}: anchor (1 echo reader) {anchor:.0} APDU/s");
        for (l, lp) in LOOPS.iter().enumerate() {
            for (b, &busy) in BUSY.iter().enumerate() {
                let rate = measure(lp, busy)?;
                figures[l][b].push((rate, rate / anchor));
            }
        }
    }
    for h in handles {
        h.stop();
    }
    pcscd.stop();

    println!("aggregate APDU/s through one pcscd (median of {rounds} rounds; ×anchor = ÷ one busy echo reader)");
    print!("{:<6}", "loop");
    for busy in BUSY {
        print!(" | {:>16}", format!("{busy} busy"));
    }
    println!();
    for (l, lp) in LOOPS.iter().enumerate() {
        print!("{lp:<6}");
        for cell in &figures[l] {
            let rate = median(cell.iter().map(|c| c.0).collect());
            let ratio = median(cell.iter().map(|c| c.1).collect());
            print!(" | {:>16}", format!("{rate:.0} ({ratio:.2}×)"));
        }
        println!();
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The client process: `LOOP BUSY SECONDS`; prints the aggregate APDU/s.
fn client(spec: &str) -> Result<(), Box<dyn std::error::Error>> {
    let parts: Vec<&str> = spec.split(' ').collect();
    let [lp, busy, seconds] = parts[..] else { return Err(format!("bad client spec `{spec}`").into()) };
    let (busy, seconds): (u16, f64) = (busy.parse()?, seconds.parse()?);
    let lp = lp.to_owned();
    let barrier = Arc::new(Barrier::new(usize::from(busy)));
    let threads: Vec<_> = (0..busy)
        .map(|n| {
            let (lp, barrier) = (lp.clone(), barrier.clone());
            std::thread::spawn(move || -> Result<(u64, f64), String> {
                let ctx = pcsc_runtime::Context::establish(pcsc_runtime::Scope::User).map_err(|e| e.to_string())?;
                let name = CString::new(format!("Virtual PCD 00 {n:02X}")).map_err(|e| e.to_string())?;
                let card = ctx
                    .connect(&name, pcsc_runtime::ShareMode::Exclusive, pcsc_runtime::Protocols::ANY)
                    .map_err(|e| format!("reader {n}: {e}"))?;
                let mut buf = [0u8; pcsc_runtime::MAX_BUFFER_SIZE_EXTENDED];
                let mut tx = |apdu: &[u8]| -> Result<(), String> {
                    let r = card.transmit(apdu, &mut buf).map_err(|e| e.to_string())?;
                    match r {
                        [.., 0x90, 0x00] => Ok(()),
                        _ => Err(format!("reader {n}: {apdu:02X?} answered {r:02X?}")),
                    }
                };
                let hash: [u8; 32] = sha2::Sha256::digest(b"zorgcard bench").into();
                let pso =
                    [&[0x00, 0x2A, 0x9E, 0x9A, 19 + 32][..], &digest_info(HashAlg::Sha256, &hash), &[0x00]].concat();
                let work: Vec<u8> = match lp.as_str() {
                    "echo" => hex::decode("00A4080C0450154301").unwrap_or_default(),
                    "read" => {
                        tx(&hex::decode("00A4040C0CA000000063504B43532D3135").unwrap_or_default())?;
                        tx(&hex::decode("00A4080C0450154301").unwrap_or_default())?;
                        vec![0x00, 0xB0, 0x00, 0x00, 0x80]
                    }
                    _ => {
                        tx(&hex::decode("00A4040C0CA000000063504B43532D3135").unwrap_or_default())?;
                        tx(&hex::decode("0020000106313233343536").unwrap_or_default())?;
                        tx(&hex::decode("002241B606800111840101").unwrap_or_default())?;
                        pso
                    }
                };
                barrier.wait();
                let (start, mut count) = (Instant::now(), 0u64);
                while start.elapsed().as_secs_f64() < seconds {
                    tx(&work)?;
                    count += 1;
                }
                Ok((count, start.elapsed().as_secs_f64()))
            })
        })
        .collect();
    let mut rate = 0.0;
    for t in threads {
        let (count, secs) = t.join().map_err(|_| "a client thread panicked")??;
        rate += count as f64 / secs;
    }
    println!("{rate:.1}");
    Ok(())
}
