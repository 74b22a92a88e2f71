//! Which card goes in which vpcd slot: `--card PROFILE[:FILE]` arguments (and the older `--profile P --card FILE`
//! pairs) turned into one [`SlotSpec`] per slot, numbered from the first slot and capped at [`MAX_SLOTS`].
//!
//! vsmartcard's vpcd gives slot *n* the port `base + n` (vpcd's `VPCDPORT` plus the reader index, see the shared
//! reference on vpcd); pcscd names it "Virtual PCD 00 0n". A build of vpcd with more readers serves up to 16.

use std::path::PathBuf;

use reader_sim::image::Rollback;

use super::SlotSpec;
use issuance::profile::PROFILE_NAMES;

/// The most vpcd slots one `zorgcard serve` fills: slot numbers 0..=15 (ports base..base+15).
pub const MAX_SLOTS: usize = 16;

/// The spelling of `--card`, for messages.
pub const CARD_SYNTAX: &str = "--card PROFILE[:FILE]";

/// Why the slot arguments do not describe a set of slots. Each message names the argument and the fix.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlotsError {
    /// Neither `--card` nor `--profile` was given.
    #[error("no card to serve: give at least one `{CARD_SYNTAX}`, e.g. `--card uzi-zorgverlener`")]
    NoCards,
    /// `--card` with a colon but nothing on one side of it.
    #[error(
        "`--card {value}`: {missing} is empty: write `{CARD_SYNTAX}`, e.g. `--card uzi-zorgverlener:alice.card` \
         (or `--card alice.card` for an image that exists)"
    )]
    EmptyPart {
        /// The argument as given.
        value: String,
        /// `PROFILE` or `FILE`.
        missing: &'static str,
    },
    /// `--card P:FILE` where `P` is neither a shipped profile nor a profile file.
    #[error(
        "`--card {value}`: `{profile}` is not a profile: give one of {known}, or a path to a profile .toml, before \
         the `:`"
    )]
    UnknownProfile {
        /// The argument as given.
        value: String,
        /// The part before the colon.
        profile: String,
        /// The shipped profile names.
        known: String,
    },
    /// `--card X` without a colon: not a profile, and no image file `X` exists.
    #[error(
        "`--card {value}`: not a profile ({known}, or a .toml path) and no image file `{value}`: write \
         `{CARD_SYNTAX}` to make the image from a profile, e.g. `--card uzi-zorgverlener:{value}`"
    )]
    NeitherProfileNorImage {
        /// The argument as given.
        value: String,
        /// The shipped profile names.
        known: String,
    },
    /// More cards than slots from `--slot` to slot 15.
    #[error(
        "{count} cards from slot {first} need slots up to {last}, but vpcd slots go from 0 to {max}: serve at most \
         {room} cards from slot {first} (or start at a lower --slot)",
        last = first + count - 1, max = MAX_SLOTS - 1, room = MAX_SLOTS.saturating_sub(*first)
    )]
    TooManySlots {
        /// The first slot (`--slot`).
        first: usize,
        /// How many cards were given.
        count: usize,
    },
    /// One image file in two slots: two writers would overwrite each other's state.
    #[error(
        "image `{path}` is given for slots {first} and {second}: one image is one card; make a second image \
         (`--card PROFILE:OTHER-FILE`)",
        path = path.display()
    )]
    SameImage {
        /// The image file.
        path: PathBuf,
        /// The first slot holding it.
        first: usize,
        /// The second slot holding it.
        second: usize,
    },
    /// `--profile` (the older spelling) and new-style `--card PROFILE:FILE` values together.
    #[error(
        "`--card {value}` names a profile while --profile is also given: use either `--card PROFILE[:FILE]` for \
         every slot (preferred) or the older `--profile P --card FILE` pairs, not both"
    )]
    MixedSpellings {
        /// The new-style argument.
        value: String,
    },
}

