//! The certificate profile every certificate here is built with: names, extensions, serials and times, and the
//! checks on holder data (CPS UZI-register §7.1).

use super::*;

// ---------------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------------

/// The builder profile used for every certificate here: fixed subject/issuer, SKI and AKI
/// computed from the keys, basicConstraints, then the role-specific extensions.
pub(super) struct Profile {
    pub(super) subject: Name,
    pub(super) issuer: Name,
    pub(super) basic_constraints: BasicConstraints,
    pub(super) extra: Vec<Extension>,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut exts: Vec<Extension> = Vec::new();
        exts.push((&self.basic_constraints).to_extension(tbs.subject(), &exts)?);
        exts.extend(self.extra.iter().cloned());
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        exts.push((&ski).to_extension(tbs.subject(), &exts)?);
        let issuer_ski = SubjectKeyIdentifier::try_from(issuer_spk)?;
        let aki = AuthorityKeyIdentifier { key_identifier: Some(issuer_ski.0), ..Default::default() };
        exts.push((&aki).to_extension(tbs.subject(), &exts)?);
        Ok(exts)
    }
}

/// Reads a CA key: unencrypted PKCS#8 PEM, RSA of exactly [`CA_KEY_BITS`] bits (CPS §6.1.4).
pub(super) fn read_key(path: &Path) -> Result<CaKey, PkiError> {
    let pem = fixtures::read_to_string(path).map_err(|source| PkiError::Io { path: path.to_path_buf(), source })?;
    let err = |reason: String| PkiError::Key { path: path.to_path_buf(), reason };
    let key = rsa::PrivateKey::from_pkcs8_pem(&pem).map_err(|e| err(e.to_string()))?;
    let bits = key.n().bit_width() as usize;
    if bits != CA_KEY_BITS {
        return Err(err(format!("an RSA-{bits} key; the UZI-register CA keys are RSA-{CA_KEY_BITS} (CPS §6.1.4)")));
    }
    Ok(SigningKey::new(key))
}

/// `C=NL, O=<org>[, organizationIdentifier=<id>], CN=<cn>`, the order of the real UZI-register
/// G3 CA names.
pub(super) fn ca_name(cn: &str, org: &str, org_id: Option<&str>) -> Result<Name, PkiError> {
    let mut attrs = vec![atv_printable(OID_C, "NL")?, atv_utf8(OID_O, org)?];
    if let Some(id) = org_id {
        attrs.push(atv_utf8(OID_ORG_ID, id)?);
    }
    attrs.push(atv_utf8(OID_CN, cn)?);
    name_from(attrs)
}

pub(super) fn build_ca_cert(
    subject_key: &CaKey,
    issuer_key: &CaKey,
    subject: Name,
    issuer: Name,
    file_stem: &str,
    path_len: Option<u8>,
) -> Result<Certificate, PkiError> {
    let ku = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
    let extra = vec![(&ku).to_extension(&subject, &[])?];
    let profile = Profile {
        subject,
        issuer,
        basic_constraints: BasicConstraints { ca: true, path_len_constraint: path_len },
        extra,
    };
    let spki = SubjectPublicKeyInfoOwned::from_key(&subject_key.verifying_key())?;
    let serial = derived_serial(&[b"zorgcard TEST CA", file_stem.as_bytes()])?;
    let validity =
        Validity::new(unix_to_time(CA_NOT_BEFORE, "CA notBefore")?, unix_to_time(CA_NOT_AFTER, "CA notAfter")?);
    let builder = CertificateBuilder::new(profile, serial, validity, spki)?;
    Ok(builder.build::<_, RsaSignature>(issuer_key)?)
}

pub(super) fn check_digits(field: &'static str, value: &str, len: Option<usize>) -> Result<(), PkiError> {
    let ok = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) && len.is_none_or(|l| value.len() == l);
    if ok {
        Ok(())
    } else {
        Err(PkiError::Holder {
            field,
            reason: match len {
                Some(l) => format!("{value:?} must be exactly {l} ASCII digits"),
                None => format!("{value:?} must be one or more ASCII digits"),
            },
        })
    }
}

