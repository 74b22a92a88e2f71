//! One type per step kind, each parsing its own TOML value with `TryFrom`, the way opcard-rs parses each command
//! (`impl TryFrom<&iso7816::Command<C>> for Command`). The input is the value serde already typed (a string, a
//! number, a table such as [`RawSign`]), so serde's own messages for a wrong type or an unknown key stay as they
//! were; what each kind checks beyond that is an [`FieldError`]. [`super::parse_step`] picks the kind.

use super::*;

const PATH_FIX: &str = "write FIDs from the MF, e.g. \"5015/4301\"";

/// `apdu = "00 A4 …"`: a template that expands to at least one byte.
pub(super) struct Apdu(String);

impl TryFrom<&str> for Apdu {
    type Error = FieldError;

    fn try_from(template: &str) -> Result<Self, FieldError> {
        let bytes = parse_hex(&check_template("apdu", template, Field::Hex)?)
            .map_err(|e| FieldError::new("apdu", e, "write the command as hex bytes, e.g. \"00 A4 00 0C\""))?;
        // Frames shorter than a header are legitimate malformed-command checks (6700); an empty one is a slip.
        if bytes.is_empty() {
            return Err(FieldError::new("apdu", "the command is empty", "write at least CLA INS"));
        }
        Ok(Apdu(template.to_owned()))
    }
}

impl From<Apdu> for Action {
    fn from(step: Apdu) -> Action {
        Action::Apdu(step.0)
    }
}

/// `verify = "${PIN}"`: a PIN template.
pub(super) struct Verify(String);

impl TryFrom<&str> for Verify {
    type Error = FieldError;

    fn try_from(template: &str) -> Result<Self, FieldError> {
        check_template("verify", template, Field::Text)?;
        Ok(Verify(template.to_owned()))
    }
}

impl From<Verify> for Action {
    fn from(step: Verify) -> Action {
        Action::Verify(step.0)
    }
}

/// `unblock = "${PUK}"` with the step's optional `new_pin`: two templates.
pub(super) struct Unblock {
    puk: String,
    new_pin: Option<String>,
}

impl TryFrom<(&str, Option<&str>)> for Unblock {
    type Error = FieldError;

    fn try_from((puk, new_pin): (&str, Option<&str>)) -> Result<Self, FieldError> {
        check_template("unblock", puk, Field::Text)?;
        if let Some(n) = new_pin {
            check_template("new_pin", n, Field::Text)?;
        }
        Ok(Unblock { puk: puk.to_owned(), new_pin: new_pin.map(str::to_owned) })
    }
}

impl From<Unblock> for Action {
    fn from(step: Unblock) -> Action {
        Action::Unblock { puk: step.puk, new_pin: step.new_pin }
    }
}

/// `change_pin = { old, new }`: two PIN templates.
pub(super) struct ChangePin {
    old: String,
    new: String,
}

impl TryFrom<&RawChangePin> for ChangePin {
    type Error = FieldError;

    fn try_from(raw: &RawChangePin) -> Result<Self, FieldError> {
        check_template("change_pin", &raw.old, Field::Text)?;
        check_template("change_pin", &raw.new, Field::Text)?;
        Ok(ChangePin { old: raw.old.clone(), new: raw.new.clone() })
    }
}

impl From<ChangePin> for Action {
    fn from(step: ChangePin) -> Action {
        Action::ChangePin { old: step.old, new: step.new }
    }
}

/// `select_path = "5015/4301"`: FIDs from the MF (the MF itself is the empty path).
pub(super) struct SelectPath(Vec<u16>);

impl TryFrom<&str> for SelectPath {
    type Error = FieldError;

    fn try_from(text: &str) -> Result<Self, FieldError> {
        Ok(SelectPath(parse_path(text).map_err(|e| FieldError::new("select_path", e, PATH_FIX))?))
    }
}

impl From<SelectPath> for Action {
    fn from(step: SelectPath) -> Action {
        Action::SelectPath(step.0)
    }
}

/// `read_file = "5015/4301"`: the path of an EF, so not the MF.
pub(super) struct ReadFile(Vec<u16>);

impl TryFrom<&str> for ReadFile {
    type Error = FieldError;

