//! Personalising a fixture card through the card's own commands, as a real personaliser does.
//!
//! `zorgcard card new` and `zorgcard serve --profile` make their cards here: a blank chip is formatted with the
//! profile's ATR, serial and PIN/PUK policies; then, over APDUs only (any [`Transmit`], so the same steps run
//! against a card in pcscd), the keys are injected (UZI-pas, CPS §6.1.1) or generated on the card (ZORG-ID),
//! certificates are issued for the public keys by the test PKI, the PKCS#15 files OpenSC reads are created and
//! written, the PIN and PUK are set and the card is activated, which starts its 3-year validity.

use card_os::{Card, ChipProfile, KeyRef, PinPolicy, PinRef, Status};
use p256::ecdsa::SigningKey;
use reader_sim::platform::{ClockHandle, HostPlatform};
use reader_sim::reader::{HostCard, InProcessReader, ReaderError, Transmit};
use sha2::{Digest, Sha256};

use crate::key_import;
use crate::pkcs15::{self, KeySpec, KeyUsage, PinSpec, TokenSpec};
use crate::pki::HolderPublicKey;
use crate::pki::{CertRole, Holder, Issuer, TestPki};
use crate::profile::{CardKind, KeySource, KeyType, Profile};
use crate::test_keys::{RsaCrtComponents, test_rsa_key};

/// Why personalisation stopped. Messages name the step and the card's answer.
#[derive(Debug, thiserror::Error)]
pub enum CardNewError {
    /// `Card::format` refused the profile's chip settings (ATR, serial, PIN policy).
    #[error("profile `{profile}`: the chip refused to format: {problem}")]
    Format {
        /// The profile.
        profile: String,
        /// What the chip said.
        problem: String,
    },
    /// A personalisation command did not answer `9000`.
    #[error("personalising `{profile}`: {step} answered {status}")]
    Refused {
        /// The profile.
        profile: String,
        /// The step, named as in the trace (`SELECT 3F005015`, …).
        step: String,
        /// What the card answered.
        status: Status,
    },
    /// The reader failed during a step.
    #[error("personalising `{profile}`: {step}: the reader failed: {source}")]
    Reader {
        /// The profile.
        profile: String,
        /// The step.
        step: String,
        /// The reader's error.
        source: ReaderError,
    },
    /// The test PKI could not issue the card's certificates (profile name, cause).
    #[error("personalising `{0}`: {1}")]
    Pki(String, #[source] crate::pki::PkiError),
    /// The profile asks for something a card cannot hold.
    #[error("personalising `{profile}`: {problem}")]
    Invalid {
        /// The profile.
        profile: String,
        /// What is wrong, and the fix.
        problem: String,
    },
}

/// Choices for one new card.
#[derive(Clone, Debug, Default)]
pub struct NewCardOptions {
    /// Serial number; default: the profile's. Give each card in one process its own.
    pub serial: Option<String>,
    /// Issue time (Unix seconds) for the certificates; default: the card's clock.
    pub issued_at: Option<i64>,
    /// The card's clock; default: the system clock.
    pub clock: Option<ClockHandle>,
}

/// A freshly made card, with what the personaliser knows of it.
#[derive(Debug)]
pub struct NewCard {
    /// The card, removed from the in-process reader that personalised it (not powered).
    pub card: HostCard,
    /// The certificates written, by key reference.
    pub certificates: Vec<(u8, Vec<u8>)>,
}

fn policy(p: &crate::profile::PinSettings, charset: card_os::Charset) -> PinPolicy {
    PinPolicy { min_len: p.min_len, max_len: p.max_len, max_tries: p.max_tries, charset }
}

/// Format a chip for `profile` and, unless the profile is a blank card, personalise it.
pub fn new_card(profile: &Profile, pki: &TestPki, options: &NewCardOptions) -> Result<NewCard, CardNewError> {
    let serial = options.serial.clone().unwrap_or_else(|| profile.serial.clone());
    let clock = options.clock.clone().unwrap_or_default();
    let platform = HostPlatform::blank().with_clock(clock.clone());
    let chip = ChipProfile {
        atr: &profile.atr,
        serial: serial.as_bytes(),
        pin: policy(&profile.pin, card_os::Charset::Printable),
        puk: policy(&profile.puk, card_os::Charset::Digits),
    };
    let card = Card::format(platform, &chip)
        .map_err(|e| CardNewError::Format { profile: profile.name.clone(), problem: e.to_string() })?;
    let mut reader = InProcessReader::with_card(card);
    let mut certificates = Vec::new();
    if profile.personalised {
        reader.power_on().map_err(|source| CardNewError::Reader {
            profile: profile.name.clone(),
            step: "power on".into(),
            source,
        })?;
        // Certificates start at the beginning of the issue day, as the card's validity does (card-os
        // `lifecycle.rs`): card and certificates expire together.
        let today = (card_os::Clock::now(&clock.clock()) as i64).div_euclid(86_400) * 86_400;
        let issued_at = options.issued_at.unwrap_or(today);
        certificates = write_card(&mut reader, profile, pki, &serial, issued_at)?;
        reader.power_off();
    }
    let card = reader.remove().ok_or_else(|| CardNewError::Invalid {
        profile: profile.name.clone(),
        problem: "the card vanished from the in-process reader".into(),
    })?;
    Ok(NewCard { card, certificates })
}

/// One session writing a profile's files, keys and PINs onto a formatted, blank card in any reader (the
/// reference personaliser in `personaliser/src/lib.rs` drives one too).
pub struct LayoutWriter<'a> {
    reader: &'a mut dyn Transmit,
    profile: &'a str,
}

