//! The test-only PKI: a TEST CA hierarchy and end-entity certificates shaped after the
//! UZI-register certificate profile (CPS UZI-register v10.2) and the ZORG-ID Smartcard.
//!
//! Why this exists: a simulated UZI-pas or ZORG-ID Smartcard is only useful to relying-party
//! software (OpenSC, browsers, signing tools, the conformance suite) if the certificates on it
//! look like the real ones — same subject attributes, same SubjectAltName otherName layout, same
//! key usages — while being unmistakably *not* real. Every CA name therefore contains `TEST`, the
//! CA keys are committed test fixtures (see `fixtures/pki/README.md`), and nothing here can chain
//! to the real UZI-register or ZORG-ID roots.
//!
//! Algorithms follow the UZI-register: the CA keys are 4096-bit RSA (CPS UZI-register v10.2
//! §6.1.4) and every certificate and CRL is signed `sha256WithRSAEncryption` (RSASSA-PKCS1-v1_5,
//! RFC 8017 §8.2; CPS §7.1.1 Table 7). Holder keys are a [`HolderPublicKey`]: RSA-2048, as on a
//! real UZI-pas (CPS §6.1.4, "at least 2048 bits"), or P-256 for project-specific profiles.
//!
//! Everything is deterministic: the CA keys are fixed, PKCS#1 v1.5 signatures are a function
//! of key and message, serial numbers are derived from the inputs and times are passed in
//! explicitly, so the same inputs produce byte-identical certificates and CRLs (golden
//! snapshots stay stable).
//!
//! All X.509 structures are built with the RustCrypto `x509-cert` types (certificate builder,
//! `TbsCertList`), extension and otherName values with `der` types; no DER is hand-written.
//!
//! Hierarchy:
//!
//! ```text
//! CN=TEST Zorgcard Root CA, O=zorgcard TEST, C=NL                     fixtures/pki/root-ca.*
//! ├── CN=TEST UZI-register Zorgverlener CA G3               (Z)       uzi-zorgverlener-ca.*
//! ├── CN=TEST UZI-register Medewerker op naam CA G3         (N)       uzi-medewerker-op-naam-ca.*
//! ├── CN=TEST UZI-register Medewerker niet op naam CA G3    (M)       uzi-medewerker-niet-op-naam-ca.*
//! └── CN=TEST ZORG-ID Smartcard CA                                    zorg-id-ca.*
//! ```
//!
//! This module holds [`TestPki`] (loading the CAs, issuing, CRLs) and the helpers around it; the rest is one file
//! per concept, re-exported here: `oids` (object identifiers), `holder` (holder types, roles, issuers, holder data),
//! `holder_key` ([`HolderPublicKey`]), `error` ([`PkiError`]), `cert_profile` (names, extensions, serials and the
//! checks on holder data) and `summary` ([`CertSummary`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use der::asn1::{
    Ia5String, Ia5StringRef, ObjectIdentifier, PrintableString, PrintableStringRef, TeletexStringRef, Utf8StringRef,
};
use der::pem::LineEnding;
use der::referenced::OwnedToRef;
use der::{Any, DateTime, Decode, Encode, EncodePem, Tag, Tagged};
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs1v15::{Signature as RsaSignature, SigningKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use rsa::signature::{Keypair, Signer};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};
use spki::{
    DynSignatureAlgorithmIdentifier, SignatureBitStringEncoding, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef,
};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName, OtherName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies,
    CrlDistributionPoints, CrlNumber, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

mod cert_profile;
mod error;
mod holder;
mod holder_key;
mod ocsp;
mod oids;
mod summary;

use cert_profile::*;
pub use error::*;
pub use holder::*;
pub use holder_key::*;
pub use ocsp::*;
pub use oids::*;
pub use summary::*;

// ---------------------------------------------------------------------------------------------
// The PKI
// ---------------------------------------------------------------------------------------------

/// A CA's signer: RSASSA-PKCS1-v1_5 with SHA-256, i.e. `sha256WithRSAEncryption`
/// (RFC 8017 §8.2, RFC 4055 §5; CPS UZI-register §7.1.1 Table 7).
type CaKey = SigningKey<Sha256>;

/// One CA: its key and its (deterministically generated) certificate.
struct Ca {
    key: CaKey,
    cert: Certificate,
    der: Vec<u8>,
    file_stem: &'static str,
}

