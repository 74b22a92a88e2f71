//! Certificate summaries for `zorgcard card inspect` and the conformance checks.

use super::*;

// ---------------------------------------------------------------------------------------------
// Certificate summary (for `zorgcard card inspect` and the conformance checks)
// ---------------------------------------------------------------------------------------------

/// The fields of a certificate the CLI shows and the conformance suite checks against the
/// UZI-register profile (CPS §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// Subject in DER order, `C=NL, O=..., CN=..., serialNumber=..., GN=..., SN=..., title=...`.
    pub subject: String,
    /// Issuer in the same format.
    pub issuer: String,
    /// Serial number, unsigned big-endian without leading zeros (usable in [`RevokedEntry`]).
    pub serial: Vec<u8>,
    /// Subject serialNumber: the UZI number for UZI-pas / ZORG-ID certificates.
    pub uzi_number: Option<String>,
    /// The SubjectAltName otherName 2.5.5.5 string, if present.
    pub san_uzi: Option<String>,
    /// The Microsoft UPN otherName, if present (authentication certificates only).
    pub upn: Option<String>,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// keyUsage bits by their RFC 5280 names (`digitalSignature`, `nonRepudiation`,
    /// `keyEncipherment`, `dataEncipherment`, `keyAgreement`, `keyCertSign`, `cRLSign`,
    /// `encipherOnly`, `decipherOnly`), in bit order; empty if there is no keyUsage.
    pub key_usage: Vec<String>,
    /// extendedKeyUsage OIDs (dotted), in certificate order.
    pub extended_key_usage: Vec<String>,
    /// certificatePolicies OIDs (dotted).
    pub policies: Vec<String>,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// Whether any subject attribute or SAN entry is an e-mail address (the UZI profile has
    /// none, so this should be `false`).
    pub has_email: bool,
    /// The raw subjectPublicKey BIT STRING contents: for P-256 the 65-byte SEC1 uncompressed
    /// point, for RSA the PKCS#1 `RSAPublicKey` DER.
    pub public_key_sec1: Vec<u8>,
    /// The subject public key, if it is RSA or P-256.
    pub public_key: Option<HolderPublicKey>,
}

/// Parses a DER certificate into a [`CertSummary`].
pub fn certificate_summary(der: &[u8]) -> Result<CertSummary, PkiError> {
    let cert = Certificate::from_der(der).map_err(|e| PkiError::Parse(e.to_string()))?;
    let tbs = cert.tbs_certificate();
    let parse = |e: der::Error| PkiError::Parse(e.to_string());

    let subject_name = tbs.subject();
    let mut uzi_number = None;
    let mut has_email = false;
    for atv in subject_name.iter() {
        if atv.oid == OID_SERIAL_NUMBER {
            uzi_number = any_to_string(&atv.value);
        }
        if atv.oid == ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1") {
            has_email = true;
        }
    }

    let mut san_uzi = None;
    let mut upn = None;
    if let Some((_, san)) = tbs.get_extension::<SubjectAltName>().map_err(parse)? {
        for gn in san.0.iter() {
            match gn {
                GeneralName::OtherName(on) if on.type_id == OID_UZI_OTHERNAME => {
                    san_uzi = any_to_string(&on.value);
                }
                GeneralName::OtherName(on) if on.type_id == OID_MS_UPN => {
                    upn = any_to_string(&on.value);
                }
                GeneralName::Rfc822Name(_) => has_email = true,
                _ => {}
            }
        }
    }

    let key_usage = match tbs.get_extension::<KeyUsage>().map_err(parse)? {
        Some((_, ku)) => {
            let names = [
                (ku.digital_signature(), "digitalSignature"),
                (ku.non_repudiation(), "nonRepudiation"),
                (ku.key_encipherment(), "keyEncipherment"),
                (ku.data_encipherment(), "dataEncipherment"),
                (ku.key_agreement(), "keyAgreement"),
                (ku.key_cert_sign(), "keyCertSign"),
                (ku.crl_sign(), "cRLSign"),
                (ku.encipher_only(), "encipherOnly"),
                (ku.decipher_only(), "decipherOnly"),
            ];
            names.iter().filter(|(set, _)| *set).map(|(_, n)| (*n).to_string()).collect()
        }
        None => Vec::new(),
    };
    let extended_key_usage = match tbs.get_extension::<ExtendedKeyUsage>().map_err(parse)? {
        Some((_, eku)) => eku.0.iter().map(|o| o.to_string()).collect(),
        None => Vec::new(),
    };
    let policies = match tbs.get_extension::<CertificatePolicies>().map_err(parse)? {
        Some((_, p)) => p.0.iter().map(|pi| pi.policy_identifier.to_string()).collect(),
        None => Vec::new(),
    };
    let is_ca = match tbs.get_extension::<BasicConstraints>().map_err(parse)? {
        Some((_, bc)) => bc.ca,
        None => false,
    };

    let validity = tbs.validity();
    Ok(CertSummary {
        subject: name_to_string(subject_name),
        issuer: name_to_string(tbs.issuer()),
        serial: tbs.serial_number().as_bytes().to_vec(),
        uzi_number,
        san_uzi,
        upn,
        not_before: time_to_unix(validity.not_before),
        not_after: time_to_unix(validity.not_after),
        key_usage,
        extended_key_usage,
        policies,
        is_ca,
        has_email,
        public_key_sec1: tbs.subject_public_key_info().subject_public_key.raw_bytes().to_vec(),
        public_key: HolderPublicKey::from_spki(tbs.subject_public_key_info()),
    })
}
