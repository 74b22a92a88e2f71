//! The record of an issued ZORG-ID Smartcard: what the personaliser hands over ([`IssuedCard`]) is what the
//! registry keeps, with the portal's status and history beside it ([`CardRecord`]). One set of fields, so the two
//! can never disagree.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One certificate of an issued card, for the portal registry and the CRL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedCertificate {
    /// `authentication`, `signature` or `encryption`.
    pub role: String,
    /// Serial number, upper-case hex without leading zero bytes (as `openssl x509 -serial` prints it).
    pub serial: String,
}

/// What the portal registry records of a new card: never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCard {
    /// Card serial number (GET DATA `DF32`).
    pub serial: String,
    /// The holder's full name (CN).
    pub holder_name: String,
    /// The holder's UZI number.
    pub uzi_number: String,
    /// The organisation (O).
    pub organisation: String,
    /// URA subscriber number.
    pub subscriber_number: String,
    /// The birth date entered, `YYYY-MM-DD`.
    pub birth_date: String,
    /// Serial of the UZI pass the card was made with.
    pub made_with_uzi_pass: String,
    /// Certificate notBefore, Unix seconds (the issue time); RFC 3339 UTC `valid_from` in the registry file.
    #[serde(rename = "valid_from", with = "rfc3339_seconds")]
    pub not_before: i64,
    /// Certificate notAfter, Unix seconds (three years later, minus a second); `valid_until` in the file.
    #[serde(rename = "valid_until", with = "rfc3339_seconds")]
    pub not_after: i64,
    /// The three certificates.
    pub certificates: Vec<IssuedCertificate>,
}

impl fmt::Display for IssuedCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ZORG-ID Smartcard {} made for {} (UZI {})", self.serial, self.holder_name, self.uzi_number)?;
        writeln!(f, "organisation      {} (URA {})", self.organisation, self.subscriber_number)?;
        writeln!(
            f,
            "valid             {} .. {}",
            issuance::inspect::utc(self.not_before),
            issuance::inspect::utc(self.not_after)
        )?;
        for c in &self.certificates {
            writeln!(f, "certificate       {:<15} serial {}", c.role, c.serial)?;
        }
        Ok(())
    }
}

/// The portal's status of a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CardStatus {
    /// In use.
    Active,
    /// Blocked by an administrator or beheerder; can be unblocked.
    Blocked,
    /// Revoked: certificates on the CRL, the chip terminated at its next use. Final.
    Revoked,
}

impl fmt::Display for CardStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CardStatus::Active => "active",
            CardStatus::Blocked => "blocked",
            CardStatus::Revoked => "revoked",
        })
    }
}

/// One issued card in the registry: the [`IssuedCard`] the personaliser made, and what the portal did with it.
///
/// In the file the card's fields and the portal's sit side by side in one table (`serde(flatten)`), the layout of
/// registry format 1. `flatten` rules out `deny_unknown_fields`, so unknown keys are collected in `unknown` and
/// refused by `Registry::load`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardRecord {
    /// The card as issued.
    #[serde(flatten)]
    pub issued: IssuedCard,
    /// Portal status.
    pub status: CardStatus,
    /// When it was revoked (RFC 3339 UTC): the CRL's revocationDate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// When the chip executed TERMINATE CARD USAGE (RFC 3339 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated_at: Option<String>,
    /// What happened, oldest first: `<time> <actor> <what>`.
    #[serde(default)]
    pub events: Vec<String>,
    /// Keys this format does not have (a typing error in a hand-edited file); refused on load.
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, toml::Value>,
}

impl CardRecord {
    /// A card just issued: active, its history starting with its making.
    pub fn new(issued: IssuedCard) -> Self {
        let made = format!(
            "{} {} made with UZI pass {}",
            rfc3339(issued.not_before),
            issued.uzi_number,
            issued.made_with_uzi_pass
        );
        CardRecord {
            issued,
            status: CardStatus::Active,
            revoked_at: None,
            terminated_at: None,
            events: vec![made],
            unknown: BTreeMap::new(),
        }
    }
}

/// Unix seconds as RFC 3339 UTC, or the number itself if it is out of range.
pub(super) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// RFC 3339 back to Unix seconds.
pub(super) fn parse_rfc3339(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}

/// Unix seconds stored as an RFC 3339 string, so a person reading the registry sees dates.
mod rfc3339_seconds {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(unix: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*unix))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not an RFC 3339 time (2026-01-01T00:00:00Z)")))
    }
}
