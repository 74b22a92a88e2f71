//! The cryptographic steps: `sign`, `internal_authenticate`, `decipher` and `public_key`, each checked with the key
//! of the certificate read from the card (RSA PKCS#1 v1.5 with the `rsa` crate, ECDSA P-256 with `p256`).

use super::*;

/// The hash of `data`.
pub(super) fn digest(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    match alg {
        HashAlg::Sha1 => sha1::Sha1::digest(data).to_vec(),
        HashAlg::Sha224 => Sha224::digest(data).to_vec(),
        HashAlg::Sha256 => Sha256::digest(data).to_vec(),
        HashAlg::Sha384 => Sha384::digest(data).to_vec(),
        HashAlg::Sha512 => Sha512::digest(data).to_vec(),
    }
}

/// The `rsa` crate's PKCS#1 v1.5 signature scheme of a hash function; its prefix is the DigestInfo header.
pub(super) fn pkcs1v15(alg: HashAlg) -> Pkcs1v15Sign {
    match alg {
        HashAlg::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
        HashAlg::Sha224 => Pkcs1v15Sign::new::<Sha224>(),
        HashAlg::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
        HashAlg::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
        HashAlg::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
    }
}

/// `DigestInfo ::= SEQUENCE { digestAlgorithm, digest }` of a hash (RFC 8017 §9.2): what an RSA key is sent.
pub fn digest_info(alg: HashAlg, hash: &[u8]) -> Vec<u8> {
    [&*pkcs1v15(alg).prefix, hash].concat()
}

/// What the card was asked to sign, for verification: a hash (sent to an RSA key in its DigestInfo), or bytes
/// sent as they are (`hash = "hex:…"`).
pub(super) struct Signed {
    /// The hash function, or `None` for bytes sent as they are.
    pub(super) alg: Option<HashAlg>,
    /// The hash, or the bytes sent.
    pub(super) bytes: Vec<u8>,
}

/// What kind of key a public key is.
pub(super) fn key_type_of(key: &HolderPublicKey) -> KeyType {
    match key {
        HolderPublicKey::Rsa { .. } => KeyType::Rsa2048,
        HolderPublicKey::P256 { .. } => KeyType::P256,
    }
}

pub(super) fn type_words(kind: KeyType) -> &'static str {
    match kind {
        KeyType::Rsa2048 => "RSA-2048",
        KeyType::P256 => "P-256",
    }
}

/// A public key for a report: `RSA-2048 n 97 E4 22 E3 73 9E 81 E7 …, e 01 00 01` or `P-256 04 …`.
pub(super) fn key_words(key: &HolderPublicKey) -> String {
    match key {
        HolderPublicKey::Rsa { modulus, exponent } => {
            let n = modulus.iter().take(8).map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(" ");
            format!("RSA-{} n {n} …, e {}", key.bits(), hex_words(exponent))
        }
        HolderPublicKey::P256 { sec1 } => format!("P-256 {}", hex_words(sec1)),
    }
}

/// Whether a public key is what the profile says the card's key is: RSA-2048 with e = 65537 (CPS UZI-register
/// §6.1.4; the chip makes and takes no other), or a point on P-256.
pub(super) fn key_fits(key: &HolderPublicKey, kind: KeyType) -> bool {
    match (key, kind) {
        (HolderPublicKey::Rsa { exponent, .. }, KeyType::Rsa2048) => {
            key.bits() == 2048 && exponent.as_slice() == [0x01, 0x00, 0x01]
        }
        (HolderPublicKey::P256 { sec1 }, KeyType::P256) => VerifyingKey::from_sec1_bytes(sec1).is_ok(),
        _ => false,
    }
}

/// The `rsa` crate's public key of an RSA [`HolderPublicKey`].
pub(super) fn rsa_public_key(key: &HolderPublicKey) -> Result<rsa::PublicKey, String> {
    match key.rsa_public_key_der() {
        Some(Ok(der)) => rsa::PublicKey::from_pkcs1_der(&der).map_err(|e| format!("an unusable RSA key ({e})")),
        Some(Err(e)) => Err(format!("an unusable RSA key ({e})")),
        None => Err("a P-256 key, not an RSA key".into()),
    }
}

