//! The served RSA UZI-pas through OpenSC 0.26's PKCS#11 module, next to the system OpenSC 0.23 that
//! `tests/clients.rs` uses: a `zorgcard serve` card in vpcd slot 0, pcscd, the 0.26 module built by
//! `scripts/build-opensc-0.26` (Debian 13's source, installed in `target/opensc-0.26`), and then 0.26's
//! `pkcs11-tool --test`, NSS's `tstclnt` and GnuTLS's `gnutls-cli` logging in with TLS 1.2 client authentication.
//! Each TLS test checks the other side: the server verified the card's authentication certificate up to the test
//! root and the client signed the handshake with PKCS#1 v1.5.
//!
//! Run with `scripts/build-opensc-0.26 && scripts/with-pcscd cargo test -p conformance --features pcscd-tests --test
//! clients_opensc026 -- --test-threads=1`. The tests share vpcd slot 0, so they take a lock.
//! - `ZORGCARD_OPENSC026`: the 0.26 `opensc-pkcs11.so` (default `target/opensc-0.26/lib/opensc-pkcs11.so` in the
//!   repository). Its `pkcs11-tool` is the one in `../bin` next to it.
//!
//! 0.26's IsoApplet driver reads the API version with GET DATA `00 CA 01 01`. Whichever the card answers, v0 (`00 06
//! 07`) or v1 (`01 00 0F`), it offers PKCS#1 v1.5 (`RSA-PKCS`, `SHA*-RSA-PKCS`, decrypt `RSA-PKCS`); RSA-PSS only
//! with feature bit `08`, which v1 announces. These tests use what both offer: TLS 1.2 with PKCS#1 v1.5 signatures.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const READER: &str = "Virtual PCD 00 00";
const PIN: &str = "123456";
/// Key and certificate ID of the authentication key (PKCS#15 iD = PKCS#11 CKA_ID).
const AUTHENTICATION: &str = "01";
/// GnuTLS without TLS 1.3 and without RSA-PSS, so it signs with PKCS#1 v1.5 as an API v0 card can too.
const GNUTLS_PRIORITY: &str = "NORMAL:-VERS-TLS1.3:-SIGN-RSA-PSS-SHA256:-SIGN-RSA-PSS-SHA384:-SIGN-RSA-PSS-SHA512:\
     -SIGN-RSA-PSS-RSAE-SHA256:-SIGN-RSA-PSS-RSAE-SHA384:-SIGN-RSA-PSS-RSAE-SHA512";
const HOW_TO_START: &str = "start pcscd with vsmartcard's vpcd driver first: `scripts/with-pcscd cargo test -p \
     conformance --features pcscd-tests --test clients_opensc026 -- --test-threads=1`";

static SLOT: Mutex<()> = Mutex::new(());

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

/// The served card and OpenSC 0.26, with a scratch folder that goes when the test ends.
struct Token {
    module: String,
    pkcs11_tool: String,
    cas: Cas,
    dir: tempfile::TempDir,
    _card: ServedCard,
    _slot: MutexGuard<'static, ()>,
}

/// The CA certificates that issued the card's certificates: self-signed roots and the intermediates below them.
struct Cas {
    roots: Vec<PathBuf>,
    intermediates: Vec<PathBuf>,
}

impl Token {
    fn open() -> Token {
        let module = opensc026_module();
        let slot = SLOT.lock().unwrap_or_else(|e| e.into_inner());
        // 0.26's own pkcs11-tool (in PATH order after it, the system's 0.23 one, which loads the module as well).
        let tool = module.parent().and_then(Path::parent).map(|p| p.join("bin/pkcs11-tool"));
        let pkcs11_tool = tool.filter(|t| t.is_file()).map(|t| s(&t).to_string()).unwrap_or("pkcs11-tool".into());
        let card = ServedCard::start("uzi-zorgverlener");
        let token = Token {
            module: s(&module).to_string(),
            pkcs11_tool,
            cas: Cas::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pki")),
            dir: tempfile::tempdir().unwrap(),
            _card: card,
            _slot: slot,
        };
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
                "no certificate {AUTHENTICATION} through {} after 10 s:\n{}",
                self.module,
                text(&out)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn pkcs11_tool(&self, args: &[&str]) -> Output {
        let mut all = vec!["--module", &self.module];
        all.extend_from_slice(args);
        run(&self.pkcs11_tool, &all, &[])
    }

    /// The certificate of a key in PEM, in the scratch folder.
    fn certificate_pem(&self, id: &str) -> PathBuf {
        let out = self.pkcs11_tool(&["--read-object", "--type", "cert", "--id", id]);
        assert!(out.status.success() && !out.stdout.is_empty(), "no certificate {id} on the token:\n{}", text(&out));
        let der = write(self.dir.path(), &format!("cert{id}.der"), &out.stdout);
        let pem = self.path(&format!("cert{id}.pem"));
        openssl(&["x509", "-inform", "DER", "-in", s(&der), "-out", s(&pem)]);
        pem
    }

    /// The PKCS#11 URL and the label of the token (the one that asks for a login), as GnuTLS's `p11tool` lists
    /// them through the 0.26 module.
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
        let list = text(&self.pkcs11_tool(&["--list-objects", "--type", "cert"]));
        let label = list.split("Certificate Object").find_map(|block| {
            let field = |name: &str| block.lines().find_map(|l| Some(l.trim().strip_prefix(name)?.trim().to_string()));
            (field("ID:")?.eq_ignore_ascii_case(id)).then(|| field("label:"))?
        });
        label.unwrap_or_else(|| panic!("no certificate with ID {id} on the token:\n{list}"))
    }

