//! The file system (ISO 7816-4 §7, §11.2–11.3, ISO 7816-9 §6.1): SELECT, FCP/FCI, READ/UPDATE BINARY,
//! CREATE FILE.
mod common;
use std::collections::BTreeMap;

use common::*;

const PKCS15_AID: &str = "A0 00 00 00 63 50 4B 43 53 2D 31 35";

/// Parse a `62`/`6F` template into its (single-byte) tags.
fn template(answer: &[u8], outer: u8) -> BTreeMap<u8, Vec<u8>> {
    assert_eq!(answer[0], outer, "template tag in {answer:02X?}");
    assert_eq!(answer[1] as usize, answer.len() - 2, "template length in {answer:02X?}");
    let mut tags = BTreeMap::new();
    let mut rest = &answer[2..];
    while !rest.is_empty() {
        let (tag, len) = (rest[0], rest[1] as usize);
        assert!(tags.insert(tag, rest[2..2 + len].to_vec()).is_none(), "tag {tag:02X} twice");
        rest = &rest[2 + len..];
    }
    tags
}

fn fcp(answer: &[u8]) -> BTreeMap<u8, Vec<u8>> {
    template(answer, 0x62)
}

fn select(card: &mut TestCard, hex_apdu: &str) -> (Vec<u8>, u16) {
    tx(card, hex_apdu)
}

/// The FID of the current DF: its FCP by the path `3FFF` (the current DF) from the current DF.
fn fid_of(card: &mut TestCard) -> Vec<u8> {
    let (a, sw) = tx(card, "00 A4 09 04 02 3F FF 00");
    assert_eq!(sw, 0x9000);
    fcp(&a)[&0x83].clone()
}

#[test]
fn select_by_file_identifier() {
    let mut card = operational();
    // P1 00: MF by empty data or 3F00, DF and EF by FID.
    assert_eq!(select(&mut card, "00 A4 00 0C"), (vec![], 0x9000));
    assert_eq!(fid_of(&mut card), vec![0x3F, 0x00]);
    assert_eq!(select(&mut card, "00 A4 00 0C 02 50 15").1, 0x9000);
    assert_eq!(fid_of(&mut card), vec![0x50, 0x15]);
    let (a, sw) = select(&mut card, "00 A4 00 04 02 43 01 00");
    assert_eq!(sw, 0x9000);
    assert_eq!(fcp(&a)[&0x83], vec![0x43, 0x01]);
    assert_eq!(select(&mut card, "00 A4 00 0C 02 3F 00").1, 0x9000);
    assert_eq!(fid_of(&mut card), vec![0x3F, 0x00]);
    // P1 01: a child DF only.
    assert_eq!(select(&mut card, "00 A4 01 0C 02 50 15").1, 0x9000);
    assert_eq!(select(&mut card, "00 A4 01 0C 02 43 01").1, 0x6A82, "4301 is an EF");
    // P1 02: an EF of the current DF only.
    assert_eq!(select(&mut card, "00 A4 02 0C 02 43 01").1, 0x9000);
    assert_eq!(select(&mut card, "00 A4 02 0C 02 43 10").1, 0x9000);
    select(&mut card, "00 A4 00 0C");
    assert_eq!(select(&mut card, "00 A4 02 0C 02 50 15").1, 0x6A82, "5015 is a DF");
    assert_eq!(select(&mut card, "00 A4 02 0C 02 43 01").1, 0x6A82, "4301 is not in the MF");
    // P1 03: the parent of the current DF.
    select(&mut card, "00 A4 00 0C 02 50 15");
    let (a, sw) = select(&mut card, "00 A4 03 04 00");
    assert_eq!(sw, 0x9000);
    assert_eq!(fcp(&a)[&0x83], vec![0x3F, 0x00]);
    assert_eq!(select(&mut card, "00 A4 03 0C 02 3F 00").1, 0x6700, "P1 03 takes no data");
}

