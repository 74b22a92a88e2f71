//! Shared test fixtures: a deterministic card, personalised through its own APDUs.
#![allow(dead_code)]

use card_os::profile::UZI_ATR;
use card_os::sim::SimPlatform;
use card_os::{Card, ChipProfile, NVM_SIZE, PinPolicy, Status};

pub type TestCard = Card<SimPlatform<Vec<u8>>>;

/// 2026-11-23T09:00:00Z
pub const NOW: u64 = 1_795_424_400;
pub const DAY: u64 = 86_400;
pub const PIN: &[u8] = b"123456";
pub const PUK: &[u8] = b"12345678";
pub const CERT_LEN: usize = 600;

pub fn profile() -> ChipProfile<'static> {
    ChipProfile { atr: &UZI_ATR, serial: b"TEST0001", pin: PinPolicy::UZI_PIN, puk: PinPolicy::UZI_PUK }
}

pub fn blank() -> TestCard {
    Card::format(SimPlatform::new(vec![0u8; NVM_SIZE], NOW, 42), &profile()).expect("format")
}

/// Send an APDU given as hex (spaces allowed); answer (data, SW).
pub fn tx(card: &mut TestCard, apdu_hex: &str) -> (Vec<u8>, u16) {
    let apdu = hex(apdu_hex);
    tx_bytes(card, &apdu)
}

pub fn tx_bytes(card: &mut TestCard, apdu: &[u8]) -> (Vec<u8>, u16) {
    let r = card.transmit(apdu).to_vec();
    let (data, sw) = r.split_at(r.len() - 2);
    (data.to_vec(), u16::from_be_bytes([sw[0], sw[1]]))
}

pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// An APDU with data: `00 INS P1 P2 Lc data [Le]`.
pub fn apdu(ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u8>) -> Vec<u8> {
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

pub fn ok(card: &mut TestCard, bytes: &[u8]) -> Vec<u8> {
    let (data, sw) = tx_bytes(card, bytes);
    assert_eq!(sw, 0x9000, "{:02X?} answered {sw:04X}", &bytes[..4]);
    data
}

pub fn create_ef(card: &mut TestCard, fid: u16, size: u16, read: u8, update: u8) {
    let [f1, f2] = fid.to_be_bytes();
    let [s1, s2] = size.to_be_bytes();
    let fcp = [
        0x62, 0x10, 0x82, 0x01, 0x01, 0x83, 0x02, f1, f2, 0x80, 0x02, s1, s2, 0x86, 0x02, read, update, 0x8A, 0x01,
        0x05,
    ];
    let mut fcp = fcp.to_vec();
    fcp[1] = (fcp.len() - 2) as u8;
    ok(card, &apdu(0xE0, 0, 0, &fcp, None));
}

/// The test certificate contents: deterministic filler.
pub fn cert_bytes() -> Vec<u8> {
    (0..CERT_LEN).map(|i| (i * 7 % 251) as u8).collect()
}

/// A card personalised like a UZI-pas: DF 5015 with a certificate EF 4301 (always readable) and a private EF
/// 4310 (PIN), three keys (1 and 3 imported, 2 generated), PIN and PUK set, activated.
pub fn personalised_unactivated() -> TestCard {
    let mut card = blank();
    let mut df = vec![0x62, 0x00, 0x82, 0x01, 0x38, 0x83, 0x02, 0x50, 0x15, 0x84, 0x0C];
    df.extend_from_slice(&hex("A000000063504B43532D3135"));
    df[1] = (df.len() - 2) as u8;
    ok(&mut card, &apdu(0xE0, 0, 0, &df, None));
    create_ef(&mut card, 0x4301, CERT_LEN as u16, 0x00, 0x02);
    let cert = cert_bytes();
    for (i, chunk) in cert.chunks(200).enumerate() {
        let off = (i * 200) as u16;
        let [p1, p2] = off.to_be_bytes();
        ok(&mut card, &apdu(0xD6, p1, p2, chunk, None));
    }
    create_ef(&mut card, 0x4310, 16, 0x01, 0x01);
    ok(&mut card, &apdu(0xDA, 0x01, 0x01, &[0x11; 32], None));
    ok(&mut card, &hex("00 46 00 02 00"));
    ok(&mut card, &apdu(0xDA, 0x01, 0x03, &[0x33; 32], None));
    ok(&mut card, &apdu(0x24, 0x01, 0x01, PIN, None));
    ok(&mut card, &apdu(0x24, 0x01, 0x02, PUK, None));
    card
}

pub fn operational() -> TestCard {
    let mut card = personalised_unactivated();
    ok(&mut card, &hex("00 44 00 00"));
    card
}

pub fn verify(card: &mut TestCard, pin: &[u8]) -> u16 {
    tx_bytes(card, &apdu(0x20, 0x00, 0x01, pin, None)).1
}

/// MSE DST for a key, then PSO CDS on a 32-byte hash.
pub fn sign(card: &mut TestCard, key: u8, hash: &[u8; 32]) -> (Vec<u8>, u16) {
    let (_, sw) = tx_bytes(card, &apdu(0x22, 0x41, 0xB6, &[0x84, 0x01, key], None));
    if sw != 0x9000 {
        return (vec![], sw);
    }
    tx_bytes(card, &apdu(0x2A, 0x9E, 0x9A, hash, Some(0)))
}

pub fn public_key(card: &mut TestCard, key: u8) -> p256::ecdsa::VerifyingKey {
    let data = ok(card, &apdu(0x46, 0x01, key, &[], Some(0)));
    assert_eq!(&data[..5], &[0x7F, 0x49, 0x43, 0x86, 0x41]);
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&data[5..]).expect("public key")
}