impl<'a> LayoutWriter<'a> {
    /// A session on the card in `reader`; `profile` names the card in errors.
    pub fn new(reader: &'a mut dyn Transmit, profile: &'a str) -> Self {
        LayoutWriter { reader, profile }
    }

    /// Send one APDU; `9000` or fail naming the step. `61xx` is followed by GET RESPONSE.
    pub fn send(&mut self, step: &str, apdu: &[u8]) -> Result<Vec<u8>, CardNewError> {
        let (data, status) = reader_sim::exchange::exchange(self.reader, apdu)
            .map_err(|source| CardNewError::Reader { profile: self.profile.into(), step: step.into(), source })?;
        match status {
            Status::Success => Ok(data),
            status => Err(CardNewError::Refused { profile: self.profile.into(), step: step.into(), status }),
        }
    }

    /// Case-3 (or case-4 with the short Le byte `le`) APDU, written by [`reader_sim::exchange::command`]; lengths the
    /// personaliser never sends (data over 255 bytes) come out extended.
    fn command(ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u8>) -> Vec<u8> {
        let ne = le.map(|le| if le == 0 { 256 } else { usize::from(le) });
        reader_sim::exchange::command([0x00, ins, p1, p2], data, ne).unwrap_or_default()
    }

    /// SELECT by path from the MF without an answer (ISO 7816-4 §11.1.1, P1 `08`, P2 `0C`); the MF for `[]`.
    pub fn select_path(&mut self, path: &[u16]) -> Result<(), CardNewError> {
        if path.is_empty() {
            self.send("SELECT MF", &[0x00, 0xA4, 0x00, 0x0C])?;
            return Ok(());
        }
        let bytes: Vec<u8> = path.iter().flat_map(|f| f.to_be_bytes()).collect();
        self.send(&format!("SELECT {}", hex::encode_upper(&bytes)), &Self::command(0xA4, 0x08, 0x0C, &bytes, None))?;
        Ok(())
    }

    /// CREATE FILE of a DF in the current DF.
    pub fn create_df(&mut self, fid: u16, aid: &[u8], read: u8, update: u8) -> Result<(), CardNewError> {
        let mut fcp = vec![0x82, 0x01, 0x38, 0x83, 0x02];
        fcp.extend_from_slice(&fid.to_be_bytes());
        if !aid.is_empty() {
            fcp.extend_from_slice(&[0x84, aid.len() as u8]);
            fcp.extend_from_slice(aid);
        }
        fcp.extend_from_slice(&[0x86, 0x02, read, update]);
        let mut data = vec![0x62, fcp.len() as u8];
        data.extend_from_slice(&fcp);
        self.send(&format!("CREATE FILE DF {fid:04X}"), &Self::command(0xE0, 0, 0, &data, None))?;
        Ok(())
    }

