//! `zorgcard portal serve` (portal-web/): the audit read, the registration and management of medewerkers, and
//! the sessions of the log-in. The real binary on a temporary SQLite database, driven with curl and software
//! client certificates of the TEST PKI (as `tests/portal_serve.rs`, whose small helpers are copied here); the
//! database is read back with rusqlite.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use issuance::pki::{self, CertRole, Holder, HolderPublicKey, HolderType, Issuer, TestPki};
use portal::{IssuedCard, IssuedCertificate};
use rusqlite::Connection;

const URA: &str = "90000001";
const OTHER_URA: &str = "90000002";
const ADMIN: &str = "900016528";
const BEHEERDER: &str = "900020001";
const WORKER: &str = "900030001";
const OTHER_ADMIN: &str = "900040001";
const WORKER_CARD: &str = "9100000000000001";

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
    serial: String,
}

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
        oid_ca: issuance::pki::OidCa::Test,
    };
    let der =
        pki.issue(issuer, &holder, CertRole::Authentication, &public, card_serial.as_bytes(), now() - 60).unwrap();
    let cert = dir.join(format!("{uzi}.cert.pem"));
    std::fs::write(&cert, pki::certificate_pem(&der).unwrap()).unwrap();
    let serial = hex::encode_upper(pki::certificate_summary(&der).unwrap().serial);
    Login { cert, key, serial }
}

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

/// A running `zorgcard portal serve`, killed (that child only) when dropped.
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
        .args(["serve", "--listen", "127.0.0.1:0", "--ocsp-listen", "127.0.0.1:0"])
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
        assert!(line.starts_with(prefix), "{line}");
        line.split_whitespace().find(|w| w.starts_with("http") || w.ends_with(".pem")).unwrap().to_string()
    };
    let https = url("portal API").trim_end_matches("/api").to_string();
    let _ = url("server CA");
    let http = url("OCSP").trim_end_matches("/ocsp").to_string();
    Server { child, https, http, ca }
}

/// One answer: HTTP status, the response's headers (lower-cased names) and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn error(&self) -> String {
        let rest = self.body.split_once("\"error\":\"").unwrap_or_else(|| panic!("no error in {self:?}")).1;
        rest.split('"').next().unwrap().to_string()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl Server {
    /// `curl -i` to the API: `method path` with `who`'s certificate, an optional JSON body and cookie.
    fn curl(&self, who: &Login, method: &str, path: &str, body: Option<&str>, cookie: Option<&str>) -> Answer {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-i", "--max-time", "20", "-X", method, "--cacert"]).arg(&self.ca);
        cmd.arg("--cert").arg(&who.cert).arg("--key").arg(&who.key);
        if let Some(data) = body {
            cmd.args(["-H", "Content-Type: application/json", "--data-binary", data]);
        }
        if let Some(cookie) = cookie {
            cmd.args(["-H", &format!("Cookie: {cookie}")]);
        }
        let out = cmd.arg(format!("{}{path}", self.https)).output().unwrap();
        parse_http(&String::from_utf8_lossy(&out.stdout))
    }

    fn get(&self, who: &Login, path: &str) -> Answer {
        self.curl(who, "GET", path, None, None)
    }

    fn post(&self, who: &Login, path: &str, body: &str) -> Answer {
        self.curl(who, "POST", path, Some(body), None)
    }
}

fn parse_http(text: &str) -> Answer {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer { status, headers, body: body.to_string() }
}