    /// A fresh NSS database with the 0.26 module, the issuing CAs (roots trusted) and the test server's
    /// certificate (trusted as a peer).
    fn nss_db(&self, server: &TlsServer) -> NssDb {
        let dir = self.path("nssdb");
        std::fs::create_dir_all(&dir).unwrap();
        let db =
            NssDb { arg: format!("sql:{}", dir.display()), pwfile: write(self.dir.path(), "nss-pin", PIN.as_bytes()) };
        ok("certutil", &["-N", "-d", &db.arg, "--empty-password"], &[]);
        ok("modutil", &["-dbdir", &db.arg, "-add", "opensc-0.26", "-libfile", &self.module, "-force"], &[]);
        let listed = ok("modutil", &["-dbdir", &db.arg, "-list"], &[]);
        assert!(
            listed.contains(&format!("library name: {}", self.module)) && listed.contains("library-version=0.26"),
            "NSS did not load the 0.26 module {}:\n{listed}",
            self.module
        );
        for (i, root) in self.cas.roots.iter().enumerate() {
            ok("certutil", &["-A", "-d", &db.arg, "-n", &format!("test-root-{i}"), "-t", "CT,C,C", "-i", s(root)], &[]);
        }
        for (i, ca) in self.cas.intermediates.iter().enumerate() {
            ok("certutil", &["-A", "-d", &db.arg, "-n", &format!("test-ca-{i}"), "-t", ",,", "-i", s(ca)], &[]);
        }
        ok("certutil", &["-A", "-d", &db.arg, "-n", "test-tls-server", "-t", "P,,", "-i", s(&server.cert)], &[]);
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
    /// checked to be one NSS lists.
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

    /// The server verified the card's authentication certificate up to a test root, the client signed the
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
        assert_eq!(sent, want, "the client certificate the server got is not the card's certificate 01\n{context}");
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

/// Runs a program with no standard input; a missing program fails with what to install.
fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let package = match program {
        "certutil" | "modutil" | "tstclnt" => "apt-get install libnss3-tools",
        "gnutls-cli" | "p11tool" => "apt-get install gnutls-bin",
        "openssl" => "apt-get install openssl",
        _ => "scripts/build-opensc-0.26",
    };
    Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}` ({e}): {package}"))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Runs a program that must succeed and returns what it printed.
fn ok(program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(program, args, env);
    let all = text(&out);
    assert!(out.status.success(), "`{program} {}` failed ({}):\n{all}", args.join(" "), out.status);
    all
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

/// The module is OpenSC 0.26 (not the system 0.23), its IsoApplet driver claims the card, and it offers the
/// PKCS#1 v1.5 mechanisms the TLS tests below sign with.
#[test]
fn opensc026_module_claims_the_card_with_pkcs1_mechanisms() {
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
    let mut server = TlsServer::start(&token);
    let db = token.nss_db(&server);
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
    server.assert_verified_client(&token, "tstclnt", &out);
}

#[test]
fn opensc026_gnutls_cli_logs_in_with_tls12_client_authentication() {
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
    let out = ok("gnutls-cli", &args, &[("GNUTLS_PIN", PIN)]);
    assert!(
        out.contains("Successfully sent 1 certificate(s) to server") && out.contains("Handshake was completed"),
        "gnutls-cli did not complete the handshake with its certificate:\n{out}"
    );
    server.assert_verified_client(&token, "gnutls-cli", &out);
}