    /// CREATE FILE of a transparent EF in the current DF, then UPDATE BINARY its content in short APDUs.
    pub fn write_ef(&mut self, fid: u16, content: &[u8], read: u8, update: u8) -> Result<(), CardNewError> {
        let size = u16::try_from(content.len()).map_err(|_| CardNewError::Invalid {
            profile: self.profile.into(),
            problem: format!("EF {fid:04X} would hold {} bytes, more than an EF can", content.len()),
        })?;
        let mut fcp = vec![0x82, 0x01, 0x01, 0x83, 0x02];
        fcp.extend_from_slice(&fid.to_be_bytes());
        fcp.extend_from_slice(&[0x80, 0x02]);
        fcp.extend_from_slice(&size.to_be_bytes());
        fcp.extend_from_slice(&[0x86, 0x02, read, update]);
        let mut data = vec![0x62, fcp.len() as u8];
        data.extend_from_slice(&fcp);
        self.send(&format!("CREATE FILE EF {fid:04X}"), &Self::command(0xE0, 0, 0, &data, None))?;
        for (i, chunk) in content.chunks(240).enumerate() {
            let [p1, p2] = ((i * 240) as u16).to_be_bytes();
            self.send(&format!("UPDATE BINARY {fid:04X}"), &Self::command(0xD6, p1, p2, chunk, None))?;
        }
        Ok(())
    }

    /// GENERATE ASYMMETRIC KEY PAIR on the card; the public point from the `7F49` answer.
    pub fn generate_key(&mut self, key_ref: KeyRef, key_type: KeyType) -> Result<HolderPublicKey, CardNewError> {
        let key = key_ref.to_byte();
        let step = format!("GENERATE KEY {key}");
        let answer = match key_type {
            KeyType::P256 => self.send(&step, &Self::command(0x46, 0x00, key_ref.to_byte(), &[], Some(0)))?,
            KeyType::Rsa2048 => {
                let mse = key_import::mse_set_import(key_ref, key_import::ALG_RSA_2048);
                self.send(&format!("MSE SET key generation {key}"), &mse)?;
                self.send(&step, &[0x00, 0x46, 0x42, 0x00, 0x00])?
            }
        };
        key_import::public_key_from_template(&answer).ok_or_else(|| CardNewError::Invalid {
            profile: self.profile.into(),
            problem: format!("GENERATE KEY {key} answered no public key template"),
        })
    }

    /// PUT DATA with a private P-256 scalar (key injection).
    pub fn import_key(&mut self, key_ref: KeyRef, key: &SigningKey) -> Result<HolderPublicKey, CardNewError> {
        let n = key_ref.to_byte();
        let mut scalar: [u8; 32] = key.to_bytes().into();
        let result = self.send(&format!("PUT DATA key {n}"), &Self::command(0xDA, 0x01, n, &scalar, None));
        zeroize::Zeroize::zeroize(&mut scalar);
        result?;
        Ok(HolderPublicKey::P256 { sec1: key.verifying_key().to_sec1_point(false).as_bytes().to_vec() })
    }

    /// IsoApplet's RSA key injection: MSE SET `80 01 F3 84 01 <ref>`, then PUT DATA `00 DB 3F FF 7F48 {…}`.
    pub fn import_rsa_key(&mut self, key_ref: KeyRef, key: &rsa::PrivateKey) -> Result<HolderPublicKey, CardNewError> {
        let crt = RsaCrtComponents::from_key(key)
            .map_err(|e| CardNewError::Invalid { profile: self.profile.into(), problem: e.to_string() })?;
        let apdus = key_import::rsa_import_apdus(key_ref, &crt);
        let n = key_ref.to_byte();
        for (i, apdu) in apdus.iter().enumerate() {
            let step = if i == 0 { format!("MSE SET key import {n}") } else { format!("PUT DATA key {n}") };
            self.send(&step, apdu)?;
        }
        Ok(crt.public_key())
    }

