//! A browser logs in with the simulated card: headless Firefox ESR (Debian's `firefox-esr`), driven through
//! geckodriver, on the profile `zorgcard browser-profile` makes (TEST CAs trusted, OpenSC's PKCS#11 module, the
//! certificate picked automatically), with the PIN given by the kit's `pin-prompt.js`. The card is a
//! `zorgcard serve` UZI-zorgverlenerspas in vpcd slot 0 behind the real pcscd; the servers are `zorgcard portal
//! serve` and Debian's nginx (`ssl_verify_client on` with a CRL). Screenshots go to `target/browser-screenshots/`.
//!
//! Run with `scripts/install-geckodriver && scripts/with-pcscd cargo test -p zorgcard --features pcscd-tests
//! --test browser -- --test-threads=1` (`scripts/test-all` does it).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::browser::{Browser, kit_profile, require};
use common::clients::{AUTHENTICATION, FIXTURE_PIN, ServedCard, Token, fixtures_pki, lock_slot};
use common::portal::PortalServer;
use common::{openssl, s, write};
use serde_json::json;

const OPENSC: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
const HOW_TO_START: &str = "start pcscd with vsmartcard's vpcd driver first: `scripts/with-pcscd cargo test -p \
     zorgcard --features pcscd-tests --test browser -- --test-threads=1` (apt-get install pcscd vsmartcard-vpcd)";

/// The served UZI-zorgverlenerspas, seen through OpenSC.
fn card() -> Token {
    require("/usr/sbin/pcscd", "apt-get install pcscd vsmartcard-vpcd (or scripts/install-deps)");
    let slot = lock_slot();
    let card = ServedCard::start("uzi-zorgverlener", HOW_TO_START);
    Token::new(slot, Some(card), OPENSC.into(), "pkcs11-tool".into(), FIXTURE_PIN.into(), &fixtures_pki())
}

/// The UZI number (subject serialNumber) of the card's authentication certificate.
fn uzi_number(token: &Token) -> String {
    let cert = token.certificate_pem(AUTHENTICATION);
    let subject = openssl(&["x509", "-in", s(&cert), "-noout", "-subject", "-nameopt", "sep_multiline"]);
    let uzi = subject.lines().find_map(|l| l.trim().strip_prefix("serialNumber="));
    uzi.expect("the certificate's UZI number").to_string()
}

/// Firefox, logged in to the card's token, on a kit profile that trusts `trust` as well.
fn firefox(token: &Token, trust: &[&Path]) -> (Browser, PathBuf) {
    let profile = kit_profile(token.dir.path(), trust);
    let browser = Browser::start(&profile);
    let tokens = browser.answer_pin_prompt(&profile, &token.pin);
    let card = tokens["tokens"].as_array().into_iter().flatten().find(|t| t["module"] == "OpenSC");
    assert!(card.is_some_and(|t| t["loggedIn"] == true), "pin-prompt.js did not log the card in: {tokens}");
    assert!(tokens["asked"].as_array().is_some_and(|a| !a.is_empty()), "Firefox never asked for the PIN: {tokens}");
    let log = std::fs::read_to_string(&browser.log).unwrap_or_default();
    assert!(!log.contains(&token.pin), "geckodriver's log {} shows the PIN", browser.log.display());
    (browser, profile)
}

/// The portal's log-in is the card's TLS client certificate: Firefox opens `/api/whoami` and the JSON names the
/// card's UZI number.
#[test]
fn firefox_logs_in_to_the_portal_with_the_card() {
    let token = card();
    let uzi = uzi_number(&token);
    let portal = PortalServer::start(token.dir.path());
    let (browser, _profile) = firefox(&token, &[&portal.ca]);
    browser.navigate(&format!("https://{}/api/whoami", portal.connect));
    let text = browser.page_text();
    let shot = browser.screenshot("portal-whoami");
    assert!(
        text.contains(&uzi),
        "whoami in Firefox does not name the card's UZI number {uzi} ({}):\n{text}",
        shot.display()
    );
}

