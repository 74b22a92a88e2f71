//! Who is logged in: the identity in the client certificate the TLS handshake brought, parsed once per connection.
//!
//! The UZI-register profile (CPS UZI-register v10.2 §7.1.1 and §7.1.5 Tables 10–11; summarised in the shared
//! reference `domain.md` §1.5): subject serialNumber is the UZI number, and the SubjectAltName otherName 2.5.5.5
//! is `<OID CA>-<version>-<UZI nr>-<card type>-<subscriber nr (URA)>-<role>-<AGB>`. The UZI number is the actor
//! the registry's rules are given (`portal::registry`); the card type says which pass it is.

use rustls::CertificateError;
use rustls::pki_types::CertificateDer;

use issuance::pki::{HolderType, OID_CA_ZORG_ID_TEST, certificate_summary};

use crate::tls::PortalClientVerifier;

/// Which card a certificate is from, by the CA OID at the start of its 2.5.5.5 otherName (CPS UZI-register
/// §7.1.5 Table 11, TEST or production OID CA: `HolderType::from_uzi_ca_oid`; the ZORG-ID TEST CA's OID is this
/// project's, `issuance::pki::OID_CA_ZORG_ID_TEST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CardKind {
    /// UZI-zorgverlenerspas, card type `Z`.
    Zorgverlenerspas,
    /// UZI-medewerkerspas op naam, `N`.
    MedewerkerspasOpNaam,
    /// UZI-medewerkerspas niet op naam, `M`.
    MedewerkerspasNietOpNaam,
    /// ZORG-ID Smartcard.
    ZorgIdSmartcard,
}

impl std::fmt::Display for CardKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CardKind::Zorgverlenerspas => "UZI-zorgverlenerspas (Z)",
            CardKind::MedewerkerspasOpNaam => "UZI-medewerkerspas op naam (N)",
            CardKind::MedewerkerspasNietOpNaam => "UZI-medewerkerspas niet op naam (M)",
            CardKind::ZorgIdSmartcard => "ZORG-ID Smartcard",
        })
    }
}

/// A logged-in card holder, from a certificate that passed [`PortalClientVerifier::check`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    /// The UZI number (subject serialNumber, equal to the one in the otherName): the registry's actor.
    pub uzi_number: String,
    /// The holder's name: the subject commonName (CPS UZI-register §7.1.1), or the UZI number without one.
    pub name: String,
    /// The card.
    pub card: CardKind,
    /// The card-type letter of the otherName (`Z`, `N`, `M`).
    pub card_type: String,
    /// Subscriber number: the organisation's URA.
    pub ura: String,
    /// Role code, e.g. `01.015` (huisarts) or `00.000`.
    pub role: String,
    /// AGB code or `00000000`.
    pub agb: String,
    /// The certificate's serial, upper-case hex without leading zero bytes, as the registry records card
    /// certificates (`portal::IssuedCertificate::serial`).
    pub certificate_serial: String,
}

/// Why a connection is not logged in; the text is the 401 answer's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefused {
    /// No client certificate was sent.
    #[error(
        "no client certificate: log in with the authentication certificate of a UZI-pas or ZORG-ID Smartcard (curl --cert/--key, or the card through PKCS#11)"
    )]
    NoCertificate,
    /// The certificate is outside its validity at the portal's clock.
    #[error(
        "the client certificate is not valid at the portal's time ({0}): use a card whose certificates are current"
    )]
    NotValidNow(String),
    /// The certificate does not chain to a TEST CA the portal trusts.
    #[error(
        "the client certificate is not issued by a TEST UZI-register or ZORG-ID Smartcard CA this portal trusts ({0}): use a card of the TEST PKI"
    )]
    Untrusted(String),
    /// The certificate chains, but does not carry a UZI identity.
    #[error("the client certificate has no usable UZI identity: {0}: log in with a UZI-pas or ZORG-ID Smartcard")]
    NoUziIdentity(String),
}

/// What a connection's client certificate amounts to.
pub type Login = Result<Identity, LoginRefused>;

