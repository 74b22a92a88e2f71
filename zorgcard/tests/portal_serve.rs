//! `zorgcard portal serve` (portal-web/): the real binary on a temporary portal database, driven with curl, the
//! openssl CLI and raw sockets. The log-in is a software client certificate issued by the TEST PKI for a test
//! holder (key made with `openssl genpkey`, certificate with `TestPki::issue`), so these tests need no pcscd; the
//! database is read back with rusqlite.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use issuance::pki::{self, CertRole, Holder, HolderPublicKey, HolderType, Issuer, OidCa, TestPki};
use portal::{IssuedCard, IssuedCertificate};
use rusqlite::Connection;

const URA: &str = "90000001";
const OTHER_URA: &str = "90000002";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A holder's software "card": key and authentication certificate in PEM files.
struct Login {
    cert: PathBuf,
    key: PathBuf,
    /// The certificate's serial as the registry records it.
    serial: String,
}

/// Makes an RSA-2048 key with openssl and has the TEST CA `issuer` certify it for `uzi` of `ura`.
fn login(pki: &TestPki, dir: &Path, issuer: Issuer, uzi: &str, ura: &str, card_serial: &str) -> Login {
    let key = dir.join(format!("{uzi}.key.pem"));
    run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&key));
    let spki =
        run(Command::new("openssl").arg("pkey").arg("-in").arg(&key).args(["-pubout", "-outform", "DER"])).stdout;
    let public = HolderPublicKey::from_spki_der(&spki).expect("an RSA public key");
    let holder_type = match issuer {
        Issuer::Uzi(t) => t,
        Issuer::ZorgId => HolderType::N,
    };
    let holder = Holder {
        holder_type,
        uzi_number: uzi.into(),
        given_name: Some("Test".into()),
        surname: Some(format!("Holder-{uzi}")),
        common_name: format!("Test Holder-{uzi}"),
        title: (holder_type == HolderType::Z).then(|| "Arts".into()),
        organisation: format!("Test Zorginstelling {ura}"),
        subscriber_number: ura.into(),
        role: if holder_type == HolderType::Z { "01.015".into() } else { "00.000".into() },
        agb_code: "00000000".into(),
        oid_ca: OidCa::Test,
    };
    let der =
        pki.issue(issuer, &holder, CertRole::Authentication, &public, card_serial.as_bytes(), now() - 60).unwrap();
    let cert = dir.join(format!("{uzi}.cert.pem"));
    std::fs::write(&cert, pki::certificate_pem(&der).unwrap()).unwrap();
    let serial = hex::encode_upper(pki::certificate_summary(&der).unwrap().serial);
    Login { cert, key, serial }
}

/// Records the ZORG-ID Smartcard `card_serial` of `holder` (whose certificate is `login`) in the database, as the
/// personaliser does.
fn record_card(db: &Path, card_serial: &str, uzi: &str, ura: &str, login: &Login) {
    let card = IssuedCard {
        serial: card_serial.into(),
        holder_name: format!("Test Holder-{uzi}"),
        uzi_number: uzi.into(),
        organisation: format!("Test Zorginstelling {ura}"),
        subscriber_number: ura.into(),
        birth_date: "1990-05-17".into(),
        made_with_uzi_pass: "9000000000000001".into(),
        not_before: now() - 60,
        not_after: now() + 94_000_000,
        certificates: vec![IssuedCertificate { role: "authentication".into(), serial: login.serial.clone() }],
    };
    portal::record_issued(db, &card).unwrap();
}

/// A running `zorgcard portal serve`, killed when dropped.
struct Server {
    child: Child,
    https: String,
    http: String,
    ca: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, db: &Path, extra: &[&str]) -> Server {
    let ca = dir.join(format!("server-ca-{}.pem", extra.join("")));
    let mut child = Command::new(env!("CARGO_BIN_EXE_zorgcard"))
        .arg("portal")
        .arg("--registry")
        .arg(db)
        .args(["serve", "--listen", "127.0.0.1:0", "--ocsp-listen", "127.0.0.1:0", "--header-timeout-secs", "2"])
        .arg("--server-cert-out")
        .arg(&ca)
        .args(extra)
        .env_remove("ZORGCARD_FIXTURES")
        .env_remove("ZORGCARD_PORTAL_CLOCK_OFFSET_DAYS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut url = |prefix: &str| {
        let line = lines.next().expect("a line from portal serve").unwrap();
        let url = line.split_whitespace().find(|w| w.starts_with("http") || w.ends_with(".pem"));
        let url = url.unwrap_or_else(|| panic!("{prefix}: {line}")).to_string();
        assert!(line.starts_with(prefix), "{line}");
        url
    };
    let https = url("portal API").trim_end_matches("/api").to_string();
    let _ = url("server CA");
    let http = url("OCSP").trim_end_matches("/ocsp").to_string();
    Server { child, https, http, ca }
}

