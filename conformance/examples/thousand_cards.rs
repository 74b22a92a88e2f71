//! Memory of many cards in one process: 1,000 personalised cards (default), each in its own in-process reader
//! as `zorgcard serve` holds them, each used once (SELECT, VERIFY, one signature) so its RAM state is live.
//!
//! `cargo run --release -p conformance --example thousand_cards -- [CARDS] [PROFILE]`
//! (default 1000 uzi-zorgverlener; `zorg-id-ec` for P-256 cards). Not a test: the figures depend on the machine.
//!
//! Two measures, side by side: the live heap counted by this example's global allocator (exact bytes the cards
//! hold), and the process's resident set (`VmRSS` in `/proc/self/status`, what the machine pays, with allocator
//! slack). Both are taken before the first card (the anchor: the process, the PKI and the profile) and after the
//! last; the per-card figures are the differences divided by the number of cards.

use std::time::Instant;

use conformance::suite::digest_info;
use conformance::suite::script::HashAlg;
use issuance::card_new::{NewCardOptions, new_card};
use issuance::pki::TestPki;
use issuance::profile;
use reader_sim::reader::{InProcessReader, SharedReader, Transmit};
use sha2::Digest;

/// The live heap and its peak, counted by card-os's benchmark allocator (one file, included by path: examples
/// cannot depend on another crate's examples).
#[path = "../../card-os/examples/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// `VmRSS` of this process, in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().strip_suffix("kB"));
    kb.and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0) * 1024
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

fn sw(answer: &[u8]) -> u16 {
    u16::from_be_bytes([answer[answer.len() - 2], answer[answer.len() - 1]])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let cards: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let profile_name = args.next().unwrap_or_else(|| "uzi-zorgverlener".into());
    let profile = profile::load(&profile_name)?;
    let pki = TestPki::fixtures()?;
    let ec = profile_name.contains("-ec");
    let hash: [u8; 32] = sha2::Sha256::digest(b"zorgcard memory").into();
    let (mse, pso) = if ec {
        // P-256 ECDSA (DIALECT.md: algorithm `21`; in the v0 dialect the card hashes the data).
        (hex::decode("002241B606800121840101")?, [&[0x00, 0x2A, 0x9E, 0x9A, 32][..], &hash, &[0x00]].concat())
    } else {
        let info = digest_info(HashAlg::Sha256, &hash);
        (hex::decode("002241B606800111840101")?, [&[0x00, 0x2A, 0x9E, 0x9A, 51][..], &info, &[0x00]].concat())
    };
    let verify = [&[0x00, 0x20, 0x00, 0x01, profile.pin.value.len() as u8][..], profile.pin.value.as_bytes()].concat();

    counting_alloc::reset_peak();
    let (heap0, rss0) = (counting_alloc::live(), rss());
    let started = Instant::now();
    let mut readers: Vec<SharedReader> = Vec::with_capacity(cards);
    for n in 0..cards {
        let options = NewCardOptions { serial: Some(format!("9{n:015}")), ..Default::default() };
        let mut reader = InProcessReader::with_card(new_card(&profile, &pki, &options)?.card).into_shared();
        reader.lock().map_err(|_| "poisoned")?.power_on()?;
        for apdu in [&hex::decode("00A4040C0CA000000063504B43532D3135")?, &verify, &mse, &pso] {
            let answer = reader.transmit(apdu)?;
            if sw(&answer) != 0x9000 {
                return Err(format!("card {n}: {:02X?} answered {:04X}", &apdu[..4], sw(&answer)).into());
            }
        }
        readers.push(reader);
    }
    let made = started.elapsed();
    let (heap1, rss1, peak) = (counting_alloc::live(), rss(), counting_alloc::peak());
    let per_heap = heap1.saturating_sub(heap0) / cards;
    let per_rss = rss1.saturating_sub(rss0) / cards;
    println!("{cards} `{profile_name}` cards in one process, each used once (SELECT, VERIFY, MSE, PSO):");
    println!("  anchor before the cards: heap {:.1} MB, RSS {:.1} MB", mb(heap0), mb(rss0));
    println!(
        "  with the cards:          heap {:.1} MB, RSS {:.1} MB (heap peak {:.1} MB)",
        mb(heap1),
        mb(rss1),
        mb(peak)
    );
    println!(
        "  per card: heap {:.1} kB (counting allocator), RSS {:.1} kB (VmRSS)",
        per_heap as f64 / 1e3,
        per_rss as f64 / 1e3
    );
    println!(
        "  made and used in {:.2} s ({:.0} cards/s, one core)",
        made.as_secs_f64(),
        cards as f64 / made.as_secs_f64()
    );
    drop(readers);
    Ok(())
}
