//! The trace format read back where it is written: what `Trace` writes, `parse_line` gives back as the same
//! events, bytes and answers, and a masked secret stays masked (parsed as unknown bytes, never as values).

mod common;

use card_os::apdu::describe;
use common::*;
use reader_sim::trace::{TraceLine, TraceRecord, parse_line};
use reader_sim::{InProcessReader, Trace, TraceEvent, Traced, Transmit};

/// A session on a fresh card through `trace`: the lines it should parse back to, in order, without times.
fn session(trace: &Trace) -> Vec<(usize, TraceLine)> {
    let mut reader = Traced::new(InProcessReader::with_card(blank_card()), trace.clone(), 0);
    let mut expected = Vec::new();
    let atr = reader.power_on().unwrap();
    expected.push((0, TraceLine::Event(TraceEvent::PowerOn)));
    expected.push((0, TraceLine::Atr(atr)));
    for apdu in [set_reference(0x01, PIN), verify(b"654321"), verify(PIN), GET_LIFE_CYCLE.to_vec(), vec![0x00, 0x20]] {
        let answer = reader.transmit(&apdu).unwrap();
        let description = describe(&apdu);
        let bytes =
            apdu.iter().enumerate().map(|(i, b)| description.secret_from.is_none_or(|s| i < s).then_some(*b)).collect();
        expected.push((0, TraceLine::Command { name: description.name.to_owned(), bytes }));
        expected.push((0, TraceLine::Response(answer)));
    }
    for event in [
        TraceEvent::Connected("vpcd 127.0.0.1:35963 (slot 1)".into()),
        TraceEvent::CardRemoved,
        TraceEvent::CardInserted,
        TraceEvent::Error("save failed: disk full".into()),
        TraceEvent::Disconnected("peer closed".into()),
        TraceEvent::Reset,
        TraceEvent::PowerOff,
    ] {
        trace.event(3, &event);
        expected.push((3, TraceLine::Event(event)));
    }
    expected
}

fn parse_all(lines: &[String]) -> Vec<TraceRecord> {
    lines.iter().map(|l| parse_line(l).unwrap_or_else(|e| panic!("`{l}`: {e}")).expect("not a comment")).collect()
}

#[test]
fn written_lines_parse_back_to_the_same_events() {
    let trace = Trace::memory().without_timestamps();
    let expected = session(&trace);
    let records = parse_all(&trace.lines());
    let got: Vec<(usize, TraceLine)> = records.iter().map(|r| (r.slot, r.line.clone())).collect();
    assert_eq!(got, expected);
    assert!(records.iter().all(|r| r.time.is_none()));
}

#[test]
fn timestamps_are_kept_and_secrets_stay_masked() {
    let trace = Trace::memory();
    let expected = session(&trace);
    let records = parse_all(&trace.lines());
    assert_eq!(records.len(), expected.len());
    for (record, (slot, line)) in records.iter().zip(&expected) {
        assert!(record.time.as_deref().is_some_and(|t| t.ends_with('Z') && t.contains('T')), "{record:?}");
        assert_eq!((&record.slot, &record.line), (slot, line));
    }
    let masked: Vec<&TraceLine> = records
        .iter()
        .map(|r| &r.line)
        .filter(|l| matches!(l, TraceLine::Command { bytes, .. } if bytes.contains(&None)))
        .collect();
    // SET REFERENCE DATA and both VERIFYs carry a secret; each is masked from its data field on.
    assert_eq!(masked.len(), 3, "{masked:?}");
    for line in masked {
        let TraceLine::Command { bytes, .. } = line else { unreachable!() };
        assert!(bytes[..5].iter().all(Option::is_some) && bytes[5..].iter().all(Option::is_none), "{bytes:?}");
    }
}

#[test]
fn damaged_lines_are_refused_and_comments_skipped() {
    assert_eq!(parse_line("# recorded by hand"), Ok(None));
    assert_eq!(parse_line("   "), Ok(None));
    for (line, problem) in [
        ("slot x power on", "not a slot number"),
        ("hello", "does not start with"),
        ("slot 0 > VERIFY 00 B0 00 00", "its INS B0 is READ BINARY"),
        ("slot 0 < 90 00 all wrong", "is not `[data] SW1 SW2 meaning`"),
        ("slot 0 dancing", "no trace event"),
        ("slot 0 > VERIFY 00 2", "odd number of hex digits"),
    ] {
        let e = parse_line(line).expect_err(line);
        assert!(e.contains(problem), "{line}: {e}");
    }
}

fn line(text: &str) -> TraceLine {
    parse_line(text).unwrap_or_else(|e| panic!("{text}: {e}")).expect("a trace line").line
}

#[test]
fn commands_and_responses_as_written_by_hand() {
    let TraceLine::Command { name, bytes } = line("slot 0 > VERIFY 00 20 00 01 06 ************") else { panic!() };
    assert_eq!((name.as_str(), bytes.len(), bytes.iter().filter(|b| b.is_none()).count()), ("VERIFY", 11, 6));
    let TraceLine::Command { name, .. } =
        line("slot 0 > CHANGE REFERENCE DATA 00 24 00 01 0C ************************")
    else {
        panic!()
    };
    assert_eq!(name, "CHANGE REFERENCE DATA");
    assert_eq!(line("slot 1 < 63 C2 verification failed, tries left"), TraceLine::Response(vec![0x63, 0xC2]));
    assert_eq!(line("slot 1 < 000606 90 00 OK"), TraceLine::Response(vec![0, 6, 6, 0x90, 0]));
    assert_eq!(line("slot 1 < 05 90 00 OK"), TraceLine::Response(vec![5, 0x90, 0]));
    assert_eq!(line("slot 1 < 90 (too short for a status word)"), TraceLine::Response(vec![0x90]));
}