    fn try_from(text: &str) -> Result<Self, FieldError> {
        let path = parse_path(text).map_err(|e| FieldError::new("read_file", e, PATH_FIX))?;
        if path.is_empty() {
            return Err(FieldError::new("read_file", "the MF is not a file to read", "name an EF, e.g. \"2F00\""));
        }
        Ok(ReadFile(path))
    }
}

impl From<ReadFile> for Action {
    fn from(step: ReadFile) -> Action {
        Action::ReadFile(step.0)
    }
}

/// `get_data = "DF33"`: the 2-byte tag that becomes P1 P2.
pub(super) struct GetData(u16);

impl TryFrom<&str> for GetData {
    type Error = FieldError;

    fn try_from(text: &str) -> Result<Self, FieldError> {
        let tag = parse_hex(text).ok().and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_be_bytes);
        tag.map(GetData).ok_or_else(|| {
            FieldError::new("get_data", format!("`{text}` is not a 2-byte tag"), "write P1 P2, e.g. \"DF33\"")
        })
    }
}

impl From<GetData> for Action {
    fn from(step: GetData) -> Action {
        Action::GetData(step.0)
    }
}

/// `sign = { key, hash }`: a key reference 1–3 and a hash given as `ALG:TEXT` or `hex:BYTES`.
pub(super) struct Sign {
    key: u8,
    hash: HashInput,
}

impl TryFrom<&RawSign> for Sign {
    type Error = FieldError;

    fn try_from(raw: &RawSign) -> Result<Self, FieldError> {
        if !(1..=3).contains(&raw.key) {
            return Err(FieldError::new(
                "sign",
                format!("key {} is not a key reference", raw.key),
                "use key = 1, 2 or 3",
            ));
        }
        let of = HashAlg::ALL.into_iter().find_map(|alg| {
            let text = raw.hash.strip_prefix(alg.name())?.strip_prefix(':')?;
            Some(HashInput::Of { alg, text: text.to_owned() })
        });
        let hash = if let Some(of) = of {
            of
        } else if let Some(h) = raw.hash.strip_prefix("hex:") {
            HashInput::Raw(parse_hex(h).map_err(|e| FieldError::new("sign", e, "write hex:<bytes>"))?)
        } else {
            return Err(FieldError::new(
                "sign",
                format!(
                    "hash {:?} has no `sha1:`, `sha224:`, `sha256:`, `sha384:`, `sha512:` or `hex:` prefix",
                    raw.hash
                ),
                "write hash = \"sha256:TEXT\" (SHA-256 of TEXT; sha1, sha224, sha384, sha512 likewise) or \
                 \"hex:BYTES\" (sent as they are)",
            ));
        };
        Ok(Sign { key: raw.key, hash })
    }
}

impl From<Sign> for Action {
    fn from(step: Sign) -> Action {
        Action::Sign { key: step.key, hash: step.hash }
    }
}

/// `internal_authenticate = { challenge, key }`: key 0–3 (1 when not given), a random or a fixed challenge.
pub(super) struct InternalAuthenticate {
    key: u8,
    challenge: Challenge,
}

impl TryFrom<&RawAuth> for InternalAuthenticate {
    type Error = FieldError;

    fn try_from(raw: &RawAuth) -> Result<Self, FieldError> {
        let key = raw.key.unwrap_or(1);
        if key > 3 {
            return Err(FieldError::new(
                "internal_authenticate",
                format!("key {key} is not a key reference"),
                "use key = 1 (the authentication key), 2 or 3, or 0 for the key chosen by MSE SET AT",
            ));
        }
        let challenge = if raw.challenge == "random" {
            Challenge::Random
        } else {
            Challenge::Fixed(parse_hex(&raw.challenge).map_err(|e| {
                FieldError::new("internal_authenticate", e, "write challenge = \"random\" or hex bytes")
            })?)
        };
        Ok(InternalAuthenticate { key, challenge })
    }
}

impl From<InternalAuthenticate> for Action {
    fn from(step: InternalAuthenticate) -> Action {
        Action::InternalAuthenticate { key: step.key, challenge: step.challenge }
    }
}

/// `decipher = { key, secret | cryptogram, mse, chained }`: a key reference 1–3 and exactly one input.
pub(super) struct Decipher {
    key: u8,
    input: DecipherInput,
    mse: bool,
    chained: bool,
}

