//! End-to-end proofs that real applications use the RSA UZI-pas through the real stack: a `zorgcard serve` card in
//! vpcd slot 0, pcscd, OpenSC's PKCS#11 module, and then NSS (`tstclnt`, `cmsutil`), GnuTLS (`gnutls-cli` through
//! p11-kit), OpenSSL with the libp11 engine (`s_client`), PyKCS11 and `pkcs11-tool`. Nothing here is mocked: each test
//! checks the result on the other side (the TLS server verified the client certificate, the CMS or PKCS#1 signature
//! verifies, the decrypted bytes are the ones encrypted).
//!
//! Run with `scripts/with-pcscd cargo test -p zorgcard --features pcscd-tests --test clients -- --test-threads=1`
//! (`scripts/test-all` does it). The tests share vpcd slot 0, so they take a lock.
//!
//! The same tests run against any RSA token shaped like the card (keys and certificates with IDs `01`
//! authentication, `02` non-repudiation, `03` encryption), which is how the command lines were checked before the
//! RSA card existed: `eval "$(scripts/clients/softhsm-token /tmp/zc-hsm)"` and then the same cargo command, no pcscd.
//! - `ZORGCARD_CLIENTS_MODULE`: the PKCS#11 module; when set, no card is served and its first token is used.
//! - `ZORGCARD_CLIENTS_CA_DIR`: folder of the CA certificates (`*.cert.pem`) that issued the token's certificates
//!   (default `fixtures/pki`).
//! - `ZORGCARD_CLIENTS_PIN`: the user PIN (default the fixture PIN `123456`).
//! - `ZORGCARD_CLIENTS_PYTHON`: a Python with PyKCS11 and cryptography (default Debian's `/usr/bin/python3`).
//!
//! TLS is 1.2 with PKCS#1 v1.5 signatures on purpose: TLS 1.3 with RSA needs RSA-PSS, which OpenSC 0.23's IsoApplet
//! driver does not offer.

mod common;

use std::path::{Path, PathBuf};

use common::clients::{
    AUTHENTICATION, FIXTURE_PIN, GNUTLS_PRIORITY, NssDb, ServedCard, Tls, TlsServer, Token, fixtures_pki, lock_slot,
};
use common::portal::{PortalServer, answer, http_request, send_request};
use common::{ok, openssl, run, s, text, write};

const OPENSC: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
/// Key and certificate IDs of the UZI-pas (PKCS#15 iD = PKCS#11 CKA_ID) besides authentication (`01`).
const SIGNATURE: &str = "02";
const ENCRYPTION: &str = "03";
const HOW_TO_START: &str = "start pcscd with vsmartcard's vpcd driver first: `scripts/with-pcscd cargo test -p \
     zorgcard --features pcscd-tests --test clients` (or `apt-get install pcscd vsmartcard-vpcd && pcscd \
     --foreground &`); or point the tests at another token with ZORGCARD_CLIENTS_MODULE";

impl Token {
    /// The served card (default) or the token of `ZORGCARD_CLIENTS_MODULE`.
    fn open() -> Token {
        let slot = lock_slot();
        let external = std::env::var("ZORGCARD_CLIENTS_MODULE").ok();
        let card = if external.is_none() { Some(ServedCard::start("uzi-zorgverlener", HOW_TO_START)) } else { None };
        let module = external.unwrap_or_else(|| OPENSC.to_string());
        let pin = std::env::var("ZORGCARD_CLIENTS_PIN").unwrap_or_else(|_| FIXTURE_PIN.to_string());
        let ca_dir = std::env::var("ZORGCARD_CLIENTS_CA_DIR").map(PathBuf::from).unwrap_or_else(|_| fixtures_pki());
        Token::new(slot, card, module, "pkcs11-tool".into(), pin, &ca_dir)
    }

    /// A fresh NSS database with the token's module, the issuing CAs and, for a TLS client, the test server's
    /// certificate.
    fn nss_db(&self, server: Option<&TlsServer>) -> NssDb {
        self.nss_db_with(&self.module, Vec::new(), server)
    }
}

/// OpenSSL's engine folder, with libp11's `pkcs11.so` in it (`OPENSSL_ENGINES` if set).
fn openssl_engines() -> String {
    let dir = std::env::var("OPENSSL_ENGINES").unwrap_or_else(|_| {
        let v = openssl(&["version", "-e"]);
        v.split('"').nth(1).unwrap_or_default().to_string()
    });
    assert!(
        Path::new(&dir).join("pkcs11.so").exists(),
        "no libp11 engine `pkcs11.so` in {dir}: apt-get install libengine-pkcs11-openssl"
    );
    dir
}