pub(super) fn check_text(field: &'static str, value: &str) -> Result<(), PkiError> {
    if value.trim().is_empty() {
        return Err(PkiError::Holder { field, reason: "must not be empty".into() });
    }
    if value.contains('@') {
        return Err(PkiError::Holder {
            field,
            reason: format!(
                "{value:?} looks like an e-mail address; the UZI-register profile has no e-mail addresses (CPS §7.1)"
            ),
        });
    }
    Ok(())
}

pub(super) fn validate_holder(issuer: Issuer, holder: &Holder) -> Result<(), PkiError> {
    if let Issuer::Uzi(t) = issuer
        && t != holder.holder_type
    {
        return Err(PkiError::IssuerMismatch { holder_type: holder.holder_type, issuer: issuer.common_name() });
    }
    check_digits("uzi_number", &holder.uzi_number, Some(9))?;
    check_digits("subscriber_number", &holder.subscriber_number, None)?;
    check_digits("agb_code", &holder.agb_code, Some(8))?;
    check_text("common_name", &holder.common_name)?;
    check_text("organisation", &holder.organisation)?;
    check_text("role", &holder.role)?;
    if !holder.role.bytes().all(|b| b.is_ascii_graphic() && b != b'-') {
        return Err(PkiError::Holder {
            field: "role",
            reason: format!(
                "{:?} must be printable ASCII without '-' (it is a field of the '-'-separated 2.5.5.5 otherName), e.g. \"01.015\"",
                holder.role
            ),
        });
    }
    if needs_personal_name(issuer, holder) {
        for (field, value) in [("given_name", &holder.given_name), ("surname", &holder.surname)] {
            match value {
                Some(v) => check_text(field, v)?,
                None => {
                    return Err(PkiError::Holder {
                        field,
                        reason:
                            "required for named holders (Z and N cards, ZORG-ID); only M cards have no personal name"
                                .into(),
                    });
                }
            }
        }
    }
    if holder.holder_type == HolderType::Z
        && let Some(t) = &holder.title
    {
        check_text("title", t)?;
    }
    Ok(())
}

pub(super) fn needs_personal_name(issuer: Issuer, holder: &Holder) -> bool {
    matches!(issuer, Issuer::ZorgId) || holder.holder_type != HolderType::M
}

/// Subject of an end-entity certificate (CPS UZI-register §3.1.1 and §7.1).
pub(super) fn end_entity_name(issuer: Issuer, holder: &Holder) -> Result<Name, PkiError> {
    let named = needs_personal_name(issuer, holder);
    let given = |h: &Holder| h.given_name.clone().unwrap_or_default();
    let sur = |h: &Holder| h.surname.clone().unwrap_or_default();
    let mut attrs = vec![
        atv_printable(OID_C, "NL")?,
        atv_utf8(OID_O, &holder.organisation)?,
        atv_utf8(OID_CN, &holder.common_name)?,
    ];
    match issuer {
        Issuer::Uzi(t) => {
            attrs.push(atv_printable(OID_SERIAL_NUMBER, &holder.uzi_number)?);
            if named {
                attrs.push(atv_utf8(OID_GN, &given(holder))?);
                attrs.push(atv_utf8(OID_SN, &sur(holder))?);
            }
            if t == HolderType::Z
                && let Some(title) = &holder.title
            {
                attrs.push(atv_utf8(OID_TITLE, title)?);
            }
        }
        Issuer::ZorgId => {
            attrs.push(atv_utf8(OID_GN, &given(holder))?);
            attrs.push(atv_utf8(OID_SN, &sur(holder))?);
            attrs.push(atv_printable(OID_SERIAL_NUMBER, &holder.uzi_number)?);
        }
    }
    name_from(attrs)
}

