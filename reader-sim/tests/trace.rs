//! APDU traces: PINs, PUKs and keys never appear, lines carry RFC 3339 times (or none, for snapshots).

mod common;

use common::*;
use reader_sim::{InProcessReader, Trace, TraceEvent, Traced, Transmit};

fn traced_card(trace: &Trace) -> Traced<InProcessReader> {
    Traced::new(InProcessReader::with_card(blank_card()), trace.clone(), 0)
}

/// Every way the bytes of `secret` could be spelled in hex.
fn spellings(secret: &[u8]) -> Vec<String> {
    let upper = hex::encode_upper(secret);
    let lower = hex::encode(secret);
    let spaced: Vec<String> = secret.iter().map(|b| format!("{b:02X}")).collect();
    vec![upper, lower, spaced.join(" "), spaced.join(" ").to_lowercase()]
}

#[test]
fn pins_and_puks_are_masked() {
    let trace = Trace::memory().without_timestamps();
    let mut reader = traced_card(&trace);
    reader.power_on().unwrap();
    reader.transmit(&set_reference(0x01, PIN)).unwrap();
    reader.transmit(&set_reference(0x02, PUK)).unwrap();
    reader.transmit(&verify(b"654321")).unwrap();
    reader.transmit(&verify(PIN)).unwrap();
    let mut change = PIN.to_vec();
    change.extend_from_slice(b"abcdef");
    reader.transmit(&apdu([0x00, 0x24, 0x00, 0x01], &change)).unwrap();
    let mut unblock = PUK.to_vec();
    unblock.extend_from_slice(PIN);
    reader.transmit(&apdu([0x00, 0x2C, 0x00, 0x01], &unblock)).unwrap();
    // A private key imported with PUT DATA.
    let scalar = [0x42u8; 32];
    reader.transmit(&apdu([0x00, 0xDA, 0x01, 0x02], &scalar)).unwrap();

    let lines = trace.lines();
    let text = lines.join("\n");
    assert!(lines.contains(&"slot 0 > VERIFY 00 20 00 01 06 ************".to_owned()), "{text}");
    assert!(lines.contains(&"slot 0 > CHANGE REFERENCE DATA 00 24 01 02 08 ****************".to_owned()), "{text}");
    assert!(text.contains(&format!("PUT DATA 00 DA 01 02 20 {}", "**".repeat(32))), "{text}");
    for secret in [PIN, PUK, b"654321", b"abcdef", &scalar] {
        for spelling in spellings(secret) {
            assert!(!text.contains(&spelling), "`{spelling}` in the trace:\n{text}");
        }
    }
}

#[test]
fn a_session_reads_as_a_snapshot() {
    let trace = Trace::memory().without_timestamps();
    let mut reader = Traced::new(InProcessReader::with_card(card_with_pin()), trace.clone(), 3);
    reader.power_on().unwrap();
    reader.transmit(&GET_LIFE_CYCLE).unwrap();
    reader.transmit(&verify(b"000000")).unwrap();
    reader.transmit(&[0x00, 0x99, 0x00, 0x00]).unwrap();
    reader.reset().unwrap();
    reader.power_off();
    assert!(reader.transmit(&VERIFY_STATUS).is_err());
    insta::assert_snapshot!(trace.lines().join("\n"));
}

#[test]
fn lines_carry_rfc3339_utc_milliseconds() {
    let trace = Trace::memory();
    let mut reader = traced_card(&trace);
    reader.power_on().unwrap();
    reader.transmit(&GET_LIFE_CYCLE).unwrap();
    let lines = trace.lines();
    assert_eq!(lines.len(), 4, "{lines:?}");
    for line in &lines {
        let (time, rest) = line.split_once(' ').unwrap();
        let b = time.as_bytes();
        assert_eq!(b.len(), 24, "{line}");
        for (i, c) in b.iter().enumerate() {
            match i {
                4 | 7 => assert_eq!(*c, b'-', "{line}"),
                10 => assert_eq!(*c, b'T', "{line}"),
                13 | 16 => assert_eq!(*c, b':', "{line}"),
                19 => assert_eq!(*c, b'.', "{line}"),
                23 => assert_eq!(*c, b'Z', "{line}"),
                _ => assert!(c.is_ascii_digit(), "{line}"),
            }
        }
        assert!(rest.starts_with("slot 0 "), "{line}");
    }
}

#[test]
fn a_file_trace_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apdu.log");
    std::fs::write(&path, "earlier line\n").unwrap();
    let trace = Trace::file(&path).unwrap().without_timestamps();
    trace.event(1, &TraceEvent::PowerOn);
    let again = Trace::file(&path).unwrap().without_timestamps();
    again.event(2, &TraceEvent::PowerOff);
    assert!(trace.lines().is_empty(), "only a memory trace keeps lines");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "earlier line\nslot 1 power on\nslot 2 power off\n");
}

#[test]
fn a_trace_that_is_off_writes_nothing_but_counts_polls() {
    let trace = Trace::off();
    assert!(!trace.is_enabled());
    let mut reader = traced_card(&trace);
    reader.power_on().unwrap();
    reader.transmit(&GET_LIFE_CYCLE).unwrap();
    trace.atr_request(0, &uzi_atr());
    assert_eq!(trace.atr_polls(0), 1);
    assert!(trace.lines().is_empty());
}
