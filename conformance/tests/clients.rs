//! End-to-end proofs that real applications use the RSA UZI-pas through the real stack: a `zorgcard serve` card in
//! vpcd slot 0, pcscd, OpenSC's PKCS#11 module, and then NSS (`tstclnt`, `cmsutil`), GnuTLS (`gnutls-cli` through
//! p11-kit), OpenSSL with the libp11 engine (`s_client`), PyKCS11 and `pkcs11-tool`. Nothing here is mocked: each test
//! checks the result on the other side (the TLS server verified the client certificate, the CMS or PKCS#1 signature
//! verifies, the decrypted bytes are the ones encrypted).
//!
//! Run with `scripts/with-pcscd cargo test -p conformance --features pcscd-tests --test clients -- --test-threads=1`
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

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const OPENSC: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
const READER: &str = "Virtual PCD 00 00";
const FIXTURE_PIN: &str = "123456";
/// Key and certificate IDs of the UZI-pas (PKCS#15 iD = PKCS#11 CKA_ID).
const AUTHENTICATION: &str = "01";
const SIGNATURE: &str = "02";
const ENCRYPTION: &str = "03";
/// GnuTLS without TLS 1.3 and without RSA-PSS, so it signs with PKCS#1 v1.5 as the card can.
const GNUTLS_PRIORITY: &str = "NORMAL:-VERS-TLS1.3:-SIGN-RSA-PSS-SHA256:-SIGN-RSA-PSS-SHA384:-SIGN-RSA-PSS-SHA512:\
     -SIGN-RSA-PSS-RSAE-SHA256:-SIGN-RSA-PSS-RSAE-SHA384:-SIGN-RSA-PSS-RSAE-SHA512";
const HOW_TO_START: &str = "start pcscd with vsmartcard's vpcd driver first: `scripts/with-pcscd cargo test -p \
     conformance --features pcscd-tests --test clients` (or `apt-get install pcscd vsmartcard-vpcd && pcscd \
     --foreground &`); or point the tests at another token with ZORGCARD_CLIENTS_MODULE";

static SLOT: Mutex<()> = Mutex::new(());

/// The Debian package that ships each program the tests run.
fn package_of(program: &str) -> &'static str {
    match program {
        "certutil" | "modutil" | "tstclnt" | "cmsutil" => "libnss3-tools",
        "gnutls-cli" | "p11tool" => "gnutls-bin",
        "pkcs11-tool" => "opensc",
        "openssl" => "openssl libengine-pkcs11-openssl",
        _ => "python3-pykcs11 python3-cryptography",
    }
}

/// A token to test with: the served card (default) or the token of `ZORGCARD_CLIENTS_MODULE`, with a scratch folder
/// that goes when the test ends.
struct Token {
    module: String,
    pin: String,
    cas: Cas,
    dir: tempfile::TempDir,
    _card: Option<ServedCard>,
    _slot: MutexGuard<'static, ()>,
}

/// The CA certificates that issued the token's certificates: self-signed roots and the intermediates below them.
struct Cas {
    roots: Vec<PathBuf>,
    intermediates: Vec<PathBuf>,
}

