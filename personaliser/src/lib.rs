//! The reference ZORG-ID Smartcard personaliser: a care worker makes their own ZORG-ID Smartcard with their own,
//! still valid UZI-medewerkerspas op naam.
//!
//! This is the flow of the ZORG-ID handleiding (seed: *Aanmaken ZORG-ID Smartcard*, Aanmaken, stap 1–7) and the
//! "Persoonlijke aanmaak" of the ZORG-ID page (seed: *ZORG-ID Smartcard*, "Hoe werkt de ZORG-ID Smartcard?"), run
//! against two readers — the UZI pass in one, the blank ZORG-ID Smartcard in the other — through nothing but
//! [`Transmit`], so the same code runs in-process in tests and through pcscd ([`personalise_main`]). The nine [`Step`]s
//! each refuse with a [`PersonaliseError`] that names the step, what was found and what to do:
//!
//! 1. the UZI pass is valid: operational, PIN not blocked, inside its validity, a type that may make one (N);
//! 2. the holder authenticates with the UZI PIN: VERIFY, then INTERNAL AUTHENTICATE on a fresh random challenge,
//!    checked against the UZI authentication certificate, itself checked against the TEST UZI-register CA;
//! 3. the birth date is entered; 4. the second card is really blank; 5. the new PIN is entered twice;
//! 6. keys are generated on the new card; 7. the ZORG-ID TEST CA issues its certificates for three years;
//! 8. the PIN and a one-time PUK are set, the PUK handed back once as a [`OneTimePuk`]; 9. the card is activated.
//!
//! All-or-nothing: card-os rolls a card whose personalisation was not finished with ACTIVATE back to blank at its
//! next reset or power-up (`card_os::Card::reset`), so a card pulled at any step comes back blank; ACTIVATE is the
//! last command sent, so once it is confirmed the card is complete. The PIN and PUK only travel in VERIFY and
//! CHANGE REFERENCE DATA, which every trace masks, and are never formatted into a message.
//!
//! Modules: `step` (the steps, the cards, the error), `entry` (what the holder types), `uzi_pass` (steps 1–2),
//! `birth_date` (step 3), `new_card` (steps 4–5), `puk` (step 8), `pcsc` (the CLI on two PC/SC readers); the flow
//! itself and its APDU plumbing are here. Their public items are re-exported here.

mod birth_date;
mod entry;
mod new_card;
mod pcsc;
mod puk;
mod step;
mod uzi_pass;

pub use self::birth_date::check_birth_date;
pub use self::entry::{Entry, GivenEntry, NewPin, TerminalEntry};
use self::new_card::{check_blank, check_new_pin};
pub use self::pcsc::{PersonaliseArgs, personalise_main, personalise_readers};
pub use self::puk::OneTimePuk;
use self::puk::generate_puk;
pub use self::step::{PersonaliseError, Step, Which};
pub use self::uzi_pass::verify_issued_by;
use self::uzi_pass::{authenticate, check_uzi_certificate, check_uzi_pass};

/// A PIN or PUK: card-os's one secret type (zeroed on drop, `Debug` prints `***`), held here over a `Vec<u8>`.
pub use card_os::pin::Secret;

use std::fmt;
use std::io::{self, Write};

use card_os::{Clock as _, Status};
use der::asn1::{Ia5StringRef, ObjectIdentifier, PrintableStringRef, Utf8StringRef};
use der::{Any, Decode, Tag, Tagged};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use reader_sim::platform::ClockHandle;
use reader_sim::reader::{ReaderError, Transmit};
use x509_cert::certificate::Certificate;

use issuance::card_new::{self, CardNewError, LayoutWriter};
use issuance::pkcs15::{self, KeySpec, KeyUsage, PinSpec, TokenSpec};
use issuance::pki::{self, CertRole, Holder, HolderType, Issuer, OidCa, PkiError, TestPki};
use issuance::profile::{self, KeyType, PinSettings, Profile};

/// Length of the one-time PUK: 8 digits, inside the ZORG-ID profile's PUK policy (6–16 digits) and no longer
/// than the user PIN's maximum, so `pkcs15-tool --unblock-pin` accepts it (see `pkcs15::PinSpec`).
pub const PUK_DIGITS: usize = 8;

/// Youngest holder accepted, in years. The seeds ask for the birth date without a rule; 16 is the youngest age at
/// which someone works in Dutch healthcare (apprentices, holiday jobs), so a later date is a typing error.
pub const MIN_AGE_YEARS: i32 = 16;

