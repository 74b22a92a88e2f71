//! Steps 1 and 2: the UZI pass is valid, and its holder proves possession of it (UZI PIN, INTERNAL AUTHENTICATE
//! against the certified key).

use super::*;

/// Life cycle, PIN tries and validity window of the UZI pass (GET DATA `DF31`, `DF33`, `DF30`); its serial.
pub(super) fn check_uzi_pass(uzi: &mut dyn Transmit, now: i64) -> Result<String, PersonaliseError> {
    let step = Step::UziPass;
    let refused = |command, status| PersonaliseError::UziRefused { step, command, status };
    let (lc, status) = get_data(uzi, 0xDF31, step, Which::UziPass)?;
    if status != Status::Success {
        return Err(refused("GET DATA DF31 (life cycle)", status));
    }
    match lc.as_slice() {
        [0x05] => {}
        [0x06] => {
            return Err(PersonaliseError::UziNotOperational {
                state: "blocked for good (06: its PUK is used up)".into(),
                advice: "apply for a new UZI-medewerkerspas at the UZI-register",
            });
        }
        [0x0C] => {
            return Err(PersonaliseError::UziNotOperational {
                state: "terminated (0C: revoked)".into(),
                advice: "apply for a new UZI-medewerkerspas at the UZI-register",
            });
        }
        other => {
            return Err(PersonaliseError::UziNotOperational {
                state: format!("not personalised (life cycle {})", hex::encode_upper(other)),
                advice: "put your own, personalised UZI-medewerkerspas op naam in the first reader",
            });
        }
    }
    let (tries, status) = get_data(uzi, 0xDF33, step, Which::UziPass)?;
    match (status, tries.as_slice()) {
        (Status::Success, [0, max, ..]) => return Err(PersonaliseError::UziPinBlocked { step, max: *max }),
        (Status::Success, [_, _, ..]) => {}
        (status, _) => return Err(refused("GET DATA DF33 (tries)", status)),
    }
    let (validity, status) = get_data(uzi, 0xDF30, step, Which::UziPass)?;
    if status != Status::Success {
        return Err(refused("GET DATA DF30 (validity)", status));
    }
    let window = std::str::from_utf8(&validity)
        .ok()
        .filter(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| PersonaliseError::UziRefused { step, command: "GET DATA DF30 (validity)", status })?;
    let (from, until) = window.split_at(8);
    let today = yyyymmdd(now);
    if today.as_str() < from {
        return Err(PersonaliseError::UziExpired {
            problem: format!("is valid from {} and today is {}", dashed(from), dashed(&today)),
            advice: "wait until it is valid, or check the computer's date",
        });
    }
    if today.as_str() >= until {
        return Err(PersonaliseError::UziExpired {
            problem: format!("expired on {} (today is {})", dashed(until), dashed(&today)),
            advice: "a ZORG-ID Smartcard can only be made with a valid UZI pass (ZORG-ID, *Aanmaken ZORG-ID Smartcard*, Voorbereiding, stap 1); apply for a new UZI pass",
        });
    }
    let (serial, status) = get_data(uzi, 0xDF32, step, Which::UziPass)?;
    if status != Status::Success {
        return Err(refused("GET DATA DF32 (serial)", status));
    }
    Ok(String::from_utf8_lossy(&serial).into_owned())
}

