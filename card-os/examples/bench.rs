//! In-process throughput of the card OS, and its memory figures.
//!
//! `cargo run --release -p card-os --example bench --features sim`
//!
//! Prints APDUs per second for SELECT + READ BINARY, VERIFY and PSO COMPUTE DIGITAL SIGNATURE, p256's own
//! `sign_prehash` time for comparison, the RAM state and I/O buffer sizes, and the image body size of the test
//! card (a small card: the real UZI / ZORG-ID profile images are measured by the host crate). Not a test: the
//! figures depend on the machine.
use std::hint::black_box;
use std::time::{Duration, Instant};

use card_os::image::inspect;
use card_os::profile::UZI_ATR;
use card_os::sim::SimPlatform;
use card_os::{Card, ChipProfile, NVM_SIZE, PinPolicy};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};

type BenchCard = Card<SimPlatform<Vec<u8>>>;

/// 2026-11-23T09:00:00Z
const NOW: u64 = 1_795_424_400;
const PIN: &[u8] = b"123456";
const PUK: &[u8] = b"12345678";
const MIN_TIME: Duration = Duration::from_millis(600);

fn apdu(ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u8>) -> Vec<u8> {
    let mut v = vec![0x00, ins, p1, p2];
    if !data.is_empty() {
        v.push(data.len() as u8);
        v.extend_from_slice(data);
    }
    if let Some(le) = le {
        v.push(le);
    }
    v
}

fn ok(card: &mut BenchCard, c: &[u8]) -> Vec<u8> {
    let r = card.transmit(c).to_vec();
    let (data, sw) = r.split_at(r.len() - 2);
    assert_eq!(sw, [0x90, 0x00], "{c:02X?}");
    data.to_vec()
}

/// The test card of the integration tests: DF 5015 with a 600-byte certificate EF 4301 and a PIN-protected EF
/// 4310, keys 1 and 3 imported, key 2 generated, PIN and PUK set, activated.
fn operational() -> BenchCard {
    let profile = ChipProfile { atr: &UZI_ATR, serial: b"BENCH001", pin: PinPolicy::UZI_PIN, puk: PinPolicy::UZI_PUK };
    let mut card = Card::format(SimPlatform::new(vec![0u8; NVM_SIZE], NOW, 42), &profile).expect("format");
    let mut df = vec![0x62, 0x15, 0x82, 0x01, 0x38, 0x83, 0x02, 0x50, 0x15, 0x84, 0x0C];
    df.extend_from_slice(&[0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35]);
    ok(&mut card, &apdu(0xE0, 0, 0, &df, None));
    for (fid, size, read) in [(0x4301u16, 600u16, 0x00u8), (0x4310, 16, 0x01)] {
        let [f1, f2] = fid.to_be_bytes();
        let [s1, s2] = size.to_be_bytes();
        ok(
            &mut card,
            &apdu(
                0xE0,
                0,
                0,
                &[0x62, 0x0F, 0x82, 0x01, 0x01, 0x83, 0x02, f1, f2, 0x80, 0x02, s1, s2, 0x86, 0x02, read, 0x02],
                None,
            ),
        );
        if fid == 0x4301 {
            let cert: Vec<u8> = (0..600).map(|i| (i * 7 % 251) as u8).collect();
            for (i, chunk) in cert.chunks(200).enumerate() {
                let [p1, p2] = ((i * 200) as u16).to_be_bytes();
                ok(&mut card, &apdu(0xD6, p1, p2, chunk, None));
            }
        }
        ok(&mut card, &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x50, 0x15]);
    }
    ok(&mut card, &apdu(0xDA, 0x01, 0x01, &[0x11; 32], None));
    ok(&mut card, &[0x00, 0x46, 0x00, 0x02, 0x00]);
    ok(&mut card, &apdu(0xDA, 0x01, 0x03, &[0x33; 32], None));
    ok(&mut card, &apdu(0x24, 0x01, 0x01, PIN, None));
    ok(&mut card, &apdu(0x24, 0x01, 0x02, PUK, None));
    ok(&mut card, &[0x00, 0x44, 0x00, 0x00]);
    card
}

