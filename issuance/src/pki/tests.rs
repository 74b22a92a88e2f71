use super::*;

#[test]
fn three_years_keeps_date_and_time() {
    // 2024-02-29T12:34:56Z -> 2027-02-28T12:34:56Z
    assert_eq!(add_three_years(1_709_210_096), 1_803_818_096);
    // 2025-06-01T00:00:00Z -> 2028-06-01T00:00:00Z
    assert_eq!(add_three_years(1_748_736_000), 1_843_430_400);
}

#[test]
fn derived_serials_are_16_byte_positive() {
    let s = derived_serial(&[b"x", b"y"]).unwrap();
    assert_eq!(s.as_bytes().len(), 16);
    assert_eq!(s.as_bytes()[0] & 0xc0, 0x40);
}