impl Token {
    fn open() -> Token {
        let slot = SLOT.lock().unwrap_or_else(|e| e.into_inner());
        let external = std::env::var("ZORGCARD_CLIENTS_MODULE").ok();
        let card = if external.is_none() { Some(ServedCard::start("uzi-zorgverlener")) } else { None };
        let module = external.unwrap_or_else(|| OPENSC.to_string());
        let pin = std::env::var("ZORGCARD_CLIENTS_PIN").unwrap_or_else(|_| FIXTURE_PIN.to_string());
        let ca_dir = std::env::var("ZORGCARD_CLIENTS_CA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pki"));
        let token =
            Token { module, pin, cas: Cas::load(&ca_dir), dir: tempfile::tempdir().unwrap(), _card: card, _slot: slot };
        token.wait_for_certificate();
        token
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// pcscd shows a new card to OpenSC a moment after vpcd took it: read the first certificate until it comes.
    fn wait_for_certificate(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.pkcs11_tool(&["--read-object", "--type", "cert", "--id", AUTHENTICATION]);
            if out.status.success() && !out.stdout.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no certificate {AUTHENTICATION} on the token of {} after 10 s:\n{}",
                self.module,
                text(&out)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn pkcs11_tool(&self, args: &[&str]) -> Output {
        let mut all = vec!["--module", &self.module];
        all.extend_from_slice(args);
        run("pkcs11-tool", &all, &[])
    }

    /// The certificate of a key, as read from the token (DER).
    fn certificate(&self, id: &str) -> Vec<u8> {
        let out = self.pkcs11_tool(&["--read-object", "--type", "cert", "--id", id]);
        assert!(out.status.success() && !out.stdout.is_empty(), "no certificate {id} on the token:\n{}", text(&out));
        out.stdout
    }

    /// The certificate of a key in PEM, in the scratch folder.
    fn certificate_pem(&self, id: &str) -> PathBuf {
        let der = write(self.dir.path(), &format!("cert{id}.der"), &self.certificate(id));
        let pem = self.path(&format!("cert{id}.pem"));
        openssl(&["x509", "-inform", "DER", "-in", s(&der), "-out", s(&pem)]);
        pem
    }

    /// The public key of a key's certificate (PEM), for verifying and encrypting with OpenSSL.
    fn public_key(&self, id: &str) -> PathBuf {
        let cert = self.certificate_pem(id);
        let key = self.path(&format!("pub{id}.pem"));
        openssl(&["x509", "-in", s(&cert), "-pubkey", "-noout", "-out", s(&key)]);
        key
    }

    /// The PKCS#11 URL and the label of the token (the one that asks for a login), as GnuTLS's `p11tool` lists
    /// them.
    fn token_info(&self) -> (String, String) {
        let list = ok("p11tool", &["--provider", &self.module, "--list-tokens"], &[]);
        let field =
            |block: &str, name: &str| block.lines().find_map(|l| Some(l.trim().strip_prefix(name)?.to_string()));
        let tokens: Vec<(String, String)> = list
            .split("\n\n")
            .filter(|block| block.contains("Requires login"))
            .filter_map(|block| Some((field(block, "URL: ")?, field(block, "Label: ")?)))
            .collect();
        assert_eq!(tokens.len(), 1, "expected one token that requires a login:\n{list}");
        tokens[0].clone()
    }

    /// The CKA_LABEL of the certificate with CKA_ID `id`, from `pkcs11-tool --list-objects`.
    fn certificate_label(&self, id: &str) -> String {
        let out = self.pkcs11_tool(&["--list-objects", "--type", "cert"]);
        let list = text(&out);
        let label = list.split("Certificate Object").find_map(|block| {
            let field = |name: &str| block.lines().find_map(|l| Some(l.trim().strip_prefix(name)?.trim().to_string()));
            (field("ID:")?.eq_ignore_ascii_case(id)).then(|| field("label:"))?
        });
        label.unwrap_or_else(|| panic!("no certificate with ID {id} on the token:\n{list}"))
    }

    /// A fresh NSS database with the token's module, the issuing CAs (roots trusted for TLS and e-mail) and, for a
    /// TLS client, the test server's certificate (trusted as a peer).
    fn nss_db(&self, server: Option<&TlsServer>) -> NssDb {
        let dir = self.path("nssdb");
        std::fs::create_dir_all(&dir).unwrap();
        let db = NssDb {
            arg: format!("sql:{}", dir.display()),
            pwfile: write(self.dir.path(), "nss-pin", self.pin.as_bytes()),
        };
        ok("certutil", &["-N", "-d", &db.arg, "--empty-password"], &[]);
        ok("modutil", &["-dbdir", &db.arg, "-add", "zorgcard-token", "-libfile", &self.module, "-force"], &[]);
        for (i, root) in self.cas.roots.iter().enumerate() {
            ok("certutil", &["-A", "-d", &db.arg, "-n", &format!("test-root-{i}"), "-t", "CT,C,C", "-i", s(root)], &[]);
        }
        for (i, ca) in self.cas.intermediates.iter().enumerate() {
            ok("certutil", &["-A", "-d", &db.arg, "-n", &format!("test-ca-{i}"), "-t", ",,", "-i", s(ca)], &[]);
        }
        if let Some(server) = server {
            ok("certutil", &["-A", "-d", &db.arg, "-n", "test-tls-server", "-t", "P,,", "-i", s(&server.cert)], &[]);
        }
        db
    }

    /// Certificates concatenated into one PEM file in the scratch folder.
    fn bundle<'a>(&self, name: &str, certs: impl IntoIterator<Item = &'a PathBuf>) -> PathBuf {
        let all: Vec<u8> = certs.into_iter().flat_map(|p| std::fs::read(p).unwrap()).collect();
        write(self.dir.path(), name, &all)
    }
}

