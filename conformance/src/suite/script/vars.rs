//! `${VAR}` in scripts: the values of one card profile, expanded only when a command is built.

use super::*;

/// The values of `${VAR}` for one card profile.
///
/// Text variables: `PIN`, `PUK`, `WRONG_PIN` (same length as the PIN, one character different), `WRONG_PUK`,
/// `NEW_PIN` (another PIN within the policy), `SERIAL`, `UZI_NUMBER`. In hex fields (`apdu`, `expect_data`) a
/// text variable becomes the hex of its ASCII bytes; in text fields (`verify`, `unblock`, …) its text.
/// Byte variables, two hex digits in hex fields and decimal in text: `NAME_LEN` for each text variable,
/// `PIN_MAX`, `PUK_MAX` (the profile's `max_tries`).
#[derive(Clone, PartialEq, Eq)]
pub struct Vars {
    pin: String,
    puk: String,
    wrong_pin: String,
    wrong_puk: String,
    new_pin: String,
    serial: String,
    uzi_number: Option<String>,
    pin_max: u8,
    puk_max: u8,
    profile: String,
}

impl fmt::Debug for Vars {
    /// Values can be a real card's PIN and PUK: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vars {{ profile: {:?}, values: *** }}", self.profile)
    }
}

/// Expansion context: hex fields get hex, text fields get text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `apdu`, `expect_data`.
    Hex,
    /// `verify`, `unblock`, `new_pin`, `change_pin`.
    Text,
}

/// The variable names, for messages.
pub const VARIABLES: [&str; 9] =
    ["PIN", "PUK", "WRONG_PIN", "WRONG_PUK", "NEW_PIN", "SERIAL", "UZI_NUMBER", "PIN_MAX", "PUK_MAX"];

impl Vars {
    /// The variables of `profile`'s card.
    pub fn for_profile(profile: &Profile) -> Vars {
        let pin = profile.pin.value.clone();
        let puk = profile.puk.value.clone();
        Vars {
            wrong_pin: wrong_value(&pin),
            wrong_puk: wrong_value(&puk),
            new_pin: new_pin(&pin, profile.pin.min_len, profile.pin.max_len),
            pin,
            puk,
            serial: profile.serial.clone(),
            uzi_number: profile.holder.as_ref().map(|h| h.uzi_number.clone()),
            pin_max: profile.pin.max_tries,
            puk_max: profile.puk.max_tries,
            profile: profile.name.clone(),
        }
    }

    /// Stand-in values, used to check a script's syntax when it is loaded.
    pub(super) fn sample() -> Vars {
        Vars {
            pin: "123456".into(),
            puk: "12345678".into(),
            wrong_pin: "123457".into(),
            wrong_puk: "12345679".into(),
            new_pin: "975318".into(),
            serial: "9000000000000001".into(),
            uzi_number: Some("900016528".into()),
            pin_max: 3,
            puk_max: 3,
            profile: "(sample)".into(),
        }
    }

    /// The profile's `max_tries` of the PIN, or of the PUK.
    pub fn max_tries(&self, puk: bool) -> u8 {
        if puk { self.puk_max } else { self.pin_max }
    }

    pub(super) fn text(&self, name: &str) -> Result<Option<&str>, String> {
        Ok(Some(match name {
            "PIN" => &self.pin,
            "PUK" => &self.puk,
            "WRONG_PIN" => &self.wrong_pin,
            "WRONG_PUK" => &self.wrong_puk,
            "NEW_PIN" => &self.new_pin,
            "SERIAL" => &self.serial,
            "UZI_NUMBER" => {
                return self.uzi_number.as_deref().map(Some).ok_or_else(|| {
                    format!("profile `{}` has no holder, so `${{UZI_NUMBER}}` has no value", self.profile)
                });
            }
            _ => return Ok(None),
        }))
    }

    /// Expand every `${NAME}` in `template`.
    pub fn expand(&self, template: &str, field: Field) -> Result<String, String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| format!("`${{` without a closing `}}` in `{template}`"))?;
            let name = &after[..end];
            let byte = |b: u8| match field {
                Field::Hex => format!("{b:02X}"),
                Field::Text => b.to_string(),
            };
            let value = if let Some(text) = self.text(name)? {
                match field {
                    Field::Hex => hex::encode_upper(text.as_bytes()),
                    Field::Text => text.to_owned(),
                }
            } else if let Some(text) = name.strip_suffix("_LEN").map(|base| self.text(base)).transpose()?.flatten() {
                byte(u8::try_from(text.len()).unwrap_or(u8::MAX))
            } else if name == "PIN_MAX" {
                byte(self.pin_max)
            } else if name == "PUK_MAX" {
                byte(self.puk_max)
            } else {
                return Err(format!(
                    "unknown variable `${{{name}}}`: use one of {} (and NAME_LEN for text variables)",
                    VARIABLES.map(|v| format!("${{{v}}}")).join(", ")
                ));
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The value with its last character changed, same length and character class, so a wrong try is a real try.
pub(super) fn wrong_value(value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    if let Some(last) = chars.last_mut() {
        *last = match *last {
            '0'..='8' => char::from(*last as u8 + 1),
            '9' => '0',
            'a'..='y' | 'A'..='Y' => char::from(*last as u8 + 1),
            _ => '0',
        };
    }
    chars.into_iter().collect()
}

/// A PIN within the policy that is not `pin`.
pub(super) fn new_pin(pin: &str, min: u8, max: u8) -> String {
    let len = pin.chars().count().clamp(usize::from(min.max(1)), usize::from(max.max(min).max(1)));
    let candidate: String = "9753186420".chars().cycle().take(len).collect();
    if candidate == pin { wrong_value(&candidate) } else { candidate }
}
