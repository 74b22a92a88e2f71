//! Who a certificate is for: the UZI-pas holder types, the certificate roles, the issuing CAs and the holder
//! data (CPS UZI-register §1.3, §3.1, §7.1).

use super::*;

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// The three UZI-pas card types (CPS UZI-register §1.3 and §3.1): the type letter appears in
/// the 2.5.5.5 otherName and selects the issuing CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum HolderType {
    /// Zorgverlenerpas: a registered healthcare professional (BIG-registered or similar).
    Z,
    /// Medewerkerpas op naam: a named employee of a healthcare organisation.
    N,
    /// Medewerkerpas niet op naam: a card bound to a function, not a person.
    M,
}

impl HolderType {
    /// The card-type letter used in the 2.5.5.5 otherName.
    pub fn letter(self) -> char {
        match self {
            HolderType::Z => 'Z',
            HolderType::N => 'N',
            HolderType::M => 'M',
        }
    }

    /// The OID of the issuing UZI-register CA of `series` as it appears in the 2.5.5.5 otherName
    /// (CPS UZI-register v10.2 §7.1.5 Table 11).
    pub fn uzi_ca_oid(self, series: OidCa) -> &'static str {
        match (series, self) {
            (OidCa::Test, HolderType::Z) => OID_CA_ZORGVERLENER_TEST,
            (OidCa::Test, HolderType::N) => OID_CA_MEDEWERKER_OP_NAAM_TEST,
            (OidCa::Test, HolderType::M) => OID_CA_MEDEWERKER_NIET_OP_NAAM_TEST,
            (OidCa::Production, HolderType::Z) => OID_CA_ZORGVERLENER,
            (OidCa::Production, HolderType::N) => OID_CA_MEDEWERKER_OP_NAAM,
            (OidCa::Production, HolderType::M) => OID_CA_MEDEWERKER_NIET_OP_NAAM,
        }
    }

    /// The card type and series a UZI-register OID CA at the start of a 2.5.5.5 otherName names, TEST or production
    /// (CPS UZI-register v10.2 §7.1.5 Table 11); `None` for any other OID, such as [`OID_CA_ZORG_ID_TEST`].
    pub fn from_uzi_ca_oid(oid: &str) -> Option<(HolderType, OidCa)> {
        [OidCa::Test, OidCa::Production]
            .into_iter()
            .flat_map(|series| [HolderType::Z, HolderType::N, HolderType::M].map(|t| (t, series)))
            .find(|(t, series)| t.uzi_ca_oid(*series) == oid)
    }
}

/// Which UZI-register OID CAs the 2.5.5.5 otherName starts with: a profile field (`oid_ca` in
/// `fixtures/profiles/*.toml`), TEST by default because the real TEST passes carry the TEST OID CA
/// (`2.16.528.1.1007.99.217` on a TEST zorgverlenerpas), production for relying parties that insist on
/// CPS UZI-register v10.2 §7.1.5 Table 11's `2.16.528.1.1003.1.3.5.5.*`. The ZORG-ID Smartcard CA has only its
/// TEST OID, [`OID_CA_ZORG_ID_TEST`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OidCa {
    /// The TEST UZI-register OID CAs (`2.16.528.1.1007.99.217` Z, `.218` N, `.219` M).
    #[default]
    Test,
    /// The production UZI-register OID CAs (`2.16.528.1.1003.1.3.5.5.2` Z, `.3` N, `.4` M).
    Production,
}

/// The three key pairs and certificates on a card (CPS UZI-register §1.4 and §6.1.7):
/// each has its own key usage and policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CertRole {
    /// Authentication certificate: TLS client authentication, Windows logon (keyUsage
    /// digitalSignature).
    Authentication,
    /// Non-repudiation certificate for qualified-style electronic signatures (keyUsage
    /// nonRepudiation).
    Signature,
    /// Encryption certificate (keyUsage keyEncipherment + dataEncipherment).
    Encryption,
}

impl CertRole {
    /// All roles, in the order they appear on a card.
    pub const ALL: [CertRole; 3] = [CertRole::Authentication, CertRole::Signature, CertRole::Encryption];

    /// One byte identifying the role in serial-number derivation.
    pub(super) fn tag(self) -> u8 {
        match self {
            CertRole::Authentication => 1,
            CertRole::Signature => 2,
            CertRole::Encryption => 3,
        }
    }

    /// The TEST certificate-policy OID of this role.
    pub fn policy_oid(self) -> ObjectIdentifier {
        match self {
            CertRole::Authentication => OID_POLICY_AUTH_TEST,
            CertRole::Signature => OID_POLICY_SIGN_TEST,
            CertRole::Encryption => OID_POLICY_ENC_TEST,
        }
    }
}

/// Which TEST CA issues a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Issuer {
    /// One of the three TEST UZI-register CAs, selected by card type.
    Uzi(HolderType),
    /// The TEST ZORG-ID Smartcard CA.
    ZorgId,
}

impl Issuer {
    /// All issuing (intermediate) CAs.
    pub const ALL: [Issuer; 4] =
        [Issuer::Uzi(HolderType::Z), Issuer::Uzi(HolderType::N), Issuer::Uzi(HolderType::M), Issuer::ZorgId];