impl TryFrom<&RawDecipher> for Decipher {
    type Error = FieldError;

    fn try_from(raw: &RawDecipher) -> Result<Self, FieldError> {
        if !(1..=3).contains(&raw.key) {
            return Err(FieldError::new(
                "decipher",
                format!("key {} is not a key reference", raw.key),
                "use key = 3 (the encryption key), 1 or 2",
            ));
        }
        let input = match (&raw.secret, &raw.cryptogram) {
            (Some(secret), None) if secret.len() <= MAX_SECRET => DecipherInput::Secret(secret.clone()),
            (Some(secret), None) => {
                return Err(FieldError::new(
                    "decipher",
                    format!("the secret is {} bytes, PKCS#1 v1.5 takes at most {MAX_SECRET}", secret.len()),
                    "shorten it",
                ));
            }
            (None, Some(cryptogram)) => cryptogram_input(cryptogram)?,
            _ => {
                return Err(FieldError::new(
                    "decipher",
                    "give exactly one of `secret` and `cryptogram`",
                    "write decipher = { key = 3, secret = \"TEXT\" } or { key = 3, cryptogram = \"bad-padding\" }",
                ));
            }
        };
        Ok(Decipher { key: raw.key, input, mse: raw.mse.unwrap_or(true), chained: raw.chained.unwrap_or(false) })
    }
}

/// `cryptogram = "bad-padding" | "modulus" | "hex:BYTES"`.
fn cryptogram_input(cryptogram: &str) -> Result<DecipherInput, FieldError> {
    match cryptogram {
        "bad-padding" => Ok(DecipherInput::BadPadding),
        "modulus" => Ok(DecipherInput::Modulus),
        other => match other.strip_prefix("hex:") {
            Some(h) => {
                Ok(DecipherInput::Raw(parse_hex(h).map_err(|e| FieldError::new("decipher", e, "write hex:<bytes>"))?))
            }
            None => Err(FieldError::new(
                "decipher",
                format!("cryptogram {other:?} is not a choice"),
                "write cryptogram = \"bad-padding\", \"modulus\" or \"hex:BYTES\"",
            )),
        },
    }
}

impl From<Decipher> for Action {
    fn from(step: Decipher) -> Action {
        Action::Decipher { key: step.key, input: step.input, mse: step.mse, chained: step.chained }
    }
}

/// `public_key = N`: a key reference 1–3.
pub(super) struct PublicKey(u8);

impl TryFrom<u8> for PublicKey {
    type Error = FieldError;

    fn try_from(key: u8) -> Result<Self, FieldError> {
        if !(1..=3).contains(&key) {
            return Err(FieldError::new(
                "public_key",
                format!("key {key} is not a key reference"),
                "use public_key = 1, 2 or 3",
            ));
        }
        Ok(PublicKey(key))
    }
}

impl From<PublicKey> for Action {
    fn from(step: PublicKey) -> Action {
        Action::PublicKey(step.0)
    }
}

/// `reset = true`: the reader resets the card.
pub(super) struct Reset;

impl TryFrom<bool> for Reset {
    type Error = FieldError;

    fn try_from(value: bool) -> Result<Self, FieldError> {
        flag("reset", value).map(|()| Reset)
    }
}

impl From<Reset> for Action {
    fn from(_: Reset) -> Action {
        Action::Reset
    }
}

/// `pkcs15_structure = true`: the PKCS#15 files are checked.
pub(super) struct Pkcs15Structure;

impl TryFrom<bool> for Pkcs15Structure {
    type Error = FieldError;

    fn try_from(value: bool) -> Result<Self, FieldError> {
        flag("pkcs15_structure", value).map(|()| Pkcs15Structure)
    }
}

impl From<Pkcs15Structure> for Action {
    fn from(_: Pkcs15Structure) -> Action {
        Action::Pkcs15Structure
    }
}

/// A flag step is only ever written `= true`: `false` would be a step that does nothing.
fn flag(kind: &'static str, value: bool) -> Result<(), FieldError> {
    if value {
        Ok(())
    } else {
        Err(FieldError::new(kind, format!("`{kind} = false` does nothing"), format!("write `{kind} = true`")))
    }
}