/// A cryptogram below any 2048-bit modulus (first byte `00`) that the host did not make with PKCS#1 v1.5
/// padding: deciphered, its padding is bad (but for a chance of about 2⁻¹⁶ per key, which the check survives).
pub(super) fn bad_padding_cryptogram(len: usize) -> Vec<u8> {
    let fill = Sha256::digest(b"zorgcard conformance: not a cryptogram");
    let mut out: Vec<u8> = fill.iter().copied().cycle().take(len).collect();
    if let Some(first) = out.first_mut() {
        *first = 0x00;
    }
    out
}

impl Runner<'_> {
    /// Verify a signature of card key `key` with the key of its certificate read from the card: DER ECDSA for a
    /// P-256 key, PKCS#1 v1.5 (`rsa` crate) for an RSA key.
    pub(super) fn verify_signature(&mut self, key: u8, signed: &Signed, signature: &[u8]) -> CheckResult {
        let path = script::path_text(&[pkcs15::DF_PKCS15, pkcs15::certificate_fid(key)]);
        let expected = match self.profile.key_type(key) {
            KeyType::P256 => format!("a DER ECDSA signature that verifies with the certificate of key {key} ({path})"),
            KeyType::Rsa2048 => {
                let of = signed.alg.map_or("the bytes sent".to_owned(), |a| format!("a {} DigestInfo", a.title()));
                format!(
                    "a 256-byte PKCS#1 v1.5 signature of {of} that verifies with the certificate of key {key} ({path})"
                )
            }
        };
        let claimed = self.profile.key_type(key);
        let got = self.certificate_key(key).and_then(|public| match &public {
            _ if key_type_of(&public) != claimed => Err(format!(
                "the certificate's key is {}, the profile's {} (the card answered {} bytes)",
                type_words(key_type_of(&public)),
                type_words(claimed),
                signature.len()
            )),
            HolderPublicKey::P256 { sec1 } => {
                let vk = VerifyingKey::from_sec1_bytes(sec1)
                    .map_err(|_| format!("the certificate in {path} has no usable P-256 key"))?;
                let sig = DerSignature::try_from(signature)
                    .map_err(|e| format!("not a DER SEQUENCE{{r, s}} ({e}): {}", hex_words(signature)))?;
                vk.verify_prehash(&signed.bytes, &sig).map_err(|_| "a signature that does not verify".to_owned())
            }
            HolderPublicKey::Rsa { .. } => {
                let pk = rsa_public_key(&public).map_err(|e| format!("the certificate in {path} has {e}"))?;
                if signature.len() != pk.size() {
                    return Err(format!(
                        "{} bytes, not the {} of the modulus: {}",
                        signature.len(),
                        pk.size(),
                        hex_words(signature)
                    ));
                }
                let scheme = signed.alg.map_or_else(Pkcs1v15Sign::new_unprefixed, pkcs1v15);
                pk.verify(scheme, &signed.bytes, signature).map_err(|_| "a signature that does not verify".to_owned())
            }
        });
        CheckResult::new(
            "signature",
            expected,
            match &got {
                Ok(()) => "verifies".to_owned(),
                Err(e) => e.clone(),
            },
            got.is_ok(),
        )
    }

    /// Send an MSE SET; a status word other than `9000` is the step's, checked against `expected`. Returns
    /// whether the step goes on.
    pub(super) fn mse(&mut self, apdu: &[u8], expected: SwPattern, out: &mut Vec<CheckResult>) -> bool {
        match self.send_raw(apdu) {
            Ok(a) if a.status == Status::Success => true,
            Ok(a) => {
                out.push(CheckResult::new(
                    "status word (MSE SET)",
                    pattern_words(expected),
                    sw_words(a.status),
                    expected.matches(a.status),
                ));
                false
            }
            Err(e) => {
                out.push(CheckResult::new(
                    "status word (MSE SET)",
                    pattern_words(expected),
                    format!("no answer: {e}"),
                    false,
                ));
                false
            }
        }
    }

    /// MSE SET DST with the key, PSO COMPUTE DIGITAL SIGNATURE, then verification against the card's certificate.
    /// `expected` is the status word of the first command that does not answer `9000`, or `9000`.
    ///
    /// An RSA key gets `80 01 11` (PKCS#1 v1.5, as OpenSC names it) and the DigestInfo of the hash; a P-256 key no
    /// algorithm reference and the bare hash. `hex:` bytes go to either as they are.
    pub(super) fn sign_step(&mut self, key: u8, hash: &HashInput, expected: SwPattern, out: &mut Vec<CheckResult>) {
        let rsa = self.profile.key_type(key) == KeyType::Rsa2048;
        let mse: &[u8] = if rsa {
            &[0x00, 0x22, 0x41, 0xB6, 0x06, 0x80, 0x01, 0x11, 0x84, 0x01, key]
        } else {
            &[0x00, 0x22, 0x41, 0xB6, 0x03, 0x84, 0x01, key]
        };
        if !self.mse(mse, expected, out) {
            return;
        }
        let signed = match hash {
            HashInput::Of { alg, text } => Signed { alg: Some(*alg), bytes: digest(*alg, text.as_bytes()) },
            HashInput::Raw(bytes) => Signed { alg: None, bytes: bytes.clone() },
        };
        let input = match signed.alg {
            Some(alg) if rsa => digest_info(alg, &signed.bytes),
            _ => signed.bytes.clone(),
        };
        let pso = match command([0x00, 0x2A, 0x9E, 0x9A], &input, true) {
            Ok(apdu) => apdu,
            Err(e) => {
                out.extend(cannot_run(e));
                return;
            }
        };
        if let Some(answer) = self.exchange("status word (PSO)", &pso, expected, true, out)
            && answer.status == Status::Success
        {
            let check = self.verify_signature(key, &signed, &answer.data);
            out.push(check);
        }
    }

    /// INTERNAL AUTHENTICATE. A P-256 key is sent the challenge and signs its SHA-256 (ECDSA); an RSA key is sent
    /// the SHA-256 DigestInfo of the challenge, which it pads (PKCS#1 v1.5). Both verify as a signature of
    /// SHA-256(challenge) with the authentication certificate.
    pub(super) fn internal_authenticate_step(
        &mut self,
        key: u8,
        challenge: &Challenge,
        expected: SwPattern,
        out: &mut Vec<CheckResult>,
    ) {
        let challenge = match challenge {
            Challenge::Fixed(bytes) => bytes.clone(),
            Challenge::Random => {
                let mut bytes = [0u8; 32];
                if let Err(e) = getrandom::fill(&mut bytes) {
                    out.extend(cannot_run(format!("no random challenge: {e}")));
                    return;
                }
                bytes.to_vec()
            }
        };
        // P2 00: the key of MSE SET AT, which only the authentication key may be.
        let signer = if key == 0 { 1 } else { key };
        let signed = Signed { alg: Some(HashAlg::Sha256), bytes: Sha256::digest(&challenge).to_vec() };
        let data = match self.profile.key_type(signer) {
            KeyType::Rsa2048 => digest_info(HashAlg::Sha256, &signed.bytes),
            KeyType::P256 => challenge,
        };
        let apdu = match command([0x00, 0x88, 0x00, key], &data, true) {
            Ok(apdu) => apdu,
            Err(e) => {
                out.extend(cannot_run(e));
                return;
            }
        };
        if let Some(answer) = self.exchange("status word", &apdu, expected, true, out)
            && answer.status == Status::Success
        {
            let check = self.verify_signature(signer, &signed, &answer.data);
            out.push(check);
        }
    }

    /// Send the parts of one command: every part but the last must answer `9000` (else its answer is the
    /// command's); the last is sent as a client does ([`Runner::send`]).
    pub(super) fn send_parts(&mut self, parts: &[Vec<u8>]) -> Result<Answer, String> {
        let Some((last, first)) = parts.split_last() else {
            return Err("no command to send".into());
        };
        for part in first {
            let answer = self.send_raw(part)?;
            if answer.status != Status::Success {
                return Ok(answer);
            }
        }
        self.send(last)
    }

    /// MSE SET CT (`80 01 11`, PKCS#1 v1.5) with the key, then PSO DECIPHER of `00 ‖ cryptogram`. A secret is
    /// encrypted to the key's certificate read from the card and must come back; a bad padding must answer `9000`
    /// with the same message twice (implicit rejection). `expected` is the status word of the first command that
    /// does not answer `9000`, or `9000`.
    pub(super) fn decipher_step(
        &mut self,
        key: u8,
        input: &DecipherInput,
        mse: bool,
        chained: bool,
        expected: SwPattern,
        out: &mut Vec<CheckResult>,
    ) {
        let path = script::path_text(&[pkcs15::DF_PKCS15, pkcs15::certificate_fid(key)]);
        let cryptogram = match input {
            DecipherInput::Raw(bytes) => Ok(bytes.clone()),
            DecipherInput::Secret(text) => self.certificate_rsa_key(key).and_then(|pk| {
                pk.encrypt(&mut getrandom::SysRng, Pkcs1v15Encrypt, text.as_bytes())
                    .map_err(|e| format!("cannot encrypt to the certificate in {path}: {e}"))
            }),
            DecipherInput::Modulus => self.certificate_rsa_key(key).map(|pk| {
                let n = pk.n_bytes();
                let mut out = vec![0u8; pk.size().saturating_sub(n.len())];
                out.extend_from_slice(&n);
                out
            }),
            DecipherInput::BadPadding => self.certificate_rsa_key(key).map(|pk| bad_padding_cryptogram(pk.size())),
        };
        let cryptogram = match cryptogram {
            Ok(c) => c,
            Err(e) => {
                out.extend(cannot_run(e));
                return;
            }
        };
        if mse && !self.mse(&[0x00, 0x22, 0x41, 0xB8, 0x06, 0x80, 0x01, 0x11, 0x84, 0x01, key], expected, out) {
            return;
        }
        let data = [&[0x00u8][..], &cryptogram].concat();
        let header = [0x00, 0x2A, 0x80, 0x86];
        let parts = if chained {
            chained_commands(header, &data)
        } else {
            match command_any_length(header, &data) {
                Ok(apdu) => vec![apdu],
                Err(e) => {
                    out.extend(cannot_run(e));
                    return;
                }
            }
        };
        let what = "status word (PSO DECIPHER)";
        let answer = match self.send_parts(&parts) {
            Ok(answer) => {
                let passed = expected.matches(answer.status);
                out.push(CheckResult::new(what, pattern_words(expected), sw_words(answer.status), passed));
                if !passed || answer.status != Status::Success {
                    return;
                }
                answer
            }
            Err(e) => {
                out.push(CheckResult::new(what, pattern_words(expected), format!("no answer: {e}"), false));
                return;
            }
        };
        match input {
            DecipherInput::Secret(text) => {
                let same = answer.data == text.as_bytes();
                out.push(CheckResult::new(
                    "plaintext",
                    format!("the {}-byte secret encrypted to the certificate of key {key} ({path})", text.len()),
                    if same { "the same bytes".to_owned() } else { hex_words(&answer.data) },
                    same,
                ));
            }
            DecipherInput::BadPadding => {
                let again = self.send_parts(&parts);
                let expected = "9000 with a message of at most 245 bytes, the same message again (implicit rejection: \
                                no status word or answer tells a bad padding)";
                let (got, passed) = match again {
                    Ok(a)
                        if a.status == Status::Success
                            && a.data == answer.data
                            && answer.data.len() <= script::MAX_SECRET =>
                    {
                        (format!("9000 and the same {}-byte message twice", answer.data.len()), true)
                    }
                    Ok(a) if a.status == Status::Success && a.data == answer.data => {
                        (format!("the same {}-byte message twice, longer than any message", answer.data.len()), false)
                    }
                    Ok(a) if a.status == Status::Success => {
                        (format!("{} then {}", hex_words(&answer.data), hex_words(&a.data)), false)
                    }
                    Ok(a) => (format!("9000, then {}", sw_words(a.status)), false),
                    Err(e) => (format!("9000, then no answer: {e}"), false),
                };
                out.push(CheckResult::new("implicit rejection", expected, got, passed));
            }
            DecipherInput::Modulus | DecipherInput::Raw(_) => {}
        }
    }

    /// `00 46 01 <ref> 00` with GET RESPONSE after `61xx`: a public-key template of the profile's key type.
    pub(super) fn public_key_step(&mut self, step: &Step, key: u8, expected: SwPattern, out: &mut Vec<CheckResult>) {
        let Some(answer) = self.exchange("status word", &[0x00, 0x46, 0x01, key, 0x00], expected, true, out) else {
            return;
        };
        if answer.status != Status::Success {
            return;
        }
        self.data_checks(step, &answer.data, out);
        let kind = self.profile.key_type(key);
        let want = match kind {
            KeyType::Rsa2048 => "7F49 { 81 n, 82 e }: an RSA-2048 key, e = 65537",
            KeyType::P256 => "7F49 { 86 04‖X‖Y }: a point on P-256",
        };
        let (got, passed) = match public_key_from_template(&answer.data) {
            Some(public) => (key_words(&public), key_fits(&public, kind)),
            None => (format!("no public key template: {}", hex_words(&answer.data)), false),
        };
        out.push(CheckResult::new(format!("public key template of key {key}"), want, got, passed));
    }
}
