//! `zorgcard portal serve`'s HTML pages (portal-web/src/pages/): Start, Organisatie registreren, Kaarten,
//! Medewerker registreren, Gebruikers and Beheerders, driven like a browser with curl (`Accept: text/html`, a
//! cookie jar, `application/x-www-form-urlencoded` forms carrying the session's `csrf` field) and software
//! client certificates of the TEST PKI. The small helpers are copied from `tests/portal_users.rs`; the database
//! is read back with rusqlite.

use std::cell::RefCell;
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
const BEHEERDER_CARD: &str = "9100000000000002";

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

/// A browser: one holder's certificate and cookie jar, and the session's form token once a page showed it.
struct Browser<'s> {
    server: &'s Server,
    who: &'s Login,
    jar: PathBuf,
    csrf: RefCell<Option<String>>,
}

impl<'s> Browser<'s> {
    fn new(server: &'s Server, who: &'s Login, dir: &Path) -> Browser<'s> {
        let jar = dir.join(format!("jar-{}", who.serial));
        Browser { server, who, jar, csrf: RefCell::new(None) }
    }

    fn request(&self, method: &str, path: &str, form: &[(&str, &str)]) -> Answer {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-i", "--max-time", "20", "-X", method, "-H", "Accept: text/html", "--cacert"])
            .arg(&self.server.ca);
        cmd.arg("--cert").arg(&self.who.cert).arg("--key").arg(&self.who.key);
        cmd.arg("-c").arg(&self.jar).arg("-b").arg(&self.jar);
        for (name, value) in form {
            cmd.arg("--data-urlencode").arg(format!("{name}={value}"));
        }
        let out = cmd.arg(format!("{}{path}", self.server.https)).output().unwrap();
        let answer = parse_http(&String::from_utf8_lossy(&out.stdout));
        if let Some(token) = answer.body.split_once(r#"name="csrf" value=""#).map(|(_, rest)| rest) {
            *self.csrf.borrow_mut() = Some(token.split('"').next().unwrap().to_string());
        }
        answer
    }

    fn get(&self, path: &str) -> Answer {
        self.request("GET", path, &[])
    }

    /// POSTs `form` with the session's token (fetched from Start first if no page showed it yet).
    fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        if self.csrf.borrow().is_none() {
            assert_eq!(self.get("/").status, 200);
        }
        let token = self.csrf.borrow().clone().unwrap();
        let mut fields = vec![("csrf", token.as_str())];
        fields.extend_from_slice(form);
        self.request("POST", path, &fields)
    }
}

