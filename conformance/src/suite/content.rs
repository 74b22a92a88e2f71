//! What the card holds, checked: certificates against the profile (CPS UZI-register §7.1), the validity of
//! GET DATA `DF30`, and the PKCS#15 structure (EF.DIR, ODF, TokenInfo, AODF, PrKDF, CDF, PuKDF).

use super::*;

pub(super) fn cannot_run(problem: String) -> Vec<CheckResult> {
    vec![CheckResult::new("command", "a command to send", format!("cannot build it: {problem}"), false)]
}

/// FIDs of a PKCS#15 Path (`3F00 5015 4401`) as a path from the MF.
pub(super) fn fids(path: &[u8]) -> Vec<u16> {
    let mut out: Vec<u16> = path.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
    if out.first() == Some(&FileId::MF.0) {
        out.remove(0);
    }
    out
}

/// Every DER object in an EF, stopping at `00`/`FF` padding after the last one (real cards allocate EFs larger
/// than their content; PKCS#15 v1.1 §5.5.1 allows it).
pub(super) fn decode_all<'a, T: Decode<'a>>(bytes: &'a [u8]) -> Result<Vec<T>, String> {
    let mut reader = SliceReader::new(bytes).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while let Some(first) = reader.peek_byte() {
        if first == 0x00 || first == 0xFF {
            break;
        }
        out.push(T::decode(&mut reader).map_err(|e| format!("object {} does not decode: {e}", out.len() + 1))?);
    }
    Ok(out)
}

/// The date three years after `date` (29 February → 28 February), via the same rule the test PKI issues with.
pub(super) fn three_years_after(date: time::Date) -> time::Date {
    let midnight = date.midnight().assume_utc().unix_timestamp();
    time::OffsetDateTime::from_unix_timestamp(add_three_years(midnight)).map(|t| t.date()).unwrap_or(date)
}

/// GET DATA `DF30` (DIALECT.md): `YYYYMMDD` first usable day, `YYYYMMDD` the anniversary from which the card is
/// expired. Two checks: the window is three years with the 29-February rule, and today is inside it.
pub fn validity_checks(data: &[u8], today: time::Date) -> Vec<CheckResult> {
    let parse = |s: &[u8]| -> Option<time::Date> {
        let s = std::str::from_utf8(s).ok()?;
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year: i32 = s[..4].parse().ok()?;
        let month = time::Month::try_from(s[4..6].parse::<u8>().ok()?).ok()?;
        time::Date::from_calendar_date(year, month, s[6..].parse().ok()?).ok()
    };
    let (from, until) = match (data.get(..8).and_then(parse), data.get(8..).and_then(parse)) {
        (Some(from), Some(until)) if data.len() == 16 => (from, until),
        _ => {
            return vec![CheckResult::new(
                "validity format",
                "16 ASCII digits YYYYMMDDYYYYMMDD",
                format!("{} ({:?})", hex_words(data), String::from_utf8_lossy(data)),
                false,
            )];
        }
    };
    let anniversary = three_years_after(from);
    vec![
        CheckResult::new(
            "validity is three years",
            format!("from {from} until {anniversary} (3 years, 29 February → 28 February)"),
            format!("from {from} until {until}"),
            until == anniversary,
        ),
        CheckResult::new(
            "card valid today",
            format!("{from} ≤ {today} < {until}"),
            format!("today is {today}"),
            from <= today && today < until,
        ),
    ]
}

