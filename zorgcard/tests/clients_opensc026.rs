//! The served cards through OpenSC 0.26's PKCS#11 module, next to the system OpenSC 0.23 that `tests/clients.rs`
//! uses: a `zorgcard serve` card in vpcd slot 0, pcscd, the 0.26 module built by `scripts/build-opensc-0.26` (Debian
//! 13's source, installed in `target/opensc-0.26`), and then 0.26's `pkcs11-tool`, NSS's `tstclnt`, GnuTLS's
//! `gnutls-cli`, OpenSSL 3 with `pkcs11-provider` (`s_client`) and OpenSSH (`ssh-keygen -D`, `ssh-agent`). Each TLS
//! test checks the other side: `openssl s_server` verified the card's authentication certificate up to the test root,
//! got certificate 01, spoke the expected TLS version (read from its session) and saw the expected signature type;
//! where it matters, OpenSC's `pkcs11-spy` shows the PKCS#11 mechanism the client signed with.
//!
//! Run with `scripts/build-opensc-0.26 && scripts/clients/install-pkcs11-provider && scripts/with-pcscd
//! scripts/with-opensc-0.26 cargo test -p zorgcard --features pcscd-tests --test clients_opensc026 --
//! --test-threads=1`. The tests share vpcd slot 0, so they take a lock.
//! - `ZORGCARD_OPENSC026`: the 0.26 `opensc-pkcs11.so` (default `target/opensc-0.26/lib/opensc-pkcs11.so` in the
//!   repository). Its `pkcs11-tool` and `pkcs11-spy.so` are the ones in `../bin` and next to it.
//!
//! 0.26's IsoApplet driver reads the API version with GET DATA `00 CA 01 01`; the card answers v1 (`01 00 0F`), so 0.26
//! offers PKCS#1 v1.5 (`RSA-PKCS`, `SHA*-RSA-PKCS`, decrypt `RSA-PKCS`), RSA-PSS (`RSA-PKCS-PSS`, `SHA*-RSA-PKCS-PSS`:
//! the card signs the bare hash, salt = hash length) and, for P-256 keys, raw `ECDSA` over the host's hash
//! (`card-os/DIALECT.md`, "IsoApplet API v0 and v1"). Hence TLS 1.2 with PKCS#1 v1.5 (what 0.23 can do too), TLS 1.3
//! with RSA-PSS for the RSA UZI-pas, and TLS 1.3 with ECDSA P-256 for the `zorg-id-ec` card.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::clients::{
    AUTHENTICATION, FIXTURE_PIN as PIN, GNUTLS_PRIORITY, NssDb, ServedCard, Tls, TlsServer, Token, fixtures_pki,
    lock_slot,
};
use common::portal::{PortalServer, answer, http_request, send_request};
use common::{ok, openssl, run, s, text, write};

/// GnuTLS with TLS 1.3 only: an RSA key then signs with RSA-PSS (RSAE), an EC key with ECDSA.
const GNUTLS_PRIORITY_TLS13: &str = "NORMAL:-VERS-ALL:+VERS-TLS1.3";
/// The RSA UZI-pas of a zorgverlener (RSA-2048 keys injected) and the ZORG-ID with P-256 keys made on the card.
const RSA_CARD: &str = "uzi-zorgverlener";
const EC_CARD: &str = "zorg-id-ec";
/// The CA certificates (in `fixtures/pki`) that issued the ZORG-ID card's certificates.
const ZORG_ID_CAS: [&str; 2] = ["root-ca.cert.pem", "zorg-id-ca.cert.pem"];
/// Where Debian's `pkcs11-provider` puts OpenSSL 3's PKCS#11 provider.
const PKCS11_PROVIDER: &str = "/usr/lib/x86_64-linux-gnu/ossl-modules/pkcs11.so";
const HOW_TO_START: &str = "start pcscd with vsmartcard's vpcd driver first: `scripts/with-pcscd cargo test -p \
     zorgcard --features pcscd-tests --test clients_opensc026 -- --test-threads=1`";

