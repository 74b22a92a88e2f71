//! One `[[step]]` table, checked and turned into a [`Step`]: its command (one of the kinds in [`kinds`], each
//! parsing itself), its expectation and its label.

use super::*;

mod kinds;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    name: Option<String>,
    apdu: Option<String>,
    verify: Option<String>,
    unblock: Option<String>,
    new_pin: Option<String>,
    change_pin: Option<RawChangePin>,
    select_path: Option<String>,
    read_file: Option<String>,
    get_data: Option<String>,
    sign: Option<RawSign>,
    internal_authenticate: Option<RawAuth>,
    decipher: Option<RawDecipher>,
    public_key: Option<u8>,
    reset: Option<bool>,
    pkcs15_structure: Option<bool>,
    expect: Option<String>,
    expect_sw: Option<String>,
    retries: Option<RawRetries>,
    expect_data: Option<String>,
    expect_len: Option<usize>,
    checks: Option<Vec<String>>,
    key: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChangePin {
    old: String,
    new: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSign {
    key: u8,
    hash: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    challenge: String,
    #[serde(default)]
    key: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDecipher {
    key: u8,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    cryptogram: Option<String>,
    #[serde(default)]
    mse: Option<bool>,
    #[serde(default)]
    chained: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawRetries {
    Count(u8),
    Relative(String),
}

/// What is wrong with one field of a step: the field, the problem and the fix. [`parse_step`] adds the file, the
/// line and which step it is.
pub(super) struct FieldError {
    field: &'static str,
    problem: String,
    fix: String,
}

impl FieldError {
    fn new(field: &'static str, problem: impl Into<String>, fix: impl Into<String>) -> FieldError {
        FieldError { field, problem: problem.into(), fix: fix.into() }
    }
}

/// A template expanded with sample values ([`Vars::sample`]), so that a misspelt `${VAR}` is refused when the
/// script is loaded, not when it first runs against a profile.
fn check_template(field: &'static str, template: &str, kind: Field) -> Result<String, FieldError> {
    Vars::sample().expand(template, kind).map_err(|e| FieldError::new(field, e, "fix the variable name"))
}

/// The command field of a step, borrowed from the raw table; the key it was written under is [`RawCommand::key`].
#[derive(Clone, Copy)]
enum RawCommand<'a> {
    Apdu(&'a str),
    Verify(&'a str),
    Unblock(&'a str),
    ChangePin(&'a RawChangePin),
    SelectPath(&'a str),
    ReadFile(&'a str),
    GetData(&'a str),
    Sign(&'a RawSign),
    InternalAuthenticate(&'a RawAuth),
    Decipher(&'a RawDecipher),
    PublicKey(u8),
    Reset(bool),
    Pkcs15Structure(bool),
}

impl RawCommand<'_> {
    /// The TOML key of this kind.
    fn key(self) -> &'static str {
        match self {
            RawCommand::Apdu(_) => "apdu",
            RawCommand::Verify(_) => "verify",
            RawCommand::Unblock(_) => "unblock",
            RawCommand::ChangePin(_) => "change_pin",
            RawCommand::SelectPath(_) => "select_path",
            RawCommand::ReadFile(_) => "read_file",
            RawCommand::GetData(_) => "get_data",
            RawCommand::Sign(_) => "sign",
            RawCommand::InternalAuthenticate(_) => "internal_authenticate",
            RawCommand::Decipher(_) => "decipher",
            RawCommand::PublicKey(_) => "public_key",
            RawCommand::Reset(_) => "reset",
            RawCommand::Pkcs15Structure(_) => "pkcs15_structure",
        }
    }

    /// The dispatcher: the kind's own parser, its result as an [`Action`].
    fn parse(self, new_pin: Option<&str>) -> Result<Action, FieldError> {
        Ok(match self {
            RawCommand::Apdu(t) => kinds::Apdu::try_from(t)?.into(),
            RawCommand::Verify(t) => kinds::Verify::try_from(t)?.into(),
            RawCommand::Unblock(puk) => kinds::Unblock::try_from((puk, new_pin))?.into(),
            RawCommand::ChangePin(c) => kinds::ChangePin::try_from(c)?.into(),
            RawCommand::SelectPath(p) => kinds::SelectPath::try_from(p)?.into(),
            RawCommand::ReadFile(p) => kinds::ReadFile::try_from(p)?.into(),
            RawCommand::GetData(t) => kinds::GetData::try_from(t)?.into(),
            RawCommand::Sign(s) => kinds::Sign::try_from(s)?.into(),
            RawCommand::InternalAuthenticate(a) => kinds::InternalAuthenticate::try_from(a)?.into(),
            RawCommand::Decipher(d) => kinds::Decipher::try_from(d)?.into(),
            RawCommand::PublicKey(k) => kinds::PublicKey::try_from(k)?.into(),
            RawCommand::Reset(v) => kinds::Reset::try_from(v)?.into(),
            RawCommand::Pkcs15Structure(v) => kinds::Pkcs15Structure::try_from(v)?.into(),
        })
    }
}

impl RawStep {
    /// Every command field the step has, in the order of the format.
    fn commands(&self) -> Vec<RawCommand<'_>> {
        [
            self.apdu.as_deref().map(RawCommand::Apdu),
            self.verify.as_deref().map(RawCommand::Verify),
            self.unblock.as_deref().map(RawCommand::Unblock),
            self.change_pin.as_ref().map(RawCommand::ChangePin),
            self.select_path.as_deref().map(RawCommand::SelectPath),
            self.read_file.as_deref().map(RawCommand::ReadFile),
            self.get_data.as_deref().map(RawCommand::GetData),
            self.sign.as_ref().map(RawCommand::Sign),
            self.internal_authenticate.as_ref().map(RawCommand::InternalAuthenticate),
            self.decipher.as_ref().map(RawCommand::Decipher),
            self.public_key.map(RawCommand::PublicKey),
            self.reset.map(RawCommand::Reset),
            self.pkcs15_structure.map(RawCommand::Pkcs15Structure),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The one command of the step.
    fn command(&self) -> Result<RawCommand<'_>, FieldError> {
        match self.commands().as_slice() {
            [one] => Ok(*one),
            [] => Err(FieldError::new(
                "apdu",
                "the step has no command",
                "give exactly one of apdu, verify, unblock, change_pin, select_path, read_file, get_data, sign, \
                 internal_authenticate, decipher, public_key, reset, pkcs15_structure",
            )),
            [first, second, ..] => Err(FieldError::new(
                second.key(),
                format!("the step has both `{}` and `{}`", first.key(), second.key()),
                "split it into two steps",
            )),
        }
    }
}

pub(super) fn parse_step(ctx: &Ctx<'_>, place: &str, raw: Spanned<RawStep>) -> Result<Step, ScriptError> {
    let offset = raw.span().start;
    let line = ctx.file.line_column(offset).0;
    let raw = raw.into_inner();
    let checked = raw.command().and_then(|command| {
        let action = command.parse(raw.new_pin.as_deref())?;
        let expect = expectation(&raw, command.key(), &action)?;
        Ok((action, expect))
    });
    let (action, expect) = checked.map_err(|e| ctx.field(offset, place, e.field, e.problem, &e.fix))?;
    let label = raw.name.unwrap_or_else(|| default_label(&action));
    Ok(Step { line, label, action, expect })
}

/// The step's expectation: the fields that fit its kind, one status word, and what to check in the answer.
fn expectation(raw: &RawStep, kind: &str, action: &Action) -> Result<Expect, FieldError> {
    fields_fit(raw, kind, action)?;
    let mut sw = SwExpect::Default;
    if let Some(s) = &raw.expect_sw {
        let p = SwPattern::parse(s).ok_or_else(|| {
            FieldError::new(
                "expect_sw",
                format!("{s:?} is not a status word"),
                "write 4 hex digits, `x` for any, e.g. \"61xx\"",
            )
        })?;
        set_sw(&mut sw, "expect_sw", SwExpect::Pattern(p))?;
    }
    if let Some(r) = &raw.retries {
        set_sw(&mut sw, "retries", SwExpect::Retries(retries(r, action)?))?;
    }
    let mut content = None;
    if let Some(e) = &raw.expect {
        match expect_word(raw, e, action)? {
            ExpectWord::Sw(p) => set_sw(&mut sw, "expect", SwExpect::Pattern(p))?,
            ExpectWord::Content(c) => content = Some(c),
        }
    }
    if (raw.checks.is_some() || raw.key.is_some()) && !matches!(content, Some(Content::Certificate { .. })) {
        let field = if raw.checks.is_some() { "checks" } else { "key" };
        return Err(FieldError::new(
            field,
            "only certificate reads take checks and key",
            "add expect = \"certificate\"",
        ));
    }
    if let Some(d) = &raw.expect_data {
        DataPattern::parse(&check_template("expect_data", d, Field::Hex)?).map_err(|e| {
            FieldError::new(
                "expect_data",
                e,
                "write hex bytes, `..` for any byte, `*` for any bytes, e.g. \"7F 49 * \"",
            )
        })?;
    }
    Ok(Expect { sw, data: raw.expect_data.clone(), len: raw.expect_len, content })
}

/// `new_pin` only on an unblock step; no expectation on the steps that check for themselves; answer data only
/// where a command answers data.
fn fields_fit(raw: &RawStep, kind: &str, action: &Action) -> Result<(), FieldError> {
    if raw.new_pin.is_some() && kind != "unblock" {
        return Err(FieldError::new("new_pin", "only an `unblock` step sets a new PIN", "move it to an unblock step"));
    }
    let plain = matches!(action, Action::Reset | Action::Pkcs15Structure);
    if plain
        && (raw.expect.is_some()
            || raw.expect_sw.is_some()
            || raw.retries.is_some()
            || raw.expect_data.is_some()
            || raw.expect_len.is_some())
    {
        return Err(FieldError::new(
            "expect",
            format!("a `{kind}` step makes its own checks"),
            "remove the expect* and retries fields",
        ));
    }
    let with_data = matches!(action, Action::Apdu(_) | Action::GetData(_) | Action::ReadFile(_) | Action::PublicKey(_));
    if !with_data && (raw.expect_data.is_some() || raw.expect_len.is_some()) {
        let field = if raw.expect_data.is_some() { "expect_data" } else { "expect_len" };
        return Err(FieldError::new(
            field,
            format!("a `{kind}` step has no answer data to compare"),
            "use expect_data/expect_len with apdu, get_data, read_file or public_key",
        ));
    }
    Ok(())
}

/// One status word per step: `expect_sw`, `retries` and `expect = "ok"` exclude each other.
fn set_sw(sw: &mut SwExpect, field: &'static str, value: SwExpect) -> Result<(), FieldError> {
    if *sw != SwExpect::Default {
        return Err(FieldError::new(
            field,
            "the status word is given twice",
            "give one of expect_sw, retries, expect = \"ok\"/\"blocked\"/\"not-set\"",
        ));
    }
    *sw = value;
    Ok(())
}

/// `retries = N` (0–15, the x of `63Cx`) or `"max"`, `"max-N"`, `"puk-max"`, `"puk-max-N"`; a relative count
/// is of the PUK on an unblock step.
fn retries(raw: &RawRetries, action: &Action) -> Result<Retries, FieldError> {
    match raw {
        RawRetries::Count(n) if *n <= 15 => Ok(Retries::Exactly(*n)),
        RawRetries::Count(n) => Err(FieldError::new("retries", format!("{n} tries do not fit in 63Cx"), "use 0-15")),
        RawRetries::Relative(s) => {
            let text = s.trim();
            let (puk, rest) = match text.strip_prefix("puk-") {
                Some(rest) => (true, rest),
                None => (matches!(action, Action::Unblock { .. }), text),
            };
            let below = match rest.strip_prefix("max") {
                Some("") => Some(0),
                Some(tail) => tail.strip_prefix('-').and_then(|n| n.trim().parse::<u8>().ok()).filter(|n| *n <= 15),
                None => None,
            };
            below.map(|below| Retries::BelowMax { below, puk }).ok_or_else(|| {
                FieldError::new(
                    "retries",
                    format!("{s:?} is not a number of tries"),
                    "write a number 0-15, \"max\", \"max-N\", \"puk-max\" or \"puk-max-N\"",
                )
            })
        }
    }
}

/// What an `expect = "…"` word asks for: a status word, or a check of the answer's content.
enum ExpectWord {
    Sw(SwPattern),
    Content(Content),
}

/// `expect = "ok" | "blocked" | "not-set" | "certificate" | "der" | "validity"`.
fn expect_word(raw: &RawStep, word: &str, action: &Action) -> Result<ExpectWord, FieldError> {
    match word {
        "ok" => Ok(ExpectWord::Sw(SwPattern::OK)),
        "blocked" => Ok(ExpectWord::Sw(SwPattern::exact(Status::AuthenticationBlocked))),
        "not-set" => Ok(ExpectWord::Sw(SwPattern::exact(Status::ReferenceDataNotUsable))),
        "certificate" | "der" if !matches!(action, Action::ReadFile(_)) => {
            Err(FieldError::new("expect", format!("`{word}` needs a read_file step"), "read the file with read_file"))
        }
        "certificate" => certificate(raw, action).map(ExpectWord::Content),
        "der" => Ok(ExpectWord::Content(Content::Der)),
        "validity" if matches!(action, Action::GetData(0xDF30)) => Ok(ExpectWord::Content(Content::Validity)),
        "validity" => {
            Err(FieldError::new("expect", "`validity` is the answer of GET DATA DF30", "use get_data = \"DF30\""))
        }
        other => Err(FieldError::new(
            "expect",
            format!("`{other}` is not an expectation"),
            "use ok, blocked, not-set, certificate, der or validity",
        )),
    }
}

/// `expect = "certificate"` with its `key` (by default the key whose certificate EF `4301`–`4303` is read) and
/// its `checks`; the checks about a key need to know which.
fn certificate(raw: &RawStep, action: &Action) -> Result<Content, FieldError> {
    let default_key = match action {
        Action::ReadFile(path) => match path.last() {
            Some(0x4301) => Some(1),
            Some(0x4302) => Some(2),
            Some(0x4303) => Some(3),
            _ => None,
        },
        _ => None,
    };
    let key = raw.key.or(default_key);
    if key.is_some_and(|k| !(1..=3).contains(&k)) {
        return Err(FieldError::new("key", "not a key reference", "use key = 1, 2 or 3"));
    }
    let mut checks = Vec::new();
    for word in raw.checks.iter().flatten() {
        let check = CertCheck::parse(word).ok_or_else(|| {
            FieldError::new("checks", format!("`{word}` is not a certificate check"), CertCheck::WORDS.join(", "))
        })?;
        if matches!(check, CertCheck::KeyUsage | CertCheck::PublicKey) && key.is_none() {
            return Err(FieldError::new(
                "key",
                format!("check `{word}` needs to know whose certificate this is"),
                "add key = 1, 2 or 3",
            ));
        }
        checks.push(check);
    }
    Ok(Content::Certificate { key, checks })
}

/// A step title made from its command, variables unexpanded.
pub(super) fn default_label(action: &Action) -> String {
    match action {
        Action::Apdu(t) => {
            let words = t.split_whitespace().collect::<Vec<_>>().join(" ");
            if words.chars().count() > 40 {
                format!("{}…", words.chars().take(40).collect::<String>())
            } else {
                words
            }
        }
        Action::Verify(p) => format!("VERIFY {p}"),
        Action::Unblock { puk, new_pin: None } => format!("RESET RETRY COUNTER {puk}"),
        Action::Unblock { puk, new_pin: Some(n) } => format!("RESET RETRY COUNTER {puk}, new PIN {n}"),
        Action::ChangePin { old, new } => format!("CHANGE REFERENCE DATA {old} → {new}"),
        Action::SelectPath(p) => format!("SELECT {}", path_text(p)),
        Action::ReadFile(p) => format!("READ {}", path_text(p)),
        Action::GetData(tag) => format!("GET DATA {tag:04X}"),
        Action::Sign { key, hash: HashInput::Of { alg, text } } => format!("SIGN key {key} {}:{text}", alg.name()),
        Action::Sign { key, hash: HashInput::Raw(b) } => format!("SIGN key {key} with a {}-byte hash", b.len()),
        Action::InternalAuthenticate { key, challenge: Challenge::Random } => {
            format!("INTERNAL AUTHENTICATE key {key}, random challenge")
        }
        Action::InternalAuthenticate { key, challenge: Challenge::Fixed(c) } => {
            format!("INTERNAL AUTHENTICATE key {key}, {}-byte challenge", c.len())
        }
        Action::Decipher { key, input, .. } => match input {
            DecipherInput::Secret(s) => format!("DECIPHER key {key}, a {}-byte secret", s.len()),
            DecipherInput::BadPadding => format!("DECIPHER key {key}, a cryptogram with a bad padding"),
            DecipherInput::Modulus => format!("DECIPHER key {key}, the modulus as cryptogram"),
            DecipherInput::Raw(b) => format!("DECIPHER key {key}, a {}-byte cryptogram", b.len()),
        },
        Action::PublicKey(key) => format!("public key {key}"),
        Action::Reset => "card reset".into(),
        Action::Pkcs15Structure => "PKCS#15 structure".into(),
    }
}