/// Checks the chain the client sent (leaf first) and parses the identity in its leaf.
pub fn login(verifier: &PortalClientVerifier, chain: Option<&[CertificateDer<'static>]>) -> Login {
    let Some((leaf, intermediates)) = chain.and_then(|c| c.split_first()) else {
        return Err(LoginRefused::NoCertificate);
    };
    verifier.check(leaf, intermediates).map_err(|e| match e {
        rustls::Error::InvalidCertificate(
            c @ (CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. }),
        ) => LoginRefused::NotValidNow(format!("{c:?}")),
        other => LoginRefused::Untrusted(other.to_string()),
    })?;
    identity(leaf.as_ref())
}

/// The identity in a certificate (DER) following the UZI-register profile.
pub fn identity(der: &[u8]) -> Login {
    let refuse = |why: String| LoginRefused::NoUziIdentity(why);
    let summary = certificate_summary(der).map_err(|e| refuse(e.to_string()))?;
    let uzi_number = summary.uzi_number.ok_or_else(|| refuse("the subject has no serialNumber".into()))?;
    let san = summary.san_uzi.ok_or_else(|| refuse("there is no otherName 2.5.5.5 in subjectAltName".into()))?;
    let parts: Vec<&str> = san.split('-').collect();
    let [ca_oid, version, san_uzi, card_type, ura, role, agb] = parts.as_slice() else {
        return Err(refuse(format!("otherName 2.5.5.5 `{san}` does not have the seven fields of CPS §7.1.5")));
    };
    if *version != "1" || *san_uzi != uzi_number {
        return Err(refuse(format!(
            "otherName 2.5.5.5 `{san}` is not version 1 for UZI number {uzi_number} (subject serialNumber)"
        )));
    }
    let uzi_type = HolderType::from_uzi_ca_oid(ca_oid).map(|(t, _series)| t);
    let card = match (uzi_type, *ca_oid, *card_type) {
        (Some(HolderType::Z), _, "Z") => CardKind::Zorgverlenerspas,
        (Some(HolderType::N), _, "N") => CardKind::MedewerkerspasOpNaam,
        (Some(HolderType::M), _, "M") => CardKind::MedewerkerspasNietOpNaam,
        (None, OID_CA_ZORG_ID_TEST, "N") => CardKind::ZorgIdSmartcard,
        _ => return Err(refuse(format!("CA `{ca_oid}` with card type `{card_type}` is not a card this portal knows"))),
    };
    let name = common_name(&summary.subject).unwrap_or_else(|| uzi_number.clone());
    Ok(Identity {
        name,
        uzi_number,
        card,
        card_type: (*card_type).to_string(),
        ura: (*ura).to_string(),
        role: (*role).to_string(),
        agb: (*agb).to_string(),
        certificate_serial: serial_hex(&summary.serial),
    })
}

/// The commonName in a subject written as RFC 4514 (`CN=…,O=…`).
fn common_name(subject: &str) -> Option<String> {
    subject.split(',').find_map(|rdn| rdn.trim().strip_prefix("CN=")).map(str::to_string)
}

/// A certificate serial as the registry writes it: upper-case hex without leading zero bytes (the DER INTEGER's
/// sign byte included).
pub fn serial_hex(serial: &[u8]) -> String {
    let first = serial.iter().position(|&b| b != 0).unwrap_or(serial.len());
    hex::encode_upper(&serial[first..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_lose_their_leading_zero_bytes() {
        assert_eq!(serial_hex(&[0x00, 0x9A, 0x01]), "9A01");
        assert_eq!(serial_hex(&[0x01, 0xAB]), "01AB");
    }

    #[test]
    fn the_name_is_the_subject_common_name() {
        assert_eq!(common_name("CN=Test Holder,O=Zorg").as_deref(), Some("Test Holder"));
        assert_eq!(common_name("O=Zorg, CN=A"), Some("A".into()));
        assert_eq!(common_name("O=Zorg"), None);
    }

    #[test]
    fn a_certificate_that_does_not_parse_has_no_identity() {
        assert!(matches!(identity(b"not DER"), Err(LoginRefused::NoUziIdentity(_))));
    }
}