/// OpenSC 0.26's PKCS#11 module: `ZORGCARD_OPENSC026`, or the one `scripts/build-opensc-0.26` installs.
fn opensc026_module() -> PathBuf {
    let module = std::env::var_os("ZORGCARD_OPENSC026")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/opensc-0.26/lib/opensc-pkcs11.so"));
    assert!(
        module.is_file(),
        "no OpenSC 0.26 module at {}: run scripts/build-opensc-0.26 (or set ZORGCARD_OPENSC026)",
        module.display()
    );
    module
}

// The served card through OpenSC 0.26.
impl Token {
    /// The RSA UZI-pas.
    fn open() -> Token {
        Token::open_card(RSA_CARD)
    }

    /// A card of this fixture profile.
    fn open_card(profile: &str) -> Token {
        let module = opensc026_module();
        let slot = lock_slot();
        // 0.26's own pkcs11-tool (in PATH order after it, the system's 0.23 one, which loads the module as well).
        let tool = module.parent().and_then(Path::parent).map(|p| p.join("bin/pkcs11-tool"));
        let pkcs11_tool = tool.filter(|t| t.is_file()).map(|t| s(&t).to_string()).unwrap_or("pkcs11-tool".into());
        let card = ServedCard::start(profile, HOW_TO_START);
        Token::new(slot, Some(card), s(&module).to_string(), pkcs11_tool, PIN.to_string(), &fixtures_pki())
    }

    /// A fresh NSS database with the 0.26 module (behind `pkcs11-spy` when `spy` is given), the issuing CAs (roots
    /// trusted) and the test server's certificate (trusted as a peer).
    fn nss_db(&self, server: &TlsServer, spy: Option<&Spy>) -> NssDb {
        let libfile = spy.map_or(self.module.as_str(), |spy| spy.module.as_str());
        let db = self.nss_db_with(libfile, spy.map(Spy::env).unwrap_or_default(), Some(server));
        let listed = db.ok("modutil", &["-dbdir", &db.arg, "-list"]);
        assert!(
            listed.contains(&format!("library name: {libfile}")) && listed.contains("library-version=0.26"),
            "NSS did not load the 0.26 module {libfile}:\n{listed}"
        );
        db
    }

    /// OpenSC's `pkcs11-spy` in front of the 0.26 module, logging every call to a file in the scratch folder.
    fn spy(&self) -> Spy {
        let module = Path::new(&self.module).with_file_name("pkcs11-spy.so");
        assert!(module.is_file(), "no pkcs11-spy.so next to {}: run scripts/build-opensc-0.26", self.module);
        Spy { module: s(&module).to_string(), real: self.module.clone(), log: self.path("pkcs11-spy.log") }
    }

    /// The fixture CA certificates of these file names.
    fn fixture_cas(&self, names: &[&str]) -> Vec<PathBuf> {
        names.iter().map(|name| fixtures_pki().join(name)).collect()
    }
}

impl TlsServer {
    /// [`TlsServer::assert_verified_client`], and the session s_server printed was negotiated in the server's TLS
    /// version.
    fn assert_verified(&mut self, token: &Token, signature: &str, client: &str, client_output: &str) {
        let (out, context) = self.assert_verified_client(token, signature, client, client_output);
        // The session s_server prints, decoded: the version it was negotiated in.
        let session = out
            .split_once("-----BEGIN SSL SESSION PARAMETERS-----")
            .and_then(|(_, rest)| rest.split_once("-----END SSL SESSION PARAMETERS-----"))
            .map(|(body, _)| {
                format!("-----BEGIN SSL SESSION PARAMETERS-----{body}-----END SSL SESSION PARAMETERS-----\n")
            });
        let session = session.unwrap_or_else(|| panic!("s_server printed no session\n{context}"));
        let file = write(token.dir.path(), "session.pem", session.as_bytes());
        let decoded = openssl(&["sess_id", "-in", s(&file), "-noout", "-text"]);
        let protocol = decoded.lines().find_map(|l| l.trim().strip_prefix("Protocol")).map(|p| p.replace(':', ""));
        assert_eq!(
            protocol.as_deref().map(str::trim),
            Some(self.tls.name()),
            "not a {} session:\n{decoded}\n{context}",
            self.tls.name()
        );
    }
}

