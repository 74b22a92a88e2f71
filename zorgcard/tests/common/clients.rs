//! The client stack of `tests/clients.rs` (system OpenSC 0.23) and `tests/clients_opensc026.rs` (OpenSC 0.26): a
//! `zorgcard serve` card in vpcd slot 0 ([`ServedCard`]), the token a PKCS#11 module makes of it ([`Token`]), the CAs
//! that issued its certificates ([`Cas`]), an NSS database with the module ([`NssDb`]) and `openssl s_server`
//! verifying a client certificate ([`TlsServer`]). Each test binary opens its [`Token`] in its own way.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{ok, openssl, run, s, text, write};

pub const READER: &str = "Virtual PCD 00 00";
pub const FIXTURE_PIN: &str = "123456";
/// Key and certificate ID of the authentication key (PKCS#15 iD = PKCS#11 CKA_ID).
pub const AUTHENTICATION: &str = "01";
/// GnuTLS without TLS 1.3 and without RSA-PSS, so it signs with PKCS#1 v1.5 as every card (API v0 too) can.
pub const GNUTLS_PRIORITY: &str = "NORMAL:-VERS-TLS1.3:-SIGN-RSA-PSS-SHA256:-SIGN-RSA-PSS-SHA384:-SIGN-RSA-PSS-SHA512:\
     -SIGN-RSA-PSS-RSAE-SHA256:-SIGN-RSA-PSS-RSAE-SHA384:-SIGN-RSA-PSS-RSAE-SHA512";

/// The tests share vpcd slot 0.
static SLOT: Mutex<()> = Mutex::new(());

pub fn lock_slot() -> MutexGuard<'static, ()> {
    SLOT.lock().unwrap_or_else(|e| e.into_inner())
}

/// The fixture PKI's folder (`fixtures/pki`), with the CA certificates (`*.cert.pem`).
pub fn fixtures_pki() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pki")
}

/// A token to test with, through a PKCS#11 module, with a scratch folder that goes when the test ends.
pub struct Token {
    pub module: String,
    /// The `pkcs11-tool` that goes with the module.
    pub pkcs11_tool: String,
    pub pin: String,
    pub cas: Cas,
    pub dir: tempfile::TempDir,
    _card: Option<ServedCard>,
    _slot: MutexGuard<'static, ()>,
}

/// The CA certificates that issued the token's certificates: self-signed roots and the intermediates below them.
pub struct Cas {
    pub roots: Vec<PathBuf>,
    pub intermediates: Vec<PathBuf>,
}

impl Token {
    /// The token of `module` (the served `card`, if any), once its authentication certificate can be read; the CAs
    /// are the ones in `ca_dir`.
    pub fn new(
        slot: MutexGuard<'static, ()>,
        card: Option<ServedCard>,
        module: String,
        pkcs11_tool: String,
        pin: String,
        ca_dir: &Path,
    ) -> Token {
        let token = Token {
            module,
            pkcs11_tool,
            pin,
            cas: Cas::load(ca_dir),
            dir: tempfile::tempdir().unwrap(),
            _card: card,
            _slot: slot,
        };
        token.wait_for_certificate();
        token
    }