/// The loaded TEST PKI: the root CA and the four issuing CAs, each with its private key.
pub struct TestPki {
    root: Ca,
    /// Indexed by [`Issuer::index`].
    issuing: Vec<Ca>,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material, even test keys.
        f.debug_struct("TestPki")
            .field("root", &self.root.file_stem)
            .field("issuing", &self.issuing.iter().map(|c| c.file_stem).collect::<Vec<_>>())
            .finish()
    }
}

impl TestPki {
    /// Loads the CA keys from `dir` (normally the fixture set's `pki/`, embedded or on disk) and regenerates the CA
    /// certificates from them. The certificates are a pure function of the keys, so the
    /// committed `*.cert.pem` files are for people (`openssl verify`) and are checked against
    /// this output by a test rather than read here.
    pub fn load(dir: &Path) -> Result<TestPki, PkiError> {
        let root_key = read_key(&dir.join(format!("{ROOT_FILE_STEM}.key.pem")))?;
        let root_name = ca_name(ROOT_COMMON_NAME, "zorgcard TEST", None)?;
        let root_cert =
            build_ca_cert(&root_key, &root_key, root_name.clone(), root_name.clone(), ROOT_FILE_STEM, None)?;
        let root = Ca { der: root_cert.to_der()?, cert: root_cert, key: root_key, file_stem: ROOT_FILE_STEM };

        let mut issuing = Vec::with_capacity(Issuer::ALL.len());
        for issuer in Issuer::ALL {
            let key = read_key(&dir.join(format!("{}.key.pem", issuer.file_stem())))?;
            let (org, org_id) = match issuer {
                Issuer::Uzi(_) => ("TEST CIBG", Some("NTRNL-50000535")),
                Issuer::ZorgId => ("TEST VZVZ", None),
            };
            let subject = ca_name(issuer.common_name(), org, org_id)?;
            let cert = build_ca_cert(&key, &root.key, subject, root_name.clone(), issuer.file_stem(), Some(0))?;
            issuing.push(Ca { der: cert.to_der()?, cert, key, file_stem: issuer.file_stem() });
        }
        Ok(TestPki { root, issuing })
    }

    /// Loads the TEST PKI of the fixture set (`fixtures/pki`, embedded unless `--fixtures DIR`).
    pub fn fixtures() -> Result<TestPki, PkiError> {
        TestPki::load(&fixtures_dir())
    }

    fn ca(&self, issuer: Issuer) -> &Ca {
        &self.issuing[issuer.index()]
    }

    /// Issues an end-entity certificate (DER) for `public_key` following the
    /// UZI-register certificate profile (CPS UZI-register v10.2 §7.1) or its ZORG-ID analogue.
    ///
    /// - subject `C=NL, O=<organisation>, CN=<common name>, serialNumber=<UZI number>`, plus
    ///   `GN`/`SN` for named holders and `title` for Z cards (CPS §3.1.1); for ZORG-ID
    ///   `C, O, CN, GN, SN, serialNumber`. No e-mail address anywhere.
    /// - SubjectAltName otherName 2.5.5.5 (IA5String)
    ///   `<CA OID>-1-<UZI no>-<Z|N|M>-<subscriber no>-<role>-<AGB code>`, the CA OID of [`Holder::oid_ca`]'s
    ///   series ([`HolderType::uzi_ca_oid`]); the authentication
    ///   certificate also carries a Microsoft UPN otherName `<UZI no>@<subscriber no>`.
    /// - keyUsage (critical) per role (CPS §6.1.7), extendedKeyUsage, TEST certificatePolicies,
    ///   basicConstraints CA:FALSE (critical), SKI, AKI, a CRL distribution point at
    ///   [`Issuer::crl_url`] and authorityInfoAccess (RFC 5280 §4.2.2.1) with id-ad-ocsp [`Issuer::ocsp_url`] and
    ///   id-ad-caIssuers [`Issuer::ca_issuers_url`].
    /// - validity from `issued_at` to [`add_three_years`]`(issued_at) - 1`: at most three years
    ///   (CPS §6.3.2).
    /// - serial number: SHA-256 over the card serial and role, 16 bytes, positive, so
    ///   re-issuing the same card gives the same serial (and the same certificate).
    /// - subjectPublicKeyInfo: `public_key` (RSA 2048..=4096 bits or P-256, see
    ///   [`HolderPublicKey::spki_der`]); signed `sha256WithRSAEncryption` by the CA.
    pub fn issue(
        &self,
        issuer: Issuer,
        holder: &Holder,
        role: CertRole,
        public_key: &HolderPublicKey,
        card_serial: &[u8],
        issued_at: i64,
    ) -> Result<Vec<u8>, PkiError> {
        validate_holder(issuer, holder)?;
        let spki = public_key.spki()?;

        let not_before = unix_to_time(issued_at, "issued_at")?;
        let not_after = unix_to_time(add_three_years(issued_at) - 1, "issued_at + 3 years")?;

        let ca = self.ca(issuer);
        let subject = end_entity_name(issuer, holder)?;
        let extensions = end_entity_extensions(issuer, holder, role, &subject)?;
        let profile = Profile {
            subject,
            issuer: ca.cert.tbs_certificate().subject().clone(),
            basic_constraints: BasicConstraints { ca: false, path_len_constraint: None },
            extra: extensions,
        };
        let serial = derived_serial(&[b"zorgcard end-entity", card_serial, &[role.tag()]])?;
        let builder = CertificateBuilder::new(profile, serial, Validity::new(not_before, not_after), spki)?;
        let cert = builder.build::<_, RsaSignature>(&ca.key)?;
        Ok(cert.to_der()?)
    }