/// The 2.5.5.5 otherName string (CPS UZI-register §7.1):
/// `<CA OID>-1-<UZI no>-<Z|N|M>-<subscriber no>-<role>-<AGB code>`.
pub(super) fn uzi_san_string(issuer: Issuer, holder: &Holder) -> String {
    let letter = match issuer {
        Issuer::Uzi(t) => t.letter(),
        Issuer::ZorgId => 'N',
    };
    format!(
        "{}-1-{}-{}-{}-{}-{}",
        issuer.san_ca_oid(holder.oid_ca),
        holder.uzi_number,
        letter,
        holder.subscriber_number,
        holder.role,
        holder.agb_code
    )
}

pub(super) fn end_entity_extensions(
    issuer: Issuer,
    holder: &Holder,
    role: CertRole,
    subject: &Name,
) -> Result<Vec<Extension>, PkiError> {
    let mut exts: Vec<Extension> = Vec::new();

    // keyUsage, critical (CPS §6.1.7).
    let ku = match role {
        CertRole::Authentication => KeyUsage(KeyUsages::DigitalSignature.into()),
        CertRole::Signature => KeyUsage(KeyUsages::NonRepudiation.into()),
        CertRole::Encryption => KeyUsage(KeyUsages::KeyEncipherment | KeyUsages::DataEncipherment),
    };
    exts.push((&ku).to_extension(subject, &exts)?);

    // extendedKeyUsage (CPS §7.1).
    let eku = ExtendedKeyUsage(match role {
        CertRole::Authentication => vec![OID_EKU_CLIENT_AUTH, OID_EKU_EMAIL_PROTECTION, OID_EKU_MS_DOCUMENT_SIGNING],
        CertRole::Signature => vec![OID_EKU_EMAIL_PROTECTION, OID_EKU_MS_DOCUMENT_SIGNING],
        CertRole::Encryption => vec![OID_EKU_EMAIL_PROTECTION, OID_EKU_MS_EFS],
    });
    exts.push((&eku).to_extension(subject, &exts)?);

    // certificatePolicies with the TEST policy OID of the role.
    let policies =
        CertificatePolicies(vec![PolicyInformation { policy_identifier: role.policy_oid(), policy_qualifiers: None }]);
    exts.push((&policies).to_extension(subject, &exts)?);

    // subjectAltName: otherName 2.5.5.5 (IA5String), plus the UPN on the authentication cert.
    let mut names = vec![GeneralName::OtherName(OtherName {
        type_id: OID_UZI_OTHERNAME,
        value: Any::encode_from(&Ia5String::new(&uzi_san_string(issuer, holder))?)?,
    })];
    if role == CertRole::Authentication {
        let upn = format!("{}@{}", holder.uzi_number, holder.subscriber_number);
        names.push(GeneralName::OtherName(OtherName {
            type_id: OID_MS_UPN,
            value: Any::encode_from(&Utf8StringRef::new(&upn)?)?,
        }));
    }
    let san = SubjectAltName(names);
    exts.push((&san).to_extension(subject, &exts)?);

    // cRLDistributionPoints at the local test CRL server.
    let dp = CrlDistributionPoints(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![GeneralName::UniformResourceIdentifier(
            Ia5String::new(&issuer.crl_url())?,
        )])),
        reasons: None,
        crl_issuer: None,
    }]);
    exts.push((&dp).to_extension(subject, &exts)?);

    // authorityInfoAccess (RFC 5280 §4.2.2.1; CPS §7.1 Table 8): the OCSP responder and the issuing CA's certificate.
    let uri = |url: String| Ok::<_, PkiError>(GeneralName::UniformResourceIdentifier(Ia5String::new(&url)?));
    let aia = AuthorityInfoAccessSyntax(vec![
        AccessDescription { access_method: OID_AD_OCSP, access_location: uri(issuer.ocsp_url())? },
        AccessDescription { access_method: OID_AD_CA_ISSUERS, access_location: uri(issuer.ca_issuers_url())? },
    ]);
    exts.push((&aia).to_extension(subject, &exts)?);

    Ok(exts)
}

pub(super) fn atv_utf8(oid: ObjectIdentifier, value: &str) -> Result<AttributeTypeAndValue, PkiError> {
    Ok(AttributeTypeAndValue { oid, value: Any::encode_from(&Utf8StringRef::new(value)?)? })
}