/// Oldest plausible birth date, in years before today: anything earlier is a typing error.
pub const MAX_AGE_YEARS: i32 = 120;

/// Length of the INTERNAL AUTHENTICATE challenge: 32 random bytes, as much entropy as the P-256 key offers.
const CHALLENGE_LEN: usize = 32;

/// The authentication certificate of a UZI pass (PKCS#15 layout, `pkcs15::certificate_fid(1)`).
const UZI_AUTH_CERT_PATH: [u16; 2] = [pkcs15::DF_PKCS15, 0x4301];

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_GN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.42");
const OID_SN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.4");

// ---------------------------------------------------------------------------------------------
// Options and outcome
// ---------------------------------------------------------------------------------------------

/// What the personaliser needs besides the two cards.
#[derive(Debug, Clone)]
pub struct PersonaliseOptions<'a> {
    /// The TEST PKI: the UZI-register CAs check the UZI pass, the ZORG-ID CA issues the new certificates.
    pub pki: &'a TestPki,
    /// PIN policy of the new card (the `zorg-id` profile's `[pin]`); its `value` is not used and left empty.
    pub pin: PinSettings,
    /// PUK policy of the new card (the `zorg-id` profile's `[puk]`); must admit [`PUK_DIGITS`] digits. Its
    /// `value` is not used and left empty.
    pub puk: PinSettings,
    /// The personaliser's clock ("today" for validity and birth date, the certificates' issue time). Tests share
    /// it with the cards to move everything past three years at once.
    pub clock: ClockHandle,
    /// Accept a UZI-zorgverlenerspas (type Z) too. Off by default: the ZORG-ID Smartcard replaces the
    /// UZI-medewerkerspas op naam (seed: *ZORG-ID Smartcard*: "functioneert als vervanging van de UZI-medewerkerspas op
    /// naam"), whose reimbursement stops; a zorgverlener keeps the zorgverlenerspas.
    pub allow_zorgverlenerspas: bool,
    /// URA subscriber numbers of the organisations registered with the portal; `None` skips the check. Seed:
    /// *Registreren organisatie*: "Is uw organisatie geregistreerd bij ZORG-ID …? Dan kunt u … aanmaken".
    pub registered_organisations: Option<Vec<String>>,
    /// The type of the keys generated on the new card: the `zorg-id` profile's (RSA-2048 by default, as the
    /// UZI-medewerkerspas op naam it replaces, seed: *ZORG-ID Smartcard*).
    pub key_type: KeyType,
}

impl<'a> PersonaliseOptions<'a> {
    /// The PIN/PUK policy of `zorg_id` (normally the `zorg-id` profile), the system clock, N passes only, no
    /// registry check.
    pub fn new(pki: &'a TestPki, zorg_id: &Profile) -> Self {
        PersonaliseOptions {
            pki,
            pin: PinSettings { value: String::new(), ..zorg_id.pin.clone() },
            puk: PinSettings { value: String::new(), ..zorg_id.puk.clone() },
            clock: ClockHandle::new(),
            allow_zorgverlenerspas: false,
            registered_organisations: None,
            key_type: zorg_id.key_type(1),
        }
    }

    fn now(&self) -> i64 {
        i64::try_from(self.clock.clock().now()).unwrap_or(i64::MAX)
    }
}

// The record of an issued card is the portal registry's (`portal.rs`); the personaliser fills it in.
pub use portal::{IssuedCard, IssuedCertificate};