#[test]
fn select_by_path() {
    let mut card = operational();
    select(&mut card, "00 A4 00 0C 02 50 15");
    // P1 08: from the MF, without and with 3F00.
    let (a, sw) = select(&mut card, "00 A4 08 04 04 50 15 43 01 00");
    assert_eq!(sw, 0x9000);
    assert_eq!(fcp(&a)[&0x83], vec![0x43, 0x01]);
    let (b, sw) = select(&mut card, "00 A4 08 04 06 3F 00 50 15 43 10 00");
    assert_eq!(sw, 0x9000);
    assert_eq!(fcp(&b)[&0x83], vec![0x43, 0x10]);
    assert_eq!(select(&mut card, "00 A4 08 0C 02 50 15").1, 0x9000);
    assert_eq!(fid_of(&mut card), vec![0x50, 0x15]);
    // P1 09: from the current DF.
    select(&mut card, "00 A4 00 0C");
    assert_eq!(select(&mut card, "00 A4 09 0C 02 43 01").1, 0x6A82, "4301 is not under the MF");
    assert_eq!(select(&mut card, "00 A4 09 0C 04 50 15 43 01").1, 0x9000);
    select(&mut card, "00 A4 00 0C 02 50 15");
    let (c, sw) = select(&mut card, "00 A4 09 04 02 43 01 00");
    assert_eq!(sw, 0x9000);
    assert_eq!(fcp(&c)[&0x83], vec![0x43, 0x01]);
    // Through an EF, or to nowhere.
    assert_eq!(select(&mut card, "00 A4 08 0C 04 43 01 50 15").1, 0x6A82);
    assert_eq!(select(&mut card, "00 A4 08 0C 06 50 15 43 01 43 01").1, 0x6A82, "an EF has no children");
    assert_eq!(select(&mut card, "00 A4 08 0C 04 50 15 99 99").1, 0x6A82);
    assert_eq!(select(&mut card, "00 A4 08 0C 03 50 15 43").1, 0x6700, "odd path length");
}

#[test]
fn select_by_df_name() {
    let mut card = operational();
    let (a, sw) = select(&mut card, &format!("00 A4 04 04 0C {PKCS15_AID} 00"));
    assert_eq!(sw, 0x9000);
    let t = fcp(&a);
    assert_eq!(t[&0x82], vec![0x38]);
    assert_eq!(t[&0x83], vec![0x50, 0x15]);
    assert_eq!(t[&0x84], hex(PKCS15_AID));
    assert_eq!(fid_of(&mut card), vec![0x50, 0x15]);
    // A name nobody has, and a truncated one (no partial matching).
    assert_eq!(select(&mut card, "00 A4 04 0C 05 A0 00 00 00 63").1, 0x6A82);
    assert_eq!(select(&mut card, "00 A4 04 0C 05 A0 00 00 00 99").1, 0x6A82);
    assert_eq!(select(&mut card, "00 A4 04 0C").1, 0x6700, "no name");
}

#[test]
fn select_p2_chooses_fci_fcp_or_nothing() {
    let mut card = operational();
    let (fci, sw) = select(&mut card, "00 A4 08 00 04 50 15 43 01 00");
    assert_eq!(sw, 0x9000);
    let fci = template(&fci, 0x6F);
    let (fcp_bytes, _) = select(&mut card, "00 A4 08 04 04 50 15 43 01 00");
    assert_eq!(fci, fcp(&fcp_bytes), "same objects, other template");
    assert_eq!(select(&mut card, "00 A4 08 0C 04 50 15 43 01 00"), (vec![], 0x9000));
    for p2 in [0x01, 0x02, 0x08, 0x0D, 0x10, 0xFF] {
        assert_eq!(tx_bytes(&mut card, &[0x00, 0xA4, 0x00, p2, 0x02, 0x3F, 0x00]).1, 0x6A86, "P2 {p2:02X}");
    }
    for p1 in [0x05, 0x07, 0x0A, 0x80] {
        assert_eq!(tx_bytes(&mut card, &[0x00, 0xA4, p1, 0x0C, 0x02, 0x3F, 0x00]).1, 0x6A86, "P1 {p1:02X}");
    }
}