pub(super) fn atv_printable(oid: ObjectIdentifier, value: &str) -> Result<AttributeTypeAndValue, PkiError> {
    Ok(AttributeTypeAndValue { oid, value: Any::encode_from(&PrintableString::new(value)?)? })
}

/// A `Name` with one attribute per RDN, in the given (DER) order. x509-cert only exposes the
/// `RdnSequence -> Name` conversion behind its `hazmat` feature, so the sequence goes through
/// its own DER codec.
pub(super) fn name_from(attrs: Vec<AttributeTypeAndValue>) -> Result<Name, PkiError> {
    let mut seq = RdnSequence::default();
    for atv in attrs {
        seq.push(RelativeDistinguishedName::try_from(vec![atv])?);
    }
    Ok(Name::from_der(&seq.to_der()?)?)
}

/// A positive 16-byte serial number from SHA-256 of `parts`: top bit cleared so it is
/// positive, next bit set so it always encodes in exactly 16 bytes (RFC 5280 §4.1.2.2 allows
/// up to 20).
pub(super) fn derived_serial(parts: &[&[u8]]) -> Result<SerialNumber, PkiError> {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::new(&bytes)?)
}

pub(super) fn crl_serial(serial: &[u8]) -> Result<SerialNumber, PkiError> {
    let trimmed: &[u8] = {
        let start = serial.iter().position(|&b| b != 0).unwrap_or(serial.len());
        &serial[start..]
    };
    let err = |reason: String| PkiError::Serial { serial_hex: hex::encode(serial), reason };
    if trimmed.is_empty() {
        return Err(err("a serial number must be a positive integer, not zero".into()));
    }
    SerialNumber::new(trimmed).map_err(|e| err(format!("{e}; at most 20 bytes")))
}

pub(super) fn unix_to_time(unix: i64, what: &'static str) -> Result<Time, PkiError> {
    let err = || PkiError::Time { what, unix };
    let secs = u64::try_from(unix).map_err(|_| err())?;
    let dt = DateTime::from_unix_duration(Duration::from_secs(secs)).map_err(|_| err())?;
    // UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5).
    Ok(Time::from(dt))
}

pub(super) fn time_to_unix(t: Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

pub(super) fn any_to_string(any: &Any) -> Option<String> {
    match any.tag() {
        Tag::Utf8String => Utf8StringRef::try_from(any).ok().map(|s| s.to_string()),
        Tag::PrintableString => PrintableStringRef::try_from(any).ok().map(|s| s.to_string()),
        Tag::Ia5String => Ia5StringRef::try_from(any).ok().map(|s| s.to_string()),
        Tag::TeletexString => TeletexStringRef::try_from(any).ok().map(|s| s.to_string()),
        _ => None,
    }
}

pub(super) fn attr_short_name(oid: &ObjectIdentifier) -> Option<&'static str> {
    Some(match *oid {
        OID_C => "C",
        OID_O => "O",
        OID_CN => "CN",
        OID_SERIAL_NUMBER => "serialNumber",
        OID_GN => "GN",
        OID_SN => "SN",
        OID_TITLE => "title",
        OID_ORG_ID => "organizationIdentifier",
        _ if *oid == ObjectIdentifier::new_unwrap("2.5.4.11") => "OU",
        _ if *oid == ObjectIdentifier::new_unwrap("2.5.4.7") => "L",
        _ if *oid == ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1") => "emailAddress",
        _ => return None,
    })
}

/// `C=NL, O=..., CN=...` in DER order (like `openssl x509 -subject -nameopt oneline`, not the
/// reversed RFC 4514 order of x509-cert's `Display`), which reads naturally for UZI names.
pub(super) fn name_to_string(name: &Name) -> String {
    name.iter()
        .map(|atv| {
            let key = attr_short_name(&atv.oid).map(str::to_string).unwrap_or_else(|| atv.oid.to_string());
            match any_to_string(&atv.value) {
                Some(v) => format!("{key}={v}"),
                None => format!("{key}=#{}", hex::encode(atv.value.value())),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