/// A new, operational ZORG-ID Smartcard: its record and its one-time PUK.
#[derive(Debug)]
pub struct PersonaliseOutcome {
    /// For the portal registry.
    pub card: IssuedCard,
    /// Show it once ([`OneTimePuk::show`]).
    pub puk: OneTimePuk,
    /// Things that went wrong after the card was complete (e.g. the registry could not be updated).
    pub warnings: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The flow
// ---------------------------------------------------------------------------------------------

/// The holder as read from the UZI authentication certificate.
struct UziHolder {
    holder: Holder,
    public_key: pki::HolderPublicKey,
}

/// Makes a ZORG-ID Smartcard: the UZI pass in `uzi`, a blank ZORG-ID Smartcard in `blank`, both powered.
///
/// On an error the new card is not finalised; the caller resets it (or the holder reinserts it) and it is blank
/// again. The one exception is [`PersonaliseError::ActivationUnconfirmed`], which carries the PUK.
pub fn personalise(
    uzi: &mut dyn Transmit,
    blank: &mut dyn Transmit,
    entry: &mut dyn Entry,
    options: &PersonaliseOptions<'_>,
) -> Result<PersonaliseOutcome, PersonaliseError> {
    check_policy(options)?;

    // 1. The UZI pass is valid.
    let now = options.now();
    let uzi_serial = check_uzi_pass(uzi, now)?;
    let cert = read_ef(uzi, &UZI_AUTH_CERT_PATH, Step::UziPass, Which::UziPass)?;
    let uzi_holder = check_uzi_certificate(&cert, options, now)?;

    // 2. Authenticate with the UZI PIN.
    let pin = entry.uzi_pin()?;
    authenticate(uzi, &pin, &uzi_holder.public_key)?;
    drop(pin);

    // 3. The birth date.
    let birth_date = entry.birth_date()?;
    check_birth_date(&birth_date, now)?;

    // 4. The second card is blank.
    let serial = check_blank(blank)?;

    // 5. The new PIN, twice.
    let (new_pin, again) = entry.new_pin()?;
    check_new_pin(&new_pin, &again, &options.pin)?;
    drop(again);

    // 6. Keys on the new card.
    let mut p = LayoutWriter::new(blank, "zorg-id");
    let card_err = |step: Step| move |source: CardNewError| new_card_error(step, source);
    p.select_path(&[]).map_err(card_err(Step::Keys))?;
    let mut publics = Vec::new();
    for key_ref in card_os::KeyRef::ALL {
        publics.push((key_ref, p.generate_key(key_ref, options.key_type).map_err(card_err(Step::Keys))?));
    }

    // 7. Certificates from the ZORG-ID TEST CA, three years, holder data from the UZI certificate.
    // From the start of the issue day, as the card's own validity (card-os `lifecycle.rs`): card and certificates
    // expire together.
    let issued_at = now.div_euclid(86_400) * 86_400;
    let certificates = write_certificates(&mut p, options, &uzi_holder.holder, publics, &serial, issued_at)?;

    // 8. The PIN and the one-time PUK.
    let puk = generate_puk()?;
    p.set_secret(card_os::PinRef::User, new_pin.expose()).map_err(card_err(Step::Puk))?;
    drop(new_pin);
    p.set_secret(card_os::PinRef::Puk, puk.expose()).map_err(card_err(Step::Puk))?;

    // 9. ACTIVATE, the last command: once confirmed, the card is complete.
    match p.activate() {
        Ok(()) => {}
        Err(CardNewError::Reader { source, .. }) => {
            return Err(PersonaliseError::ActivationUnconfirmed { problem: source.to_string(), puk: OneTimePuk(puk) });
        }
        Err(source) => return Err(new_card_error(Step::Finalise, source)),
    }

    let holder = &uzi_holder.holder;
    Ok(PersonaliseOutcome {
        card: IssuedCard {
            serial,
            holder_name: holder.common_name.clone(),
            uzi_number: holder.uzi_number.clone(),
            organisation: holder.organisation.clone(),
            subscriber_number: holder.subscriber_number.clone(),
            birth_date,
            made_with_uzi_pass: uzi_serial,
            not_before: issued_at,
            not_after: pki::add_three_years(issued_at) - 1,
            certificates,
        },
        puk: OneTimePuk(puk),
        warnings: Vec::new(),
    })
}

/// Step 7: a ZORG-ID TEST certificate for each of the new card's keys, valid from `issued_at`, and the PKCS#15
/// files that point OpenSC at keys and certificates, written to the new card; returns what was issued.
fn write_certificates(
    p: &mut LayoutWriter<'_>,
    options: &PersonaliseOptions<'_>,
    holder: &Holder,
    publics: Vec<(card_os::KeyRef, pki::HolderPublicKey)>,
    serial: &str,
    issued_at: i64,
) -> Result<Vec<IssuedCertificate>, PersonaliseError> {
    let pki_err = |source| PersonaliseError::Pki { step: Step::Certificates, source };
    let mut keys = Vec::new();
    let mut certificates = Vec::new();
    for (reference, public) in publics {
        let key_ref = reference.to_byte();
        let role = card_new::role(reference);
        let der =
            options.pki.issue(Issuer::ZorgId, holder, role, &public, serial.as_bytes(), issued_at).map_err(pki_err)?;
        let summary = pki::certificate_summary(&der).map_err(pki_err)?;
        certificates
            .push(IssuedCertificate { role: role_name(role).into(), serial: hex::encode_upper(&summary.serial) });
        keys.push(KeySpec {
            key_ref,
            id: vec![key_ref],
            label: card_new::key_label(reference).into(),
            usage: KeyUsage::for_key(key_ref, &public).unwrap_or(KeyUsage::ENCRYPTION),
            user_consent: key_ref == 2,
            public_key: public,
            certificate_der: Some(der),
        });
    }
    let ca_certs = vec![
        (Issuer::ZorgId.common_name().to_string(), options.pki.ca_der(Issuer::ZorgId)),
        (pki::ROOT_COMMON_NAME.to_string(), options.pki.root_der()),
    ];
    let token = TokenSpec {
        serial: serial.to_owned(),
        label: format!("ZORG-ID Smartcard {serial}"),
        manufacturer: "zorgcard TEST".into(),
    };
    let pins = PinSpec {
        pin_min: options.pin.min_len,
        pin_max: options.pin.max_len,
        puk_min: options.puk.min_len,
        puk_max: options.puk.max_len,
    };
    p.write_layout(&pkcs15::layout(&token, &pins, &keys, &ca_certs))
        .map_err(|source| new_card_error(Step::Certificates, source))?;

    Ok(certificates)
}

fn new_card_error(step: Step, source: CardNewError) -> PersonaliseError {
    match source {
        CardNewError::Reader { source, .. } => PersonaliseError::Reader { step, card: Which::NewCard, source },
        source => PersonaliseError::NewCard { step, source },
    }
}

fn role_name(role: CertRole) -> &'static str {
    match role {
        CertRole::Authentication => "authentication",
        CertRole::Signature => "signature",
        CertRole::Encryption => "encryption",
    }
}

