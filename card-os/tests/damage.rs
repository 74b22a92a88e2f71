//! Damage is not a power cut (`card-os/src/image.rs`): a byte damaged in the newest state is refused with
//! `ImageError::Damaged`, never answered by silently falling back to the older bank (which gives spent PIN tries
//! back); a torn header write is still a power cut, never damage; and the older state opens only when asked.
mod common;
use std::time::Instant;

use card_os::image::{BankReport, inspect, inspect_banks, inspect_with};
use card_os::nvm::{BANK_SIZE, BankState, BankStatus, HEADER_LEN, Rollback};
use card_os::sim::SimPlatform;
use card_os::{Card, ImageError, LifeCycle, Tries};
use common::layout::*;
use common::*;

/// What a card says of itself through APDUs: life cycle (GET DATA DF31) and counters (DF33).
fn observed(card: &mut TestCard) -> (Vec<u8>, Vec<u8>) {
    let (lc, sw) = tx(card, "00 CA DF 31 00");
    assert_eq!(sw, 0x9000);
    let (tries, sw) = tx(card, "00 CA DF 33 00");
    assert_eq!(sw, 0x9000);
    (lc, tries)
}

/// An operational card that answered one wrong PIN with `63C2`: its NVM, the current bank (holding the spent try)
/// and the older one (holding the state before it).
fn one_try_spent() -> (Vec<u8>, usize) {
    let mut card = operational();
    assert_eq!(verify(&mut card, b"999999"), 0x63C2);
    let bytes = card.platform().nvm.bytes.clone();
    let current = active_bank(&bytes);
    (bytes, current)
}

fn tries(left: u8, max: u8) -> Tries {
    Tries { initialised: true, left, max }
}

fn boot(bytes: &[u8], rollback: Rollback) -> Result<TestCard, ImageError> {
    Card::boot_with(SimPlatform::new(bytes.to_vec(), NOW, 7), rollback)
}

/// Flip each byte of the current bank in turn (XOR 0xFF: all 8 bits), the whole 32 KiB bank. Every flip either
/// leaves the card as it was (a flip in one header copy, or past the body, which no state depends on) or is refused
/// as damage naming the older state; none gives the PIN try back or changes the life cycle. Accepting the
/// rollback reaches the older state.
#[test]
fn no_flipped_byte_of_the_current_bank_gives_a_try_back() {
    let (good, current) = one_try_spent();
    let older = 1 - current;
    let summary = inspect(&good).expect("good image");
    assert_eq!((summary.pin.left, summary.life_cycle), (2, LifeCycle::Operational));
    let older_state = BankState {
        bank: older,
        sequence: summary.sequence - 1,
        life_cycle: LifeCycle::Operational,
        pin: tries(3, 3),
        puk: tries(3, 3),
    };
    let damaged = ImageError::Damaged { bank: current, sequence: summary.sequence, fallback: Some(older_state) };
    let same = observed(&mut boot(&good, Rollback::Refuse).expect("boot"));
    let mut flipped = good.clone();
    flipped[body(current) + 100] ^= 0xFF;
    let rolled_back = observed(&mut boot(&flipped, Rollback::Accept).expect("older"));
    assert_eq!(rolled_back.1, vec![3, 3, 3, 3], "the older state has the try back");

    let started = Instant::now();
    let (mut unchanged, mut refused) = (0, 0);
    let mut bytes = good.clone();
    for at in current * BANK_SIZE..(current + 1) * BANK_SIZE {
        bytes[at] ^= 0xFF;
        let offset = at - current * BANK_SIZE;
        match inspect(&bytes) {
            Ok(s) => {
                assert_eq!(
                    (s.sequence, s.life_cycle, s.pin, s.puk),
                    (summary.sequence, summary.life_cycle, summary.pin, summary.puk),
                    "bank byte {offset}"
                );
                assert!(
                    offset < HEADER_LEN || offset >= HEADER_LEN + summary.body_len,
                    "an undetected flip at bank byte {offset}"
                );
                let mut card = boot(&bytes, Rollback::Refuse).expect("boots as inspect says");
                assert_eq!(observed(&mut card), same, "bank byte {offset}");
                unchanged += 1;
            }
            Err(e) => {
                assert_eq!(e, damaged, "bank byte {offset}");
                assert_eq!(boot(&bytes, Rollback::Refuse).unwrap_err(), damaged, "bank byte {offset}");
                let mut card = boot(&bytes, Rollback::Accept).expect("the older state, when asked");
                assert_eq!(observed(&mut card), rolled_back, "bank byte {offset}");
                refused += 1;
            }
        }
        bytes[at] ^= 0xFF;
    }
    let elapsed = started.elapsed();
    assert_eq!(refused, summary.body_len, "every flip in the body is refused");
    assert_eq!(unchanged, BANK_SIZE - summary.body_len);
    eprintln!("{BANK_SIZE} flips: {refused} refused as damage, {unchanged} harmless, in {elapsed:?}");
}