#[test]
fn fcp_contents_of_an_ef_and_a_df() {
    let mut card = operational();
    let (a, _) = select(&mut card, "00 A4 08 04 04 50 15 43 01 00");
    let t = fcp(&a);
    assert_eq!(t[&0x80], (CERT_LEN as u16).to_be_bytes().to_vec(), "size");
    assert_eq!(t[&0x82], vec![0x01], "transparent EF");
    assert_eq!(t[&0x83], vec![0x43, 0x01]);
    assert_eq!(t[&0x86], vec![0x00, 0x02], "read always, update during personalisation");
    assert_eq!(t[&0x8A], vec![0x05], "operational");
    assert!(!t.contains_key(&0x84) && !t.contains_key(&0x88));
    let (a, _) = select(&mut card, "00 A4 08 04 04 50 15 43 10 00");
    let t = fcp(&a);
    assert_eq!(t[&0x80], vec![0x00, 0x10]);
    assert_eq!(t[&0x86], vec![0x01, 0x01], "PIN to read and update");
    let (a, _) = select(&mut card, "00 A4 00 04 00");
    let t = fcp(&a);
    assert_eq!(t[&0x82], vec![0x38], "DF");
    assert_eq!(t[&0x83], vec![0x3F, 0x00]);
    assert_eq!(t[&0x84], hex("F2 76 A2 88 BC FB A6 9D 34 F3 10 01"), "the MF is named by the IsoApplet AID");
    assert!(!t.contains_key(&0x80), "a DF has no size");
    // 8A follows the card's life cycle.
    let mut card = blank();
    let (a, _) = select(&mut card, "00 A4 00 04 00");
    assert_eq!(fcp(&a)[&0x8A], vec![0x01]);
    let mut card = personalised_unactivated();
    let (a, _) = select(&mut card, "00 A4 00 04 00");
    assert_eq!(fcp(&a)[&0x8A], vec![0x03]);
}

#[test]
fn select_not_found_answers_6a82_and_keeps_the_selection() {
    let mut card = operational();
    select(&mut card, "00 A4 08 0C 04 50 15 43 01");
    assert_eq!(select(&mut card, "00 A4 00 0C 02 12 34").1, 0x6A82);
    assert_eq!(select(&mut card, "00 A4 02 0C 02 43 02").1, 0x6A82);
    // The current EF is still the certificate.
    assert_eq!(tx(&mut card, "00 B0 00 00 04").0, cert_bytes()[..4].to_vec());
}

#[test]
fn read_binary_offsets() {
    let mut card = operational();
    select(&mut card, "00 A4 08 0C 04 50 15 43 01");
    let cert = cert_bytes();
    assert_eq!(tx(&mut card, "00 B0 00 00 10"), (cert[..16].to_vec(), 0x9000));
    assert_eq!(tx(&mut card, "00 B0 00 0A 05"), (cert[10..15].to_vec(), 0x9000));
    assert_eq!(tx(&mut card, "00 B0 01 00 10"), (cert[256..272].to_vec(), 0x9000), "offset 0100");
    assert_eq!(tx(&mut card, "00 B0 02 57 01"), (cert[599..].to_vec(), 0x9000), "last byte");
    assert_eq!(tx(&mut card, "00 B0 00 00 00"), (cert[..256].to_vec(), 0x9000), "Le 00 = 256");
    // Beyond the end: 6B00. Running past the end: the data and 6282.
    assert_eq!(tx(&mut card, "00 B0 02 58 01"), (vec![], 0x6B00), "offset = size");
    assert_eq!(tx(&mut card, "00 B0 7F FF 01"), (vec![], 0x6B00));
    assert_eq!(tx(&mut card, "00 B0 02 50 10"), (cert[592..].to_vec(), 0x6282));
    assert_eq!(tx(&mut card, "00 B0 02 00 00"), (cert[512..].to_vec(), 0x6282));
}