#[test]
fn nss_tstclnt_logs_in_with_tls_client_authentication() {
    let token = Token::open();
    let mut server = TlsServer::start(&token, Tls::V12, &token.all_cas());
    let db = token.nss_db(Some(&server));
    let nick = db.nickname(&token, AUTHENTICATION);
    let port = server.port.to_string();
    // -J: PKCS#1 v1.5 only, as with the card (NSS would pick RSA-PSS on a token that has it).
    let args = vec![
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-d",
        &db.arg,
        "-n",
        &nick,
        "-w",
        &token.pin,
        "-V",
        "tls1.2:tls1.2",
        "-Q",
        "-J",
        "rsa_pkcs1_sha256",
    ];
    let out = ok("tstclnt", &args, &[]);
    assert!(out.contains("subject DN: CN=127.0.0.1"), "tstclnt did not get through the handshake:\n{out}");
    server.assert_verified_client(&token, "RSA", "tstclnt", &out);
}

#[test]
fn gnutls_cli_logs_in_with_tls_client_authentication() {
    let token = Token::open();
    let mut server = TlsServer::start(&token, Tls::V12, &token.all_cas());
    let key = format!("{};id=%{AUTHENTICATION};type=private", token.token_info().0);
    let cert = token.certificate_pem(AUTHENTICATION);
    let port = server.port.to_string();
    let args = vec![
        "--provider",
        &token.module,
        "127.0.0.1",
        "-p",
        &port,
        "--x509cafile",
        s(&server.cert),
        "--x509certfile",
        s(&cert),
        "--x509keyfile",
        &key,
        "--priority",
        GNUTLS_PRIORITY,
    ];
    let out = ok("gnutls-cli", &args, &[("GNUTLS_PIN", &token.pin)]);
    assert!(
        out.contains("Successfully sent 1 certificate(s) to server") && out.contains("Handshake was completed"),
        "gnutls-cli did not complete the handshake with its certificate:\n{out}"
    );
    server.assert_verified_client(&token, "RSA", "gnutls-cli", &out);
}

#[test]
fn openssl_s_client_with_libp11_logs_in_with_tls_client_authentication() {
    let token = Token::open();
    let mut server = TlsServer::start(&token, Tls::V12, &token.all_cas());
    let key = format!("{};id=%{AUTHENTICATION};type=private;pin-value={}", token.token_info().0, token.pin);
    let cert = token.certificate_pem(AUTHENTICATION);
    let connect = format!("127.0.0.1:{}", server.port);
    // -sigalgs RSA+SHA256: without it OpenSSL 3 prefers RSA-PSS and asks the token for raw RSA.
    let args = vec![
        "s_client",
        "-connect",
        &connect,
        "-tls1_2",
        "-sigalgs",
        "RSA+SHA256",
        "-engine",
        "pkcs11",
        "-keyform",
        "engine",
        "-key",
        &key,
        "-cert",
        s(&cert),
        "-CAfile",
        s(&server.cert),
        "-verify_return_error",
        "-verify_ip",
        "127.0.0.1",
    ];
    let engines = openssl_engines();
    let out = ok("openssl", &args, &[("OPENSSL_ENGINES", &engines), ("PKCS11_MODULE_PATH", &token.module)]);
    assert!(
        out.contains("New, TLSv1.2, Cipher is") && out.contains("Verify return code: 0 (ok)"),
        "openssl s_client did not complete the handshake:\n{out}"
    );
    server.assert_verified_client(&token, "RSA", "openssl s_client", &out);
}