    /// CHANGE REFERENCE DATA P1 `01`: the first value of the PIN (`01`) or PUK (`02`).
    pub fn set_secret(&mut self, reference: PinRef, value: &[u8]) -> Result<(), CardNewError> {
        let what = match reference {
            PinRef::User => "set PIN",
            PinRef::Puk => "set PUK",
        };
        self.send(what, &Self::command(0x24, 0x01, reference.to_byte(), value, None))?;
        Ok(())
    }

    /// Create the DFs (parents first) and then write the EFs of a PKCS#15 layout.
    pub fn write_layout(&mut self, layout: &pkcs15::Pkcs15Layout) -> Result<(), CardNewError> {
        for df in &layout.dfs {
            let (last, parent) = df.path.split_last().ok_or_else(|| CardNewError::Invalid {
                profile: self.profile.into(),
                problem: "PKCS#15 layout has a DF with an empty path".into(),
            })?;
            self.select_path(parent)?;
            self.create_df(*last, &df.aid, df.read_ac, df.update_ac)?;
        }
        for file in &layout.files {
            let (last, parent) = file.path.split_last().ok_or_else(|| CardNewError::Invalid {
                profile: self.profile.into(),
                problem: "PKCS#15 layout has a file with an empty path".into(),
            })?;
            self.select_path(parent)?;
            self.write_ef(*last, &file.content, file.read_ac, file.update_ac)?;
        }
        Ok(())
    }

    /// ACTIVATE FILE: the card is operational and its validity starts.
    pub fn activate(&mut self) -> Result<(), CardNewError> {
        self.send("ACTIVATE", &[0x00, 0x44, 0x00, 0x00])?;
        Ok(())
    }
}

/// The personaliser's "HSM": a TEST-ONLY key derived from the card serial and key reference, so fixture cards
/// are reproducible. A real UZI personaliser generates keys in a FIPS 140-2 level 3 HSM (CPS §6.1.1).
pub fn injected_test_key(serial: &str, key_ref: KeyRef) -> SigningKey {
    let mut counter = 0u32;
    loop {
        let mut h = Sha256::new();
        h.update(b"zorgcard TEST-ONLY injected key");
        h.update(serial.as_bytes());
        h.update([key_ref.to_byte()]);
        h.update(counter.to_be_bytes());
        if let Ok(key) = SigningKey::from_slice(&h.finalize()) {
            return key;
        }
        counter += 1;
    }
}

/// The certificate role of a key reference (DIALECT.md: `01` authentication, `02` signature, `03` encryption).
pub fn role(key_ref: KeyRef) -> CertRole {
    match key_ref {
        KeyRef::Authentication => CertRole::Authentication,
        KeyRef::Signature => CertRole::Signature,
        KeyRef::Encryption => CertRole::Encryption,
    }
}

/// The PKCS#15 label of a key reference, the same on every zorgcard so OpenSC users see one naming.
pub fn key_label(key_ref: KeyRef) -> &'static str {
    match key_ref {
        KeyRef::Authentication => "Authenticatie",
        KeyRef::Signature => "Handtekening",
        KeyRef::Encryption => "Vertrouwelijkheid",
    }
}

