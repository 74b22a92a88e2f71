//! Headless Firefox ESR driven through geckodriver (W3C WebDriver over HTTP, with `ureq`), on a profile that
//! `zorgcard browser-profile` made, for `tests/browser.rs`. The PIN goes in through the kit's `pin-prompt.js`, run
//! in the chrome context (geckodriver's `POST /session/{id}/moz/context`, enabled by `--allow-system-access`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

pub const FIREFOX: &str = "/usr/bin/firefox-esr";

/// geckodriver: `ZORGCARD_GECKODRIVER`, or the one `scripts/install-geckodriver` built into `target/geckodriver`.
pub fn geckodriver() -> PathBuf {
    let path = std::env::var("ZORGCARD_GECKODRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/geckodriver/bin/geckodriver"));
    assert!(
        path.is_file(),
        "no geckodriver at {}: run scripts/install-geckodriver (or set ZORGCARD_GECKODRIVER)",
        path.display()
    );
    path
}

/// Fails with `how` unless `program` is installed.
pub fn require(program: &str, how: &str) {
    let found = Path::new(program).is_file()
        || std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()));
    assert!(found, "`{program}` is not installed: {how}");
}

/// A `zorgcard browser-profile` folder in `dir`, trusting the extra CAs `trust` too.
pub fn kit_profile(dir: &Path, trust: &[&Path]) -> PathBuf {
    let profile = dir.join("firefox-profile");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zorgcard"));
    cmd.arg("browser-profile").arg("--out").arg(&profile);
    for ca in trust {
        cmd.arg("--trust").arg(ca);
    }
    let out = cmd.output().expect("run zorgcard browser-profile");
    assert!(out.status.success(), "zorgcard browser-profile failed: {}", String::from_utf8_lossy(&out.stderr));
    profile
}

/// One WebDriver session: geckodriver and the Firefox it started; both end when dropped.
pub struct Browser {
    base: String,
    agent: ureq::Agent,
    driver: Child,
    pub log: PathBuf,
}

impl Browser {
    /// geckodriver on a free loopback port, then a session of headless Firefox ESR on `profile`.
    pub fn start(profile: &Path) -> Browser {
        require(FIREFOX, "apt-get install firefox-esr (or scripts/install-deps)");
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = profile.with_extension("geckodriver.log");
        let driver = Command::new(geckodriver())
            .args(["--port", &port.to_string(), "--allow-system-access", "--binary", FIREFOX])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start geckodriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(90)))
            .build()
            .into();
        let mut browser = Browser { base: format!("http://127.0.0.1:{port}"), agent, driver, log };
        browser.wait_ready();
        let caps = json!({"capabilities": {"alwaysMatch": {"moz:firefoxOptions": {
            "binary": FIREFOX,
            "args": ["-headless", "-profile", profile.to_str().unwrap()],
        }}}});
        let session = browser.call("POST", "/session", Some(caps));
        let id = session["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {session}")).to_string();
        browser.base = format!("{}/session/{id}", browser.base);
        browser
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut r) = self.agent.get(format!("{}/status", self.base)).call()
                && r.body_mut().read_json::<Value>().is_ok_and(|v| v["value"]["ready"] == true)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("geckodriver did not answer on {} within 10 s", self.base);
    }

    /// One WebDriver command; its `value`, which must not be an error.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let answer = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self.agent.post(&url).send_json(body.unwrap_or_else(|| json!({}))),
        };
        let mut answer = answer.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let value: Value = answer.body_mut().read_json().unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        assert!(value["value"]["error"].is_null(), "WebDriver {method} {path} failed: {}", value["value"]);
        value["value"].clone()
    }

    /// Runs the kit's `pin-prompt.js` in the chrome context with `pin`: the PIN prompt is answered from now on,
    /// and the token is logged in. Returns the tokens it logged in.
    pub fn answer_pin_prompt(&self, profile: &Path, pin: &str) -> Value {
        let script = std::fs::read_to_string(profile.join("pin-prompt.js")).expect("the kit's pin-prompt.js");
        self.call("POST", "/moz/context", Some(json!({"context": "chrome"})));
        let done = self.call("POST", "/execute/async", Some(json!({"script": script, "args": [pin]})));
        self.call("POST", "/moz/context", Some(json!({"context": "content"})));
        assert!(done["error"].is_null(), "pin-prompt.js failed: {done}");
        done
    }

    pub fn navigate(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// The text of the page shown.
    pub fn page_text(&self) -> String {
        let text =
            self.call("POST", "/execute/sync", Some(json!({"script": "return document.body.innerText", "args": []})));
        text.as_str().unwrap_or_default().to_string()
    }

    /// Saves a screenshot of the page to `target/browser-screenshots/NAME.png`; returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap_or_default()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.base).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