/// Run `f` (which does `per_call` APDUs) until `MIN_TIME` has passed; answer (APDUs per second, time per call).
fn measure(per_call: u64, mut f: impl FnMut()) -> (f64, Duration) {
    for _ in 0..10 {
        f();
    }
    let mut calls = 0u64;
    let start = Instant::now();
    let mut batch = 1u64;
    while start.elapsed() < MIN_TIME {
        for _ in 0..batch {
            f();
        }
        calls += batch;
        batch = (batch * 2).min(1 << 16);
    }
    let elapsed = start.elapsed();
    ((calls * per_call) as f64 / elapsed.as_secs_f64(), elapsed / calls as u32)
}

fn main() {
    let mut card = operational();
    let select = [0x00, 0xA4, 0x00, 0x0C, 0x02, 0x43, 0x01];
    let read = [0x00, 0xB0, 0x00, 0x00, 0x80];
    ok(&mut card, &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x50, 0x15]);
    assert_eq!(ok(&mut card, &select).len(), 0);
    assert_eq!(ok(&mut card, &read).len(), 128);
    let (select_read, _) = measure(2, || {
        black_box(card.transmit(black_box(&select)).len());
        black_box(card.transmit(black_box(&read)).len());
    });

    let verify = apdu(0x20, 0x00, 0x01, PIN, None);
    let writes_before = card.platform().nvm.writes;
    ok(&mut card, &verify);
    let writes_per_verify = card.platform().nvm.writes - writes_before;
    let (verify_rate, verify_time) = measure(1, || {
        assert_eq!(card.transmit(black_box(&verify))[0], 0x90);
    });

    let hash = [0x42u8; 32];
    ok(&mut card, &[0x00, 0x22, 0x41, 0xB6, 0x03, 0x84, 0x01, 0x01]);
    let pso = apdu(0x2A, 0x9E, 0x9A, &hash, Some(0));
    let der = ok(&mut card, &pso);
    let (pso_rate, pso_time) = measure(1, || {
        assert_eq!(card.transmit(black_box(&pso)).len(), der.len() + 2);
    });
    let key = SigningKey::from_slice(&[0x11; 32]).expect("key");
    let reference: Signature = key.sign_prehash(&hash).expect("sign");
    assert_eq!(reference.to_der().as_bytes(), der.as_slice(), "the card's signature is p256's (RFC 6979)");
    let (_, p256_time) = measure(1, || {
        let s: Signature = key.sign_prehash(black_box(&hash)).expect("sign");
        black_box(s);
    });

    // What the card does on top of signing: loading the key from its 32-byte scalar (SigningKey derives the public
    // point, a second scalar multiplication).
    let (_, key_load_time) = measure(1, || {
        black_box(SigningKey::from_slice(black_box(&[0x11; 32])).expect("key"));
    });

    let (ram, io) = BenchCard::sizes();
    let image = inspect(&card.platform().nvm.bytes).expect("image");

    println!("card-os in-process benchmark ({} ms or more per figure)", MIN_TIME.as_millis());
    println!("  SELECT + READ BINARY 128 B, alternately: {:>12.0} APDUs/s   (target >= 1,000,000)", select_read);
    println!(
        "  VERIFY (right PIN, {writes_per_verify} NVM writes):      {:>12.0} APDUs/s   ({:.1} us each)",
        verify_rate,
        verify_time.as_secs_f64() * 1e6
    );
    println!(
        "  PSO COMPUTE DIGITAL SIGNATURE (key 1):  {:>12.0} APDUs/s   ({:.1} us each)",
        pso_rate,
        pso_time.as_secs_f64() * 1e6
    );
    println!("  p256 sign_prehash alone:                              {:.1} us each", p256_time.as_secs_f64() * 1e6);
    println!(
        "  p256 SigningKey::from_slice alone:                    {:.1} us each (derives the public point)",
        key_load_time.as_secs_f64() * 1e6
    );
    println!(
        "  signature APDU / p256 signing:          {:>12.3}   (target <= 1.10)",
        pso_time.as_secs_f64() / p256_time.as_secs_f64()
    );
    println!("  RAM state (CardState):                  {:>12} bytes (target <= 16,384)", ram);
    println!("  lent I/O buffers (ApduBuffers):         {:>12} bytes", io);
    println!(
        "  image body of this test card:           {:>12} bytes (target <= 32,768; real profiles: see the host crate)",
        image.body_len
    );
}