/// The portal's pages in Firefox (`portal-web/src/pages/`, seed *Registreren organisatie*): logged in with the
/// card, the Start page shows its UZI number in `#uzi-nummer`; the holder of the UZI-zorgverlenerspas fills in
/// the organisation's name on *Organisatie registreren* and confirms; the organisation is in the database with the
/// card's UZI number as its administrator, and the Start page then names the role.
#[test]
fn firefox_registers_the_organisation_on_the_portals_pages_with_the_card() {
    let token = card();
    let uzi = uzi_number(&token);
    let portal = PortalServer::start(token.dir.path());
    let (browser, _profile) = firefox(&token, &[&portal.ca]);
    browser.navigate(&format!("https://{}/", portal.connect));
    let shown = browser.call("POST", "/element", Some(json!({"using": "css selector", "value": "#uzi-nummer"})));
    let shown = browser.call("GET", &format!("/element/{}/text", element_id(&shown)), None);
    let shot = browser.screenshot("portal-start");
    assert_eq!(shown.as_str(), Some(uzi.as_str()), "#uzi-nummer on the Start page ({})", shot.display());

    browser.navigate(&format!("https://{}/organisatie", portal.connect));
    let name = browser.call("POST", "/element", Some(json!({"using": "css selector", "value": "#naam"})));
    let name = element_id(&name);
    browser.call("POST", &format!("/element/{name}/value"), Some(json!({"text": "Huisartsenpraktijk Proef"})));
    browser.screenshot("portal-organisatie");
    let confirm =
        browser.call("POST", "/element", Some(json!({"using": "css selector", "value": "button[type=submit]"})));
    browser.call("POST", &format!("/element/{}/click", element_id(&confirm)), None);
    let text = browser.page_text();
    let shot = browser.screenshot("portal-organisatie-geregistreerd");
    let stored = portal.query("SELECT name || ' ' || administrator FROM organisations");
    assert_eq!(
        stored.as_deref(),
        Some(format!("Huisartsenpraktijk Proef {uzi}").as_str()),
        "the organisation and its administrator in the database ({})",
        shot.display()
    );
    assert!(text.contains("Huisartsenpraktijk Proef"), "the page after confirming names the organisation:\n{text}");
}

/// A WebDriver element reference's id (W3C WebDriver §12.1, the web element identifier).
fn element_id(element: &serde_json::Value) -> String {
    let id = element["element-6066-11e4-a52e-4f735466cecf"].as_str();
    id.unwrap_or_else(|| panic!("not a WebDriver element: {element}")).to_string()
}

/// nginx with `ssl_verify_client on` against the TEST CAs and their CRLs shows the card's subject DN; once the
/// CRL lists the card's authentication certificate and nginx restarts with it, Firefox gets nginx's 400 page.
#[test]
fn the_kit_logs_in_to_nginx_and_a_revoked_card_is_refused() {
    require("nginx", "apt-get install nginx (or scripts/install-deps)");
    let token = card();
    let uzi = uzi_number(&token);
    let dir = token.dir.path().join("nginx");
    std::fs::create_dir_all(&dir).unwrap();
    let server_ca = server_certificate(&dir);
    let serial = openssl(&["x509", "-in", s(&token.certificate_pem(AUTHENTICATION)), "-noout", "-serial"]);
    let serial = serial.trim().trim_start_matches("serial=").to_string();

    write_crls(&dir, None);
    let mut nginx = Nginx::start(&dir, &token.bundle("test-cas.pem", &token.all_cas()));
    let (browser, _profile) = firefox(&token, &[&server_ca]);
    browser.navigate(&format!("https://127.0.0.1:{}/", nginx.port));
    let text = browser.page_text();
    let shot = browser.screenshot("nginx-valid-card");
    assert!(text.contains("verify: SUCCESS"), "nginx did not verify the card ({}):\n{text}", shot.display());
    assert!(text.contains(&format!("serialNumber={uzi}")), "nginx's subject DN lacks the UZI number {uzi}:\n{text}");

    write_crls(&dir, Some(&serial));
    nginx.restart();
    browser.navigate(&format!("https://127.0.0.1:{}/?after-revocation", nginx.port));
    let text = browser.page_text();
    let shot = browser.screenshot("nginx-revoked-card");
    assert!(
        text.contains("400 Bad Request") && text.contains("The SSL certificate error"),
        "nginx let the revoked card {serial} in ({}):\n{text}",
        shot.display()
    );
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    assert!(log.contains("certificate revoked"), "nginx's log does not say the certificate was revoked:\n{log}");
}