#[test]
fn read_binary_by_short_file_identifier() {
    let mut card = personalised_unactivated();
    // An EF with SFI 5 in DF 5015 (the current DF after personalisation).
    assert_eq!(create(&mut card, "82 01 01 83 02 43 02 80 02 00 08 86 02 00 02 88 01 05"), 0x9000);
    // Written by SFI too (UPDATE BINARY P1 = 80 | SFI, P2 = offset).
    assert_eq!(tx(&mut card, "00 D6 85 00 08 01 02 03 04 05 06 07 08").1, 0x9000);
    ok(&mut card, &hex("00 44 00 00"));
    select(&mut card, "00 A4 08 0C 02 50 15");
    assert_eq!(tx(&mut card, "00 B0 00 00 01").1, 0x6986, "no current EF after selecting the DF");
    assert_eq!(tx(&mut card, "00 B0 85 00 04"), (hex("01 02 03 04"), 0x9000));
    assert_eq!(tx(&mut card, "00 B0 85 06 00"), (hex("07 08"), 0x6282));
    assert_eq!(tx(&mut card, "00 B0 85 08 01"), (vec![], 0x6B00));
    // Reading by SFI selected the EF: plain offsets now read it.
    assert_eq!(tx(&mut card, "00 B0 00 02 02"), (hex("03 04"), 0x9000));
    // FCP shows the SFI.
    let (a, _) = select(&mut card, "00 A4 02 04 02 43 02 00");
    assert_eq!(fcp(&a)[&0x88], vec![0x05]);
    // An SFI nobody has, and malformed SFI forms.
    assert_eq!(tx(&mut card, "00 B0 86 00 01").1, 0x6A82);
    assert_eq!(tx(&mut card, "00 B0 80 00 01").1, 0x6A86, "SFI 0");
    assert_eq!(tx(&mut card, "00 B0 A5 00 01").1, 0x6A86, "bits 7-6 of P1 set");
    // SFIs are per DF: from the MF, SFI 5 is unknown.
    select(&mut card, "00 A4 00 0C");
    assert_eq!(tx(&mut card, "00 B0 85 00 01").1, 0x6A82);
}

#[test]
fn pin_protected_ef_needs_verify() {
    let mut card = operational();
    select(&mut card, "00 A4 08 0C 04 50 15 43 10");
    assert_eq!(tx(&mut card, "00 B0 00 00 10"), (vec![], 0x6982));
    assert_eq!(tx(&mut card, "00 D6 00 00 02 AA BB").1, 0x6982);
    assert_eq!(verify(&mut card, PIN), 0x9000);
    assert_eq!(tx(&mut card, "00 B0 00 00 10"), (vec![0; 16], 0x9000));
    assert_eq!(tx(&mut card, "00 D6 00 00 02 AA BB").1, 0x9000, "update AC 01 after VERIFY");
    assert_eq!(tx(&mut card, "00 B0 00 00 02"), (hex("AA BB"), 0x9000));
    // Log out, reset: locked again.
    assert_eq!(tx(&mut card, "00 20 FF 01").1, 0x9000);
    assert_eq!(tx(&mut card, "00 B0 00 00 02").1, 0x6982);
    assert_eq!(verify(&mut card, PIN), 0x9000);
    card.reset();
    select(&mut card, "00 A4 08 0C 04 50 15 43 10");
    assert_eq!(tx(&mut card, "00 B0 00 00 02").1, 0x6982);
}

#[test]
fn binary_commands_need_a_current_ef() {
    let mut card = operational();
    // Just after reset: nothing selected.
    card.reset();
    assert_eq!(tx(&mut card, "00 B0 00 00 01").1, 0x6986);
    // After selecting a DF (the MF, or 5015 by name) there is no current EF either.
    select(&mut card, "00 A4 00 0C");
    assert_eq!(tx(&mut card, "00 B0 00 00 01").1, 0x6986);
    select(&mut card, &format!("00 A4 04 0C 0C {PKCS15_AID}"));
    assert_eq!(tx(&mut card, "00 B0 00 00 01").1, 0x6986);
    assert_eq!(tx(&mut card, "00 D6 00 00 01 00").1, 0x6986);
    // READ BINARY on a DF named by its SFI cannot happen (only EFs carry an SFI); the DF case is 6986 above.
}