/// The authentication certificate: issued by the TEST UZI-register CA of its type (signature checked), inside
/// its validity, of a type that may make a ZORG-ID Smartcard, of a registered organisation; the holder data.
pub(super) fn check_uzi_certificate(
    der: &[u8],
    options: &PersonaliseOptions<'_>,
    now: i64,
) -> Result<UziHolder, PersonaliseError> {
    let step = Step::UziPass;
    let bad = |problem: String| PersonaliseError::UziCertificate { step, problem };
    let summary = pki::certificate_summary(der).map_err(|e| bad(format!("is unreadable ({e})")))?;
    let san =
        summary.san_uzi.clone().ok_or_else(|| bad("has no UZI otherName (2.5.5.5) in its SubjectAltName".into()))?;
    // CPS UZI-register §7.1: `<CA OID>-1-<UZI no>-<Z|N|M>-<subscriber no>-<role>-<AGB code>`.
    let fields: Vec<&str> = san.split('-').collect();
    let [ca_oid, _version, uzi_number, letter, subscriber, role, agb] = fields.as_slice() else {
        return Err(bad(format!("has a malformed UZI otherName {san:?}")));
    };
    let (card_type, oid_ca) = card_type(ca_oid, letter, &san, options.allow_zorgverlenerspas)?;
    verify_issued_by(der, &options.pki.ca_der(Issuer::Uzi(card_type)))
        .map_err(|problem| bad(format!("{problem} (TEST UZI-register CA of type {letter})")))?;
    if now < summary.not_before {
        return Err(PersonaliseError::UziExpired {
            problem: format!("has a certificate valid from {}", issuance::inspect::utc(summary.not_before)),
            advice: "wait until it is valid, or check the computer's date",
        });
    }
    if now > summary.not_after {
        return Err(PersonaliseError::UziExpired {
            problem: format!("has a certificate that expired on {}", issuance::inspect::utc(summary.not_after)),
            advice: "a ZORG-ID Smartcard can only be made with a valid UZI pass; apply for a new UZI pass",
        });
    }
    if summary.uzi_number.as_deref() != Some(*uzi_number) {
        return Err(bad(format!(
            "has subject serialNumber {:?} but UZI number {uzi_number} in {san:?}",
            summary.uzi_number
        )));
    }
    let cert = Certificate::from_der(der).map_err(|e| bad(format!("is unreadable ({e})")))?;
    let attr = |oid: ObjectIdentifier| {
        cert.tbs_certificate().subject().iter().find(|atv| atv.oid == oid).and_then(|atv| any_to_string(&atv.value))
    };
    let common_name = attr(OID_CN).ok_or_else(|| bad("has no commonName".into()))?;
    let organisation = attr(OID_O).ok_or_else(|| bad("has no organizationName".into()))?;
    let holder = Holder {
        holder_type: HolderType::N,
        uzi_number: (*uzi_number).into(),
        given_name: attr(OID_GN),
        surname: attr(OID_SN),
        common_name,
        title: None,
        organisation,
        subscriber_number: (*subscriber).into(),
        role: (*role).into(),
        agb_code: (*agb).into(),
        oid_ca,
    };
    if holder.given_name.is_none() || holder.surname.is_none() {
        return Err(bad("has no givenName or surname: a ZORG-ID Smartcard is made for a named person".into()));
    }
    if let Some(registered) = &options.registered_organisations
        && !registered.iter().any(|r| r == subscriber)
    {
        return Err(PersonaliseError::OrganisationNotRegistered {
            organisation: holder.organisation.clone(),
            subscriber_number: holder.subscriber_number.clone(),
        });
    }
    let public_key = summary.public_key.ok_or_else(|| bad("has neither an RSA nor a P-256 public key".into()))?;
    Ok(UziHolder { holder, public_key })
}

/// The card type of a UZI pass from the otherName's OID CA and card-type letter (CPS UZI-register v10.2 §7.1.5
/// Table 11): a UZI-medewerkerspas op naam, or a zorgverlenerspas if allowed. The OID CA may be the TEST one (the
/// real TEST passes, `2.16.528.1.1007.99.217` on a Z pass) or the production one (a profile with
/// `oid_ca = "production"`): either names the same CA, whose signature is checked next.
fn card_type(
    ca_oid: &str,
    letter: &str,
    san: &str,
    allow_zorgverlenerspas: bool,
) -> Result<(HolderType, OidCa), PersonaliseError> {
    let bad = |problem: String| PersonaliseError::UziCertificate { step: Step::UziPass, problem };
    if ca_oid == pki::OID_CA_ZORG_ID_TEST {
        return Err(PersonaliseError::UziCardType {
            letter: 'N',
            what: "ZORG-ID Smartcard, not a UZI pass",
            advice: "put your UZI-medewerkerspas op naam in the first reader and the blank ZORG-ID Smartcard in the second",
        });
    }
    let card_type = match letter {
        "N" => HolderType::N,
        "Z" if allow_zorgverlenerspas => HolderType::Z,
        "Z" => {
            return Err(PersonaliseError::UziCardType {
                letter: 'Z',
                what: "UZI-zorgverlenerspas",
                advice: "the ZORG-ID Smartcard replaces the UZI-medewerkerspas op naam (VZVZ, *ZORG-ID Smartcard*); keep using your zorgverlenerspas, or make the ZORG-ID Smartcard with a UZI-medewerkerspas op naam",
            });
        }
        "M" => {
            return Err(PersonaliseError::UziCardType {
                letter: 'M',
                what: "UZI-medewerkerspas niet op naam",
                advice: "it belongs to a function, not a person, and a ZORG-ID Smartcard is personal (ZORG-ID, *Aanmaken ZORG-ID Smartcard*: \"UZI-medewerkerspas op naam\"); use a UZI-medewerkerspas op naam",
            });
        }
        other => return Err(bad(format!("names an unknown card type {other:?} in {san:?}"))),
    };
    match HolderType::from_uzi_ca_oid(ca_oid) {
        Some((t, series)) if t == card_type => Ok((card_type, series)),
        _ => Err(bad(format!(
            "names CA {ca_oid} in {san:?}, not the UZI-register CA of type {letter} (TEST {} or production {})",
            card_type.uzi_ca_oid(OidCa::Test),
            card_type.uzi_ca_oid(OidCa::Production)
        ))),
    }
}

/// X.509 signature check (RFC 5280 §6.1.3 (a)(1)) of `cert_der` under the key of `ca_der`, and the issuer name;
/// see [`pki::verify_issued_by`].
pub fn verify_issued_by(cert_der: &[u8], ca_der: &[u8]) -> Result<(), String> {
    pki::verify_issued_by(cert_der, ca_der)
}