/// A CA of the test's own and under it nginx's certificate for 127.0.0.1 (`server.pem`, `server.key`); returns
/// the CA's certificate, for the profile to trust.
fn server_certificate(dir: &Path) -> PathBuf {
    let p = |name: &str| dir.join(name);
    let (ca, ca_key) = (p("server-ca.pem"), p("server-ca.key"));
    openssl(
        &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", s(&ca_key), "-out", s(&ca), "-days", "1"]
            .into_iter()
            .chain(["-subj", "/CN=TEST nginx server CA"])
            .collect::<Vec<_>>(),
    );
    let (csr, key, cert) = (p("server.csr"), p("server.key"), p("server.pem"));
    openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", s(&key), "-out", s(&csr), "-subj", "/CN=127.0.0.1"]);
    let ext = write(
        dir,
        "server.ext",
        b"basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
    );
    openssl(
        &["x509", "-req", "-in", s(&csr), "-CA", s(&ca), "-CAkey", s(&ca_key), "-CAcreateserial"]
            .into_iter()
            .chain(["-out", s(&cert), "-days", "1", "-extfile", s(&ext)])
            .collect::<Vec<_>>(),
    );
    ca
}

/// `crl.pem`: an empty CRL of the TEST root and one of the UZI-zorgverlener CA listing `revoked` (a serial in
/// hex), both signed with the fixture CA keys by `openssl ca -gencrl`. nginx checks the whole chain
/// (`X509_V_FLAG_CRL_CHECK_ALL`), so each CA on it needs a CRL.
fn write_crls(dir: &Path, revoked: Option<&str>) {
    let pki = fixtures_pki();
    let mut all = Vec::new();
    for (ca, serial) in [("root-ca", None), ("uzi-zorgverlener-ca", revoked)] {
        let index = match serial {
            Some(serial) => format!("R\t300101000000Z\t260101000000Z\t{serial}\tunknown\t/CN=revoked card\n"),
            None => String::new(),
        };
        let index = write(dir, &format!("{ca}.index"), index.as_bytes());
        let number = write(dir, &format!("{ca}.crlnumber"), b"01\n");
        let config = format!(
            "[ca]\ndefault_ca = d\n[d]\ndatabase = {}\ncrlnumber = {}\ndefault_md = sha256\ndefault_crl_days = 1\n",
            index.display(),
            number.display()
        );
        let config = write(dir, &format!("{ca}.cnf"), config.as_bytes());
        let crl = dir.join(format!("{ca}.crl.pem"));
        let (cert, key) = (pki.join(format!("{ca}.cert.pem")), pki.join(format!("{ca}.key.pem")));
        openssl(&["ca", "-gencrl", "-config", s(&config), "-cert", s(&cert), "-keyfile", s(&key), "-out", s(&crl)]);
        all.extend(std::fs::read(&crl).unwrap());
    }
    write(dir, "crl.pem", &all);
}

/// Debian's nginx in the foreground, one process (`master_process off`), with its prefix, config, logs and
/// temporary files in the test's folder; stopped (that PID only) when dropped.
struct Nginx {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Nginx {
    fn start(dir: &Path, client_cas: &Path) -> Nginx {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let d = dir.display();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/client_body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  \
             scgi_temp_path {d}/scgi;\n  server {{\n    listen 127.0.0.1:{port} ssl;\n    \
             ssl_certificate {d}/server.pem;\n    ssl_certificate_key {d}/server.key;\n    ssl_protocols TLSv1.2;\n    \
             ssl_verify_client on;\n    ssl_client_certificate {cas};\n    ssl_crl {d}/crl.pem;\n    \
             ssl_verify_depth 3;\n    location / {{\n      default_type text/plain;\n      \
             return 200 \"client: $ssl_client_s_dn\\nverify: $ssl_client_verify\\n\";\n    }}\n  }}\n}}\n",
            cas = client_cas.display()
        );
        write(dir, "nginx.conf", config.as_bytes());
        let mut nginx = Nginx { dir: dir.to_path_buf(), port, child: None };
        nginx.spawn();
        nginx
    }

    fn spawn(&mut self) {
        let conf = self.dir.join("nginx.conf");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&self.dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(self.dir.join("error.log"))
            .stdin(Stdio::null())
            .spawn()
            .expect("start nginx: apt-get install nginx");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let log = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
            assert!(Instant::now() < deadline, "nginx did not listen on port {} within 10 s:\n{log}", self.port);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops it and starts it again, reading the CRL anew.
    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}
