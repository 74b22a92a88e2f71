//! Random APDU sequences with power cuts, resets and restarts against a simulated card.
//!
//! Input format (so that mutations stay meaningful):
//! - byte 0: which card to start from (`% 4`: blank, personalised, operational, blocked);
//! - then records: a byte `n` < `0xF0` followed by an `n`-byte APDU; `0xF0`–`0xFD` cut the power during the
//!   `(b - 0xF0)`-th next NVM write (the card restarts after the APDU that loses power); `0xFE` resets the card
//!   (session lost); `0xFF` restarts it from its NVM (power cycle).
//!
//! Checked: no panic; every answer carries a status word; an APDU that loses power answers `6581`; after every
//! step the NVM bytes are a valid image (`image::inspect`) and boot; a restart after a cut gives no PIN or PUK try
//! back.
#![no_main]

use std::sync::OnceLock;

use card_os::image::inspect;
use card_os::profile::UZI_ATR;
use card_os::sim::SimPlatform;
use card_os::{Card, ChipProfile, NVM_SIZE, PinPolicy};
use libfuzzer_sys::fuzz_target;

type FuzzCard = Card<SimPlatform<Vec<u8>>>;

const NOW: u64 = 1_795_424_400;
const PIN: &[u8] = b"123456";
const PUK: &[u8] = b"12345678";

fn send(card: &mut FuzzCard, c: &[u8]) {
    let r = card.transmit(c);
    assert_eq!(&r[r.len() - 2..], &[0x90, 0x00], "setup APDU {c:02X?}");
}

fn apdu(ins: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![0x00, ins, p1, p2, data.len() as u8];
    v.extend_from_slice(data);
    v
}

/// The four starting images, made once through the card's own APDUs.
fn images() -> &'static [Vec<u8>; 4] {
    static IMAGES: OnceLock<[Vec<u8>; 4]> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let profile =
            ChipProfile { atr: &UZI_ATR, serial: b"FUZZ0001", pin: PinPolicy::UZI_PIN, puk: PinPolicy::UZI_PUK };
        let mut card = Card::format(SimPlatform::new(vec![0u8; NVM_SIZE], NOW, 42), &profile).expect("format");
        let blank = card.platform().nvm.bytes.clone();
        let mut df = vec![0x62, 0x15, 0x82, 0x01, 0x38, 0x83, 0x02, 0x50, 0x15, 0x84, 0x0C];
        df.extend_from_slice(&[0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35]);
        send(&mut card, &apdu(0xE0, 0, 0, &df));
        let ef = [0x62, 0x0F, 0x82, 0x01, 0x01, 0x83, 0x02, 0x43, 0x01, 0x80, 0x02, 0x00, 0x40, 0x86, 0x02, 0x00, 0x02];
        send(&mut card, &apdu(0xE0, 0, 0, &ef));
        send(&mut card, &apdu(0xD6, 0, 0, &[0xAB; 64]));
        send(&mut card, &apdu(0xDA, 0x01, 0x01, &[0x11; 32]));
        send(&mut card, &apdu(0xDA, 0x01, 0x02, &[0x22; 32]));
        send(&mut card, &apdu(0x24, 0x01, 0x01, PIN));
        send(&mut card, &apdu(0x24, 0x01, 0x02, PUK));
        let personalised = card.platform().nvm.bytes.clone();
        send(&mut card, &[0x00, 0x44, 0x00, 0x00]);
        let operational = card.platform().nvm.bytes.clone();
        for wrong in [b"00000000", b"00000001", b"00000002"] {
            card.transmit(&apdu(0x2C, 0x01, 0x01, wrong));
        }
        let blocked = card.platform().nvm.bytes.clone();
        [blank, personalised, operational, blocked]
    })
}

fn restart(card: FuzzCard) -> FuzzCard {
    let mut platform = card.into_platform();
    platform.nvm.restore_power();
    let summary = inspect(&platform.nvm.bytes);
    assert!(summary.is_ok(), "the image does not inspect after a restart: {summary:?}");
    match Card::boot(platform) {
        Ok(card) => card,
        Err(e) => panic!("the image does not boot: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, mut rest)) = data.split_first() else { return };
    let image = images()[which as usize % 4].clone();
    let mut card = Card::boot(SimPlatform::new(image, NOW, 7)).expect("boot");
    while let Some((&tag, tail)) = rest.split_first() {
        rest = tail;
        match tag {
            0xF0..=0xFD => card.platform_mut().nvm.cut_after(u32::from(tag - 0xF0)),
            0xFE => card.reset(),
            0xFF => card = restart(card),
            n => {
                let n = (n as usize).min(rest.len());
                let (c_apdu, tail) = rest.split_at(n);
                rest = tail;
                let before = card.info();
                let answer = card.transmit(c_apdu).to_vec();
                assert!(answer.len() >= 2, "an answer without a status word");
                if card.platform().nvm.power_lost() {
                    assert_eq!(answer, [0x65, 0x81], "an APDU that lost power");
                    card = restart(card);
                    let after = card.info();
                    assert!(after.pin.left <= before.pin.left, "a cut gave a PIN try back");
                    assert!(after.puk.left <= before.puk.left, "a cut gave a PUK try back");
                } else {
                    assert!(inspect(&card.platform().nvm.bytes).is_ok(), "the image does not inspect");
                }
            }
        }
    }
    let _ = restart(card);
});