/// One answer: HTTP status and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn error(&self) -> String {
        let v: serde_json_like::Value = serde_json_like::parse(&self.body);
        v.error.unwrap_or_else(|| panic!("no error in {self:?}"))
    }
}

/// Just enough JSON reading for `{"error": "..."}`, without a JSON dependency in the tests.
mod serde_json_like {
    pub struct Value {
        pub error: Option<String>,
    }
    pub fn parse(body: &str) -> Value {
        let error = body.split_once("\"error\":\"").map(|(_, rest)| {
            let mut out = String::new();
            let mut chars = rest.chars();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => out.extend(chars.next()),
                    c => out.push(c),
                }
            }
            out
        });
        Value { error }
    }
}

impl Server {
    /// `curl` to the API: `method path`, with `who`'s certificate, a body of `content_type`.
    fn curl(&self, who: Option<&Login>, method: &str, path: &str, body: Option<(&str, &str)>) -> Answer {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "20", "-w", "\n%{http_code}", "-X", method, "--cacert"]).arg(&self.ca);
        if let Some(who) = who {
            cmd.arg("--cert").arg(&who.cert).arg("--key").arg(&who.key);
        }
        if let Some((content_type, data)) = body {
            cmd.args(["-H", &format!("Content-Type: {content_type}"), "--data-binary", data]);
        }
        let out = cmd.arg(format!("{}{path}", self.https)).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or_else(|| panic!("curl: {text} {out:?}"));
        let status = code.parse().unwrap_or_default();
        assert!(status != 0, "curl got no answer: {}", String::from_utf8_lossy(&out.stderr));
        Answer { status, body: body.into() }
    }

    fn json(&self, who: &Login, path: &str, body: &str) -> Answer {
        self.curl(Some(who), "POST", path, Some(("application/json", body)))
    }
}

/// Everything in the database but the SQLite bookkeeping, as text, to show that a refusal changed nothing.
fn dump(db: &Path) -> String {
    let c = Connection::open(db).unwrap();
    let mut out = String::new();
    for table in ["organisations", "beheerders", "cards", "certificates", "card_events", "audit"] {
        let mut stmt = c.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| Ok((0..n).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect::<Vec<_>>().join("|")))
            .unwrap();
        for row in rows {
            out.push_str(&format!("{table}: {}\n", row.unwrap()));
        }
    }
    out
}

fn card_status(db: &Path, serial: &str) -> String {
    Connection::open(db)
        .unwrap()
        .query_row("SELECT status FROM cards WHERE serial = ?1", [serial], |r| r.get(0))
        .unwrap()
}

/// The people of the tests: an administrator (UZI-zorgverlenerspas), a beheerder (UZI-medewerkerspas op naam),
/// two workers with ZORG-ID Smartcards, and the administrator and beheerder of another organisation.
struct World {
    dir: tempfile::TempDir,
    db: PathBuf,
    pki: TestPki,
    admin: Login,
    beheerder: Login,
    worker: Login,
    colleague: Login,
    other_admin: Login,
    other_beheerder: Login,
}