/// The personalisation steps, against a blank card that is powered in `reader`. Returns the certificates.
pub fn write_card(
    reader: &mut dyn Transmit,
    profile: &Profile,
    pki: &TestPki,
    serial: &str,
    issued_at: i64,
) -> Result<Vec<(u8, Vec<u8>)>, CardNewError> {
    let name = profile.name.clone();
    let pki_err = |e| CardNewError::Pki(name.clone(), e);
    let holder_spec = profile.holder.as_ref().ok_or_else(|| CardNewError::Invalid {
        profile: name.clone(),
        problem: "a personalised card needs a holder".into(),
    })?;
    let (issuer, holder_type) = match profile.kind {
        CardKind::Uzi(t) => (Issuer::Uzi(t), t),
        CardKind::ZorgId => (Issuer::ZorgId, crate::pki::HolderType::N),
    };
    let holder = Holder {
        holder_type,
        uzi_number: holder_spec.uzi_number.clone(),
        given_name: holder_spec.given_name.clone(),
        surname: holder_spec.surname.clone(),
        common_name: holder_spec.common_name.clone(),
        title: holder_spec.title.clone(),
        organisation: holder_spec.organisation.clone(),
        subscriber_number: holder_spec.subscriber_number.clone(),
        role: holder_spec.role.clone(),
        agb_code: holder_spec.agb_code.clone(),
        oid_ca: profile.oid_ca,
    };
    let mut p = LayoutWriter::new(reader, &profile.name);
    p.select_path(&[])?;

    let mut keys = Vec::new();
    let mut certificates = Vec::new();
    for &key_ref in &profile.keys {
        let key_type = profile.key_type(key_ref);
        let reference = KeyRef::try_from(key_ref).map_err(|_| CardNewError::Invalid {
            profile: profile.name.clone(),
            problem: format!("key reference {key_ref} is not 1, 2 or 3: fix `keys` in the profile"),
        })?;
        let public = match (profile.key_source, key_type) {
            (KeySource::Injected, KeyType::P256) => p.import_key(reference, &injected_test_key(serial, reference))?,
            (KeySource::Injected, KeyType::Rsa2048) => {
                let key = test_rsa_key(serial.as_bytes(), reference).map_err(pki_err)?;
                p.import_rsa_key(reference, &key)?
            }
            (KeySource::OnCard, key_type) => p.generate_key(reference, key_type)?,
        };
        let cert =
            pki.issue(issuer, &holder, role(reference), &public, serial.as_bytes(), issued_at).map_err(pki_err)?;
        certificates.push((key_ref, cert.clone()));
        keys.push(KeySpec {
            key_ref,
            id: vec![key_ref],
            label: key_label(reference).into(),
            usage: KeyUsage::for_key(key_ref, &public).unwrap_or(KeyUsage::ENCRYPTION),
            user_consent: key_ref == 2,
            public_key: public,
            certificate_der: Some(cert),
        });
    }

    let ca_certs: Vec<(String, Vec<u8>)> = pki
        .ca_chain(issuer)
        .into_iter()
        .enumerate()
        .map(|(i, der)| {
            (if i == 0 { issuer.common_name().to_string() } else { crate::pki::ROOT_COMMON_NAME.to_string() }, der)
        })
        .collect();
    let token = TokenSpec {
        serial: serial.into(),
        label: match profile.kind {
            CardKind::Uzi(t) => format!("UZI-pas {} {}", t.letter(), holder_spec.uzi_number),
            CardKind::ZorgId => format!("ZORG-ID Smartcard {serial}"),
        },
        manufacturer: "zorgcard TEST".into(),
    };
    let pins = PinSpec {
        pin_min: profile.pin.min_len,
        pin_max: profile.pin.max_len,
        puk_min: profile.puk.min_len,
        puk_max: profile.puk.max_len,
    };
    let layout = pkcs15::layout(&token, &pins, &keys, &ca_certs);
    write_layout(&mut p, &layout)?;
    p.set_secret(PinRef::User, profile.pin.value.as_bytes())?;
    p.set_secret(PinRef::Puk, profile.puk.value.as_bytes())?;
    p.activate()?;
    Ok(certificates)
}

/// Creates the DFs of a PKCS#15 `layout` and writes its EFs, each with its access conditions.
fn write_layout(p: &mut LayoutWriter<'_>, layout: &pkcs15::Pkcs15Layout) -> Result<(), CardNewError> {
    for df in &layout.dfs {
        let (last, parent) = df.path.split_last().ok_or_else(|| CardNewError::Invalid {
            profile: p.profile.to_owned(),
            problem: "PKCS#15 layout has a DF with an empty path".into(),
        })?;
        p.select_path(parent)?;
        p.create_df(*last, &df.aid, df.read_ac, df.update_ac)?;
    }
    for file in &layout.files {
        let (last, parent) = file.path.split_last().ok_or_else(|| CardNewError::Invalid {
            profile: p.profile.to_owned(),
            problem: "PKCS#15 layout has a file with an empty path".into(),
        })?;
        p.select_path(parent)?;
        p.write_ef(*last, &file.content, file.read_ac, file.update_ac)?;
    }
    Ok(())
}