/// Every row of the portal's tables, as text: to show that a refusal changed nothing.
fn dump(db: &Path) -> String {
    let c = Connection::open(db).unwrap();
    let mut out = String::new();
    for table in ["organisations", "beheerders", "cards", "certificates", "card_events", "audit", "users"] {
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

fn text(db: &Path, sql: &str) -> String {
    Connection::open(db).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// An administrator (UZI-zorgverlenerspas), a beheerder (UZI-medewerkerspas op naam) and a worker (ZORG-ID
/// Smartcard) of URA 90000001, and the administrator of URA 90000002.
struct World {
    dir: tempfile::TempDir,
    db: PathBuf,
    admin: Login,
    beheerder: Login,
    worker: Login,
    other_admin: Login,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("portal.db");
    let pki = TestPki::fixtures().unwrap();
    let d = dir.path();
    let (z, n) = (Issuer::Uzi(HolderType::Z), Issuer::Uzi(HolderType::N));
    World {
        admin: login(&pki, d, z, ADMIN, URA, "uzi-admin"),
        beheerder: login(&pki, d, n, BEHEERDER, URA, "uzi-beheerder"),
        worker: login(&pki, d, Issuer::ZorgId, WORKER, URA, WORKER_CARD),
        other_admin: login(&pki, d, z, OTHER_ADMIN, OTHER_URA, "uzi-other-admin"),
        dir,
        db,
    }
}

/// Both organisations registered through the API, the beheerder appointed, the worker's card recorded.
fn populated(w: &World, server: &Server) {
    assert_eq!(server.post(&w.admin, "/api/organisations", r#"{"name": "Test Zorginstelling 01"}"#).status, 200);
    assert_eq!(server.post(&w.other_admin, "/api/organisations", r#"{"name": "Test Zorginstelling 02"}"#).status, 200);
    let a = server.post(
        &w.admin,
        &format!("/api/organisations/{URA}/beheerders"),
        &format!(r#"{{"uzi_number": "{BEHEERDER}"}}"#),
    );
    assert_eq!(a.status, 200, "{a:?}");
    record_card(&w.db, WORKER_CARD, WORKER, URA, &w.worker);
}

#[test]
fn the_audit_is_read_by_the_organisations_administrator_and_beheerders_only() {
    let w = world();
    let server = serve(w.dir.path(), &w.db, &[]);
    populated(&w, &server);
    let before = dump(&w.db);
    let worker = server.get(&w.worker, "/api/audit");
    assert_eq!(worker.status, 403, "{worker:?}");
    assert!(worker.error().contains("neither administrator nor beheerder"), "{worker:?}");
    assert_eq!(dump(&w.db), before, "a refusal changes nothing");
    let plain = run(Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}/api/audit", server.http)));
    assert_eq!(String::from_utf8_lossy(&plain.stdout), "404", "the audit is not on the plain-HTTP listener");

    let a = server.curl(&w.beheerder, "POST", &format!("/api/cards/{WORKER_CARD}/block"), None, None);
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(text(&w.db, "SELECT subscriber_number FROM audit ORDER BY id DESC LIMIT 1"), URA);

    let mine = server.get(&w.beheerder, "/api/audit");
    assert_eq!(mine.status, 200, "{mine:?}");
    for command in ["register 90000001", &format!("appoint {BEHEERDER}"), &format!("block {WORKER_CARD}")] {
        assert!(mine.body.contains(command), "{command} not in {mine:?}");
    }
    assert!(!mine.body.contains("register 90000002"), "another organisation's audit: {mine:?}");
    let theirs = server.get(&w.other_admin, "/api/audit");
    assert!(theirs.body.contains("register 90000002") && !theirs.body.contains("block"), "{theirs:?}");
    assert_eq!(theirs.header("content-type"), Some("application/json"));
}

fn medewerker_body(uzi: &str, birth_date: &str, checked: bool) -> String {
    format!(
        r#"{{"uzi_number": "{uzi}", "first_names": "Anna Maria", "surname": "Geheimnaam", "birth_date": "{birth_date}", "wid_check": {{"document": "paspoort", "checked": {checked}}}}}"#
    )
}

#[test]
fn a_beheerder_registers_a_medewerker_who_is_deactivated_and_deleted() {
    let w = world();
    let server = serve(w.dir.path(), &w.db, &[]);
    populated(&w, &server);
    let path = format!("/api/organisations/{URA}/medewerkers");
    let a = server.post(&w.beheerder, &path, &medewerker_body(WORKER, "1990-05-17", true));
    assert_eq!(a.status, 200, "{a:?}");
    let row = text(
        &w.db,
        "SELECT uzi_number || '|' || first_names || '|' || surname || '|' || birth_date || '|' || wid_document
                || '|' || wid_checked_by || '|' || status FROM users",
    );
    assert_eq!(row, format!("{WORKER}|Anna Maria|Geheimnaam|1990-05-17|paspoort|{BEHEERDER}|active"));
    let listed = server.get(&w.admin, "/api/users");
    assert!(listed.status == 200 && listed.body.contains(WORKER) && listed.body.contains("Geheimnaam"), "{listed:?}");

    // The beheerder registered as a user and deactivated: their beheerder role goes with it.
    assert_eq!(server.post(&w.admin, &path, &medewerker_body(BEHEERDER, "1980-01-31", true)).status, 200);
    let a = server.curl(&w.admin, "POST", &format!("/api/users/{BEHEERDER}/deactivate"), None, None);
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(text(&w.db, &format!("SELECT status FROM users WHERE uzi_number = '{BEHEERDER}'")), "inactive");
    let before = dump(&w.db);
    let blocked = server.curl(&w.beheerder, "POST", &format!("/api/cards/{WORKER_CARD}/block"), None, None);
    assert_eq!(blocked.status, 404, "a deactivated beheerder no longer sees the cards: {blocked:?}");
    let active = server.curl(&w.admin, "DELETE", &format!("/api/users/{WORKER}"), None, None);
    assert_eq!(active.status, 409, "{active:?}");
    assert!(active.error().contains("deactivate them first"), "{active:?}");
    assert_eq!(dump(&w.db), before, "a refusal changed the database");

    let a = server.curl(&w.admin, "DELETE", &format!("/api/users/{BEHEERDER}?ura={URA}"), None, None);
    assert_eq!(a.status, 200, "{a:?}");
    let c = Connection::open(&w.db).unwrap();
    let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count(&format!("SELECT count(*) FROM users WHERE uzi_number = '{BEHEERDER}'")), 0);
    assert_eq!(count(&format!("SELECT count(*) FROM beheerders WHERE uzi = '{BEHEERDER}'")), 0);
    assert_eq!(count("SELECT count(*) FROM audit WHERE command || outcome LIKE '%Geheimnaam%'"), 0);
    assert_eq!(count(&format!("SELECT count(*) FROM audit WHERE command = 'delete-user {BEHEERDER}'")), 1);
}

#[test]
fn refused_medewerker_commands_change_nothing() {
    let w = world();
    let server = serve(w.dir.path(), &w.db, &[]);
    populated(&w, &server);
    let path = format!("/api/organisations/{URA}/medewerkers");
    assert_eq!(server.post(&w.admin, &path, &medewerker_body(WORKER, "1990-05-17", true)).status, 200);
    let before = dump(&w.db);
    let number =
        medewerker_body("900030009", "1990-05-17", true).replace(r#""checked""#, r#""number": "1234", "checked""#);
    let cases: Vec<(&str, Answer, u16, &str)> = vec![
        (
            "a worker",
            server.post(&w.worker, &path, &medewerker_body("900030009", "1990-05-17", true)),
            403,
            "only the administrator or a beheerder",
        ),
        (
            "another organisation",
            server.post(&w.other_admin, &path, &medewerker_body("900030009", "1990-05-17", true)),
            403,
            "only the administrator or a beheerder",
        ),
        (
            "no WID check",
            server.post(&w.admin, &path, &medewerker_body("900030009", "1990-05-17", false)),
            422,
            "WID check is not confirmed",
        ),
        (
            "born tomorrow",
            server.post(&w.admin, &path, &medewerker_body("900030009", "2999-01-01", true)),
            422,
            "in the future",
        ),
        (
            "not a date",
            server.post(&w.admin, &path, &medewerker_body("900030009", "1990-02-30", true)),
            422,
            "YYYY-MM-DD",
        ),
        ("a document number", server.post(&w.admin, &path, &number), 422, "unknown field"),
        ("twice", server.post(&w.admin, &path, &medewerker_body(WORKER, "1990-05-17", true)), 409, "already"),
        ("a worker lists", server.get(&w.worker, "/api/users"), 403, "only the administrator or a beheerder"),
        ("unknown user", server.curl(&w.admin, "POST", "/api/users/900099999/deactivate", None, None), 404, "no user"),
        (
            "other organisation's user",
            server.curl(&w.other_admin, "POST", &format!("/api/users/{WORKER}/deactivate"), None, None),
            404,
            "no user",
        ),
    ];
    for (what, answer, status, reason) in &cases {
        assert_eq!(answer.status, *status, "{what}: {answer:?}");
        assert!(answer.error().contains(reason), "{what}: {reason:?} not in {answer:?}");
    }
    assert_eq!(dump(&w.db), before, "a refusal changed the database");
}

/// `POST /test/clock` of a portal started with `--test-clock`: `secs` forward.
fn advance(server: &Server, secs: u32) {
    let out = run(Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json", "--data"])
        .arg(format!(r#"{{"advance_secs": {secs}}}"#))
        .arg(format!("{}/test/clock", server.http)));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "advancing the clock");
}

/// Seed *Handleiding gebruikersbeheerder Zorg*, §2.1: 20 minutes without activity end the session.
#[test]
fn a_session_ends_after_20_minutes_without_activity() {
    let w = world();
    let server = serve(w.dir.path(), &w.db, &["--test-clock"]);
    let first = server.get(&w.admin, "/api/whoami");
    assert_eq!(first.status, 200, "{first:?}");
    let set = first.header("set-cookie").unwrap_or_else(|| panic!("no Set-Cookie: {first:?}")).to_string();
    assert!(set.contains("; Secure") && set.contains("; HttpOnly") && set.contains("; SameSite=Strict"), "{set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let token = cookie.strip_prefix("zorgcard-session=").unwrap();
    assert!(token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit()), "128 bits in hex: {cookie}");

    let other = server.curl(&w.beheerder, "GET", "/api/whoami", None, Some(&cookie));
    assert_eq!(other.status, 401, "another certificate's session: {other:?}");
    assert!(other.error().contains("another certificate"), "{other:?}");

    advance(&server, 19 * 60);
    let a = server.curl(&w.admin, "GET", "/api/whoami", None, Some(&cookie));
    assert_eq!(a.status, 200, "19 minutes idle: {a:?}");
    assert_eq!(a.header("set-cookie"), None, "the session goes on");
    advance(&server, 21 * 60);
    let expired = server.curl(&w.admin, "GET", "/api/whoami", None, Some(&cookie));
    assert_eq!(expired.status, 401, "{expired:?}");
    assert_eq!(expired.error(), "session expired after 20 minutes without activity: log in again");
    let again = server.curl(&w.admin, "GET", "/api/whoami", None, Some(&cookie));
    assert_eq!(again.status, 401, "the session was removed: {again:?}");
    assert!(again.error().contains("unknown session"), "{again:?}");
    let new = server.get(&w.admin, "/api/whoami");
    assert_eq!(new.status, 200, "logging in again opens a new session: {new:?}");
    assert!(new.header("set-cookie").is_some_and(|c| !c.contains(token)), "{new:?}");

    // Without --test-clock there is no clock route.
    let plain = serve(w.dir.path(), &w.db, &[]);
    let out = run(Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json", "--data"])
        .arg(r#"{"advance_secs": 60}"#)
        .arg(format!("{}/test/clock", plain.http)));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404");
}
