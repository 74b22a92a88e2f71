use std::cell::RefCell;

use super::*;

/// Records what the loop asked for.
#[derive(Default)]
struct Recorder(RefCell<Vec<String>>);

impl Slots for Recorder {
    fn numbers(&self) -> Vec<usize> {
        vec![0, 1, 5]
    }
    fn remove(&self, slot: usize) {
        self.0.borrow_mut().push(format!("remove {slot}"));
    }
    fn insert(&self, slot: usize) {
        self.0.borrow_mut().push(format!("insert {slot}"));
    }
    fn set_clock_offset_days(&self, days: i64) {
        self.0.borrow_mut().push(format!("clock {days}"));
    }
}

fn drive(input: &str, verbose: bool) -> (Ended, Vec<String>, String) {
    let slots = Recorder::default();
    let mut said = Vec::new();
    let ended = run(&mut input.as_bytes(), &slots, &mut said, verbose);
    (ended, slots.0.into_inner(), String::from_utf8(said).unwrap())
}

#[test]
fn commands_act_on_the_slots_until_quit() {
    let (ended, done, said) = drive("remove 1\n\ninsert 1\nclock +1096\nclock -3\nquit\nremove 0\n", false);
    assert_eq!(ended, Ended::Quit);
    assert_eq!(done, ["remove 1", "insert 1", "clock 1096", "clock -3"]);
    assert_eq!(said, "");
}

#[test]
fn the_end_of_input_is_not_a_quit() {
    let (ended, done, _) = drive("remove 5\n", false);
    assert_eq!(ended, Ended::InputClosed);
    assert_eq!(done, ["remove 5"]);
}

#[test]
fn mistakes_are_answered_and_the_loop_goes_on() {
    let (ended, done, said) =
        drive("remove\ninsert 7\ninsert x\nclock soon\nclock\nfly away\nremove 0 1\ninsert 0\n", false);
    assert_eq!(ended, Ended::InputClosed);
    assert_eq!(done, ["insert 0"]);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines[0], "remove: which slot? e.g. `remove 0`");
    assert_eq!(lines[1], "insert: no served slot `7`; the slots are 0, 1, 5");
    assert!(lines[2].contains("no served slot `x`"), "{said}");
    assert!(lines[3].starts_with("clock: give a whole number of days"), "{said}");
    assert!(lines[4].starts_with("clock: give a whole number of days"), "{said}");
    assert_eq!(lines[5], format!("unknown command `fly away`; {COMMANDS}"));
    assert!(lines[6].starts_with("unknown command `remove 0 1`"), "{said}");
    assert_eq!(lines.len(), 7);
}

#[test]
fn verbose_says_what_was_done() {
    let (_, _, said) = drive("remove 0\nclock +2\n", true);
    assert_eq!(said, "slot 0: card removed\nclock: real time +2 days on every card\n");
}
