//! Step 3: the birth date the holder enters.

use super::*;

/// `YYYY-MM-DD`, a real calendar date, not in the future, the holder at least [`MIN_AGE_YEARS`] and at most
/// [`MAX_AGE_YEARS`] years old today.
pub fn check_birth_date(given: &str, now: i64) -> Result<time::Date, PersonaliseError> {
    let err = |problem: &str| PersonaliseError::BirthDate { given: given.into(), problem: problem.into() };
    let shape = given.len() == 10
        && given.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if given.trim().is_empty() {
        return Err(err("is empty"));
    }
    if !shape {
        return Err(err("is not in the form YYYY-MM-DD"));
    }
    let date = time::Date::parse(given, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| err("is not a date in the calendar"))?;
    let today = time::OffsetDateTime::from_unix_timestamp(now)
        .map_err(|_| err("cannot be checked: the clock is wrong"))?
        .date();
    if date > today {
        return Err(err("is in the future"));
    }
    if date > years_before(today, MIN_AGE_YEARS) {
        return Err(err(&format!("makes the holder younger than {MIN_AGE_YEARS}")));
    }
    if date < years_before(today, MAX_AGE_YEARS) {
        return Err(err(&format!("is more than {MAX_AGE_YEARS} years ago")));
    }
    Ok(date)
}

/// The same day `years` earlier; 29 February becomes 28 February.
fn years_before(date: time::Date, years: i32) -> time::Date {
    let year = date.year() - years;
    time::Date::from_calendar_date(year, date.month(), date.day())
        .or_else(|_| time::Date::from_calendar_date(year, date.month(), date.day() - 1))
        .unwrap_or(date)
}