    pub fn path(&self, name: &str) -> PathBuf {
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

    pub fn pkcs11_tool(&self, args: &[&str]) -> Output {
        let mut all = vec!["--module", &self.module];
        all.extend_from_slice(args);
        run(&self.pkcs11_tool, &all, &[])
    }

    /// The certificate of a key, as read from the token (DER).
    pub fn certificate(&self, id: &str) -> Vec<u8> {
        let out = self.pkcs11_tool(&["--read-object", "--type", "cert", "--id", id]);
        assert!(out.status.success() && !out.stdout.is_empty(), "no certificate {id} on the token:\n{}", text(&out));
        out.stdout
    }

    /// The certificate of a key in PEM, in the scratch folder.
    pub fn certificate_pem(&self, id: &str) -> PathBuf {
        let der = write(self.dir.path(), &format!("cert{id}.der"), &self.certificate(id));
        let pem = self.path(&format!("cert{id}.pem"));
        openssl(&["x509", "-inform", "DER", "-in", s(&der), "-out", s(&pem)]);
        pem
    }

    /// The public key of a key's certificate (PEM) in the scratch folder, for verifying and encrypting with OpenSSL.
    pub fn public_key(&self, id: &str) -> PathBuf {
        let cert = self.certificate_pem(id);
        let key = self.path(&format!("pub{id}.pem"));
        openssl(&["x509", "-in", s(&cert), "-pubkey", "-noout", "-out", s(&key)]);
        key
    }

    /// The PKCS#11 URL and the label of the token (the one that asks for a login), as GnuTLS's `p11tool` lists
    /// them through the module.
    pub fn token_info(&self) -> (String, String) {
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
    pub fn certificate_label(&self, id: &str) -> String {
        let list = text(&self.pkcs11_tool(&["--list-objects", "--type", "cert"]));
        let label = list.split("Certificate Object").find_map(|block| {
            let field = |name: &str| block.lines().find_map(|l| Some(l.trim().strip_prefix(name)?.trim().to_string()));
            (field("ID:")?.eq_ignore_ascii_case(id)).then(|| field("label:"))?
        });
        label.unwrap_or_else(|| panic!("no certificate with ID {id} on the token:\n{list}"))
    }

    /// A fresh NSS database with the PKCS#11 module `libfile` (which needs `env` in every NSS tool that opens the
    /// database), the issuing CAs (roots trusted for TLS and e-mail) and, for a TLS client, the test server's
    /// certificate (trusted as a peer).
    pub fn nss_db_with(&self, libfile: &str, env: Vec<(String, String)>, server: Option<&TlsServer>) -> NssDb {
        let dir = self.path("nssdb");
        std::fs::create_dir_all(&dir).unwrap();
        let db = NssDb {
            arg: format!("sql:{}", dir.display()),
            pwfile: write(self.dir.path(), "nss-pin", self.pin.as_bytes()),
            env,
        };
        db.ok("certutil", &["-N", "-d", &db.arg, "--empty-password"]);
        db.ok("modutil", &["-dbdir", &db.arg, "-add", "zorgcard-token", "-libfile", libfile, "-force"]);
        for (i, root) in self.cas.roots.iter().enumerate() {
            db.ok("certutil", &["-A", "-d", &db.arg, "-n", &format!("test-root-{i}"), "-t", "CT,C,C", "-i", s(root)]);
        }
        for (i, ca) in self.cas.intermediates.iter().enumerate() {
            db.ok("certutil", &["-A", "-d", &db.arg, "-n", &format!("test-ca-{i}"), "-t", ",,", "-i", s(ca)]);
        }
        if let Some(server) = server {
            db.ok("certutil", &["-A", "-d", &db.arg, "-n", "test-tls-server", "-t", "P,,", "-i", s(&server.cert)]);
        }
        db
    }

    /// All the CAs: what the server trusts for the UZI-pas.
    pub fn all_cas(&self) -> Vec<PathBuf> {
        self.cas.roots.iter().chain(&self.cas.intermediates).cloned().collect()
    }

    /// Certificates concatenated into one PEM file in the scratch folder.
    pub fn bundle<'a>(&self, name: &str, certs: impl IntoIterator<Item = &'a PathBuf>) -> PathBuf {
        let all: Vec<u8> = certs.into_iter().flat_map(|p| std::fs::read(p).unwrap()).collect();
        write(self.dir.path(), name, &all)
    }
}

impl Cas {
    pub fn load(dir: &Path) -> Cas {
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

pub struct NssDb {
    pub arg: String,
    pub pwfile: PathBuf,
    /// Environment every NSS tool that opens the database needs (`pkcs11-spy`'s settings), if any.
    pub env: Vec<(String, String)>,
}

impl NssDb {
    /// Runs an NSS tool on this database, which must succeed.
    pub fn ok(&self, program: &str, args: &[&str]) -> String {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        ok(program, args, &env)
    }

    /// The NSS nickname of a token certificate: `<token label>:<object label>`, both read from the token, and
    /// checked to be one NSS lists. (NSS groups certificates by subject, and the UZI-pas's three share one, so a
    /// nickname is found by its name, not by comparing certificates.)
    pub fn nickname(&self, token: &Token, id: &str) -> String {
        let nick = format!("{}:{}", token.token_info().1, token.certificate_label(id));
        let list = self.ok("certutil", &["-L", "-h", "all", "-d", &self.arg, "-f", s(&self.pwfile)]);
        let listed = list.lines().any(|l| {
            l.strip_prefix(nick.as_str()).is_some_and(|rest| rest.starts_with("  ") && rest.trim().contains(','))
        });
        assert!(listed, "NSS does not list the token certificate {id} as `{nick}`:\n{list}");
        nick
    }
}

/// `zorgcard serve`, the real CLI, with one card in vpcd slot 0; ended (`quit`, then killed) when dropped.
pub struct ServedCard {
    child: Child,
    stdin: Option<ChildStdin>,
    _stdout: BufReader<ChildStdout>,
}

impl ServedCard {
    /// A card of this fixture profile; without pcscd and vpcd, fail and say `how_to_start` them.
    pub fn start(profile: &str, how_to_start: &str) -> ServedCard {
        super::context(READER, how_to_start);
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

/// The TLS version the server speaks.
#[derive(Clone, Copy)]
pub enum Tls {
    V12,
    V13,
}

impl Tls {
    fn flag(self) -> &'static str {
        match self {
            Tls::V12 => "-tls1_2",
            Tls::V13 => "-tls1_3",
        }
    }

    /// The name `openssl sess_id` gives it.
    pub fn name(self) -> &'static str {
        match self {
            Tls::V12 => "TLSv1.2",
            Tls::V13 => "TLSv1.3",
        }
    }
}

/// `openssl s_server` on loopback: one TLS version, one connection, a client certificate required and verified
/// against the given CAs. Its standard input stays open: at end of input it would stop before any handshake.
pub struct TlsServer {
    pub port: u16,
    pub tls: Tls,
    pub cert: PathBuf,
    child: Child,
    _stdin: ChildStdin,
    output: Option<JoinHandle<String>>,
}

impl TlsServer {
    pub fn start(token: &Token, tls: Tls, cas: &[PathBuf]) -> TlsServer {
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
        let cas = token.bundle("test-cas.pem", cas);
        let mut child = Command::new("openssl")
            .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-cert", s(&cert), "-key", s(&key)])
            .args(["-CAfile", s(&cas), "-Verify", "3", "-verify_return_error", tls.flag(), "-naccept", "1"])
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
        let mut server = TlsServer { port, tls, cert, child, _stdin: stdin, output: Some(output) };
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

    /// The server verified the token's authentication certificate up to a test root, the client's
    /// CertificateVerify was of the `signature` type s_server prints (`RSA`: PKCS#1 v1.5, `RSA-PSS`, `ECDSA`), and
    /// the handshake finished. Returns what the server printed, and the context for a failure message.
    pub fn assert_verified_client(
        &mut self,
        token: &Token,
        signature: &str,
        client: &str,
        client_output: &str,
    ) -> (String, String) {
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
        assert!(
            out.lines().any(|l| l == format!("Peer signature type: {signature}")),
            "the client did not sign with {signature}\n{context}"
        );
        assert!(out.contains("1 server accepts that finished"), "the handshake did not finish\n{context}");
        (out, context)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
