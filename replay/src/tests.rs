//! Unit tests of the replay: unmasking secrets and reading APDU lists.

use super::*;

#[test]
fn secrets_are_put_back_right_or_wrong_as_recorded() {
    let profile = profile::load("uzi-zorgverlener").unwrap();
    let mut secrets = Secrets { pin: "123456".into(), puk: "12345678".into() };
    let masked = |sw: [u8; 2]| RecordedExchange {
        line: 1,
        name: "VERIFY".into(),
        command: [Some(0), Some(0x20), Some(0), Some(1), Some(6)].into_iter().chain([None; 6]).collect(),
        response: Some(sw.to_vec()),
    };
    assert_eq!(&unmask(&masked([0x90, 0x00]), &profile, &mut secrets)[5..], b"123456");
    assert_eq!(&unmask(&masked([0x63, 0xC2]), &profile, &mut secrets)[5..], b"999999");
    assert_eq!(shaped("123456", 8), b"12345612");
    assert_eq!(wrong("129", 4), b"9989");
}

#[test]
fn apdu_lists_take_comments_and_the_pin_placeholder() {
    let dir = std::env::temp_dir().join(format!("zorgcard-apdu-list-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("list.apdus");
    std::fs::write(&path, "# login\n00 A4 04 0C 02 3F00\n\n00 20 00 01 06 $PIN # the PIN\n").unwrap();
    let list = read_apdu_list(&path, Some(b"123456")).unwrap();
    assert_eq!(list[0], (2, vec![0x00, 0xA4, 0x04, 0x0C, 0x02, 0x3F, 0x00]));
    assert_eq!(list[1].0, 4);
    assert_eq!(&list[1].1[5..], b"123456");
    let e = read_apdu_list(&path, None).unwrap_err().to_string();
    assert!(e.contains("line 4") && e.contains("--pin-from-env"), "{e}");
    std::fs::write(&path, "00 A4 0\n").unwrap();
    assert!(read_apdu_list(&path, None).unwrap_err().to_string().contains("line 1"));
    let _ = std::fs::remove_dir_all(&dir);
}