#[test]
fn update_binary_follows_the_update_access_condition() {
    let mut card = personalised_unactivated();
    // During personalisation: 02 (personalisation) yes, FF (never) no, 00 (always) yes, 01 needs the PIN.
    select(&mut card, "00 A4 08 0C 02 50 15");
    create_ef(&mut card, 0x4320, 4, 0x00, 0xFF);
    assert_eq!(tx(&mut card, "00 D6 00 00 02 01 02").1, 0x6982, "update never");
    select(&mut card, "00 A4 08 0C 02 50 15");
    create_ef(&mut card, 0x4321, 4, 0x00, 0x00);
    assert_eq!(tx(&mut card, "00 D6 00 00 02 01 02").1, 0x9000, "update always");
    select(&mut card, "00 A4 08 0C 04 50 15 43 01");
    assert_eq!(tx(&mut card, "00 D6 00 00 02 01 02").1, 0x9000, "update during personalisation");
    select(&mut card, "00 A4 08 0C 04 50 15 43 10");
    assert_eq!(tx(&mut card, "00 D6 00 00 02 01 02").1, 0x6982, "PIN needed");
    // Past the end.
    select(&mut card, "00 A4 08 0C 04 50 15 43 01");
    assert_eq!(tx(&mut card, "00 D6 02 57 02 01 02").1, 0x6B00, "runs past the end");
    assert_eq!(tx(&mut card, "00 D6 02 58 01 01").1, 0x6B00, "starts at the end");
    assert_eq!(tx(&mut card, "00 D6 02 57 01 EE").1, 0x9000, "last byte");
    assert_eq!(tx(&mut card, "00 D6 00 00").1, 0x6700, "no data");
    // After activation: 02 is over, 00 still works, FF still never.
    ok(&mut card, &hex("00 44 00 00"));
    select(&mut card, "00 A4 08 0C 04 50 15 43 01");
    assert_eq!(tx(&mut card, "00 D6 00 00 02 FF FF").1, 0x6982, "personalisation is over");
    assert_eq!(tx(&mut card, "00 B0 00 00 02"), (hex("01 02"), 0x9000), "unchanged");
    assert_eq!(tx(&mut card, "00 B0 02 57 01"), (hex("EE"), 0x9000));
    select(&mut card, "00 A4 08 0C 04 50 15 43 21");
    assert_eq!(tx(&mut card, "00 D6 00 00 02 05 06").1, 0x9000);
    assert_eq!(tx(&mut card, "00 B0 00 00 00"), (hex("05 06 00 00"), 0x6282));
    select(&mut card, "00 A4 08 0C 04 50 15 43 20");
    assert_eq!(tx(&mut card, "00 D6 00 00 02 05 06").1, 0x6982);
}

/// CREATE FILE with `62 L` put around the given objects.
fn create(card: &mut TestCard, objects_hex: &str) -> u16 {
    let objects = hex(objects_hex);
    let mut fcp = vec![0x62, objects.len() as u8];
    fcp.extend_from_slice(&objects);
    create_raw(card, &fcp)
}

fn create_raw(card: &mut TestCard, data: &[u8]) -> u16 {
    tx_bytes(card, &apdu(0xE0, 0, 0, data, None)).1
}

