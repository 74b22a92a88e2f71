//! The runner of one script on one card: sending a step's commands as a client does, checking the answers, and
//! reading whole files. The cryptographic steps are in [`super::crypto`], the content checks in [`super::content`].

use super::*;

/// A response APDU split into data and status word.
pub(super) struct Answer {
    pub(super) data: Vec<u8>,
    pub(super) status: Status,
}

/// Why a whole-file read stopped.
pub(super) enum ReadError {
    /// A command answered this status word.
    Status { status: Status, during: String },
    /// The answer made no sense (no size in the FCP, a short read).
    Malformed(String),
    /// The reader failed.
    Reader(String),
}

impl ReadError {
    pub(super) fn describe(&self) -> String {
        match self {
            ReadError::Status { status, during } => format!("{during} answered {}", sw_words(*status)),
            ReadError::Malformed(m) => m.clone(),
            ReadError::Reader(e) => format!("no answer: {e}"),
        }
    }
}

pub(super) struct Runner<'a> {
    pub(super) link: &'a mut dyn Link,
    pub(super) profile: &'a Profile,
    pub(super) vars: &'a Vars,
}

/// A status word for a report: its hex and what it means.
pub(super) fn sw_words(status: Status) -> String {
    let words = match status {
        Status::RemainingRetries(n) => format!("verification failed, {n} tries left"),
        Status::MoreAvailable(n) => format!("{n} more bytes with GET RESPONSE"),
        Status::WrongLe(n) => format!("wrong Le, resend with Le {n:02X}"),
        other => other.description().to_owned(),
    };
    format!("{:04X} ({words})", status.to_u16())
}

pub(super) fn pattern_words(p: SwPattern) -> String {
    match p.as_exact() {
        Some(sw) => sw_words(sw),
        None => p.to_string(),
    }
}

/// Hex bytes for a report, long answers cut.
pub(super) fn hex_words(data: &[u8]) -> String {
    const SHOWN: usize = 48;
    if data.is_empty() {
        return "no data".into();
    }
    let shown: Vec<String> = data.iter().take(SHOWN).map(|b| format!("{b:02X}")).collect();
    if data.len() > SHOWN { format!("{} … ({} bytes)", shown.join(" "), data.len()) } else { shown.join(" ") }
}

