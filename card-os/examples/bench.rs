//! In-process throughput of the card OS, and its memory figures.
//!
//! `cargo run --release -p card-os --example bench --features sim,rsa`
//!
//! Prints APDUs per second for SELECT + READ BINARY, VERIFY and PSO COMPUTE DIGITAL SIGNATURE, p256's own
//! `sign_prehash` time for comparison, the RSA-2048 signature and decipher APDUs beside the `rsa` crate's own
//! `sign_with_rng` and `pkcs1v15_decrypt_with_rng` on the same keys, the peak heap of one RSA operation (counted by
//! this example's global allocator), `openssl speed rsa2048` for reference, the RAM state and I/O buffer sizes,
//! and the image body sizes of the two test cards (small cards: the real UZI / ZORG-ID profile images are measured
//! by the host crate). Not a test: the figures depend on the machine.
use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use card_os::image::inspect;
use card_os::profile::UZI_ATR;
use card_os::sim::{SimPlatform, SimRng};
use card_os::{Card, ChipProfile, NVM_SIZE, PinPolicy};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BoxedUint, Pkcs1v15Encrypt, Pkcs1v15Sign};
use sha2::{Digest, Sha256};

type BenchCard = Card<SimPlatform<Vec<u8>>>;

/// 2026-11-23T09:00:00Z
const NOW: u64 = 1_795_424_400;
const PIN: &[u8] = b"123456";
const PUK: &[u8] = b"12345678";
const MIN_TIME: Duration = Duration::from_millis(600);
/// RSA comparisons alternate card and crate in rounds of this length, so both see the same machine noise.
const ROUND_TIME: Duration = Duration::from_millis(250);
const ROUNDS: usize = 7;
/// RFC 8017 §9.2 note 1: the DER prefix of a SHA-256 DigestInfo.
const SHA256_PREFIX: [u8; 19] =
    [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

/// Counts the heap in use and its high-water mark, for the RSA operations (the only part of card-os that
/// allocates).
#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Run `f` once; answer its peak heap above what was in use before, and the bytes it left allocated.
fn heap_of<R>(f: impl FnOnce() -> R) -> (usize, isize, R) {
    let before = counting_alloc::live();
    counting_alloc::reset_peak();
    let r = f();
    let peak = counting_alloc::peak() - before;
    let kept = counting_alloc::live() as isize - before as isize;
    (peak, kept, r)
}

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

/// An extended-length APDU (ISO 7816-4 §5.1: `00 Lc1 Lc2` and a two-byte Le), as `tests/rsa.rs` sends them.
fn extended(ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u16>) -> Vec<u8> {
    let mut v = vec![0x00, ins, p1, p2, 0x00, (data.len() >> 8) as u8, data.len() as u8];
    v.extend_from_slice(data);
    if let Some(le) = le {
        v.extend(le.to_be_bytes());
    }
    v
}

fn tlv(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut v = tag.to_vec();
    match value.len() {
        n @ 0..=0x7F => v.push(n as u8),
        n @ 0x80..=0xFF => v.extend([0x81, n as u8]),
        n => v.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    v.extend_from_slice(value);
    v
}

/// Big-endian, left-padded to `len` bytes.
fn be(x: &BoxedUint, len: usize) -> Vec<u8> {
    let b = x.to_be_bytes();
    let b = &b[b.len().saturating_sub(len)..];
    let mut out = vec![0u8; len - b.len()];
    out.extend_from_slice(b);
    out
}

fn ok(card: &mut BenchCard, c: &[u8]) -> Vec<u8> {
    let r = card.transmit(c).to_vec();
    let (data, sw) = r.split_at(r.len() - 2);
    assert_eq!(sw, [0x90, 0x00], "{:02X?}", &c[..4]);
    data.to_vec()
}

/// SW1 SW2 of an answer, without allocating (the heap figures count the card's allocations only).
fn status(answer: &[u8]) -> [u8; 2] {
    [answer[answer.len() - 2], answer[answer.len() - 1]]
}

fn blank(serial: &[u8]) -> BenchCard {
    let profile = ChipProfile { atr: &UZI_ATR, serial, pin: PinPolicy::UZI_PIN, puk: PinPolicy::UZI_PUK };
    Card::format(SimPlatform::new(vec![0u8; NVM_SIZE], NOW, 42), &profile).expect("format")
}

/// The files of the integration tests' card: DF 5015 with a 600-byte certificate EF 4301 and a PIN-protected EF
/// 4310.
fn add_files(card: &mut BenchCard) {
    let mut df = vec![0x62, 0x15, 0x82, 0x01, 0x38, 0x83, 0x02, 0x50, 0x15, 0x84, 0x0C];
    df.extend_from_slice(&[0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35]);
    ok(card, &apdu(0xE0, 0, 0, &df, None));
    for (fid, size, read) in [(0x4301u16, 600u16, 0x00u8), (0x4310, 16, 0x01)] {
        let [f1, f2] = fid.to_be_bytes();
        let [s1, s2] = size.to_be_bytes();
        ok(
            card,
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
                ok(card, &apdu(0xD6, p1, p2, chunk, None));
            }
        }
        ok(card, &[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x50, 0x15]);
    }
}

/// Set PIN and PUK, then activate.
fn activate(card: &mut BenchCard) {
    ok(card, &apdu(0x24, 0x01, 0x01, PIN, None));
    ok(card, &apdu(0x24, 0x01, 0x02, PUK, None));
    ok(card, &[0x00, 0x44, 0x00, 0x00]);
}

/// The test card of the integration tests with P-256 keys: the files, keys 1 and 3 imported, key 2 generated,
/// PIN and PUK set, activated.
fn operational() -> BenchCard {
    let mut card = blank(b"BENCH001");
    add_files(&mut card);
    ok(&mut card, &apdu(0xDA, 0x01, 0x01, &[0x11; 32], None));
    ok(&mut card, &[0x00, 0x46, 0x00, 0x02, 0x00]);
    ok(&mut card, &apdu(0xDA, 0x01, 0x03, &[0x33; 32], None));
    activate(&mut card);
    card
}

/// IsoApplet's import (as `tests/rsa.rs`): MSE `80 01 F3 84 01 ref`, then PUT DATA `00 DB 3F FF`, extended,
/// `7F48 {92 p, 93 q, 94 qinv, 95 dp, 96 dq}`.
fn import_rsa(card: &mut BenchCard, key_ref: u8, key: &rsa::PrivateKey) {
    ok(card, &apdu(0x22, 0x41, 0x00, &[0x80, 0x01, 0xF3, 0x84, 0x01, key_ref], None));
    let qinv = key.qinv().expect("CRT key").retrieve();
    let mut inner = tlv(&[0x92], &be(&key.primes()[0], 128));
    inner.extend(tlv(&[0x93], &be(&key.primes()[1], 128)));
    inner.extend(tlv(&[0x94], &be(&qinv, 128)));
    inner.extend(tlv(&[0x95], &be(key.dp().expect("CRT key"), 128)));
    inner.extend(tlv(&[0x96], &be(key.dq().expect("CRT key"), 128)));
    ok(card, &extended(0xDB, 0x3F, 0xFF, &tlv(&[0x7F, 0x48], &inner), None));
}

/// On-card RSA-2048 generation of `key_ref` (MSE `80 01 F3`, GENERATE `00 46 42 00`, the 269-byte public key in
/// two parts); answers the peak heap of the GENERATE APDU and the time it took.
fn generate_rsa(card: &mut BenchCard, key_ref: u8) -> (usize, Duration) {
    ok(card, &apdu(0x22, 0x41, 0x00, &[0x80, 0x01, 0xF3, 0x84, 0x01, key_ref], None));
    let start = Instant::now();
    let (peak, _, sw) = heap_of(|| status(card.transmit(&[0x00, 0x46, 0x42, 0x00, 0x00])));
    let took = start.elapsed();
    assert_eq!(sw[0], 0x61, "the public key comes in two parts");
    ok(card, &[0x00, 0xC0, 0x00, 0x00, 0x00]);
    (peak, took)
}

/// Run `f` (which does `per_call` APDUs) until `min` has passed; answer (APDUs per second, time per call).
fn measure_for(min: Duration, per_call: u64, mut f: impl FnMut()) -> (f64, Duration) {
    for _ in 0..10 {
        f();
    }
    let mut calls = 0u64;
    let start = Instant::now();
    let mut batch = 1u64;
    while start.elapsed() < min {
        for _ in 0..batch {
            f();
        }
        calls += batch;
        batch = (batch * 2).min(1 << 16);
    }
    let elapsed = start.elapsed();
    ((calls * per_call) as f64 / elapsed.as_secs_f64(), elapsed / calls as u32)
}

fn measure(per_call: u64, f: impl FnMut()) -> (f64, Duration) {
    measure_for(MIN_TIME, per_call, f)
}

/// `a` and `b` timed in alternating rounds; answers the median time per call of each and the median of the
/// per-round ratios a / b.
fn compare(mut a: impl FnMut(), mut b: impl FnMut()) -> (Duration, Duration, f64) {
    let (mut ta, mut tb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (_, x) = measure_for(ROUND_TIME, 1, &mut a);
        let (_, y) = measure_for(ROUND_TIME, 1, &mut b);
        ta.push(x);
        tb.push(y);
        ratios.push(x.as_secs_f64() / y.as_secs_f64());
    }
    ta.sort();
    tb.sort();
    ratios.sort_by(f64::total_cmp);
    (ta[ROUNDS / 2], tb[ROUNDS / 2], ratios[ROUNDS / 2])
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `openssl speed -seconds 3 rsa2048` (one core): its header and `rsa 2048 bits` lines, and µs per signature.
fn openssl_speed() -> Result<(String, f64), String> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .output()
        .map_err(|e| format!("openssl not run ({e}): install it (apt-get install openssl) for the reference"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("rsa 2048 bits") || l.starts_with("rsa  2048 bits"))
        .ok_or_else(|| format!("no `rsa 2048 bits` line in `openssl speed` output (status {})", out.status))?;
    let sign: f64 = lines[at]
        .split_whitespace()
        .nth(3)
        .and_then(|s| s.trim_end_matches('s').parse().ok())
        .ok_or_else(|| format!("unreadable `openssl speed` line: {}", lines[at]))?;
    let header = if at > 0 { lines[at - 1] } else { "" };
    Ok((format!("{header}\n{}", lines[at]), sign * 1e6))
}

#[allow(clippy::too_many_lines)] // one timed block per operation, in the order the report prints them
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
    let writes_before = card.platform().nvm.writes();
    ok(&mut card, &verify);
    let writes_per_verify = card.platform().nvm.writes() - writes_before;
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

    // RSA-2048: two host-made keys (as the UZI personaliser injects them) imported as keys 01 (authentication) and
    // 03 (encryption), key 02 generated on the card.
    let mut rng = SimRng(0x5EED_0001);
    let host = [
        rsa::PrivateKey::new(&mut rng, 2048).expect("host key"),
        rsa::PrivateKey::new(&mut rng, 2048).expect("host key"),
    ];
    let mut rsa_card = blank(b"BENCH002");
    add_files(&mut rsa_card);
    import_rsa(&mut rsa_card, 0x01, &host[0]);
    let (gen_heap, gen_time) = generate_rsa(&mut rsa_card, 0x02);
    import_rsa(&mut rsa_card, 0x03, &host[1]);
    activate(&mut rsa_card);
    ok(&mut rsa_card, &verify);

    // PSO CDS over a SHA-256 DigestInfo with the authentication key (no fresh VERIFY per signature).
    let message_hash = Sha256::digest(b"zorgcard bench").to_vec();
    let digest_info = [SHA256_PREFIX.as_slice(), &message_hash].concat();
    ok(&mut rsa_card, &[0x00, 0x22, 0x41, 0xB6, 0x06, 0x80, 0x01, 0x11, 0x84, 0x01, 0x01]);
    let rsa_pso = apdu(0x2A, 0x9E, 0x9A, &digest_info, Some(0));
    let card_signature = ok(&mut rsa_card, &rsa_pso);
    let (sign_heap, sign_kept, sw) = heap_of(|| status(rsa_card.transmit(&rsa_pso)));
    assert_eq!(sw, [0x90, 0x00]);
    let mut crate_rng = SimRng(7);
    let crate_signature =
        host[0].sign_with_rng(&mut crate_rng, Pkcs1v15Sign::new::<Sha256>(), &message_hash).expect("rsa sign");
    assert_eq!(card_signature, crate_signature, "the card's signature is the rsa crate's (PKCS#1 v1.5)");
    let (crate_sign_heap, _, _) = heap_of(|| {
        host[0].sign_with_rng(&mut crate_rng, Pkcs1v15Sign::new::<Sha256>(), &message_hash).expect("rsa sign")
    });
    let (rsa_pso_time, crate_sign_time, sign_ratio) = compare(
        || assert_eq!(rsa_card.transmit(black_box(&rsa_pso)).len(), 258),
        || {
            let s = host[0]
                .sign_with_rng(&mut crate_rng, Pkcs1v15Sign::new::<Sha256>(), black_box(&message_hash))
                .expect("rsa sign");
            black_box(s);
        },
    );

    // What the card does on top of signing: rebuild the key from its stored n, e, d, p and q (`rsa.rs`
    // `private_key`), which validates the key and precomputes the CRT values.
    let stored = [
        (host[0].n().to_be_bytes(), 2048),
        (host[0].e().to_be_bytes(), 64),
        (host[0].d().to_be_bytes(), 2048),
        (host[0].primes()[0].to_be_bytes(), 1024),
        (host[0].primes()[1].to_be_bytes(), 1024),
    ];
    let rebuild = || {
        let [n, e, d, p, q] = stored.each_ref().map(|(b, bits)| BoxedUint::from_be_slice(b, *bits).expect("component"));
        rsa::PrivateKey::from_components(n, e, d, vec![p, q]).expect("from_components")
    };
    let (rebuild_heap, _, _) = heap_of(rebuild);
    let (_, rebuild_time) = measure(1, || {
        black_box(rebuild());
    });

    // PSO DECIPHER with the encryption key, extended: `00 2A 80 86 00 01 01 00 ‖ cryptogram 00 00`.
    let secret = b"the vertrouwelijkheid key deciphers this";
    let cryptogram = host[1].to_public_key().encrypt(&mut SimRng(9), Pkcs1v15Encrypt, secret).expect("encrypt");
    ok(&mut rsa_card, &[0x00, 0x22, 0x41, 0xB8, 0x06, 0x80, 0x01, 0x11, 0x84, 0x01, 0x03]);
    let decipher = extended(0x2A, 0x80, 0x86, &[&[0x00], cryptogram.as_slice()].concat(), Some(0));
    assert_eq!(&decipher[..8], &[0x00, 0x2A, 0x80, 0x86, 0x00, 0x01, 0x01, 0x00]);
    let plain = ok(&mut rsa_card, &decipher);
    let (decipher_heap, decipher_kept, sw) = heap_of(|| status(rsa_card.transmit(&decipher)));
    assert_eq!(sw, [0x90, 0x00]);
    assert_eq!(plain, secret, "the card deciphers what the crate enciphered");
    let (crate_decrypt_heap, _, _) =
        heap_of(|| host[1].pkcs1v15_decrypt_with_rng(&mut crate_rng, &cryptogram).expect("decrypt"));
    let (decipher_time, crate_decrypt_time, decipher_ratio) = compare(
        || assert_eq!(rsa_card.transmit(black_box(&decipher)).len(), secret.len() + 2),
        || {
            black_box(host[1].pkcs1v15_decrypt_with_rng(&mut crate_rng, black_box(&cryptogram)).expect("decrypt"));
        },
    );
    let rsa_image = inspect(&rsa_card.platform().nvm.bytes).expect("image");
    let openssl = openssl_speed();

    println!("card-os in-process benchmark ({} ms or more per figure)", MIN_TIME.as_millis());
    println!("  SELECT + READ BINARY 128 B, alternately: {:>12.0} APDUs/s   (target >= 1,000,000)", select_read);
    println!(
        "  VERIFY (right PIN, {writes_per_verify} NVM writes):      {:>12.0} APDUs/s   ({:.1} us each)",
        verify_rate,
        us(verify_time)
    );
    println!("  PSO COMPUTE DIGITAL SIGNATURE (key 1):  {:>12.0} APDUs/s   ({:.1} us each)", pso_rate, us(pso_time));
    println!("  p256 sign_prehash alone:                              {:.1} us each", us(p256_time));
    println!(
        "  p256 SigningKey::from_slice alone:                    {:.1} us each (derives the public point)",
        us(key_load_time)
    );
    println!(
        "  signature APDU / p256 signing:          {:>12.3}   (target <= 1.10)",
        pso_time.as_secs_f64() / p256_time.as_secs_f64()
    );
    println!("RSA-2048 (median of {ROUNDS} alternating rounds of {} ms, card and crate)", ROUND_TIME.as_millis());
    println!("  PSO CDS, SHA-256 DigestInfo (key 01):             {:>9.1} us each", us(rsa_pso_time));
    println!("  rsa PrivateKey::sign_with_rng alone:              {:>9.1} us each", us(crate_sign_time));
    println!("  signature APDU / rsa signing:           {:>12.3}   (target <= 1.10)", sign_ratio);
    println!(
        "  rsa PrivateKey::from_components alone:            {:>9.1} us each (validates, precomputes CRT; \
         the card does it per operation)",
        us(rebuild_time)
    );
    println!(
        "  (crate sign + from_components) / crate sign:     {:>9.3}",
        (crate_sign_time + rebuild_time).as_secs_f64() / crate_sign_time.as_secs_f64()
    );
    println!("  PSO DECIPHER, extended, 256-byte cryptogram (03): {:>9.1} us each", us(decipher_time));
    println!("  rsa pkcs1v15_decrypt_with_rng alone:              {:>9.1} us each", us(crate_decrypt_time));
    println!("  decipher APDU / rsa decrypt:            {:>12.3}   (target <= 1.10)", decipher_ratio);
    println!(
        "  peak heap, one signature APDU:          {:>12} bytes (target <= 32,768; left allocated: {sign_kept})",
        sign_heap
    );
    println!(
        "  peak heap, one decipher APDU:           {:>12} bytes (target <= 32,768; left allocated: {decipher_kept})",
        decipher_heap
    );
    println!("  peak heap, rsa sign_with_rng alone:     {:>12} bytes", crate_sign_heap);
    println!("  peak heap, rsa decrypt alone:           {:>12} bytes", crate_decrypt_heap);
    println!("  peak heap, rsa from_components alone:   {:>12} bytes", rebuild_heap);
    println!(
        "  peak heap, one on-card key generation:  {:>12} bytes (for information; this one took {:.2} s)",
        gen_heap,
        gen_time.as_secs_f64()
    );
    match openssl {
        Ok((lines, sign_us)) => {
            println!("  openssl speed -seconds 3 rsa2048 (reference, one core): {sign_us:.1} us per signature");
            for line in lines.lines() {
                println!("    {line}");
            }
        }
        Err(why) => println!("  openssl speed rsa2048: MISSING: {why}"),
    }
    println!("Memory");
    println!("  RAM state (CardState):                  {:>12} bytes (target <= 16,384)", ram);
    println!("  lent I/O buffers (ApduBuffers):         {:>12} bytes", io);
    println!(
        "  image body, P-256 test card:            {:>12} bytes (target <= 32,768; real profiles: see the host crate)",
        image.body_len
    );
    println!("  image body, RSA-2048 test card:         {:>12} bytes (target <= 32,768)", rsa_image.body_len);
}