    /// The chain a relying party needs for certificates of `issuer`:
    /// `[intermediate DER, root DER]`.
    pub fn ca_chain(&self, issuer: Issuer) -> Vec<Vec<u8>> {
        vec![self.ca(issuer).der.clone(), self.root.der.clone()]
    }

    /// The TEST root CA certificate (DER): the only trust anchor of this PKI.
    pub fn root_der(&self) -> Vec<u8> {
        self.root.der.clone()
    }

    /// The issuing CA certificate (DER) of `issuer`.
    pub fn ca_der(&self, issuer: Issuer) -> Vec<u8> {
        self.ca(issuer).der.clone()
    }

    /// All five CA certificates as `(file name, PEM)` in the form committed to `fixtures/pki/`
    /// (`<stem>.cert.pem`): the root first, then the issuing CAs in [`Issuer::ALL`] order.
    pub fn ca_certificate_files(&self) -> Result<Vec<(String, String)>, PkiError> {
        std::iter::once(&self.root)
            .chain(self.issuing.iter())
            .map(|ca| Ok((format!("{}.cert.pem", ca.file_stem), ca.cert.to_pem(LineEnding::LF)?)))
            .collect()
    }

    /// An X.509 v2 CRL (DER) of `issuer` listing `revoked`, valid from `this_update` for
    /// [`CRL_VALIDITY_SECS`] (CPS UZI-register §4.9.7 and §7.2). The CRL number is
    /// `this_update`, so later CRLs have higher numbers; the AKI is the issuing CA's own key
    /// identifier (x509-cert's `CrlBuilder` would copy the CA certificate's AKI, which for an
    /// intermediate names the root's key, so the `TbsCertList` is assembled here and signed
    /// with the CA key).
    pub fn crl(&self, issuer: Issuer, revoked: &[RevokedEntry], this_update: i64) -> Result<Vec<u8>, PkiError> {
        let ca = self.ca(issuer);
        let issuer_name = ca.cert.tbs_certificate().subject().clone();

        let revoked_certificates = revoked
            .iter()
            .map(|entry| {
                Ok(RevokedCert {
                    serial_number: crl_serial(&entry.serial)?,
                    revocation_date: unix_to_time(entry.revoked_at, "revoked_at")?,
                    crl_entry_extensions: None,
                })
            })
            .collect::<Result<Vec<_>, PkiError>>()?;

        let crl_number = CrlNumber::try_from(
            u64::try_from(this_update).map_err(|_| PkiError::Time { what: "this_update", unix: this_update })?,
        )?;
        let ski = SubjectKeyIdentifier::try_from(ca.cert.tbs_certificate().subject_public_key_info().owned_to_ref())?;
        let aki = AuthorityKeyIdentifier { key_identifier: Some(ski.0), ..Default::default() };
        let aki_ext = (&aki).to_extension(&issuer_name, &[])?;
        let number_ext = (&crl_number).to_extension(&issuer_name, std::slice::from_ref(&aki_ext))?;
        let crl_extensions = vec![aki_ext, number_ext];

        let signature_algorithm = ca.key.signature_algorithm_identifier()?;
        let tbs = TbsCertList {
            version: Version::V2,
            signature: signature_algorithm.clone(),
            issuer: issuer_name,
            this_update: unix_to_time(this_update, "this_update")?,
            next_update: Some(unix_to_time(
                this_update.saturating_add(CRL_VALIDITY_SECS),
                "this_update + CRL validity",
            )?),
            revoked_certificates: if revoked_certificates.is_empty() { None } else { Some(revoked_certificates) },
            crl_extensions: Some(crl_extensions),
        };
        let tbs_der = tbs.to_der()?;
        let sig: RsaSignature = ca.key.try_sign(&tbs_der).map_err(|e| PkiError::Build(e.to_string()))?;
        let crl = CertificateList { tbs_cert_list: tbs, signature_algorithm, signature: sig.to_bitstring()? };
        Ok(crl.to_der()?)
    }
}