const ADMIN: &str = "900016528";
const BEHEERDER: &str = "900020001";
const WORKER: &str = "900030001";
const COLLEAGUE: &str = "900030002";
const OTHER_ADMIN: &str = "900040001";
const OTHER_BEHEERDER: &str = "900040002";
const WORKER_CARD: &str = "9100000000000001";
const COLLEAGUE_CARD: &str = "9100000000000002";

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("portal.db");
    let pki = TestPki::fixtures().unwrap();
    let d = dir.path();
    let z = Issuer::Uzi(HolderType::Z);
    let n = Issuer::Uzi(HolderType::N);
    World {
        admin: login(&pki, d, z, ADMIN, URA, "uzi-admin"),
        beheerder: login(&pki, d, n, BEHEERDER, URA, "uzi-beheerder"),
        worker: login(&pki, d, Issuer::ZorgId, WORKER, URA, WORKER_CARD),
        colleague: login(&pki, d, Issuer::ZorgId, COLLEAGUE, URA, COLLEAGUE_CARD),
        other_admin: login(&pki, d, z, OTHER_ADMIN, OTHER_URA, "uzi-other-admin"),
        other_beheerder: login(&pki, d, n, OTHER_BEHEERDER, OTHER_URA, "uzi-other-beheerder"),
        dir,
        db,
        pki,
    }
}