/// OpenSC's `pkcs11-spy.so`, which loads the real module (`PKCS11SPY`) and logs each call (`PKCS11SPY_OUTPUT`).
struct Spy {
    module: String,
    real: String,
    log: PathBuf,
}

impl Spy {
    /// The environment the program that loads the spy needs.
    fn env(&self) -> Vec<(String, String)> {
        vec![("PKCS11SPY".into(), self.real.clone()), ("PKCS11SPY_OUTPUT".into(), s(&self.log).to_string())]
    }

    /// Every signature the log shows, as (mechanism of its `C_SignInit`, length of the data signed): one-part
    /// `C_Sign`, or `C_SignUpdate` parts and `C_SignFinal`.
    fn signatures(&self) -> Vec<(String, usize)> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let length = |call: &str, field: &str| {
            let line = call.lines().find(|l| l.trim().starts_with(field));
            line.and_then(|l| l.rsplit("/ ").next()).and_then(|n| n.trim().parse::<usize>().ok()).unwrap_or(0)
        };
        let (mut mechanism, mut parts) = (String::new(), 0);
        let mut signed = Vec::new();
        for call in log.split("\n\n") {
            let function = call.lines().next().and_then(|l| l.split_once(": ")).map(|(_, f)| f.trim());
            let succeeded = call.contains("Returned:  0 CKR_OK");
            match function {
                Some("C_SignInit") => {
                    let line = call.lines().find_map(|l| l.trim().strip_prefix("[in] pMechanism->type = "));
                    mechanism = line.unwrap_or_default().trim().to_string();
                    parts = 0;
                }
                Some("C_Sign") if succeeded => signed.push((mechanism.clone(), length(call, "[in] pData[ulDataLen]"))),
                Some("C_SignUpdate") => parts += length(call, "[in] pPart[ulPartLen]"),
                Some("C_SignFinal") if succeeded => signed.push((mechanism.clone(), parts)),
                _ => {}
            }
        }
        signed
    }

    /// The client signed through the 0.26 module with `mechanism` over `len` bytes (a hash the host computed).
    fn assert_signed(&self, mechanism: &str, len: usize) {
        let signed = self.signatures();
        assert!(
            signed.iter().any(|(m, l)| m == mechanism && *l == len),
            "pkcs11-spy shows no C_Sign with {mechanism} over {len} bytes, only {signed:?} (log {})",
            self.log.display()
        );
    }
}

/// The module is OpenSC 0.26 (not the system 0.23), its IsoApplet driver claims the card, and it offers the
/// PKCS#1 v1.5 and (the card speaking IsoApplet API v1) RSA-PSS mechanisms the TLS tests below sign with.
#[test]
fn opensc026_module_claims_the_card_with_pkcs1_and_pss_mechanisms() {
    let token = Token::open();
    let info = text(&token.pkcs11_tool(&["--show-info"]));
    assert!(info.contains("OpenSC smartcard framework (ver 0.26"), "the module is not OpenSC 0.26:\n{info}");
    let slots = text(&token.pkcs11_tool(&["--list-token-slots"]));
    assert!(slots.contains("token label        : UZI-pas"), "no UZI-pas token through 0.26:\n{slots}");
    let out = token.pkcs11_tool(&["--list-mechanisms"]);
    let list = text(&out);
    assert!(out.status.success(), "pkcs11-tool --list-mechanisms:\n{list}");
    let mechanism = |name: &str| list.lines().find(|l| l.trim().starts_with(&format!("{name},"))).unwrap_or_default();
    let rsa = mechanism("RSA-PKCS");
    for flag in ["keySize={2048,2048}", "hw", "decrypt", "sign"] {
        assert!(rsa.contains(flag), "RSA-PKCS lacks `{flag}`:\n{list}");
    }
    for name in ["SHA256-RSA-PKCS", "SHA384-RSA-PKCS", "SHA512-RSA-PKCS", "RSA-PKCS-KEY-PAIR-GEN"] {
        assert!(!mechanism(name).is_empty(), "no {name}:\n{list}");
    }
    let pss = mechanism("RSA-PKCS-PSS");
    for flag in ["keySize={2048,2048}", "hw", "sign"] {
        assert!(pss.contains(flag), "RSA-PKCS-PSS lacks `{flag}` (is the card answering API v1?):\n{list}");
    }
    for name in ["SHA256-RSA-PKCS-PSS", "SHA384-RSA-PKCS-PSS", "SHA512-RSA-PKCS-PSS"] {
        assert!(!mechanism(name).is_empty(), "no {name}:\n{list}");
    }
}