#[test]
fn create_file_errors() {
    let mut card = personalised_unactivated();
    select(&mut card, "00 A4 08 0C 02 50 15");
    // 6A89: FID exists in the current DF (also for a DF with an EF's FID, and for a used SFI).
    assert_eq!(create(&mut card, "82 01 01 83 02 43 01 80 02 00 10 8A 01 05"), 0x6A89);
    assert_eq!(create(&mut card, "82 01 38 83 02 43 10"), 0x6A89);
    assert_eq!(create(&mut card, "82 01 01 83 02 43 30 80 02 00 10 88 01 07"), 0x9000);
    select(&mut card, "00 A4 08 0C 02 50 15");
    assert_eq!(create(&mut card, "82 01 01 83 02 43 31 80 02 00 10 88 01 07"), 0x6A89, "SFI 7 is taken");
    // The same FID in another DF is fine.
    select(&mut card, "00 A4 00 0C");
    assert_eq!(create(&mut card, "82 01 01 83 02 43 01 80 02 00 10 8A 01 05"), 0x9000);
    // 6A8A: DF name exists, anywhere on the card (also the MF's IsoApplet AID).
    select(&mut card, "00 A4 00 0C");
    assert_eq!(create(&mut card, &format!("82 01 38 83 02 50 16 84 0C {PKCS15_AID}")), 0x6A8A);
    assert_eq!(create(&mut card, "82 01 38 83 02 50 17 84 0C F2 76 A2 88 BC FB A6 9D 34 F3 10 01"), 0x6A8A);
    // 6A84: no room for the contents.
    assert_eq!(create(&mut card, "82 01 01 83 02 60 00 80 02 FF FF"), 0x6A84);
    assert_eq!(create(&mut card, "82 01 01 83 02 60 00 80 02 79 00"), 0x6A84);
    // 6A80: malformed FCP.
    assert_eq!(create(&mut card, "82 01 01 83 02"), 0x6A80, "truncated object");
    assert_eq!(create_raw(&mut card, &hex("62 09 82 01 01 83 02 60 01")), 0x6A80, "template length");
    assert_eq!(create(&mut card, "82 01 01 83 02 3F 00"), 0x6A80, "FID 3F00");
    assert_eq!(create(&mut card, "82 01 01 83 02 60 01"), 0x6A80, "EF without size");
    assert_eq!(create(&mut card, "82 01 01 83 02 60 01 86 02 00 07"), 0x6A80, "unknown access byte");
    assert_eq!(create_raw(&mut card, &hex("63 07 82 01 38 83 02 60 02")), 0x6A80, "not an FCP");
    assert_eq!(create(&mut card, "82 01 38 83 02 60 02 80 02 00 10"), 0x6A80, "a DF with a size");
    assert_eq!(create(&mut card, "82 01 01 83 02 60 02 80 02 00 10 84 01 AA"), 0x6A80, "an EF with a name");
    // Nothing half-created by the failures.
    assert_eq!(select(&mut card, "00 A4 00 0C 02 60 00").1, 0x6A82);
    assert_eq!(select(&mut card, "00 A4 00 0C 02 50 16").1, 0x6A82);
    // 6985 after activation.
    let mut card = operational();
    assert_eq!(create(&mut card, "82 01 01 83 02 60 00 80 02 00 10 8A 01 05"), 0x6985);
    assert_eq!(card.info().files, 4, "MF, 5015, 4301, 4310 and nothing more");
}

#[test]
fn create_file_until_the_table_is_full() {
    let mut card = blank();
    let mut created = 0;
    let last = loop {
        let [hi, lo] = (0x6000u16 + created).to_be_bytes();
        let sw = tx_bytes(
            &mut card,
            &apdu(0xE0, 0, 0, &[0x62, 0x0B, 0x82, 0x01, 0x01, 0x83, 0x02, hi, lo, 0x80, 0x02, 0x00, 0x01], None),
        )
        .1;
        if sw != 0x9000 {
            break sw;
        }
        created += 1;
        // Each new EF is selected; go back to the MF for the next one.
        select(&mut card, "00 A4 00 0C");
        assert!(created < 100, "the table never fills");
    };
    assert_eq!(last, 0x6A84);
    assert_eq!(created, 39, "40 files with the MF");
    assert_eq!(card.info().files, 40);
    let card = reboot(card);
    assert_eq!(card.info().files, 40);
}

#[test]
fn created_file_is_selected_and_dfs_nest() {
    let mut card = blank();
    // A DF without name under the MF, an EF in it: CREATE FILE selects each new file.
    assert_eq!(create(&mut card, "82 01 38 83 02 70 00"), 0x9000);
    assert_eq!(create(&mut card, "82 01 01 83 02 71 01 80 02 00 04 86 02 00 00"), 0x9000);
    assert_eq!(tx(&mut card, "00 D6 00 00 04 DE AD BE EF").1, 0x9000, "the new EF is the current EF");
    assert_eq!(select(&mut card, "00 A4 08 0C 04 70 00 71 01").1, 0x9000);
    assert_eq!(tx(&mut card, "00 B0 00 00 04"), (hex("DE AD BE EF"), 0x9000));
    // The parent of 7000 is the MF.
    select(&mut card, "00 A4 00 0C 02 70 00");
    let (a, _) = select(&mut card, "00 A4 03 04 00");
    assert_eq!(fcp(&a)[&0x83], vec![0x3F, 0x00]);
    // New EFs are zero-filled.
    assert_eq!(create(&mut card, "82 01 01 83 02 71 02 80 02 00 03"), 0x9000);
    assert_eq!(tx(&mut card, "00 B0 00 00 03"), (vec![0, 0, 0], 0x9000));
}