/// Both organisations registered through the API, each with its beheerder, and the two workers' cards recorded.
fn populated(w: &World, server: &Server) {
    let register = |who: &Login, name: &str| {
        let a = server.json(who, "/api/organisations", &format!(r#"{{"name": "{name}"}}"#));
        assert_eq!(a.status, 200, "{a:?}");
    };
    register(&w.admin, "Test Zorginstelling 01");
    register(&w.other_admin, "Test Zorginstelling 02");
    let a = server.json(
        &w.admin,
        &format!("/api/organisations/{URA}/beheerders"),
        &format!(r#"{{"uzi_number": "{BEHEERDER}"}}"#),
    );
    assert_eq!(a.status, 200, "{a:?}");
    let a = server.json(
        &w.other_admin,
        &format!("/api/organisations/{OTHER_URA}/beheerders"),
        &format!(r#"{{"uzi_number": "{OTHER_BEHEERDER}"}}"#),
    );
    assert_eq!(a.status, 200, "{a:?}");
    record_card(&w.db, WORKER_CARD, WORKER, URA, &w.worker);
    record_card(&w.db, COLLEAGUE_CARD, COLLEAGUE, URA, &w.colleague);
}

#[test]
fn an_administrator_registers_appoints_and_a_beheerder_blocks_a_card() {
    let w = world();
    let server = serve(w.dir.path(), &w.db, &[]);
    let me = server.curl(Some(&w.admin), "GET", "/api/whoami", None);
    assert_eq!(me.status, 200, "{me:?}");
    assert!(
        me.body.contains(r#""uzi_number":"900016528""#) && me.body.contains(r#""card":"zorgverlenerspas""#),
        "{me:?}"
    );

    let tls12 = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--tlsv1.2", "--tls-max", "1.2", "--cacert"])
        .arg(&server.ca)
        .arg("--cert")
        .arg(&w.admin.cert)
        .arg("--key")
        .arg(&w.admin.key)
        .arg(format!("{}/api/whoami", server.https))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&tls12.stdout), "200", "TLS 1.2 log-in: {tls12:?}");

    populated(&w, &server);
    let c = Connection::open(&w.db).unwrap();
    let admin: String = c
        .query_row("SELECT administrator FROM organisations WHERE subscriber_number = ?1", [URA], |r| r.get(0))
        .unwrap();
    assert_eq!(admin, ADMIN);
    let beheerder: String =
        c.query_row("SELECT uzi FROM beheerders WHERE subscriber_number = ?1", [URA], |r| r.get(0)).unwrap();
    assert_eq!(beheerder, BEHEERDER);

    let blocked = server.curl(Some(&w.beheerder), "POST", &format!("/api/cards/{WORKER_CARD}/block"), None);
    assert_eq!(blocked.status, 200, "{blocked:?}");
    assert!(blocked.body.contains("blocked"), "{blocked:?}");
    assert_eq!(card_status(&w.db, WORKER_CARD), "blocked");
    let (actor, command): (String, String) = c
        .query_row("SELECT actor, command FROM audit ORDER BY id DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((actor.as_str(), command.as_str()), (BEHEERDER, format!("block {WORKER_CARD}").as_str()));
    let register_actor: String =
        c.query_row("SELECT actor FROM audit WHERE command LIKE 'register 90000001%'", [], |r| r.get(0)).unwrap();
    assert_eq!(register_actor, ADMIN);

    let cards = server.curl(Some(&w.beheerder), "GET", "/api/cards", None);
    assert!(cards.body.contains(WORKER_CARD) && cards.body.contains(COLLEAGUE_CARD), "{cards:?}");
    let own = server.curl(Some(&w.colleague), "GET", "/api/cards", None);
    assert!(
        own.body.contains(COLLEAGUE_CARD) && !own.body.contains(WORKER_CARD),
        "a worker sees only their own: {own:?}"
    );

    let before = dump(&w.db);
    let twice = server.json(&w.admin, "/api/organisations", r#"{"name": "Again"}"#);
    assert_eq!(twice.status, 409, "{twice:?}");
    assert!(twice.error().contains("registered already"), "{twice:?}");
    assert_eq!(dump(&w.db), before);
}

#[test]
fn refused_log_ins_and_actions_change_nothing() {
    let w = world();
    let server = serve(w.dir.path(), &w.db, &[]);
    populated(&w, &server);
    let a = server.curl(Some(&w.admin), "POST", &format!("/api/cards/{COLLEAGUE_CARD}/revoke"), None);
    assert_eq!(a.status, 200, "{a:?}");
    let a = server.curl(Some(&w.beheerder), "POST", &format!("/api/cards/{WORKER_CARD}/block"), None);
    assert_eq!(a.status, 200, "{a:?}");
    let before = dump(&w.db);

    // A certificate from a CA the portal does not trust: a self-signed CA made with openssl.
    let d = w.dir.path();
    let (rogue_ca, rogue_key, rogue_csr, rogue_cert) =
        (d.join("rogue-ca.pem"), d.join("rogue.key"), d.join("rogue.csr"), d.join("rogue.pem"));
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=Rogue CA", "-keyout"])
        .arg(d.join("rogue-ca.key"))
        .arg("-out")
        .arg(&rogue_ca));
    run(Command::new("openssl")
        .args(["req", "-newkey", "rsa:2048", "-nodes", "-subj", &format!("/CN=Rogue/serialNumber={ADMIN}"), "-keyout"])
        .arg(&rogue_key)
        .arg("-out")
        .arg(&rogue_csr));
    let ext = d.join("rogue.ext");
    std::fs::write(&ext, "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n").unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "30", "-extfile"])
        .arg(&ext)
        .arg("-in")
        .arg(&rogue_csr)
        .arg("-CA")
        .arg(&rogue_ca)
        .arg("-CAkey")
        .arg(d.join("rogue-ca.key"))
        .arg("-out")
        .arg(&rogue_cert));
    let rogue = Login { cert: rogue_cert, key: rogue_key, serial: String::new() };

    let expired_server = serve(d, &w.db, &["--clock-offset-days", "1100"]);
    let org = r#"{"name": "Test Zorginstelling 03", "ura": "90000003"}"#;
    let cases: Vec<(&str, Answer, u16, &str)> = vec![
        ("no certificate", server.curl(None, "GET", "/api/cards", None), 401, "no client certificate"),
        (
            "expired",
            expired_server.curl(Some(&w.admin), "GET", "/api/cards", None),
            401,
            "not valid at the portal's time",
        ),
        ("expired, writing", expired_server.json(&w.admin, "/api/organisations", org), 401, "not valid"),
        ("another CA", server.json(&rogue, "/api/organisations", org), 401, "not issued by a TEST"),
        (
            "blocked card",
            server.curl(Some(&w.worker), "POST", &format!("/api/cards/{WORKER_CARD}/revoke"), None),
            403,
            "is blocked",
        ),
        ("revoked card", server.curl(Some(&w.colleague), "GET", "/api/cards", None), 403, "is revoked"),
        ("a Medewerker registers", server.json(&w.beheerder, "/api/organisations", org), 403, "UZI-zorgverlenerspas"),
        ("someone else's URA", server.json(&w.admin, "/api/organisations", org), 403, "URA 90000001"),
        (
            "a beheerder appoints",
            server.json(
                &w.beheerder,
                &format!("/api/organisations/{URA}/beheerders"),
                r#"{"uzi_number": "900099999"}"#,
            ),
            403,
            "only the administrator",
        ),
        (
            "other organisation's beheerder",
            server.curl(Some(&w.other_beheerder), "POST", &format!("/api/cards/{WORKER_CARD}/unblock"), None),
            404,
            "may see",
        ),
    ];
    for (what, answer, status, reason) in &cases {
        assert_eq!(answer.status, *status, "{what}: {answer:?}");
        assert!(answer.error().contains(reason), "{what}: {reason:?} not in {answer:?}");
    }
    assert_eq!(dump(&w.db), before, "a refusal changed the database");

    // A worker acting on someone else's card: the registry hides cards a worker may not see (404); on their own
    // card a worker may not block (403). The worker's own card must be active for them to log in.
    let a = server.curl(Some(&w.beheerder), "POST", &format!("/api/cards/{WORKER_CARD}/unblock"), None);
    assert_eq!(a.status, 200, "{a:?}");
    let before = dump(&w.db);
    let other = server.curl(Some(&w.worker), "POST", &format!("/api/cards/{COLLEAGUE_CARD}/revoke"), None);
    assert_eq!((other.status, other.error().contains("may see")), (404, true), "{other:?}");
    let own = server.curl(Some(&w.worker), "POST", &format!("/api/cards/{WORKER_CARD}/block"), None);
    assert_eq!((own.status, own.error().contains("only the administrator or a beheerder")), (403, true), "{own:?}");
    assert_eq!(dump(&w.db), before, "a refusal changed the database");
}

/// `openssl ocsp` against the plain-HTTP responder; returns its output (stdout and stderr).
fn ocsp(w: &World, server: &Server, cert: &Path) -> String {
    let d = w.dir.path();
    let (ca, root) = (d.join("zorg-id-ca.pem"), d.join("root.pem"));
    std::fs::write(&ca, pki::certificate_pem(&w.pki.ca_der(Issuer::ZorgId)).unwrap()).unwrap();
    std::fs::write(&root, pki::certificate_pem(&w.pki.root_der()).unwrap()).unwrap();
    let out = Command::new("openssl")
        .arg("ocsp")
        .arg("-issuer")
        .arg(&ca)
        .arg("-cert")
        .arg(cert)
        .args(["-url", &format!("{}/ocsp", server.http), "-CAfile"])
        .arg(&root)
        .output()
        .unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn ocsp_follows_block_unblock_and_revoke_and_the_crl_lists_the_revoked() {
    let w = world();
    let server = serve(w.dir.path(), &w.db, &[]);
    populated(&w, &server);
    let check = |expect: &[&str]| {
        let out = ocsp(&w, &server, &w.worker.cert);
        assert!(out.contains("Response verify OK"), "{out}");
        for e in expect {
            assert!(out.contains(e), "{e:?} not in {out}");
        }
        out
    };
    let good = check(&[": good"]);
    assert!(!good.contains("revoked"), "{good}");
    let card = |action: &str| {
        let a = server.curl(Some(&w.beheerder), "POST", &format!("/api/cards/{WORKER_CARD}/{action}"), None);
        assert_eq!(a.status, 200, "{action}: {a:?}");
    };
    card("block");
    check(&[": revoked", "Reason: certificateHold"]);
    card("unblock");
    check(&[": good"]);
    card("revoke");
    check(&[": revoked", "Reason: cessationOfOperation"]);
    // A UZI-pas certificate asked about as if of the ZORG-ID CA: a serial the registry does not have.
    let unknown = ocsp(&w, &server, &w.admin.cert);
    assert!(unknown.contains(": unknown"), "a UZI-pas is not the portal's: {unknown}");

    let crl = w.dir.path().join("zorg-id-ca.crl");
    run(Command::new("curl").args(["-sSf", "-o"]).arg(&crl).arg(format!("{}/crl/zorg-id-ca.crl", server.http)));
    let text = run(Command::new("openssl").args(["crl", "-inform", "DER", "-noout", "-text", "-in"]).arg(&crl)).stdout;
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains(&w.worker.serial),
        "the revoked card's certificate {} is not on the CRL: {text}",
        w.worker.serial
    );
    assert!(!text.contains(&w.colleague.serial), "{text}");
}

#[test]
fn bad_input_is_refused_with_a_reason_and_changes_nothing() {
    let w = world();
    let server = serve(w.dir.path(), &w.db, &[]);
    populated(&w, &server);
    let before = dump(&w.db);
    let path = format!("/api/organisations/{URA}/beheerders");
    let big = format!(r#"{{"uzi_number": "{}"}}"#, "9".repeat(70 * 1024));
    let cases = [
        (
            "malformed JSON",
            server.json(&w.admin, &path, r#"{"uzi_number": "#),
            400,
            "Failed to parse the request body as JSON",
        ),
        (
            "unknown field",
            server.json(&w.admin, &path, r#"{"uzi_number": "900099999", "role": "admin"}"#),
            422,
            "unknown field",
        ),
        (
            "wrong content type",
            server.curl(Some(&w.admin), "POST", &path, Some(("text/plain", r#"{"uzi_number": "900099999"}"#))),
            415,
            "application/json",
        ),
        ("oversized body", server.json(&w.admin, &path, &big), 413, "length limit"),
        ("not a UZI number", server.json(&w.admin, &path, r#"{"uzi_number": "12"}"#), 422, "not a UZI number"),
    ];
    for (what, answer, status, reason) in &cases {
        assert_eq!(answer.status, *status, "{what}: {answer:?}");
        assert!(answer.error().contains(reason), "{what}: {reason:?} not in {answer:?}");
    }
    assert_eq!(dump(&w.db), before, "bad input changed the database");
}

/// True when the server closed `stream` (EOF or reset) within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn a_slow_client_is_cut_off_while_others_are_served() {
    let w = world();
    let server = serve(w.dir.path(), &w.db, &[]);
    populated(&w, &server);
    let addr = |url: &str| url.rsplit_once("//").unwrap().1.to_string();
    let started = Instant::now();
    // Half a request head on the plain listener, and half a TLS ClientHello on the HTTPS one.
    let mut slow_http = TcpStream::connect(addr(&server.http)).unwrap();
    slow_http.write_all(b"POST /ocsp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty").unwrap();
    let mut slow_tls = TcpStream::connect(addr(&server.https)).unwrap();
    slow_tls.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();

    let served = server.curl(Some(&w.admin), "GET", "/api/cards", None);
    assert_eq!(served.status, 200, "another client is served meanwhile: {served:?}");
    let crl = run(Command::new("curl")
        .args(["-sSf", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}/crl/zorg-id-ca.crl", server.http)));
    assert_eq!(String::from_utf8_lossy(&crl.stdout), "200");

    assert!(closed_within(&mut slow_http, Duration::from_secs(10)), "the half request head was not cut off");
    assert!(closed_within(&mut slow_tls, Duration::from_secs(10)), "the half handshake was not cut off");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "cut off before the 2 s timeout: {:?}",
        started.elapsed()
    );
    let again = server.curl(Some(&w.admin), "GET", "/api/whoami", None);
    assert_eq!(again.status, 200, "{again:?}");
}

#[test]
fn the_authority_information_access_urls_answer_on_the_plain_http_listener() {
    let w = world();
    let server = serve(w.dir.path(), &w.db, &[]);
    populated(&w, &server);
    let text = run(Command::new("openssl").args(["x509", "-noout", "-text", "-in"]).arg(&w.worker.cert)).stdout;
    let text = String::from_utf8_lossy(&text);
    let url = |method: &str| {
        let line = text.lines().find(|l| l.trim().starts_with(method)).unwrap_or_else(|| panic!("{method}: {text}"));
        let url = line.split("URI:").nth(1).unwrap().trim();
        // The certificate names the default --ocsp-listen; this server listens on a free port.
        url.replace(&format!("http://{}", pki::PORTAL_HTTP_ADDR), &server.http)
    };
    let (ocsp_url, ca_url) = (url("OCSP - URI:"), url("CA Issuers - URI:"));
    assert_eq!(ocsp_url, format!("{}/ocsp", server.http));
    assert!(ocsp(&w, &server, &w.worker.cert).contains(": good"));

    let ca = w.dir.path().join("zorg-id-ca.cer");
    run(Command::new("curl").args(["-sSf", "-o"]).arg(&ca).arg(&ca_url));
    assert_eq!(std::fs::read(&ca).unwrap(), w.pki.ca_der(Issuer::ZorgId), "{ca_url}");
    let subject =
        run(Command::new("openssl").args(["x509", "-inform", "DER", "-noout", "-subject", "-in"]).arg(&ca)).stdout;
    assert!(String::from_utf8_lossy(&subject).contains("TEST ZORG-ID Smartcard CA"));
    let missing = run(Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}/ca/no-such-ca.cer", server.http)));
    assert_eq!(String::from_utf8_lossy(&missing.stdout), "404");
}