impl Cas {
    fn load(dir: &Path) -> Cas {
        let mut cas = Cas { roots: Vec::new(), intermediates: Vec::new() };
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("CA folder {}: {e}", dir.display()));
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files.into_iter().filter(|p| s(p).ends_with(".cert.pem")) {
            let names = openssl(&["x509", "-in", s(&file), "-noout", "-subject", "-issuer", "-nameopt", "RFC2253"]);
            let subject = names.lines().find_map(|l| l.strip_prefix("subject=")).unwrap_or_default();
            let issuer = names.lines().find_map(|l| l.strip_prefix("issuer=")).unwrap_or_default();
            if subject == issuer { cas.roots.push(file) } else { cas.intermediates.push(file) }
        }
        assert!(!cas.roots.is_empty(), "no self-signed CA certificate (*.cert.pem) in {}", dir.display());
        cas
    }
}

struct NssDb {
    arg: String,
    pwfile: PathBuf,
}

impl NssDb {
    /// The NSS nickname of a token certificate: `<token label>:<object label>`, both read from the token, and
    /// checked to be one NSS lists. (NSS groups certificates by subject, and the card's three share one, so a
    /// nickname is found by its name, not by comparing certificates.)
    fn nickname(&self, token: &Token, id: &str) -> String {
        let nick = format!("{}:{}", token.token_info().1, token.certificate_label(id));
        let list = ok("certutil", &["-L", "-h", "all", "-d", &self.arg, "-f", s(&self.pwfile)], &[]);
        let listed = list.lines().any(|l| {
            l.strip_prefix(nick.as_str()).is_some_and(|rest| rest.starts_with("  ") && rest.trim().contains(','))
        });
        assert!(listed, "NSS does not list the token certificate {id} as `{nick}`:\n{list}");
        nick
    }
}

/// `zorgcard serve`, the real CLI, with one card in vpcd slot 0; ended (`quit`, then killed) when dropped.
struct ServedCard {
    child: Child,
    stdin: Option<ChildStdin>,
    _stdout: BufReader<ChildStdout>,
}

impl ServedCard {
    fn start(profile: &str) -> ServedCard {
        let ctx = pcsc::Context::establish(pcsc::Scope::User)
            .unwrap_or_else(|e| panic!("no pcscd to talk to ({e}): {HOW_TO_START}"));
        let readers = ctx.list_readers_owned().unwrap_or_default();
        assert!(
            readers.iter().any(|r| r.to_string_lossy() == READER),
            "pcscd runs but has no reader `{READER}` (readers: {readers:?}): {HOW_TO_START}"
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_zorgcard"))
            .args(["serve", "--profile", profile])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run zorgcard serve");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let card = ServedCard { child, stdin, _stdout: stdout };
        assert!(line.starts_with("ready: slot 0"), "zorgcard serve did not put the card in slot 0: `{line}`");
        card
    }
}

impl Drop for ServedCard {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"quit\n");
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Let pcscd notice the removal before the next test inserts a card.
        std::thread::sleep(Duration::from_millis(600));
    }
}

/// `openssl s_server` on loopback: TLS 1.2 only, one connection, a client certificate required and verified against
/// the test CAs. Its standard input stays open: at end of input it would stop before any handshake.
struct TlsServer {
    port: u16,
    cert: PathBuf,
    child: Child,
    _stdin: ChildStdin,
    output: Option<JoinHandle<String>>,
}