/// The same for the older bank: a flip there never matters, the newest state stays valid.
#[test]
fn a_flipped_byte_of_the_older_bank_is_harmless() {
    let (good, current) = one_try_spent();
    let older = 1 - current;
    let summary = inspect(&good).unwrap();
    let mut bytes = good.clone();
    for at in (older * BANK_SIZE..(older + 1) * BANK_SIZE).step_by(7) {
        bytes[at] ^= 0xFF;
        let s = inspect(&bytes).expect("the newest state is valid");
        assert_eq!((s.sequence, s.pin), (summary.sequence, summary.pin), "older bank byte {}", at - older * BANK_SIZE);
        bytes[at] ^= 0xFF;
    }
}

/// The header block write that commits the spent try, torn after every prefix (0 to 48 bytes) and with every
/// byte alone landing or missing, and with pseudo-random mixes of old and new bytes: the card is in the state
/// before or the state after, never damaged.
#[test]
fn a_torn_header_write_is_a_power_cut_never_damage() {
    let before = nvm(&operational());
    let (after, target) = {
        let mut card = boot(&before, Rollback::Refuse).unwrap();
        assert_eq!(verify(&mut card, b"999999"), 0x63C2);
        let after = card.platform().nvm.bytes.clone();
        let target = active_bank(&after);
        (after, target)
    };
    assert_ne!(active_bank(&before), target, "the commit went into the other bank");
    let base = target * BANK_SIZE;
    // The body write completed; the header block is a mix of its old bytes (two commits ago) and the new ones.
    let mixed = |lands: &dyn Fn(usize) -> bool| {
        let mut b = after.clone();
        for i in 0..HEADER_LEN {
            if !lands(i) {
                b[base + i] = before[base + i];
            }
        }
        b
    };
    let outcome = |b: &[u8], what: &str| -> u8 {
        let s = inspect(b).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(boot(b, Rollback::Refuse).is_ok(), "{what}");
        match s.pin.left {
            3 => 0,
            2 => 1,
            n => panic!("{what}: {n} tries"),
        }
    };
    for p in 0..=HEADER_LEN {
        let state = outcome(&mixed(&|i| i < p), &format!("prefix {p}"));
        // In its first 36 bytes neither copy is whole: the old state. The test NVM tears at 24.
        assert_eq!(state, u8::from(p >= 36), "prefix {p}");
    }
    for only in 0..HEADER_LEN {
        outcome(&mixed(&|i| i == only), &format!("only byte {only} landed"));
        outcome(&mixed(&|i| i != only), &format!("all but byte {only} landed"));
    }
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for round in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mask = x;
        outcome(&mixed(&|i| mask >> i & 1 == 1), &format!("mix {round}"));
    }
}

fn nvm(card: &TestCard) -> Vec<u8> {
    card.platform().nvm.bytes.clone()
}