/// `sha256WithRSAEncryption` (RFC 4055 §5), the signature algorithm of the TEST CAs.
pub const OID_SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// X.509 signature check (RFC 5280 §6.1.3 (a)(1)) of `cert_der` under the key of `ca_der`, and
/// the issuer name. The TEST CAs sign `sha256WithRSAEncryption` (CPS UZI-register §7.1.1
/// Table 7), so that is the only algorithm accepted. The error says what is wrong, to be
/// prefixed with what the certificate is.
pub fn verify_issued_by(cert_der: &[u8], ca_der: &[u8]) -> Result<(), String> {
    use rsa::signature::Verifier;
    let cert = Certificate::from_der(cert_der).map_err(|e| format!("is not a DER certificate ({e})"))?;
    let ca = Certificate::from_der(ca_der).map_err(|e| format!("CA certificate unreadable ({e})"))?;
    if cert.tbs_certificate().issuer() != ca.tbs_certificate().subject() {
        return Err("is not issued by the expected CA (issuer name differs)".into());
    }
    if cert.signature_algorithm().oid != OID_SHA256_WITH_RSA {
        return Err(format!("is signed with {}, not sha256WithRSAEncryption", cert.signature_algorithm().oid));
    }
    let ca_spki = ca.tbs_certificate().subject_public_key_info().to_der().map_err(|e| e.to_string())?;
    let key =
        rsa::PublicKey::from_public_key_der(&ca_spki).map_err(|_| "CA public key is not an RSA key".to_string())?;
    let tbs = cert.tbs_certificate().to_der().map_err(|e| format!("cannot be re-encoded ({e})"))?;
    let signature = cert
        .signature()
        .as_bytes()
        .and_then(|b| RsaSignature::try_from(b).ok())
        .ok_or_else(|| "has a malformed signature".to_string())?;
    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key)
        .verify(&tbs, &signature)
        .map_err(|_| "has a signature that does not verify".to_string())
}

/// The fixture set's `pki/` folder ([`fixtures::active`]), where the TEST PKI lives.
pub fn fixtures_dir() -> PathBuf {
    fixtures::active().folder(fixtures::FixtureKind::Pki)
}

/// The same calendar date three years later at the same time of day (UTC); 29 February
/// becomes 28 February. UZI-pas certificates are valid for at most three years
/// (CPS UZI-register §6.3.2), so `notAfter = add_three_years(notBefore) - 1`.
///
/// Inputs outside the years -9999..=9996 (meaningless for certificates) fall back to adding
/// 1096 days, saturating.
pub fn add_three_years(unix: i64) -> i64 {
    const FALLBACK: i64 = 1096 * 86_400;
    let Ok(dt) = time::OffsetDateTime::from_unix_timestamp(unix) else {
        return unix.saturating_add(FALLBACK);
    };
    let date = dt.date();
    let year = date.year() + 3;
    let shifted = time::Date::from_calendar_date(year, date.month(), date.day()).or_else(|_| {
        // Only 29 February can be missing three years later.
        time::Date::from_calendar_date(year, date.month(), date.day() - 1)
    });
    match shifted {
        Ok(d) => dt.replace_date(d).unix_timestamp(),
        Err(_) => unix.saturating_add(FALLBACK),
    }
}

/// Encodes a DER certificate as PEM (`-----BEGIN CERTIFICATE-----`, LF line endings).
pub fn certificate_pem(der: &[u8]) -> Result<String, PkiError> {
    der::pem::encode_string("CERTIFICATE", LineEnding::LF, der).map_err(|e| PkiError::Der(e.into()))
}

/// Encodes a DER CRL as PEM (`-----BEGIN X509 CRL-----`, LF line endings).
pub fn crl_pem(der: &[u8]) -> Result<String, PkiError> {
    der::pem::encode_string("X509 CRL", LineEnding::LF, der).map_err(|e| PkiError::Der(e.into()))
}

#[cfg(test)]
mod tests;