impl TlsServer {
    fn start(token: &Token) -> TlsServer {
        let key = token.path("server.key");
        let cert = token.path("server.pem");
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            s(&key),
            "-out",
            s(&cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ]);
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cas = token.bundle("test-cas.pem", token.cas.roots.iter().chain(&token.cas.intermediates));
        let mut child = Command::new("openssl")
            .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-cert", s(&cert), "-key", s(&key)])
            .args(["-CAfile", s(&cas), "-Verify", "3", "-verify_return_error", "-tls1_2", "-naccept", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `openssl s_server` ({e}): apt-get install openssl"));
        let stdin = child.stdin.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let output = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line == "ACCEPT" {
                    let _ = tx.send(());
                }
                all.push_str(&line);
                all.push('\n');
            }
            let _ = stderr.read_to_string(&mut all);
            all
        });
        let mut server = TlsServer { port, cert, child, _stdin: stdin, output: Some(output) };
        if rx.recv_timeout(Duration::from_secs(10)).is_err() {
            panic!("openssl s_server never listened on port {port}:\n{}", server.finish());
        }
        server
    }

    /// Everything the server printed, once it has ended (after its one connection, or killed after 30 s).
    fn finish(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.output.take().map(|h| h.join().unwrap()).unwrap_or_default()
    }

    /// The server verified the token's authentication certificate up to a test root, the client signed the
    /// handshake with PKCS#1 v1.5, and the handshake finished.
    fn assert_verified_client(&mut self, token: &Token, client: &str, client_output: &str) {
        let out = self.finish();
        let context = format!("{client}:\n{client_output}\n--- openssl s_server:\n{out}");
        let expected = token.certificate_pem(AUTHENTICATION);
        let subject = openssl(&["x509", "-in", s(&expected), "-noout", "-subject"]);
        assert!(
            subject.contains("serialNumber = "),
            "the authentication certificate has no UZI serialNumber: {subject}"
        );
        assert!(out.contains(subject.trim()), "the server did not print the client's subject {subject}\n{context}");
        assert!(
            out.matches("verify return:1").count() >= 2 && !out.contains("verify error"),
            "the server did not verify the client certificate chain\n{context}"
        );
        let sent =
            out.split("Client certificate\n").nth(1).and_then(|rest| rest.split("-----END CERTIFICATE-----").next());
        let sent: String = sent.unwrap_or_default().lines().filter(|l| !l.starts_with("-----")).collect();
        let want: String =
            std::fs::read_to_string(&expected).unwrap().lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(sent, want, "the client certificate the server got is not the token's certificate 01\n{context}");
        assert!(out.lines().any(|l| l == "Peer signature type: RSA"), "not a PKCS#1 v1.5 signature\n{context}");
        assert!(out.contains("1 server accepts that finished"), "the handshake did not finish\n{context}");
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a program with no standard input; a missing program fails with the package to install.
fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}` ({e}): apt-get install {}", package_of(program)))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Runs a program that must succeed and returns what it printed. The command line in a failure shows no PIN.
fn ok(program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(program, args, env);
    let all = text(&out);
    if !out.status.success() {
        let shown: Vec<String> = args.iter().map(|a| mask_pin(a)).collect();
        panic!("`{program} {}` failed ({}):\n{all}", shown.join(" "), out.status);
    }
    all
}

fn mask_pin(arg: &str) -> String {
    match std::env::var("ZORGCARD_CLIENTS_PIN") {
        Ok(pin) if !pin.is_empty() => arg.replace(&pin, "***"),
        _ => arg.to_string(),
    }
}

fn openssl(args: &[&str]) -> String {
    ok("openssl", args, &[])
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
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
    let mut server = TlsServer::start(&token);
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
    server.assert_verified_client(&token, "tstclnt", &out);
}

#[test]
fn gnutls_cli_logs_in_with_tls_client_authentication() {
    let token = Token::open();
    let mut server = TlsServer::start(&token);
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
    server.assert_verified_client(&token, "gnutls-cli", &out);
}

#[test]
fn openssl_s_client_with_libp11_logs_in_with_tls_client_authentication() {
    let token = Token::open();
    let mut server = TlsServer::start(&token);
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
    server.assert_verified_client(&token, "openssl s_client", &out);
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