/// 0.26's `pkcs11-tool --test` runs its RSA signature, verification and decryption tests on every key, without
/// errors.
#[test]
fn opensc026_pkcs11_tool_self_test_covers_the_rsa_keys_without_errors() {
    let token = Token::open();
    let out = token.pkcs11_tool(&["--test", "--login", "--pin", PIN]);
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
    let signatures = all.split("Signatures (currently only for RSA)").nth(1).unwrap_or_default();
    assert!(signatures.contains("SHA256-RSA-PKCS: OK"), "no SHA256-RSA-PKCS signature passed:\n{all}");
    let decryption = all.split("Decryption (currently only for RSA)").nth(1).unwrap_or_default();
    assert!(decryption.contains("RSA-PKCS: OK"), "no RSA-PKCS decryption passed:\n{all}");
}

#[test]
fn opensc026_nss_tstclnt_logs_in_with_tls12_client_authentication() {
    let token = Token::open();
    let mut server = TlsServer::start(&token, Tls::V12, &token.all_cas());
    let db = token.nss_db(&server, None);
    let nick = db.nickname(&token, AUTHENTICATION);
    let port = server.port.to_string();
    // -J: PKCS#1 v1.5 only, which an API v0 card can do too.
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
        PIN,
        "-V",
        "tls1.2:tls1.2",
        "-Q",
        "-J",
        "rsa_pkcs1_sha256",
    ];
    let out = ok("tstclnt", &args, &[]);
    assert!(out.contains("subject DN: CN=127.0.0.1"), "tstclnt did not get through the handshake:\n{out}");
    server.assert_verified(&token, "RSA", "tstclnt", &out);
}

#[test]
fn opensc026_gnutls_cli_logs_in_with_tls12_client_authentication() {
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
    let out = ok("gnutls-cli", &args, &[("GNUTLS_PIN", PIN)]);
    assert!(
        out.contains("Successfully sent 1 certificate(s) to server") && out.contains("Handshake was completed"),
        "gnutls-cli did not complete the handshake with its certificate:\n{out}"
    );
    server.assert_verified(&token, "RSA", "gnutls-cli", &out);
}

/// TLS 1.3 needs RSA-PSS from an RSA key (RFC 8446 §4.4.3): NSS signs the SHA-256 hash through 0.26's
/// `CKM_RSA_PKCS_PSS`, which the card computes (IsoApplet v1 reference `12`).
#[test]
fn opensc026_nss_tstclnt_logs_in_with_tls13_and_rsa_pss() {
    let token = Token::open();
    let mut server = TlsServer::start(&token, Tls::V13, &token.all_cas());
    let spy = token.spy();
    let db = token.nss_db(&server, Some(&spy));
    let nick = db.nickname(&token, AUTHENTICATION);
    let port = server.port.to_string();
    let args = ["-h", "127.0.0.1", "-p", &port, "-d", &db.arg, "-n", &nick, "-w", PIN, "-V", "tls1.3:tls1.3", "-Q"];
    let out = db.ok("tstclnt", &args);
    assert!(out.contains("subject DN: CN=127.0.0.1"), "tstclnt did not get through the handshake:\n{out}");
    server.assert_verified(&token, "RSA-PSS", "tstclnt", &out);
    spy.assert_signed("CKM_RSA_PKCS_PSS", 32);
}

