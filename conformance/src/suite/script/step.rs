//! One `[[step]]` table, checked and turned into a [`Step`]: its command, its expectation and its label.

use super::*;

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

#[allow(clippy::too_many_lines)] // split into per-kind parsers in the next commit
pub(super) fn parse_step(ctx: &Ctx<'_>, place: &str, raw: Spanned<RawStep>) -> Result<Step, ScriptError> {
    let offset = raw.span().start;
    let line = ctx.file.line_column(offset).0;
    let raw = raw.into_inner();
    let err = |field: &'static str, problem: String, fix: &str| ctx.field(offset, place, field, problem, fix);
    let sample = Vars::sample();
    let check_template = |field: &'static str, template: &str, kind: Field| -> Result<String, ScriptError> {
        sample.expand(template, kind).map_err(|e| err(field, e, "fix the variable name"))
    };

    let kinds: Vec<&str> = [
        ("apdu", raw.apdu.is_some()),
        ("verify", raw.verify.is_some()),
        ("unblock", raw.unblock.is_some()),
        ("change_pin", raw.change_pin.is_some()),
        ("select_path", raw.select_path.is_some()),
        ("read_file", raw.read_file.is_some()),
        ("get_data", raw.get_data.is_some()),
        ("sign", raw.sign.is_some()),
        ("internal_authenticate", raw.internal_authenticate.is_some()),
        ("decipher", raw.decipher.is_some()),
        ("public_key", raw.public_key.is_some()),
        ("reset", raw.reset.is_some()),
        ("pkcs15_structure", raw.pkcs15_structure.is_some()),
    ]
    .into_iter()
    .filter(|(_, present)| *present)
    .map(|(k, _)| k)
    .collect();
    let kind = match kinds.as_slice() {
        [one] => *one,
        [] => {
            return Err(err(
                "apdu",
                "the step has no command".into(),
                "give exactly one of apdu, verify, unblock, change_pin, select_path, read_file, get_data, sign, \
                 internal_authenticate, decipher, public_key, reset, pkcs15_structure",
            ));
        }
        [first, second, ..] => {
            return Err(err(second, format!("the step has both `{first}` and `{second}`"), "split it into two steps"));
        }
    };

    let action = match kind {
        "apdu" => {
            let t = raw.apdu.unwrap_or_default();
            let bytes = parse_hex(&check_template("apdu", &t, Field::Hex)?)
                .map_err(|e| err("apdu", e, "write the command as hex bytes, e.g. \"00 A4 00 0C\""))?;
            // Frames shorter than a header are legitimate malformed-command checks (6700); an empty one is a slip.
            if bytes.is_empty() {
                return Err(err("apdu", "the command is empty".into(), "write at least CLA INS"));
            }
            Action::Apdu(t)
        }
        "verify" => {
            let t = raw.verify.unwrap_or_default();
            check_template("verify", &t, Field::Text)?;
            Action::Verify(t)
        }
        "unblock" => {
            let puk = raw.unblock.unwrap_or_default();
            check_template("unblock", &puk, Field::Text)?;
            if let Some(n) = &raw.new_pin {
                check_template("new_pin", n, Field::Text)?;
            }
            Action::Unblock { puk, new_pin: raw.new_pin.clone() }
        }
        "change_pin" => {
            let c = raw.change_pin.unwrap_or(RawChangePin { old: String::new(), new: String::new() });
            check_template("change_pin", &c.old, Field::Text)?;
            check_template("change_pin", &c.new, Field::Text)?;
            Action::ChangePin { old: c.old, new: c.new }
        }
        "select_path" => Action::SelectPath(
            parse_path(raw.select_path.as_deref().unwrap_or_default())
                .map_err(|e| err("select_path", e, "write FIDs from the MF, e.g. \"5015/4301\""))?,
        ),
        "read_file" => {
            let path = parse_path(raw.read_file.as_deref().unwrap_or_default())
                .map_err(|e| err("read_file", e, "write FIDs from the MF, e.g. \"5015/4301\""))?;
            if path.is_empty() {
                return Err(err("read_file", "the MF is not a file to read".into(), "name an EF, e.g. \"2F00\""));
            }
            Action::ReadFile(path)
        }
        "get_data" => {
            let t = raw.get_data.as_deref().unwrap_or_default();
            let tag =
                parse_hex(t).ok().and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_be_bytes).ok_or_else(
                    || err("get_data", format!("`{t}` is not a 2-byte tag"), "write P1 P2, e.g. \"DF33\""),
                )?;
            Action::GetData(tag)
        }
        "sign" => {
            let s = raw.sign.unwrap_or(RawSign { key: 0, hash: String::new() });
            if !(1..=3).contains(&s.key) {
                return Err(err("sign", format!("key {} is not a key reference", s.key), "use key = 1, 2 or 3"));
            }
            let of = HashAlg::ALL.into_iter().find_map(|alg| {
                let text = s.hash.strip_prefix(alg.name())?.strip_prefix(':')?;
                Some(HashInput::Of { alg, text: text.to_owned() })
            });
            let hash = if let Some(of) = of {
                of
            } else if let Some(h) = s.hash.strip_prefix("hex:") {
                HashInput::Raw(parse_hex(h).map_err(|e| err("sign", e, "write hex:<bytes>"))?)
            } else {
                return Err(err(
                    "sign",
                    format!(
                        "hash {:?} has no `sha1:`, `sha224:`, `sha256:`, `sha384:`, `sha512:` or `hex:` prefix",
                        s.hash
                    ),
                    "write hash = \"sha256:TEXT\" (SHA-256 of TEXT; sha1, sha224, sha384, sha512 likewise) or \
                     \"hex:BYTES\" (sent as they are)",
                ));
            };
            Action::Sign { key: s.key, hash }
        }
        "internal_authenticate" => {
            let a = raw.internal_authenticate.unwrap_or(RawAuth { challenge: String::new(), key: None });
            let key = a.key.unwrap_or(1);
            if key > 3 {
                return Err(err(
                    "internal_authenticate",
                    format!("key {key} is not a key reference"),
                    "use key = 1 (the authentication key), 2 or 3, or 0 for the key chosen by MSE SET AT",
                ));
            }
            let challenge = if a.challenge == "random" {
                Challenge::Random
            } else {
                Challenge::Fixed(
                    parse_hex(&a.challenge)
                        .map_err(|e| err("internal_authenticate", e, "write challenge = \"random\" or hex bytes"))?,
                )
            };
            Action::InternalAuthenticate { key, challenge }
        }
        "decipher" => {
            let d = raw.decipher.unwrap_or(RawDecipher {
                key: 0,
                secret: None,
                cryptogram: None,
                mse: None,
                chained: None,
            });
            if !(1..=3).contains(&d.key) {
                return Err(err(
                    "decipher",
                    format!("key {} is not a key reference", d.key),
                    "use key = 3 (the encryption key), 1 or 2",
                ));
            }
            let input = match (d.secret, d.cryptogram) {
                (Some(secret), None) if secret.len() <= MAX_SECRET => DecipherInput::Secret(secret),
                (Some(secret), None) => {
                    return Err(err(
                        "decipher",
                        format!("the secret is {} bytes, PKCS#1 v1.5 takes at most {MAX_SECRET}", secret.len()),
                        "shorten it",
                    ));
                }
                (None, Some(c)) => match c.as_str() {
                    "bad-padding" => DecipherInput::BadPadding,
                    "modulus" => DecipherInput::Modulus,
                    other => match other.strip_prefix("hex:") {
                        Some(h) => {
                            DecipherInput::Raw(parse_hex(h).map_err(|e| err("decipher", e, "write hex:<bytes>"))?)
                        }
                        None => {
                            return Err(err(
                                "decipher",
                                format!("cryptogram {other:?} is not a choice"),
                                "write cryptogram = \"bad-padding\", \"modulus\" or \"hex:BYTES\"",
                            ));
                        }
                    },
                },
                _ => {
                    return Err(err(
                        "decipher",
                        "give exactly one of `secret` and `cryptogram`".into(),
                        "write decipher = { key = 3, secret = \"TEXT\" } or { key = 3, cryptogram = \"bad-padding\" }",
                    ));
                }
            };
            Action::Decipher { key: d.key, input, mse: d.mse.unwrap_or(true), chained: d.chained.unwrap_or(false) }
        }
        "public_key" => {
            let key = raw.public_key.unwrap_or(0);
            if !(1..=3).contains(&key) {
                return Err(err(
                    "public_key",
                    format!("key {key} is not a key reference"),
                    "use public_key = 1, 2 or 3",
                ));
            }
            Action::PublicKey(key)
        }
        // `reset` or `pkcs15_structure`, the two flag steps.
        _ => {
            let value = raw.reset.or(raw.pkcs15_structure).unwrap_or(false);
            if !value {
                return Err(err(kind, format!("`{kind} = false` does nothing"), &format!("write `{kind} = true`")));
            }
            if kind == "reset" { Action::Reset } else { Action::Pkcs15Structure }
        }
    };

    if raw.new_pin.is_some() && kind != "unblock" {
        return Err(err("new_pin", "only an `unblock` step sets a new PIN".into(), "move it to an unblock step"));
    }
    let plain = matches!(action, Action::Reset | Action::Pkcs15Structure);
    if plain
        && (raw.expect.is_some()
            || raw.expect_sw.is_some()
            || raw.retries.is_some()
            || raw.expect_data.is_some()
            || raw.expect_len.is_some())
    {
        return Err(err(
            "expect",
            format!("a `{kind}` step makes its own checks"),
            "remove the expect* and retries fields",
        ));
    }
    let with_data = matches!(action, Action::Apdu(_) | Action::GetData(_) | Action::ReadFile(_) | Action::PublicKey(_));
    if !with_data && (raw.expect_data.is_some() || raw.expect_len.is_some()) {
        let field = if raw.expect_data.is_some() { "expect_data" } else { "expect_len" };
        return Err(err(
            field,
            format!("a `{kind}` step has no answer data to compare"),
            "use expect_data/expect_len with apdu, get_data, read_file or public_key",
        ));
    }

    let mut sw = SwExpect::Default;
    let mut content = None;
    let mut set_sw = |field: &'static str, value: SwExpect| -> Result<(), ScriptError> {
        if sw != SwExpect::Default {
            return Err(err(
                field,
                "the status word is given twice".into(),
                "give one of expect_sw, retries, expect = \"ok\"/\"blocked\"/\"not-set\"",
            ));
        }
        sw = value;
        Ok(())
    };
    if let Some(s) = &raw.expect_sw {
        let p = SwPattern::parse(s).ok_or_else(|| {
            err("expect_sw", format!("{s:?} is not a status word"), "write 4 hex digits, `x` for any, e.g. \"61xx\"")
        })?;
        set_sw("expect_sw", SwExpect::Pattern(p))?;
    }
    if let Some(r) = &raw.retries {
        let retries = match r {
            RawRetries::Count(n) if *n <= 15 => Retries::Exactly(*n),
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
                match below {
                    Some(below) => Retries::BelowMax { below, puk },
                    None => {
                        return Err(err(
                            "retries",
                            format!("{s:?} is not a number of tries"),
                            "write a number 0-15, \"max\", \"max-N\", \"puk-max\" or \"puk-max-N\"",
                        ));
                    }
                }
            }
            RawRetries::Count(n) => {
                return Err(err("retries", format!("{n} tries do not fit in 63Cx"), "use 0-15"));
            }
        };
        set_sw("retries", SwExpect::Retries(retries))?;
    }
    if let Some(e) = &raw.expect {
        match e.as_str() {
            "ok" => set_sw("expect", SwExpect::Pattern(SwPattern::OK))?,
            "blocked" => set_sw("expect", SwExpect::Pattern(SwPattern::exact(Status::AuthenticationBlocked)))?,
            "not-set" => set_sw("expect", SwExpect::Pattern(SwPattern::exact(Status::ReferenceDataNotUsable)))?,
            "certificate" | "der" if !matches!(action, Action::ReadFile(_)) => {
                return Err(err("expect", format!("`{e}` needs a read_file step"), "read the file with read_file"));
            }
            "certificate" => {
                let default_key = match &action {
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
                    return Err(err("key", "not a key reference".into(), "use key = 1, 2 or 3"));
                }
                let mut checks = Vec::new();
                for word in raw.checks.iter().flatten() {
                    let check = CertCheck::parse(word).ok_or_else(|| {
                        err("checks", format!("`{word}` is not a certificate check"), &CertCheck::WORDS.join(", "))
                    })?;
                    if matches!(check, CertCheck::KeyUsage | CertCheck::PublicKey) && key.is_none() {
                        return Err(err(
                            "key",
                            format!("check `{word}` needs to know whose certificate this is"),
                            "add key = 1, 2 or 3",
                        ));
                    }
                    checks.push(check);
                }
                content = Some(Content::Certificate { key, checks });
            }
            "der" => content = Some(Content::Der),
            "validity" if matches!(action, Action::GetData(0xDF30)) => content = Some(Content::Validity),
            "validity" => {
                return Err(err(
                    "expect",
                    "`validity` is the answer of GET DATA DF30".into(),
                    "use get_data = \"DF30\"",
                ));
            }
            other => {
                return Err(err(
                    "expect",
                    format!("`{other}` is not an expectation"),
                    "use ok, blocked, not-set, certificate, der or validity",
                ));
            }
        }
    }
    if (raw.checks.is_some() || raw.key.is_some()) && !matches!(content, Some(Content::Certificate { .. })) {
        let field = if raw.checks.is_some() { "checks" } else { "key" };
        return Err(err(field, "only certificate reads take checks and key".into(), "add expect = \"certificate\""));
    }
    if let Some(d) = &raw.expect_data {
        DataPattern::parse(&check_template("expect_data", d, Field::Hex)?).map_err(|e| {
            err("expect_data", e, "write hex bytes, `..` for any byte, `*` for any bytes, e.g. \"7F 49 * \"")
        })?;
    }

    let label = raw.name.clone().unwrap_or_else(|| default_label(&action));
    Ok(Step { line, label, action, expect: Expect { sw, data: raw.expect_data, len: raw.expect_len, content } })
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