/// The text of the element with `id`, up to its closing tag.
fn element(html: &str, id: &str) -> String {
    let (_, rest) = html.split_once(&format!(r#"id="{id}""#)).unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &rest[rest.find('>').unwrap() + 1..];
    rest[..rest.find("</").unwrap()].to_string()
}

fn assert_html(a: &Answer, status: u16, reason: &str) {
    assert_eq!(a.status, status, "{a:?}");
    assert!(a.header("content-type").is_some_and(|t| t.starts_with("text/html")), "{a:?}");
    assert!(element(&a.body, "reden").contains(reason), "reason `{reason}` not in {a:?}");
}

#[test]
fn start_shows_the_uzi_number_and_the_administrator_registers_through_the_form() {
    let w = world();
    let server = serve(w.dir.path(), &w.db, &[]);
    let admin = Browser::new(&server, &w.admin, w.dir.path());
    let start = admin.get("/");
    assert_eq!(start.status, 200, "{start:?}");
    assert_eq!(element(&start.body, "uzi-nummer"), ADMIN);
    assert!(start.body.contains(&format!("Ingelogd als Test Holder-{ADMIN} (UZI")), "{start:?}");
    assert!(start.body.contains("UZI-zorgverlenerspas") && start.body.contains(r#"href="/organisatie""#));
    assert!(start.header("set-cookie").is_some_and(|c| c.contains("SameSite=Strict")), "{start:?}");

    let form = admin.get("/organisatie");
    assert_eq!(form.status, 200, "{form:?}");
    assert_eq!(element(&form.body, "ura"), URA, "the URA from the pass");
    assert!(form.body.contains(r#"<label for="naam">"#));

    let before = dump(&w.db);
    let forged = admin.request("POST", "/organisatie", &[("naam", "Vervalst"), ("csrf", "00")]);
    assert_html(&forged, 403, "does not carry this session");
    let empty = admin.post("/organisatie", &[("naam", " ")]);
    assert_eq!(empty.status, 422, "{empty:?}");
    assert!(element(&empty.body, "naam-fout").contains("Vul de naam"), "{empty:?}");
    assert_eq!(dump(&w.db), before, "a refused form stores nothing");

    let name = "Zorg <script>alert(1)</script> & Co";
    let done = admin.post("/organisatie", &[("naam", name)]);
    assert_eq!(done.status, 303, "{done:?}");
    assert_eq!(done.header("location"), Some("/?gedaan=organisatie"));
    assert_eq!(text(&w.db, "SELECT name || '|' || administrator FROM organisations"), format!("{name}|{ADMIN}"));
    let start = admin.get("/?gedaan=organisatie");
    assert!(start.body.contains("Zorg &#60;script&#62;alert(1)&#60;/script&#62; &#38; Co"), "{start:?}");
    assert!(!start.body.contains("<script"), "the name is text, not markup: {start:?}");
    assert!(start.body.contains("administrator") && start.body.contains(r#"href="/beheerders""#));

    let twice = admin.post("/organisatie", &[("naam", "Nog eens")]);
    assert_html(&twice, 409, "");
    assert_html(&admin.get("/bestaat-niet"), 404, "bestaat niet");
    let worker = Browser::new(&server, &w.worker, w.dir.path());
    assert_html(&worker.get("/organisatie"), 403, "takes a UZI-zorgverlenerspas");
}

#[test]
fn a_beheerder_blocks_through_kaarten_and_revoking_asks_first() {
    let w = world();
    let server = serve(w.dir.path(), &w.db, &[]);
    populated(&w, &server);
    let status = || text(&w.db, &format!("SELECT status FROM cards WHERE serial = '{WORKER_CARD}'"));
    let beheerder = Browser::new(&server, &w.beheerder, w.dir.path());
    let list = beheerder.get("/kaarten");
    assert_eq!(list.status, 200, "{list:?}");
    let row = element(&list.body, &format!("kaart-{WORKER_CARD}"));
    assert!(row.contains(WORKER_CARD), "{list:?}");
    assert!(list.body.contains(&format!(r#"action="/kaarten/{WORKER_CARD}/blokkeren""#)), "{list:?}");

    let done = beheerder.post(&format!("/kaarten/{WORKER_CARD}/blokkeren"), &[]);
    assert_eq!(done.status, 303, "{done:?}");
    assert_eq!(done.header("location"), Some(format!("/kaarten?gedaan=blokkeren&kaart={WORKER_CARD}").as_str()));
    assert_eq!(status(), "blocked");
    let list = beheerder.get(done.header("location").unwrap());
    assert!(list.body.contains(&format!("Kaart {WORKER_CARD} is geblokkeerd.")), "{list:?}");
    assert!(list.body.contains(&format!(r#"action="/kaarten/{WORKER_CARD}/deblokkeren""#)), "{list:?}");
    assert_eq!(beheerder.post(&format!("/kaarten/{WORKER_CARD}/deblokkeren"), &[]).status, 303);
    assert_eq!(status(), "active");

    let ask = beheerder.get(&format!("/kaarten/{WORKER_CARD}/intrekken"));
    assert_eq!(ask.status, 200, "{ask:?}");
    assert!(ask.body.contains("Weet u zeker") && ask.body.contains(r#"method="post""#), "{ask:?}");
    assert_eq!(status(), "active", "asking revokes nothing");
    let done = beheerder.post(&format!("/kaarten/{WORKER_CARD}/intrekken"), &[]);
    assert_eq!(done.status, 303, "{done:?}");
    assert_eq!(status(), "revoked");
    let again = beheerder.post(&format!("/kaarten/{WORKER_CARD}/blokkeren"), &[]);
    assert_html(&again, 409, "revoked");
}

#[test]
fn the_medewerker_form_shows_each_error_next_to_its_field_and_stores_nothing() {
    let w = world();
    let server = serve(w.dir.path(), &w.db, &[]);
    populated(&w, &server);
    let beheerder = Browser::new(&server, &w.beheerder, w.dir.path());
    let form = beheerder.get("/medewerkers/nieuw");
    assert_eq!(form.status, 200, "{form:?}");
    for id in ["uzi_nummer", "voornamen", "achternaam", "geboortedatum", "wid_document", "wid_gecontroleerd"] {
        assert!(form.body.contains(&format!(r#"<label for="{id}""#)), "no label for {id}");
    }
    let good = [
        ("ura", URA),
        ("uzi_nummer", WORKER),
        ("voornamen", "Anna Maria"),
        ("achternaam", "de Vries"),
        ("geboortedatum", "1990-05-17"),
        ("wid_document", "rijbewijs"),
        ("wid_gecontroleerd", "ja"),
    ];
    let with = |field: &str, value: Option<&'static str>| -> Vec<(&str, &str)> {
        good.iter().filter_map(|&(n, v)| if n == field { value.map(|x| (n, x)) } else { Some((n, v)) }).collect()
    };
    let before = dump(&w.db);
    let cases = [
        ("geboortedatum", with("geboortedatum", Some("")), "not a date"),
        ("geboortedatum", with("geboortedatum", Some("2025-02-30")), "not a date"),
        ("geboortedatum", with("geboortedatum", Some("2999-01-01")), "in the future"),
        ("achternaam", with("achternaam", Some("  ")), "surname are empty"),
        ("uzi_nummer", with("uzi_nummer", Some("12345")), "not a UZI number"),
        ("wid_gecontroleerd", with("wid_gecontroleerd", None), "WID check is not confirmed"),
    ];
    for (field, fields, why) in cases {
        let a = beheerder.post("/medewerkers/nieuw", &fields);
        assert_eq!(a.status, 422, "{field}: {a:?}");
        assert!(element(&a.body, &format!("{field}-fout")).contains(why), "{field}: `{why}` not next to it: {a:?}");
        assert!(a.body.contains(&format!(r#"aria-describedby="{field}-fout""#)), "{field}");
        let errors = a.body.matches(r#"class="fout""#).count();
        assert_eq!(errors, 1, "{field}: only its own error: {a:?}");
        for (name, value) in &fields {
            if matches!(*name, "uzi_nummer" | "voornamen" | "achternaam" | "geboortedatum") {
                assert!(a.body.contains(&format!(r#"name="{name}" value="{value}""#)), "{field}: {name} kept: {a:?}");
            }
        }
        assert!(a.body.contains(r#"value="rijbewijs" selected"#), "{field}: the WID kind kept");
        assert_eq!(dump(&w.db), before, "{field}: the database changed");
    }
    let done = beheerder.post("/medewerkers/nieuw", &good);
    assert_eq!(done.status, 303, "{done:?}");
    let row = text(
        &w.db,
        "SELECT uzi_number || '|' || first_names || '|' || surname || '|' || birth_date || '|' || wid_document
                || '|' || wid_checked_by || '|' || status FROM users",
    );
    assert_eq!(row, format!("{WORKER}|Anna Maria|de Vries|1990-05-17|rijbewijs|{BEHEERDER}|active"));
    let users = beheerder.get("/gebruikers?gedaan=geregistreerd");
    assert!(users.body.contains("Anna Maria de Vries") && users.body.contains("Deactiveren"), "{users:?}");
    assert!(!users.body.contains("Verwijderen</button>"), "delete only once deactivated: {users:?}");
    let off = beheerder.post(&format!("/gebruikers/{WORKER}/deactiveren"), &[("ura", URA)]);
    assert_eq!(off.status, 303, "{off:?}");
    assert!(beheerder.get("/gebruikers").body.contains("Verwijderen</button>"));
    assert_eq!(beheerder.post(&format!("/gebruikers/{WORKER}/verwijderen"), &[("ura", URA)]).status, 303);
    assert_eq!(text(&w.db, "SELECT count(*) || '' FROM users"), "0");
}

#[test]
fn a_worker_gets_the_error_page_with_the_reason() {
    let w = world();
    let server = serve(w.dir.path(), &w.db, &[]);
    populated(&w, &server);
    record_card(&w.db, BEHEERDER_CARD, BEHEERDER, URA, &w.beheerder);
    let before = dump(&w.db);
    let worker = Browser::new(&server, &w.worker, w.dir.path());
    let own = worker.get("/kaarten");
    assert!(own.body.contains(WORKER_CARD) && !own.body.contains(BEHEERDER_CARD), "{own:?}");
    assert_html(&worker.get(&format!("/kaarten/{BEHEERDER_CARD}/intrekken")), 404, "no ZORG-ID Smartcard");
    assert_html(&worker.post(&format!("/kaarten/{BEHEERDER_CARD}/blokkeren"), &[]), 404, "no ZORG-ID Smartcard");
    assert_html(&worker.get("/beheerders"), 403, "not the administrator");
    assert_html(&worker.get("/gebruikers"), 403, "only the administrator or a beheerder");
    assert_html(&worker.get("/medewerkers/nieuw"), 403, "only the administrator or a beheerder");
    let beheerder = Browser::new(&server, &w.beheerder, w.dir.path());
    assert_html(&beheerder.get("/beheerders"), 403, "not the administrator");
    assert_eq!(dump(&w.db), before, "a refusal changes nothing");

    let admin = Browser::new(&server, &w.admin, w.dir.path());
    let page = admin.get("/beheerders");
    assert!(page.status == 200 && page.body.contains(BEHEERDER), "{page:?}");
    let bad = admin.post("/beheerders", &[("ura", URA), ("uzi_nummer", "12")]);
    assert_eq!(bad.status, 422, "{bad:?}");
    assert!(element(&bad.body, "uzi_nummer-fout").contains("not a UZI number"), "{bad:?}");
    let done = admin.post("/beheerders", &[("ura", URA), ("uzi_nummer", WORKER)]);
    assert_eq!(done.status, 303, "{done:?}");
    assert!(text(&w.db, "SELECT group_concat(uzi) FROM beheerders").contains(WORKER));
}

#[test]
fn no_certificate_or_an_expired_session_is_an_html_page_for_a_browser() {
    let w = world();
    let server = serve(w.dir.path(), &w.db, &["--test-clock"]);
    let curl = |accept: &str, path: &str| {
        let out = Command::new("curl")
            .args(["-sS", "-i", "--max-time", "20", "-H", accept, "--cacert"])
            .arg(&server.ca)
            .arg(format!("{}{path}", server.https))
            .output()
            .unwrap();
        parse_http(&String::from_utf8_lossy(&out.stdout))
    };
    assert_html(&curl("Accept: text/html", "/"), 401, "no client certificate");
    assert_html(&curl("Accept: */*", "/kaarten"), 401, "no client certificate");
    let api = curl("Accept: application/json", "/api/whoami");
    assert!(api.status == 401 && api.error().contains("no client certificate"), "the API stays JSON: {api:?}");

    let admin = Browser::new(&server, &w.admin, w.dir.path());
    assert_eq!(admin.get("/").status, 200);
    let advanced = run(Command::new("curl")
        .args([
            "-sS",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            r#"{"advance_secs": 1260}"#,
        ])
        .arg(format!("{}/test/clock", server.http)));
    assert!(advanced.status.success());
    assert_html(&admin.get("/"), 401, "session expired after 20 minutes");
}