/// The portal's log-in (`portal-web/src/tls.rs`): `openssl s_client` presents the served UZI-zorgverlenerspas's
/// authentication certificate through OpenSC 0.23 and the libp11 engine at TLS 1.2 (PKCS#1 v1.5, all 0.23 can
/// sign; `-sigalgs` leaves ECDSA for the server's own P-256 certificate), and `zorgcard portal serve` reads who it is from that certificate alone: `whoami` shows the card's UZI
/// number, and registering the organisation (seed *Registreren organisatie*) stores that UZI number as its
/// administrator. A second connection without a certificate gets 401 with a reason.
#[test]
fn openssl_s_client_with_libp11_logs_in_to_the_portal_with_the_card() {
    let token = Token::open();
    let portal = PortalServer::start(token.dir.path());
    let key = format!("{};id=%{AUTHENTICATION};type=private;pin-value={}", token.token_info().0, token.pin);
    let cert = token.certificate_pem(AUTHENTICATION);
    let uzi = openssl(&["x509", "-in", s(&cert), "-noout", "-subject", "-nameopt", "sep_multiline"]);
    let uzi = uzi.lines().find_map(|l| l.trim().strip_prefix("serialNumber=")).expect("the certificate's UZI number");
    let engines = openssl_engines();
    let env = [("OPENSSL_ENGINES", engines.as_str()), ("PKCS11_MODULE_PATH", token.module.as_str())];
    let card_args =
        ["-tls1_2", "-sigalgs", "RSA+SHA256:ECDSA+SHA256", "-engine", "pkcs11", "-keyform", "engine", "-key", &key];
    let with_card = |request: &str| {
        let mut args = vec!["s_client", "-connect", &portal.connect, "-CAfile", s(&portal.ca), "-ign_eof"];
        args.extend(card_args.iter().copied());
        args.extend(["-cert", s(&cert)]);
        send_request(&args, &env, request)
    };

    let out = with_card(&http_request("GET", "/api/whoami", None));
    assert!(out.contains("New, TLSv1.2, Cipher is") && out.contains("Verify return code: 0 (ok)"), "{out}");
    let (status, body) = answer(&out);
    assert_eq!(status, 200, "whoami with the card:\n{out}");
    assert!(body.contains(&format!(r#""uzi_number":"{uzi}""#)), "whoami names the card's UZI number {uzi}: {body}");

    let register = http_request("POST", "/api/organisations", Some(r#"{"name":"Huisartsenpraktijk Proef"}"#));
    let (status, body) = answer(&with_card(&register));
    assert_eq!(status, 200, "register with the card: {body}");
    let administrator = portal.query("SELECT administrator FROM organisations");
    assert_eq!(administrator.as_deref(), Some(uzi), "the stored administrator is the card's UZI number");
    let actor = portal.query("SELECT actor FROM audit ORDER BY id DESC LIMIT 1");
    assert_eq!(actor.as_deref(), Some(uzi), "the audit row names the card's UZI number");

    let args = ["s_client", "-connect", &portal.connect, "-CAfile", s(&portal.ca), "-ign_eof"];
    let (status, body) = answer(&send_request(&args, &[], &http_request("GET", "/api/whoami", None)));
    assert_eq!(status, 401, "no client certificate: {body}");
    assert!(body.contains("error"), "the 401 gives a reason: {body}");
}

#[test]
fn nss_cmsutil_signs_with_the_non_repudiation_key_and_openssl_verifies() {
    let token = Token::open();
    let db = token.nss_db(None);
    let nick = db.nickname(&token, SIGNATURE);
    let doc = write(token.dir.path(), "machtiging.txt", b"Machtiging: inzage medicatieoverzicht door de apotheek\n");
    let p7s = token.path("machtiging.p7s");
    ok(
        "cmsutil",
        &["-S", "-d", &db.arg, "-N", &nick, "-H", "SHA256", "-p", &token.pin, "-i", s(&doc), "-o", s(&p7s)],
        &[],
    );
    let content = token.path("content.txt");
    let signer = token.path("signer.pem");
    // Trust only the roots; the issuing CAs are untrusted extra certificates (`openssl cms` 3.0 calls that
    // -certfile: it has no -untrusted). `-purpose any`: the chain is verified, the S/MIME e-mail EKU is not asked.
    let roots = token.bundle("roots.pem", &token.cas.roots);
    let mut verify = vec!["cms", "-verify", "-inform", "DER", "-in", s(&p7s), "-purpose", "any", "-CAfile", s(&roots)];
    let intermediates = token.bundle("intermediates.pem", &token.cas.intermediates);
    if !token.cas.intermediates.is_empty() {
        verify.extend(["-certfile", s(&intermediates)]);
    }
    verify.extend(["-signer", s(&signer), "-out", s(&content)]);
    let out = ok("openssl", &verify, &[]);
    assert!(out.contains("Verification successful"), "{out}");
    assert_eq!(std::fs::read(&content).unwrap(), std::fs::read(&doc).unwrap(), "the signed content differs");
    let signer_der = ok_bytes("openssl", &["x509", "-in", s(&signer), "-outform", "DER"]);
    assert_eq!(signer_der, token.certificate(SIGNATURE), "the CMS signer is not the token's certificate 02");
}

#[test]
fn pykcs11_signs_with_sha256_rsa_pkcs_and_the_certificate_verifies() {
    let token = Token::open();
    let python = std::env::var("ZORGCARD_CLIENTS_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/clients/pykcs11_sign.py");
    let doc = write(token.dir.path(), "aorta-token.txt", b"AORTA LSP: opvragen medicatiegegevens, BSN 999999990");
    // The authentication key signs twice on one login; the non-repudiation key asks for the PIN before each
    // signature (CKA_ALWAYS_AUTHENTICATE), which the script gives it.
    for id in [AUTHENTICATION, SIGNATURE] {
        let sig = token.path(&format!("pykcs11-{id}.sig"));
        let args = vec![
            s(&script),
            "--module",
            &token.module,
            "--id",
            id,
            "--pin-env",
            "ZORGCARD_TEST_PIN",
            "--data",
            s(&doc),
            "--out",
            s(&sig),
            "--count",
            "2",
        ];
        let out = ok(&python, &args, &[("ZORGCARD_TEST_PIN", &token.pin)]);
        assert_eq!(out.matches(&format!("verified: key {id} signature")).count(), 2, "{out}");
        let public = token.public_key(id);
        let check = ok("openssl", &["dgst", "-sha256", "-verify", s(&public), "-signature", s(&sig), s(&doc)], &[]);
        assert!(check.contains("Verified OK"), "openssl does not accept the PyKCS11 signature of key {id}: {check}");
    }
}

#[test]
fn pkcs11_tool_decrypts_what_openssl_encrypted_to_the_encryption_certificate() {
    let token = Token::open();
    let public = token.public_key(ENCRYPTION);
    let secret: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
    let plain = write(token.dir.path(), "secret.bin", &secret);
    let cryptogram = token.path("secret.enc");
    let decrypted = token.path("secret.out");
    openssl(&[
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        s(&public),
        "-pkeyopt",
        "rsa_padding_mode:pkcs1",
        "-in",
        s(&plain),
        "-out",
        s(&cryptogram),
    ]);
    assert_eq!(std::fs::metadata(&cryptogram).unwrap().len(), 256, "an RSA-2048 cryptogram is 256 bytes");
    let args = vec![
        "--module",
        &token.module,
        "--login",
        "--pin",
        &token.pin,
        "--decrypt",
        "-m",
        "RSA-PKCS",
        "--id",
        ENCRYPTION,
        "-i",
        s(&cryptogram),
        "-o",
        s(&decrypted),
    ];
    ok("pkcs11-tool", &args, &[]);
    assert_eq!(std::fs::read(&decrypted).unwrap(), secret, "the decrypted secret differs from the one encrypted");
}

/// `pkcs11-tool --test` runs its RSA signature, verification and decryption tests on every key, without errors.
/// (SoftHSM2 fails this one for reasons of its own: its mechanisms lack CKF_HW, so pkcs11-tool skips signatures, and
/// it refuses OAEP with a label.)
#[test]
fn pkcs11_tool_self_test_covers_the_rsa_keys_without_errors() {
    let token = Token::open();
    let out = token.pkcs11_tool(&["--test", "--login", "--pin", &token.pin]);
    let all = text(&out);
    assert!(out.status.success() && all.contains("No errors"), "pkcs11-tool --test:\n{all}");
    for section in [
        "Signatures (currently only for RSA)",
        "Verify (currently only for RSA)",
        "Decryption (currently only for RSA)",
    ] {
        assert!(all.contains(section), "no `{section}` section:\n{all}");
    }
    assert!(!all.contains("non-RSA, skipping"), "pkcs11-tool skipped a key as non-RSA:\n{all}");
    let decryption = all.split("Decryption (currently only for RSA)").nth(1).unwrap_or_default();
    assert!(decryption.contains("RSA-PKCS: OK"), "no RSA-PKCS decryption passed:\n{all}");
}

fn ok_bytes(program: &str, args: &[&str]) -> Vec<u8> {
    let out = run(program, args, &[]);
    assert!(out.status.success(), "`{program} {}` failed:\n{}", args.join(" "), text(&out));
    out.stdout
}