impl Runner<'_> {
    pub(super) fn certificate_check(&mut self, cert: &CertSummary, key: Option<u8>, check: CertCheck) -> CheckResult {
        let holder = self.profile.holder.as_ref();
        match check {
            CertCheck::UziNumber => {
                let expected = holder.map(|h| h.uzi_number.clone());
                CheckResult::new(
                    "subject serialNumber (UZI number)",
                    expected.clone().unwrap_or_else(|| "(the profile has no holder)".into()),
                    cert.uzi_number.clone().unwrap_or_else(|| "none".into()),
                    expected.is_some() && expected == cert.uzi_number,
                )
            }
            CertCheck::San => {
                let got = cert.san_uzi.clone().unwrap_or_else(|| "no 2.5.5.5 otherName".into());
                let Some(h) = holder else {
                    return CheckResult::new("SAN 2.5.5.5", "(the profile has no holder)", got, false);
                };
                let (letter, ca_oid) = match self.profile.kind {
                    CardKind::Uzi(t) => (t.letter(), Some(t.uzi_ca_oid(self.profile.oid_ca))),
                    CardKind::ZorgId => ('N', None),
                };
                let tail = format!("1-{}-{letter}-{}-{}-{}", h.uzi_number, h.subscriber_number, h.role, h.agb_code);
                let expected = format!("{}-{tail}", ca_oid.unwrap_or("<CA OID>"));
                let passed = cert.san_uzi.as_deref().and_then(|s| s.split_once('-')).is_some_and(|(oid, rest)| {
                    let oid_ok = match ca_oid {
                        Some(want) => oid == want,
                        None => {
                            !oid.is_empty()
                                && oid.split('.').all(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
                        }
                    };
                    oid_ok && rest == tail
                });
                CheckResult::new("SAN 2.5.5.5", expected, got, passed)
            }
            CertCheck::KeyUsage => {
                let expected: &[&str] = match key {
                    Some(1) => &["digitalSignature"],
                    Some(2) => &["nonRepudiation"],
                    _ => &["keyEncipherment", "dataEncipherment"],
                };
                CheckResult::new(
                    "keyUsage",
                    expected.join(", "),
                    if cert.key_usage.is_empty() { "none".into() } else { cert.key_usage.join(", ") },
                    cert.key_usage == expected,
                )
            }
            CertCheck::Validity => {
                let limit = add_three_years(cert.not_before) - 1;
                CheckResult::new(
                    "certificate validity",
                    format!(
                        "notAfter after notBefore and at most {} (3 years − 1 s, 29 February → 28 February)",
                        utc(limit)
                    ),
                    format!("{} .. {}", utc(cert.not_before), utc(cert.not_after)),
                    cert.not_before < cert.not_after && cert.not_after <= limit,
                )
            }
            CertCheck::PublicKey => {
                let key = key.unwrap_or(1);
                let expected = format!("the public key of card key {key} (00 46 01 {key:02X})");
                match self.card_public_key(key) {
                    Ok(public) => {
                        let same = cert.public_key.as_ref() == Some(&public);
                        let got = if same {
                            format!("the same {} key", type_words(key_type_of(&public)))
                        } else {
                            format!(
                                "card key {}, certificate key {}",
                                key_words(&public),
                                cert.public_key.as_ref().map_or_else(|| "neither RSA nor P-256".to_owned(), key_words)
                            )
                        };
                        CheckResult::new("certificate key is the card's key", expected, got, same)
                    }
                    Err(e) => CheckResult::new("certificate key is the card's key", expected, e, false),
                }
            }
            CertCheck::NoEmail => CheckResult::new(
                "no e-mail address",
                "no e-mail address in subject or SAN (CPS UZI-register §7.1)",
                if cert.has_email { "an e-mail address" } else { "none" },
                !cert.has_email,
            ),
        }
    }

    /// The public key of a card key: `00 46 01 <ref> 00`, a `61xx` (an RSA template is 270 bytes) fetched with GET
    /// RESPONSE, the template `7F49 { 81 n, 82 e }` or `7F49 { 86 point }` parsed.
    pub(super) fn card_public_key(&mut self, key: u8) -> Result<HolderPublicKey, String> {
        let answer = self.send(&[0x00, 0x46, 0x01, key, 0x00])?;
        if answer.status != Status::Success {
            return Err(format!("00 46 01 {key:02X} answered {}", sw_words(answer.status)));
        }
        public_key_from_template(&answer.data)
            .ok_or_else(|| format!("no public key template: {}", hex_words(&answer.data)))
    }

    /// The public key of the certificate of card key `key`, read from `5015/430<key>`.
    pub(super) fn certificate_key(&mut self, key: u8) -> Result<HolderPublicKey, String> {
        let path = [pkcs15::DF_PKCS15, pkcs15::certificate_fid(key)];
        let der =
            self.read_ef(&path).map_err(|e| format!("cannot read {}: {}", script::path_text(&path), e.describe()))?;
        let cert =
            certificate_summary(&der).map_err(|e| format!("{} is no certificate: {e}", script::path_text(&path)))?;
        cert.public_key.ok_or_else(|| {
            format!("the certificate in {} has neither an RSA nor a P-256 key", script::path_text(&path))
        })
    }

    /// The certificate key of `key` as an `rsa` crate key, for encrypting to it.
    pub(super) fn certificate_rsa_key(&mut self, key: u8) -> Result<rsa::PublicKey, String> {
        let public = self.certificate_key(key)?;
        rsa_public_key(&public).map_err(|e| {
            let path = script::path_text(&[pkcs15::DF_PKCS15, pkcs15::certificate_fid(key)]);
            format!("the certificate in {path} has {e}")
        })
    }

    pub(super) fn read_checked(&mut self, label: &str, path: &[u16], out: &mut Vec<CheckResult>) -> Option<Vec<u8>> {
        match self.read_ef(path) {
            Ok(data) => Some(data),
            Err(e) => {
                out.push(CheckResult::new(
                    format!("{label} {}", script::path_text(path)),
                    "present and readable",
                    e.describe(),
                    false,
                ));
                None
            }
        }
    }

    /// The PKCS#15 files OpenSC reads (see [`issuance::pkcs15`]): present, decoding with the typed ASN.1 of
    /// [`asn1`], pointing at each other consistently and matching the card (serial, keys, certificates).
    pub(super) fn pkcs15_checks(&mut self, out: &mut Vec<CheckResult>) {
        self.check_ef_dir(out);
        let paths = self.check_odf(out);
        self.check_token_info(out);
        let path_of = |kind: &str, default: u16| {
            paths.iter().find(|(k, _)| *k == kind).map(|(_, p)| p.clone()).unwrap_or(vec![pkcs15::DF_PKCS15, default])
        };
        self.check_aodf(&path_of("AODF", pkcs15::EF_AODF), out);
        let mut keys = self.profile.keys.clone();
        keys.sort_unstable();
        self.check_prkdf(&keys, &path_of("PrKDF", pkcs15::EF_PRKDF), out);
        if let Some((_, pukdf_path)) = paths.iter().find(|(k, _)| *k == "PuKDF") {
            self.check_pukdf(pukdf_path, out);
        }
        self.check_cdf(&keys, &path_of("CDF", pkcs15::EF_CDF), out);
    }

    /// EF.DIR (ISO 7816-4 §8.2.1.1) lists an application template with the PKCS#15 AID.
    fn check_ef_dir(&mut self, out: &mut Vec<CheckResult>) {
        let aid = hex::encode_upper(pkcs15::PKCS15_AID);
        let Some(dir) = self.read_checked("EF.DIR", &[pkcs15::EF_DIR], out) else { return };
        let expected = format!("an application template with the PKCS#15 AID {aid}");
        match decode_all::<asn1::DirRecord>(&dir) {
            Ok(records) => {
                let aids: Vec<String> = records
                    .iter()
                    .map(|r| match r {
                        asn1::DirRecord::Application(t) => hex::encode_upper(t.aid.as_bytes()),
                    })
                    .collect();
                out.push(CheckResult::new(
                    "EF.DIR 2F00",
                    expected,
                    format!("applications {}", aids.join(", ")),
                    aids.contains(&aid),
                ));
            }
            Err(e) => out.push(CheckResult::new("EF.DIR 2F00", expected, e, false)),
        }
    }

    /// The ODF points at the PrKDF, CDF and AODF; returns each directory file it names with its path, for the
    /// checks of those files.
    fn check_odf(&mut self, out: &mut Vec<CheckResult>) -> Vec<(&'static str, Vec<u16>)> {
        let odf_path = [pkcs15::DF_PKCS15, pkcs15::EF_ODF];
        let mut paths: Vec<(&'static str, Vec<u16>)> = Vec::new();
        let Some(odf) = self.read_checked("ODF", &odf_path, out) else { return paths };
        let expected = "entries for the PrKDF, CDF and AODF";
        match decode_all::<asn1::OdfEntry>(&odf) {
            Ok(entries) => {
                for entry in entries {
                    let (kind, path) = match entry {
                        asn1::OdfEntry::PrivateKeys(p) => ("PrKDF", p),
                        asn1::OdfEntry::PublicKeys(p) => ("PuKDF", p),
                        asn1::OdfEntry::Certificates(p) => ("CDF", p),
                        asn1::OdfEntry::AuthObjects(p) => ("AODF", p),
                    };
                    paths.push((kind, fids(path.efid_or_path.as_bytes())));
                }
                let got: Vec<String> = paths.iter().map(|(k, p)| format!("{k} {}", script::path_text(p))).collect();
                let has = |k: &str| paths.iter().any(|(kind, _)| *kind == k);
                out.push(CheckResult::new(
                    "ODF 5015/5031",
                    expected,
                    got.join(", "),
                    has("PrKDF") && has("CDF") && has("AODF"),
                ));
            }
            Err(e) => out.push(CheckResult::new("ODF 5015/5031", expected, e, false)),
        }
        paths
    }

    /// TokenInfo's serialNumber is the card serial of GET DATA `DF32`.
    fn check_token_info(&mut self, out: &mut Vec<CheckResult>) {
        let token_path = [pkcs15::DF_PKCS15, pkcs15::EF_TOKEN_INFO];
        let Some(token) = self.read_checked("TokenInfo", &token_path, out) else { return };
        let serial =
            self.send(&[0x00, 0xCA, 0xDF, 0x32, 0x00]).ok().filter(|a| a.status == Status::Success).map(|a| a.data);
        let want = serial.map(|s| pkcs15::serial_octets(&String::from_utf8_lossy(&s)));
        let expected = match &want {
            Some(w) => format!("TokenInfo with the card serial (GET DATA DF32) as {}", hex_words(w)),
            None => "TokenInfo with the card serial (GET DATA DF32 did not answer)".to_owned(),
        };
        match asn1::TokenInfo::from_der(&token) {
            Ok(info) => {
                let got = info.serial_number.as_ref().map(|s| s.as_bytes().to_vec());
                out.push(CheckResult::new(
                    "TokenInfo 5015/5032",
                    expected,
                    got.as_deref().map_or("no serialNumber".into(), hex_words),
                    want.is_some() && got == want,
                ));
            }
            Err(e) => {
                out.push(CheckResult::new("TokenInfo 5015/5032", expected, format!("does not decode: {e}"), false))
            }
        }
    }

    /// The AODF has PIN objects for the user PIN (reference 1) and the PUK (reference 2).
    fn check_aodf(&mut self, aodf_path: &[u16], out: &mut Vec<CheckResult>) {
        let Some(aodf) = self.read_checked("AODF", aodf_path, out) else { return };
        let expected = "PIN objects for the user PIN (reference 1) and the PUK (reference 2)";
        let what = format!("AODF {}", script::path_text(aodf_path));
        match decode_all::<asn1::PinObject>(&aodf) {
            Ok(pins) => {
                let refs: Vec<u8> = pins.iter().map(|p| p.pin_attributes.pin_reference.unwrap_or(0)).collect();
                out.push(CheckResult::new(
                    what,
                    expected,
                    format!("references {refs:?}"),
                    refs.contains(&1) && refs.contains(&2),
                ));
            }
            Err(e) => out.push(CheckResult::new(what, expected, e, false)),
        }
    }

    /// The PrKDF lists the card's keys (`keys`, sorted) with the types the profile gives them.
    fn check_prkdf(&mut self, keys: &[u8], prkdf_path: &[u16], out: &mut Vec<CheckResult>) {
        // Each key with its type: `1 RSA-2048`, as the profile says and as the PrKDF must say.
        let typed = |refs: &[(u8, KeyType)]| -> String {
            refs.iter().map(|(r, t)| format!("{r} {}", type_words(*t))).collect::<Vec<_>>().join(", ")
        };
        let want: Vec<(u8, KeyType)> = keys.iter().map(|k| (*k, self.profile.key_type(*k))).collect();
        let Some(prkdf) = self.read_checked("PrKDF", prkdf_path, out) else { return };
        let expected = format!("private keys with the card's key references and types [{}]", typed(&want));
        let what = format!("PrKDF {}", script::path_text(prkdf_path));
        match decode_all::<asn1::PrivateKeyChoice>(&prkdf) {
            Ok(entries) => {
                let mut refs: Vec<(u8, KeyType)> = entries
                    .iter()
                    .map(|e| {
                        let kind = match e {
                            asn1::PrivateKeyChoice::Rsa(_) => KeyType::Rsa2048,
                            asn1::PrivateKeyChoice::Ec(_) => KeyType::P256,
                        };
                        (e.common_key().key_reference.unwrap_or(0), kind)
                    })
                    .collect();
                refs.sort_unstable_by_key(|(r, _)| *r);
                out.push(CheckResult::new(what, expected, format!("keys [{}]", typed(&refs)), refs == want));
            }
            Err(e) => out.push(CheckResult::new(what, expected, e, false)),
        }
    }

    /// A PuKDF, where the ODF names one, decodes as public key objects.
    fn check_pukdf(&mut self, pukdf_path: &[u16], out: &mut Vec<CheckResult>) {
        let Some(pukdf) = self.read_checked("PuKDF", pukdf_path, out) else { return };
        let what = format!("PuKDF {}", script::path_text(pukdf_path));
        let decoded = decode_all::<asn1::PublicKeyChoice>(&pukdf);
        out.push(CheckResult::new(
            what,
            "public key objects (RSA or EC)",
            match &decoded {
                Ok(v) => format!("{} public keys", v.len()),
                Err(e) => e.clone(),
            },
            decoded.is_ok(),
        ));
    }

    /// Every CDF entry points at a readable X.509 certificate, and the user certificates carry the iDs of `keys`.
    fn check_cdf(&mut self, keys: &[u8], cdf_path: &[u16], out: &mut Vec<CheckResult>) {
        let Some(cdf) = self.read_checked("CDF", cdf_path, out) else { return };
        let expected =
            format!("every entry points at an X.509 certificate; user certificates with the iDs of keys {keys:?}");
        let what = format!("CDF {}", script::path_text(cdf_path));
        match decode_all::<asn1::CertificateObject>(&cdf) {
            Ok(entries) => {
                let mut problems = Vec::new();
                let mut user_ids = Vec::new();
                for entry in &entries {
                    let path = fids(entry.type_attributes.value.efid_or_path.as_bytes());
                    match self.read_ef(&path) {
                        Ok(der) => {
                            if let Err(e) = certificate_summary(&der) {
                                problems.push(format!("{} is no certificate ({e})", script::path_text(&path)));
                            }
                        }
                        Err(e) => problems.push(format!("{}: {}", script::path_text(&path), e.describe())),
                    }
                    if !entry.common_certificate.authority {
                        user_ids.extend(entry.common_certificate.id.as_bytes().first().copied());
                    }
                }
                user_ids.sort_unstable();
                let got = if problems.is_empty() {
                    format!("{} certificates, user certificates with iDs {user_ids:?}", entries.len())
                } else {
                    problems.join("; ")
                };
                out.push(CheckResult::new(what, expected, got, problems.is_empty() && user_ids == keys));
            }
            Err(e) => out.push(CheckResult::new(what, expected, e, false)),
        }
    }
}