fn any_to_string(any: &Any) -> Option<String> {
    match any.tag() {
        Tag::Utf8String => Utf8StringRef::try_from(any).ok().map(|s| s.to_string()),
        Tag::PrintableString => PrintableStringRef::try_from(any).ok().map(|s| s.to_string()),
        Tag::Ia5String => Ia5StringRef::try_from(any).ok().map(|s| s.to_string()),
        _ => None,
    }
}

// ---- Step 2: authentication -------------------------------------------------------------------

/// VERIFY with the UZI PIN, then INTERNAL AUTHENTICATE `00 88 00 01 Lc challenge 00` on a fresh challenge from
/// the OS RNG, verified with the certified public key (DIALECT.md: an RSA key pads the SHA-256 DigestInfo of the
/// challenge the host sends, PKCS#1 v1.5; a P-256 key answers ECDSA-SHA256 over the challenge); then the PIN
/// verification is dropped (`00 20 FF 01`) so the UZI pass leaves the flow as it came in.
pub(super) fn authenticate(
    uzi: &mut dyn Transmit,
    pin: &Secret<Vec<u8>>,
    public_key: &pki::HolderPublicKey,
) -> Result<(), PersonaliseError> {
    let step = Step::UziPin;
    if !(1..=16).contains(&pin.expose().len()) {
        return Err(PersonaliseError::Input {
            step,
            what: "UZI PIN",
            problem: "it must be 1 to 16 characters: enter the PIN of the UZI pass".into(),
        });
    };
    // The APDU holds the PIN: a Secret<Vec<u8>>, wiped when dropped.
    let verify = Secret::new(
        reader_sim::exchange::command([0x00, 0x20, 0x00, card_os::PinRef::User.to_byte()], pin.expose(), None)
            .unwrap_or_default(),
    );
    let result = exchange(uzi, verify.expose(), step, Which::UziPass);
    match result?.1 {
        Status::Success => {}
        Status::RemainingRetries(0) | Status::AuthenticationBlocked => return Err(PersonaliseError::UziPinNowBlocked),
        Status::RemainingRetries(n) => return Err(PersonaliseError::UziPinWrong { tries_left: n }),
        status => return Err(PersonaliseError::UziRefused { step, command: "VERIFY", status }),
    }
    let mut challenge = [0u8; CHALLENGE_LEN];
    getrandom::fill(&mut challenge).map_err(|e| PersonaliseError::Setup {
        problem: format!("the operating system gave no random challenge ({e})"),
    })?;
    let hash = <sha2::Sha256 as sha2::Digest>::digest(challenge);
    let data = match public_key {
        // RFC 8017 §9.2: an RSA key is sent the DigestInfo, whose header is the `rsa` crate's PKCS#1 v1.5 prefix.
        pki::HolderPublicKey::Rsa { .. } => [&*rsa::Pkcs1v15Sign::new::<sha2::Sha256>().prefix, &hash].concat(),
        pki::HolderPublicKey::P256 { .. } => challenge.to_vec(),
    };
    let mut apdu = vec![0x00, 0x88, 0x00, 0x01, data.len() as u8];
    apdu.extend_from_slice(&data);
    apdu.push(0x00);
    let (signature, status) = exchange(uzi, &apdu, step, Which::UziPass)?;
    if status != Status::Success {
        return Err(PersonaliseError::UziRefused { step, command: "INTERNAL AUTHENTICATE", status });
    }
    let not_verified = || PersonaliseError::UziAuthentication {
        problem: "the signature over the challenge does not verify with the authentication certificate".into(),
    };
    match public_key {
        pki::HolderPublicKey::Rsa { .. } => {
            let key = public_key.checked_rsa().map_err(|e| PersonaliseError::UziAuthentication {
                problem: format!("the certificate's RSA key is not usable: {e}"),
            })?;
            key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &hash, &signature).map_err(|_| not_verified())?;
        }
        pki::HolderPublicKey::P256 { sec1 } => {
            let key = VerifyingKey::from_sec1_bytes(sec1).map_err(|_| PersonaliseError::UziAuthentication {
                problem: "the certificate's key is not a P-256 point".into(),
            })?;
            let signature = Signature::from_der(&signature).map_err(|_| PersonaliseError::UziAuthentication {
                problem: "INTERNAL AUTHENTICATE answered no DER ECDSA signature".into(),
            })?;
            key.verify(&challenge, &signature).map_err(|_| not_verified())?;
        }
    }
    let (_, status) = exchange(uzi, &[0x00, 0x20, 0xFF, 0x01], step, Which::UziPass)?;
    if status != Status::Success {
        return Err(PersonaliseError::UziRefused { step, command: "VERIFY (log out)", status });
    }
    Ok(())
}

fn yyyymmdd(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day()),
        Err(_) => "00000000".into(),
    }
}

fn dashed(yyyymmdd: &str) -> String {
    match (yyyymmdd.get(..4), yyyymmdd.get(4..6), yyyymmdd.get(6..8)) {
        (Some(y), Some(m), Some(d)) => format!("{y}-{m}-{d}"),
        _ => yyyymmdd.into(),
    }
}