    /// File stem of this CA in `fixtures/pki/` (`<stem>.key.pem`, `<stem>.cert.pem`) and of
    /// its CRL (`<CRL_BASE_URL>/<stem>.crl`).
    pub fn file_stem(self) -> &'static str {
        match self {
            Issuer::Uzi(HolderType::Z) => "uzi-zorgverlener-ca",
            Issuer::Uzi(HolderType::N) => "uzi-medewerker-op-naam-ca",
            Issuer::Uzi(HolderType::M) => "uzi-medewerker-niet-op-naam-ca",
            Issuer::ZorgId => "zorg-id-ca",
        }
    }

    /// The CA's common name (the real name with `TEST` in it).
    pub fn common_name(self) -> &'static str {
        match self {
            Issuer::Uzi(HolderType::Z) => "TEST UZI-register Zorgverlener CA G3",
            Issuer::Uzi(HolderType::N) => "TEST UZI-register Medewerker op naam CA G3",
            Issuer::Uzi(HolderType::M) => "TEST UZI-register Medewerker niet op naam CA G3",
            Issuer::ZorgId => "TEST ZORG-ID Smartcard CA",
        }
    }

    /// URL of this CA's CRL, as written in the cRLDistributionPoints extension.
    pub fn crl_url(self) -> String {
        format!("{CRL_BASE_URL}/{}.crl", self.file_stem())
    }

    /// URL of the OCSP responder for this CA's certificates, the id-ad-ocsp accessLocation of the
    /// authorityInfoAccess extension (RFC 5280 §4.2.2.1): `zorgcard portal serve`'s `POST /ocsp`.
    pub fn ocsp_url(self) -> String {
        format!("http://{PORTAL_HTTP_ADDR}{OCSP_PATH}")
    }

    /// Path of this CA's certificate on the portal's plain-HTTP listener: `/ca/<file stem>.cer`.
    pub fn ca_issuers_path(self) -> String {
        format!("{CA_ISSUERS_PATH}/{}.cer", self.file_stem())
    }

    /// URL of this CA's certificate (DER), the id-ad-caIssuers accessLocation of the authorityInfoAccess
    /// extension (RFC 5280 §4.2.2.1): `zorgcard portal serve`'s `GET /ca/<file stem>.cer`.
    pub fn ca_issuers_url(self) -> String {
        format!("http://{PORTAL_HTTP_ADDR}{}", self.ca_issuers_path())
    }

    /// The CA OID written at the start of the 2.5.5.5 otherName, of `series` for the UZI-register CAs.
    pub(super) fn san_ca_oid(self, series: OidCa) -> &'static str {
        match self {
            Issuer::Uzi(t) => t.uzi_ca_oid(series),
            Issuer::ZorgId => OID_CA_ZORG_ID_TEST,
        }
    }

    pub(super) fn index(self) -> usize {
        match self {
            Issuer::Uzi(HolderType::Z) => 0,
            Issuer::Uzi(HolderType::N) => 1,
            Issuer::Uzi(HolderType::M) => 2,
            Issuer::ZorgId => 3,
        }
    }
}

/// File stem of the TEST root CA in `fixtures/pki/`.
pub const ROOT_FILE_STEM: &str = "root-ca";
/// Common name of the TEST root CA.
pub const ROOT_COMMON_NAME: &str = "TEST Zorgcard Root CA";

/// The card holder as the certificate profile needs it (CPS UZI-register §3.1 naming and
/// §7.1 subject / SubjectAltName).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// Card type; must match the UZI CA passed to [`TestPki::issue`].
    pub holder_type: HolderType,
    /// The 9-digit UZI number: subject serialNumber and part of the 2.5.5.5 otherName.
    pub uzi_number: String,
    /// givenName; required for Z and N cards and ZORG-ID cards, ignored for M cards.
    pub given_name: Option<String>,
    /// surname; required for Z and N cards and ZORG-ID cards, ignored for M cards.
    pub surname: Option<String>,
    /// commonName: the full name, or for M cards the function name.
    pub common_name: String,
    /// title; only written for Z cards (the profession).
    pub title: Option<String>,
    /// organizationName: the subscriber (healthcare organisation).
    pub organisation: String,
    /// Subscriber number (URA number), digits only; in the otherName and the UPN.
    pub subscriber_number: String,
    /// Role code such as `01.015`; in the otherName.
    pub role: String,
    /// AGB code, 8 digits, or `00000000` when the holder has none; in the otherName.
    pub agb_code: String,
    /// Which UZI-register OID CA the otherName starts with (the profile's `oid_ca`); ignored for ZORG-ID.
    #[serde(default)]
    pub oid_ca: OidCa,
}

/// One CRL entry for [`TestPki::crl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Serial number of the revoked certificate as unsigned big-endian bytes (leading zeros
    /// are allowed), e.g. [`CertSummary::serial`].
    pub serial: Vec<u8>,
    /// Revocation time, Unix seconds.
    pub revoked_at: i64,
}