pub fn tries(card: &TestCard) -> (u8, u8) {
    let info = card.info();
    (info.pin.left, info.puk.left)
}

/// Power cycle: boot a new card from the same NVM bytes (as after a power cut).
pub fn reboot(card: TestCard) -> TestCard {
    let mut platform = card.into_platform();
    platform.nvm.restore_power();
    Card::boot(platform).expect("boot after power cycle")
}

pub fn status(sw: u16) -> Status {
    Status::from_sw(sw)
}

/// The bank layout (`nvm.rs`), written out so that tests can damage and reseal images without trusting the card.
pub mod layout {
    use card_os::nvm::{BANK_SIZE, COPY_LEN, HEADER_LEN};

    /// Bank offset of byte `i` of header copy `copy` (0 = A, 1 = B): halves stored A front, B front, A back, B back.
    pub fn header_offset(copy: usize, i: usize) -> usize {
        let half = COPY_LEN / 2;
        if i < half { copy * half + i } else { 2 * half + copy * half + (i - half) }
    }

    /// Header copy `copy` of `bank`, reassembled.
    pub fn header_copy(bytes: &[u8], bank: usize, copy: usize) -> [u8; COPY_LEN] {
        std::array::from_fn(|i| bytes[bank * BANK_SIZE + header_offset(copy, i)])
    }

    pub fn put_header_copy(bytes: &mut [u8], bank: usize, copy: usize, h: &[u8; COPY_LEN]) {
        for (i, b) in h.iter().enumerate() {
            bytes[bank * BANK_SIZE + header_offset(copy, i)] = *b;
        }
    }

    /// Write header field bytes `at..at + value.len()` in both copies of `bank`, without resealing.
    pub fn set_field(bytes: &mut [u8], bank: usize, at: usize, value: &[u8]) {
        for copy in 0..2 {
            let mut h = header_copy(bytes, bank, copy);
            h[at..at + value.len()].copy_from_slice(value);
            put_header_copy(bytes, bank, copy, &h);
        }
    }

    /// The sequence number in copy A.
    pub fn seq(bytes: &[u8], bank: usize) -> u32 {
        let h = header_copy(bytes, bank, 0);
        u32::from_be_bytes([h[8], h[9], h[10], h[11]])
    }

    /// The body length in copy A.
    pub fn body_len(bytes: &[u8], bank: usize) -> usize {
        let h = header_copy(bytes, bank, 0);
        u32::from_be_bytes([h[12], h[13], h[14], h[15]]) as usize
    }

    /// Bank offset where the body starts.
    pub fn body(bank: usize) -> usize {
        bank * BANK_SIZE + HEADER_LEN
    }

    /// The higher of the two sequence numbers (both banks valid).
    pub fn active_bank(bytes: &[u8]) -> usize {
        if seq(bytes, 1) > seq(bytes, 0) { 1 } else { 0 }
    }

    /// CRC-32C (Castagnoli, reflected, as `crc::CRC_32_ISCSI`), written out so the test does not trust the crate.
    pub fn crc32c(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
            }
        }
        !crc
    }

    /// Recompute both checksums of both copies of `bank` from copy A's fields, after its body or header was
    /// edited, as a careless or malicious tool would.
    pub fn reseal(bytes: &mut [u8], bank: usize) {
        let mut h = header_copy(bytes, bank, 0);
        let len = u32::from_be_bytes([h[12], h[13], h[14], h[15]]) as usize;
        let mut covered = h[..16].to_vec();
        covered.extend_from_slice(&bytes[body(bank)..body(bank) + len]);
        h[16..20].copy_from_slice(&crc32c(&covered).to_be_bytes());
        let header_crc = crc32c(&h[..20]);
        h[20..24].copy_from_slice(&header_crc.to_be_bytes());
        for copy in 0..2 {
            put_header_copy(bytes, bank, copy, &h);
        }
    }
}