#[test]
fn opensc026_gnutls_cli_logs_in_with_tls13_and_rsa_pss() {
    let token = Token::open();
    let mut server = TlsServer::start(&token, Tls::V13, &token.all_cas());
    let spy = token.spy();
    let key = format!("{};id=%{AUTHENTICATION};type=private", token.token_info().0);
    let cert = token.certificate_pem(AUTHENTICATION);
    let port = server.port.to_string();
    let args = [
        "--provider",
        &spy.module,
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
        GNUTLS_PRIORITY_TLS13,
    ];
    let mut env: Vec<(String, String)> = spy.env();
    env.push(("GNUTLS_PIN".into(), PIN.into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = ok("gnutls-cli", &args, &env);
    assert!(
        out.contains("Successfully sent 1 certificate(s) to server")
            && out.contains("Handshake was completed")
            && out.contains("- Description: (TLS1.3-X.509)"),
        "gnutls-cli did not complete a TLS 1.3 handshake with its certificate:\n{out}"
    );
    server.assert_verified(&token, "RSA-PSS", "gnutls-cli", &out);
    spy.assert_signed("CKM_RSA_PKCS_PSS", 32);
}

/// OpenSSL 3 with `pkcs11-provider` 1.0 (bookworm-backports), TLS 1.3. The provider signs with
/// `CKM_SHA256_RSA_PKCS_PSS` in parts (`C_SignUpdate` with the whole CertificateVerify content, `C_SignFinal`):
/// OpenSC hashes on the host and the card signs the bare hash with PSS. The provider order matters: with `-provider
/// pkcs11` first, OpenSSL fetches pkcs11's RSA signature implementation to verify the *server's* CertificateVerify
/// too, and that fails on the server's default-provider key ("p11prov_sig_operate_init: Provided key has invalid
/// handle", then "tls_process_cert_verify: bad signature"). `-provider default -provider pkcs11` works.
#[test]
fn opensc026_openssl_pkcs11_provider_logs_in_with_tls13_and_rsa_pss() {
    assert!(
        Path::new(PKCS11_PROVIDER).is_file(),
        "no OpenSSL pkcs11 provider at {PKCS11_PROVIDER}: run scripts/clients/install-pkcs11-provider"
    );
    let token = Token::open();
    let mut server = TlsServer::start(&token, Tls::V13, &token.all_cas());
    let spy = token.spy();
    let config = format!(
        "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n[provider_sect]\npkcs11 = \
         pkcs11_sect\n[pkcs11_sect]\nmodule = {PKCS11_PROVIDER}\npkcs11-module-path = {}\n\
         pkcs11-module-token-pin = {PIN}\n",
        spy.module
    );
    let config = write(token.dir.path(), "openssl.cnf", config.as_bytes());
    let key = format!("{};id=%{AUTHENTICATION};type=private", token.token_info().0);
    let cert = token.certificate_pem(AUTHENTICATION);
    let connect = format!("127.0.0.1:{}", server.port);
    let args = [
        "s_client",
        "-provider",
        "default",
        "-provider",
        "pkcs11",
        "-connect",
        &connect,
        "-tls1_3",
        "-CAfile",
        s(&server.cert),
        "-verify_return_error",
        "-key",
        &key,
        "-cert",
        s(&cert),
    ];
    let mut env = spy.env();
    env.push(("OPENSSL_CONF".into(), s(&config).to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = ok("openssl", &args, &env);
    assert!(
        out.contains("New, TLSv1.3, Cipher is") && out.contains("Verify return code: 0 (ok)"),
        "openssl s_client did not complete a TLS 1.3 handshake:\n{out}"
    );
    server.assert_verified(&token, "RSA-PSS", "openssl s_client (pkcs11-provider)", &out);
    let signed = spy.signatures();
    assert!(
        signed.iter().any(|(m, len)| m.ends_with("RSA_PKCS_PSS") && *len > 0),
        "pkcs11-spy shows no RSA-PSS signature, only {signed:?} (log {})",
        spy.log.display()
    );
}

/// The portal's log-in at TLS 1.3 (`portal-web/src/tls.rs`): client authentication there needs RSA-PSS, which the
/// card signs through OpenSC 0.26 (0.23 cannot). `openssl s_client` with `pkcs11-provider` presents the served
/// UZI-zorgverlenerspas's authentication certificate to `zorgcard portal serve`; `whoami` answers with the card's
/// UZI number, and pkcs11-spy shows the card made an RSA-PSS signature.
#[test]
fn opensc026_openssl_pkcs11_provider_logs_in_to_the_portal_with_tls13() {
    assert!(
        Path::new(PKCS11_PROVIDER).is_file(),
        "no OpenSSL pkcs11 provider at {PKCS11_PROVIDER}: run scripts/clients/install-pkcs11-provider"
    );
    let token = Token::open();
    let portal = PortalServer::start(token.dir.path());
    let spy = token.spy();
    let config = format!(
        "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n[provider_sect]\npkcs11 = \
         pkcs11_sect\n[pkcs11_sect]\nmodule = {PKCS11_PROVIDER}\npkcs11-module-path = {}\n\
         pkcs11-module-token-pin = {PIN}\n",
        spy.module
    );
    let config = write(token.dir.path(), "openssl.cnf", config.as_bytes());
    let key = format!("{};id=%{AUTHENTICATION};type=private", token.token_info().0);
    let cert = token.certificate_pem(AUTHENTICATION);
    let uzi = openssl(&["x509", "-in", s(&cert), "-noout", "-subject", "-nameopt", "sep_multiline"]);
    let uzi = uzi.lines().find_map(|l| l.trim().strip_prefix("serialNumber=")).expect("the certificate's UZI number");
    let args = [
        "s_client",
        "-provider",
        "default",
        "-provider",
        "pkcs11",
        "-connect",
        &portal.connect,
        "-tls1_3",
        "-CAfile",
        s(&portal.ca),
        "-verify_return_error",
        "-ign_eof",
        "-key",
        &key,
        "-cert",
        s(&cert),
    ];
    let mut env = spy.env();
    env.push(("OPENSSL_CONF".into(), s(&config).to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = send_request(&args, &env, &http_request("GET", "/api/whoami", None));
    assert!(out.contains("New, TLSv1.3, Cipher is") && out.contains("Verify return code: 0 (ok)"), "{out}");
    let (status, body) = answer(&out);
    assert_eq!(status, 200, "whoami with the card at TLS 1.3:\n{out}");
    assert!(body.contains(&format!(r#""uzi_number":"{uzi}""#)), "whoami names the card's UZI number {uzi}: {body}");
    let signed = spy.signatures();
    assert!(
        signed.iter().any(|(m, len)| m.ends_with("RSA_PKCS_PSS") && *len > 0),
        "pkcs11-spy shows no RSA-PSS signature, only {signed:?} (log {})",
        spy.log.display()
    );
}

/// The P-256 ZORG-ID card: 0.26 offers raw `ECDSA` (the host hashes; IsoApplet v1 reference `21`), and a signature
/// by `pkcs11-tool -m ECDSA` over a SHA-256 hash verifies with the certificate's public key, and not over another hash.
#[test]
fn opensc026_p256_card_signs_with_raw_ecdsa() {
    let token = Token::open_card(EC_CARD);
    let out = token.pkcs11_tool(&["--list-mechanisms"]);
    let list = text(&out);
    assert!(out.status.success(), "pkcs11-tool --list-mechanisms:\n{list}");
    let ecdsa = list.lines().find(|l| l.trim().starts_with("ECDSA,")).unwrap_or_default();
    for flag in ["hw", "sign"] {
        assert!(ecdsa.contains(flag), "ECDSA lacks `{flag}`:\n{list}");
    }
    let pubkey = token.public_key(AUTHENTICATION);
    let doc = write(token.dir.path(), "doc", b"zorgcard raw ECDSA through OpenSC 0.26\n");
    let hash = token.path("doc.sha256");
    openssl(&["dgst", "-sha256", "-binary", "-out", s(&hash), s(&doc)]);
    let sig = token.path("doc.sig");
    let args = [
        "--login",
        "--pin",
        PIN,
        "--sign",
        "--mechanism",
        "ECDSA",
        "--id",
        AUTHENTICATION,
        "--input-file",
        s(&hash),
        "--output-file",
        s(&sig),
        "--signature-format",
        "openssl",
    ];
    let out = token.pkcs11_tool(&args);
    assert!(out.status.success(), "pkcs11-tool --sign -m ECDSA:\n{}", text(&out));
    let verify = |input: &Path| {
        run(
            "openssl",
            &["pkeyutl", "-verify", "-pubin", "-inkey", s(&pubkey), "-in", s(input), "-sigfile", s(&sig)],
            &[],
        )
    };
    let good = verify(&hash);
    assert!(
        good.status.success() && text(&good).contains("Signature Verified Successfully"),
        "the raw ECDSA signature does not verify over the SHA-256 hash:\n{}",
        text(&good)
    );
    let other = write(token.dir.path(), "other.sha256", &[0x5a; 32]);
    assert!(!verify(&other).status.success(), "the ECDSA signature verifies over a hash it was not made over");
}

/// NSS signs the TLS 1.3 CertificateVerify of the P-256 card through `CKM_ECDSA` over the SHA-256 hash; the server
/// trusts only the ZORG-ID TEST CA and the root.
#[test]
fn opensc026_nss_tstclnt_logs_in_with_the_p256_card_and_tls13() {
    let token = Token::open_card(EC_CARD);
    let mut server = TlsServer::start(&token, Tls::V13, &token.fixture_cas(&ZORG_ID_CAS));
    let spy = token.spy();
    let db = token.nss_db(&server, Some(&spy));
    let nick = db.nickname(&token, AUTHENTICATION);
    let port = server.port.to_string();
    let args = ["-h", "127.0.0.1", "-p", &port, "-d", &db.arg, "-n", &nick, "-w", PIN, "-V", "tls1.3:tls1.3", "-Q"];
    let out = db.ok("tstclnt", &args);
    assert!(out.contains("subject DN: CN=127.0.0.1"), "tstclnt did not get through the handshake:\n{out}");
    server.assert_verified(&token, "ECDSA", "tstclnt", &out);
    spy.assert_signed("CKM_ECDSA", 32);
}

#[test]
fn opensc026_gnutls_cli_logs_in_with_the_p256_card_and_tls13() {
    let token = Token::open_card(EC_CARD);
    let mut server = TlsServer::start(&token, Tls::V13, &token.fixture_cas(&ZORG_ID_CAS));
    let spy = token.spy();
    let key = format!("{};id=%{AUTHENTICATION};type=private", token.token_info().0);
    let cert = token.certificate_pem(AUTHENTICATION);
    let port = server.port.to_string();
    let args = [
        "--provider",
        &spy.module,
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
        GNUTLS_PRIORITY_TLS13,
    ];
    let mut env = spy.env();
    env.push(("GNUTLS_PIN".into(), PIN.into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = ok("gnutls-cli", &args, &env);
    assert!(
        out.contains("Successfully sent 1 certificate(s) to server")
            && out.contains("Handshake was completed")
            && out.contains("- Description: (TLS1.3-X.509)"),
        "gnutls-cli did not complete a TLS 1.3 handshake with its certificate:\n{out}"
    );
    server.assert_verified(&token, "ECDSA", "gnutls-cli", &out);
    spy.assert_signed("CKM_ECDSA", 32);
}

/// OpenSSH: `ssh-keygen -D` lists the card's P-256 authentication key as the key of its certificate, and
/// `ssh-agent` (`ssh-add -s`) signs with it through `CKM_ECDSA`: `ssh-keygen -Y sign` makes an SSHSIG that
/// `ssh-keygen -Y verify` accepts for that key.
#[test]
fn opensc026_openssh_lists_and_signs_with_the_p256_authentication_key() {
    let token = Token::open_card(EC_CARD);
    let pubkey = token.public_key(AUTHENTICATION);
    let converted = run("ssh-keygen", &["-i", "-m", "PKCS8", "-f", s(&pubkey)], &[]);
    let expected: Vec<String> =
        String::from_utf8_lossy(&converted.stdout).split_whitespace().take(2).map(String::from).collect();
    assert!(
        converted.status.success() && expected.len() == 2 && expected[0] == "ecdsa-sha2-nistp256",
        "ssh-keygen -i did not convert the certificate's P-256 key:\n{}",
        text(&converted)
    );
    let expected = expected.join(" ");
    let listed = run("ssh-keygen", &["-D", &token.module], &[]);
    let stdout = String::from_utf8_lossy(&listed.stdout);
    let line = stdout.lines().find(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" ") == expected);
    assert!(
        listed.status.success() && line.is_some_and(|l| l.ends_with(" Authenticatie")),
        "ssh-keygen -D does not list the authentication key `{expected} Authenticatie`:\n{}",
        text(&listed)
    );

    let spy = token.spy();
    let agent = SshAgent::start(&token, &spy);
    let askpass = write(token.dir.path(), "askpass", format!("#!/bin/sh\necho {PIN}\n").as_bytes());
    std::fs::set_permissions(&askpass, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let sock = s(&agent.socket);
    let env = [("SSH_AUTH_SOCK", sock), ("SSH_ASKPASS", s(&askpass)), ("SSH_ASKPASS_REQUIRE", "force")];
    ok("ssh-add", &["-s", &spy.module], &env);
    let keys = ok("ssh-add", &["-L"], &env);
    assert!(keys.lines().any(|l| l.starts_with(&expected)), "ssh-agent does not hold the card key:\n{keys}");
    let key_file = write(token.dir.path(), "auth.pub", format!("{expected}\n").as_bytes());
    let doc = write(token.dir.path(), "doc", b"zorgcard SSHSIG through OpenSC 0.26\n");
    ok("ssh-keygen", &["-Y", "sign", "-f", s(&key_file), "-n", "zorgcard", s(&doc)], &env);
    let allowed = write(token.dir.path(), "allowed_signers", format!("anna {expected}\n").as_bytes());
    let sig = format!("{}.sig", s(&doc));
    let verify = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f", s(&allowed), "-I", "anna", "-n", "zorgcard", "-s", &sig])
        .stdin(std::fs::File::open(&doc).unwrap())
        .output()
        .unwrap();
    assert!(
        verify.status.success() && text(&verify).contains("Good \"zorgcard\" signature for anna with ECDSA key"),
        "ssh-keygen -Y verify does not accept the card's signature:\n{}",
        text(&verify)
    );
    spy.assert_signed("CKM_ECDSA", 32);
}

/// `ssh-agent -D` on a socket in the scratch folder, allowed to load the spy module; killed when dropped.
struct SshAgent {
    socket: PathBuf,
    child: Child,
}

impl SshAgent {
    fn start(token: &Token, spy: &Spy) -> SshAgent {
        let socket = token.path("agent.sock");
        let child = Command::new("ssh-agent")
            .args(["-D", "-a", s(&socket), "-P", &spy.module])
            .envs(spy.env())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `ssh-agent` ({e}): apt-get install openssh-client"));
        let agent = SshAgent { socket, child };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !agent.socket.exists() {
            assert!(Instant::now() < deadline, "ssh-agent made no socket {} in 5 s", agent.socket.display());
            std::thread::sleep(Duration::from_millis(50));
        }
        agent
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
