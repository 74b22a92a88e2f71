//! Unit tests of the suite runner's pieces.

use super::*;

fn date(y: i32, m: u8, d: u8) -> time::Date {
    time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap_or(time::Month::January), d)
        .unwrap_or(time::Date::MIN)
}

#[test]
fn leap_day_validity_ends_on_28_february() {
    assert_eq!(three_years_after(date(2024, 2, 29)), date(2027, 2, 28));
    let ok = validity_checks(b"2024022920270228", date(2026, 11, 23));
    assert!(ok.iter().all(|c| c.passed), "{ok:?}");
    let wrong = validity_checks(b"2024022920270301", date(2026, 11, 23));
    assert!(!wrong[0].passed);
    let expired = validity_checks(b"2024022920270228", date(2027, 2, 28));
    assert!(!expired[1].passed);
    assert!(!validity_checks(b"20240229", date(2026, 1, 1))[0].passed);
}

#[test]
fn digest_info_is_the_rsa_crates_prefix_and_the_hash() {
    let hash = [0x42u8; 32];
    let sha256 = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
        0x20,
    ];
    assert_eq!(digest_info(HashAlg::Sha256, &hash), [&sha256[..], &hash].concat());
    for alg in HashAlg::ALL {
        let hash = digest(alg, b"x");
        let info = digest_info(alg, &hash);
        assert_eq!(info.len(), usize::from(info[1]) + 2, "{alg:?}: one DER SEQUENCE");
        assert_eq!(Some(hash.len()), pkcs1v15(alg).hash_len, "{alg:?}");
    }
}

#[test]
fn long_commands_are_extended_or_chained() {
    let data = vec![0x11u8; 257];
    let extended = command_any_length([0x00, 0x2A, 0x80, 0x86], &data).unwrap_or_default();
    assert_eq!(&extended[..7], &[0x00, 0x2A, 0x80, 0x86, 0x00, 0x01, 0x01]);
    assert_eq!((extended.len(), &extended[extended.len() - 2..]), (7 + 257 + 2, &[0x00, 0x00][..]));
    assert_eq!(
        command_any_length([0x00, 0x2A, 0x80, 0x86], &[0x00, 0x01]).ok(),
        Some(vec![0x00, 0x2A, 0x80, 0x86, 0x02, 0x00, 0x01, 0x00])
    );
    let parts = chained_commands([0x00, 0x2A, 0x80, 0x86], &data);
    assert_eq!(parts.len(), 2);
    assert_eq!(&parts[0][..5], &[0x10, 0x2A, 0x80, 0x86, 0xFF]);
    assert_eq!(parts[0].len(), 5 + 255);
    assert_eq!(parts[1], [0x00, 0x2A, 0x80, 0x86, 0x02, 0x11, 0x11, 0x00]);
}