/// The options' PUK policy must admit the PUK this personaliser makes.
fn check_policy(options: &PersonaliseOptions<'_>) -> Result<(), PersonaliseError> {
    let n = PUK_DIGITS as u8;
    if n < options.puk.min_len || n > options.puk.max_len {
        return Err(PersonaliseError::Setup {
            problem: format!(
                "the ZORG-ID PUK policy allows {}–{} digits but the one-time PUK has {PUK_DIGITS}: fix `[puk]` of the zorg-id profile",
                options.puk.min_len, options.puk.max_len
            ),
        });
    }
    Ok(())
}

// ---- APDU plumbing ----------------------------------------------------------------------------

/// One exchange, `61xx` followed by GET RESPONSE: the data and the final status.
fn exchange(
    reader: &mut dyn Transmit,
    apdu: &[u8],
    step: Step,
    card: Which,
) -> Result<(Vec<u8>, Status), PersonaliseError> {
    reader_sim::exchange::exchange(reader, apdu).map_err(|source| PersonaliseError::Reader { step, card, source })
}

/// GET DATA `00 CA P1 P2 00` (DIALECT.md "Life cycle").
fn get_data(
    reader: &mut dyn Transmit,
    tag: u16,
    step: Step,
    card: Which,
) -> Result<(Vec<u8>, Status), PersonaliseError> {
    let [p1, p2] = tag.to_be_bytes();
    exchange(reader, &[0x00, 0xCA, p1, p2, 0x00], step, card)
}

/// SELECT by path from the MF with the FCP, then READ BINARY the whole EF.
fn read_ef(reader: &mut dyn Transmit, path: &[u16], step: Step, card: Which) -> Result<Vec<u8>, PersonaliseError> {
    use reader_sim::exchange::ReadEfError;
    let where_ = hex::encode_upper(path.iter().flat_map(|f| f.to_be_bytes()).collect::<Vec<u8>>());
    let cert_err = |problem: String| PersonaliseError::UziCertificate { step, problem };
    reader_sim::exchange::read_ef(reader, path).map_err(|e| match e {
        ReadEfError::Reader(source) => PersonaliseError::Reader { step, card, source },
        ReadEfError::Select(status) => cert_err(format!("cannot be selected at 3F00/{where_}: {status}")),
        ReadEfError::NoSize => cert_err(format!("EF 3F00/{where_} has no size in its FCP")),
        ReadEfError::Read { offset, status } => {
            cert_err(format!("READ BINARY of 3F00/{where_} at offset {offset} answered {status}"))
        }
    })
}