/// After a boot that accepted the rollback, the damaged bank's header is cleared before the next commit writes
/// its body there: a power cut during that write is a power cut again, not damage. And the card then keeps
/// working from the older state.
#[test]
fn after_an_accepted_rollback_a_cut_is_a_cut_again() {
    let (good, current) = one_try_spent();
    let mut damaged = good.clone();
    damaged[body(current) + 2000] ^= 0x10;
    assert!(matches!(inspect(&damaged), Err(ImageError::Damaged { .. })));
    for k in 0..20 {
        let mut card = boot(&damaged, Rollback::Accept).expect("older state");
        card.platform_mut().nvm.cut_after(k);
        let sw = verify(&mut card, b"999999");
        if !card.platform().nvm.power_lost() {
            assert_eq!(sw, 0x63C2, "the older state had 3 tries");
            let s = inspect(&nvm(&card)).expect("a valid image again, no damage left");
            assert_eq!(s.pin.left, 2);
            assert!(k > 1);
            return;
        }
        let card = reboot(card);
        let s = inspect(&nvm(&card)).unwrap_or_else(|e| panic!("cut at write {k}: {e}"));
        assert!(s.pin.left <= 3, "cut at write {k}");
    }
    panic!("the commit never completed");
}

/// `inspect_banks` names each bank's status and the state it holds.
#[test]
fn inspect_banks_tells_valid_damaged_torn_and_empty() {
    let (good, current) = one_try_spent();
    let older = 1 - current;
    let seq_now = seq(&good, current);
    let report = |bank: usize, status, sequence, current, left| BankReport {
        bank,
        status,
        sequence: Some(sequence),
        valid_copies: 2,
        current,
        state: Some(BankState {
            bank,
            sequence,
            life_cycle: LifeCycle::Operational,
            pin: tries(left, 3),
            puk: tries(3, 3),
        }),
    };
    let banks = inspect_banks(&good).unwrap();
    assert_eq!(banks[current], report(current, BankStatus::Valid, seq_now, true, 2));
    assert_eq!(banks[older], report(older, BankStatus::Valid, seq_now - 1, false, 3));
    // A flip in the newest body: damaged (its metadata still shown, unverified); the older bank is what a boot
    // accepting the rollback uses.
    let mut bytes = good.clone();
    bytes[body(current) + 3000] ^= 0x01;
    let banks = inspect_banks(&bytes).unwrap();
    assert_eq!(banks[current], report(current, BankStatus::Damaged, seq_now, false, 2));
    assert_eq!(banks[older], report(older, BankStatus::Valid, seq_now - 1, true, 3));
    // A flip in the older body: torn (an interrupted write looks the same), ignored.
    let mut bytes = good.clone();
    bytes[body(older) + 3000] ^= 0x01;
    let banks = inspect_banks(&bytes).unwrap();
    assert_eq!(banks[older], report(older, BankStatus::Torn, seq_now - 1, false, 3));
    assert_eq!(banks[current].status, BankStatus::Valid);
    // One header copy broken: still valid, one copy left.
    let mut bytes = good.clone();
    bytes[current * BANK_SIZE + header_offset(1, 9)] ^= 0x01;
    let banks = inspect_banks(&bytes).unwrap();
    assert_eq!(banks[current], BankReport { valid_copies: 1, ..report(current, BankStatus::Valid, seq_now, true, 2) });
    // Both copies gone: no header.
    let mut bytes = good.clone();
    bytes[older * BANK_SIZE..older * BANK_SIZE + HEADER_LEN].fill(0);
    let banks = inspect_banks(&bytes).unwrap();
    assert_eq!(
        banks[older],
        BankReport {
            bank: older,
            status: BankStatus::NoHeader,
            sequence: None,
            valid_copies: 0,
            current: false,
            state: None
        }
    );
    assert!(inspect_with(&bytes, Rollback::Accept).is_ok());
}