fn known_profiles() -> String {
    PROFILE_NAMES.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// Whether `s` names a profile the way [`issuance::profile::load`] accepts one: a shipped name or a path
/// to a `.toml` file.
fn is_profile(s: &str) -> bool {
    PROFILE_NAMES.contains(&s) || s.ends_with(".toml")
}

/// One `--card` argument, parsed: `PROFILE` (a fresh card), `PROFILE:FILE` (an image kept across runs, made from
/// the profile when absent) or `FILE` (an image that exists). `exists` says whether a path names an existing file;
/// it is a parameter so the parsing is tested without touching the disk.
pub fn parse_card(value: &str, exists: &dyn Fn(&str) -> bool) -> Result<(Option<String>, Option<PathBuf>), SlotsError> {
    if let Some((profile, file)) = value.split_once(':') {
        if profile.is_empty() {
            return Err(SlotsError::EmptyPart { value: value.into(), missing: "PROFILE" });
        }
        if file.is_empty() {
            return Err(SlotsError::EmptyPart { value: value.into(), missing: "FILE" });
        }
        if !is_profile(profile) {
            return Err(SlotsError::UnknownProfile {
                value: value.into(),
                profile: profile.into(),
                known: known_profiles(),
            });
        }
        return Ok((Some(profile.into()), Some(PathBuf::from(file))));
    }
    if value.is_empty() {
        return Err(SlotsError::EmptyPart { value: value.into(), missing: "PROFILE" });
    }
    if is_profile(value) {
        return Ok((Some(value.into()), None));
    }
    if exists(value) {
        return Ok((None, Some(PathBuf::from(value))));
    }
    Err(SlotsError::NeitherProfileNorImage { value: value.into(), known: known_profiles() })
}

/// The slots of one `serve`: the `(slot, spec)` pairs, slot numbers from `first_slot` on.
///
/// `cards` are `--card` values. With no `profiles`, each is `PROFILE[:FILE]` ([`parse_card`]). With `profiles`
/// (the older spelling), `--profile` and `--card` pair up by position and every `--card` is an image file.
pub fn plan(
    profiles: &[String],
    cards: &[String],
    first_slot: usize,
    rollback: Rollback,
    exists: &dyn Fn(&str) -> bool,
) -> Result<Vec<(usize, SlotSpec)>, SlotsError> {
    let specs: Vec<SlotSpec> = if profiles.is_empty() {
        cards
            .iter()
            .map(|c| parse_card(c, exists).map(|(profile, card)| SlotSpec { profile, card, rollback }))
            .collect::<Result<_, _>>()?
    } else {
        if let Some(value) = cards.iter().find(|c| c.split_once(':').is_some_and(|(p, _)| is_profile(p))) {
            return Err(SlotsError::MixedSpellings { value: value.clone() });
        }
        (0..profiles.len().max(cards.len()))
            .map(|i| SlotSpec { profile: profiles.get(i).cloned(), card: cards.get(i).map(PathBuf::from), rollback })
            .collect()
    };
    if specs.is_empty() {
        return Err(SlotsError::NoCards);
    }
    if first_slot + specs.len() > MAX_SLOTS {
        return Err(SlotsError::TooManySlots { first: first_slot, count: specs.len() });
    }
    let mut seen: Vec<(usize, &PathBuf)> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        if let Some(path) = &spec.card {
            if let Some((first, _)) = seen.iter().find(|(_, p)| *p == path) {
                return Err(SlotsError::SameImage { path: path.clone(), first: *first, second: first_slot + i });
            }
            seen.push((first_slot + i, path));
        }
    }
    Ok(specs.into_iter().enumerate().map(|(i, s)| (first_slot + i, s)).collect())
}

/// The first pair of slots whose cards share a serial number, if any. PC/SC applications (and the portal) tell
/// cards apart by serial, so `serve` refuses to show two cards with one serial.
pub fn duplicate_serial<'a>(serials: impl IntoIterator<Item = (usize, &'a str)>) -> Option<(usize, usize, String)> {
    let mut seen: Vec<(usize, &str)> = Vec::new();
    for (slot, serial) in serials {
        if let Some((first, _)) = seen.iter().find(|(_, s)| *s == serial) {
            return Some((*first, slot, serial.to_owned()));
        }
        seen.push((slot, serial));
    }
    None
}

#[cfg(test)]
mod tests;