impl Runner<'_> {
    pub(super) fn send_raw(&mut self, apdu: &[u8]) -> Result<Answer, String> {
        let mut r = self.link.transmit(apdu)?;
        if r.len() < 2 {
            return Err(format!("the reader returned {} bytes, no status word", r.len()));
        }
        let sw = r.split_off(r.len() - 2);
        Ok(Answer { data: r, status: Status::from_sw(u16::from_be_bytes([sw[0], sw[1]])) })
    }

    /// As a client does ([`reader_sim::exchange::exchange`]): `6Cxx` sent again with Le = xx, `61xx` fetched.
    pub(super) fn send(&mut self, apdu: &[u8]) -> Result<Answer, String> {
        let (data, status) = reader_sim::exchange::exchange(self.link.reader(), apdu).map_err(|e| e.to_string())?;
        Ok(Answer { data, status })
    }

    pub(super) fn expected_sw(&self, step: &Step) -> SwPattern {
        match step.expect.sw {
            SwExpect::Default => SwPattern::OK,
            SwExpect::Pattern(p) => p,
            SwExpect::Retries(r) => {
                let n = match r {
                    Retries::Exactly(n) => n,
                    Retries::BelowMax { below, puk } => self.vars.max_tries(puk).saturating_sub(below),
                };
                SwPattern::exact(Status::RemainingRetries(n.min(15)))
            }
        }
    }

    pub(super) fn data_checks(&self, step: &Step, data: &[u8], out: &mut Vec<CheckResult>) {
        if let Some(template) = &step.expect.data {
            match self.vars.expand(template, Field::Hex).and_then(|s| DataPattern::parse(&s)) {
                Ok(p) => out.push(CheckResult::new("data", p.to_string(), hex_words(data), p.matches(data))),
                Err(e) => out.push(CheckResult::new("data", template, format!("cannot build the pattern: {e}"), false)),
            }
        }
        if let Some(n) = step.expect.len {
            out.push(CheckResult::new(
                "data length",
                format!("{n} bytes"),
                format!("{} bytes", data.len()),
                data.len() == n,
            ));
        }
    }

    /// Send `apdu` and check the status word; the answer is returned when it matched.
    pub(super) fn exchange(
        &mut self,
        what: &str,
        apdu: &[u8],
        expected: SwPattern,
        follow: bool,
        out: &mut Vec<CheckResult>,
    ) -> Option<Answer> {
        let result = if follow { self.send(apdu) } else { self.send_raw(apdu) };
        match result {
            Ok(answer) => {
                let passed = expected.matches(answer.status);
                out.push(CheckResult::new(what, pattern_words(expected), sw_words(answer.status), passed));
                passed.then_some(answer)
            }
            Err(e) => {
                out.push(CheckResult::new(what, pattern_words(expected), format!("no answer: {e}"), false));
                None
            }
        }
    }

    /// The command of a step that only checks a status word (VERIFY, RESET RETRY COUNTER, CHANGE REFERENCE DATA,
    /// SELECT by path); `None` for the others.
    pub(super) fn status_only_command(&self, action: &Action) -> Option<Result<Vec<u8>, String>> {
        let text = |t: &str| self.vars.expand(t, Field::Text).map(String::into_bytes);
        Some(match action {
            Action::Verify(pin) => text(pin).and_then(|p| command([0x00, 0x20, 0x00, 0x01], &p, false)),
            Action::Unblock { puk, new_pin } => text(puk).and_then(|mut data| {
                let p1 = match new_pin {
                    Some(n) => {
                        data.extend(text(n)?);
                        0x00
                    }
                    None => 0x01,
                };
                command([0x00, 0x2C, p1, 0x01], &data, false)
            }),
            Action::ChangePin { old, new } => text(old).and_then(|mut data| {
                data.extend(text(new)?);
                command([0x00, 0x24, 0x00, 0x01], &data, false)
            }),
            Action::SelectPath(path) if path.is_empty() => Ok(vec![0x00, 0xA4, 0x00, 0x0C]),
            Action::SelectPath(path) => {
                let bytes: Vec<u8> = path.iter().flat_map(|f| f.to_be_bytes()).collect();
                command([0x00, 0xA4, 0x08, 0x0C], &bytes, false)
            }
            _ => return None,
        })
    }

    pub(super) fn run_step(&mut self, step: &Step) -> Vec<CheckResult> {
        let expected = self.expected_sw(step);
        let mut out = Vec::new();
        if let Some(built) = self.status_only_command(&step.action) {
            match built {
                Ok(apdu) => {
                    self.exchange("status word", &apdu, expected, false, &mut out);
                }
                Err(e) => return cannot_run(e),
            }
            return out;
        }
        match &step.action {
            Action::Apdu(template) => {
                let apdu = match self.vars.expand(template, Field::Hex).and_then(|s| script::parse_hex(&s)) {
                    Ok(a) => a,
                    Err(e) => return cannot_run(e),
                };
                if let Some(answer) = self.exchange("status word", &apdu, expected, false, &mut out) {
                    self.data_checks(step, &answer.data, &mut out);
                }
            }
            // Handled by `status_only_command` above.
            Action::Verify(_) | Action::Unblock { .. } | Action::ChangePin { .. } | Action::SelectPath(_) => {}
            Action::ReadFile(path) => self.read_file_step(step, path, expected, &mut out),
            Action::GetData(tag) => {
                let [p1, p2] = tag.to_be_bytes();
                if let Some(answer) =
                    self.exchange("status word", &[0x00, 0xCA, p1, p2, 0x00], expected, true, &mut out)
                {
                    self.data_checks(step, &answer.data, &mut out);
                    if step.expect.content == Some(Content::Validity) {
                        out.extend(validity_checks(&answer.data, time::OffsetDateTime::now_utc().date()));
                    }
                }
            }
            Action::Sign { key, hash } => self.sign_step(*key, hash, expected, &mut out),
            Action::InternalAuthenticate { key, challenge } => {
                self.internal_authenticate_step(*key, challenge, expected, &mut out)
            }
            Action::Decipher { key, input, mse, chained } => {
                self.decipher_step(*key, input, *mse, *chained, expected, &mut out)
            }
            Action::PublicKey(key) => self.public_key_step(step, *key, expected, &mut out),
            Action::Reset => {
                let got = self.link.reset();
                out.push(CheckResult::new(
                    "card reset",
                    "the reader resets the card",
                    match &got {
                        Ok(()) => "reset".to_owned(),
                        Err(e) => format!("failed: {e}"),
                    },
                    got.is_ok(),
                ));
            }
            Action::Pkcs15Structure => self.pkcs15_checks(&mut out),
        }
        out
    }

    /// The whole EF at `path` ([`reader_sim::exchange::read_ef`]), its failures told in the report's words.
    pub(super) fn read_ef(&mut self, path: &[u16]) -> Result<Vec<u8>, ReadError> {
        use reader_sim::exchange::ReadEfError;
        reader_sim::exchange::read_ef(self.link.reader(), path).map_err(|e| match e {
            ReadEfError::Reader(e) => ReadError::Reader(e.to_string()),
            ReadEfError::Select(status) => {
                ReadError::Status { status, during: format!("SELECT {}", script::path_text(path)) }
            }
            ReadEfError::NoSize => {
                ReadError::Malformed(format!("the FCP of {} has no size (tag 80)", script::path_text(path)))
            }
            ReadEfError::Read { offset, status: Status::Success } => {
                ReadError::Malformed(format!("READ BINARY at offset {offset} answered no data"))
            }
            ReadEfError::Read { offset, status } => {
                ReadError::Status { status, during: format!("READ BINARY at offset {offset}") }
            }
        })
    }

    pub(super) fn read_file_step(
        &mut self,
        step: &Step,
        path: &[u16],
        expected: SwPattern,
        out: &mut Vec<CheckResult>,
    ) {
        let data = match self.read_ef(path) {
            Ok(data) => {
                out.push(CheckResult::new(
                    "status word",
                    pattern_words(expected),
                    sw_words(Status::Success),
                    expected.matches(Status::Success),
                ));
                if !expected.matches(Status::Success) {
                    return;
                }
                data
            }
            Err(ReadError::Status { status, during }) => {
                out.push(CheckResult::new(
                    format!("status word ({during})"),
                    pattern_words(expected),
                    sw_words(status),
                    expected.matches(status),
                ));
                return;
            }
            Err(e) => {
                out.push(CheckResult::new("read the file", pattern_words(expected), e.describe(), false));
                return;
            }
        };
        self.data_checks(step, &data, out);
        match &step.expect.content {
            Some(Content::Der) => {
                let parsed = der::Any::from_der(&data);
                out.push(CheckResult::new(
                    "DER",
                    "one complete DER value",
                    match &parsed {
                        Ok(any) => format!("a DER value with tag {}", any.tag()),
                        Err(e) => format!("not DER: {e}"),
                    },
                    parsed.is_ok(),
                ));
            }
            Some(Content::Certificate { key, checks }) => match certificate_summary(&data) {
                Ok(cert) => {
                    out.push(CheckResult::new(
                        "X.509 certificate",
                        "a DER X.509 certificate",
                        cert.subject.clone(),
                        true,
                    ));
                    for check in checks {
                        let result = self.certificate_check(&cert, *key, *check);
                        out.push(result);
                    }
                }
                Err(e) => out.push(CheckResult::new(
                    "X.509 certificate",
                    "a DER X.509 certificate",
                    format!("{} bytes that do not parse: {e}", data.len()),
                    false,
                )),
            },
            Some(Content::Validity) | None => {}
        }
    }
}
