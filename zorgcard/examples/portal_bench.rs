//! How fast `zorgcard portal serve` takes updates, beside what its database could take: run by hand with
//! `cargo run --release -p zorgcard --example portal_bench [-- CLIENTS SECONDS]` (default 16 clients, 5 s).
//!
//! For SQLite and for PostgreSQL (a server of the benchmark's own, `portal/tests/support/postgres.rs`) it
//! measures, with the same number of concurrent clients:
//! - the portal: `portal serve` in this process (`portal_web::serve_main`), each client an in-process rustls
//!   HTTPS client with a TEST UZI-pas certificate (`tests/support/https_client.rs`) on one kept-alive
//!   connection, blocking and unblocking a card of its own (`POST /api/cards/{serial}/block|unblock`);
//! - the ceiling on the same database server with the same durability: for PostgreSQL `pgbench` with a one-row
//!   UPDATE script (`-f`, `-c CLIENTS`, `-T SECONDS`, per-transaction log for the p99), for SQLite one INSERT
//!   per transaction through rusqlite on a WAL file with `synchronous=FULL` (as `portal/src/store/sqlite.rs`).
//!
//! It prints updates/s, p99 latency and the ratio portal/ceiling. There is no pass or fail: the figures depend
//! on the machine, and README.md's Tests section records them with the date.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use issuance::pki::TestPki;
use portal_web::ServeArgs;

#[path = "../tests/support/https_client.rs"]
mod https_client;
#[path = "../../portal/tests/support/postgres.rs"]
mod postgres_server;
// The load test also reads rows back (`Db::count`, `Db::texts`); the benchmark only writes.
#[allow(dead_code)]
#[path = "../tests/support/portal_db.rs"]
mod portal_db;

use https_client::{HttpsClient, Login};
use portal_db::{ADMIN, Db, URA, card_serial, record_cards};

/// Updates and their latencies over a run.
struct Figures {
    updates: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn per_second(&self) -> f64 {
        self.updates as f64 / self.elapsed.as_secs_f64()
    }

    fn p99_ms(&mut self) -> f64 {
        self.latencies.sort();
        let i = (self.latencies.len() * 99 / 100).min(self.latencies.len().saturating_sub(1));
        self.latencies.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    }
}

/// `serve_main`'s start-up lines, passed on one by one.
struct Lines(mpsc::Sender<String>, Vec<u8>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1.extend_from_slice(buf);
        while let Some(end) = self.1.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.1.drain(..=end).collect();
            let _ = self.0.send(String::from_utf8_lossy(&line).trim().to_string());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts `portal serve` on `db` in a thread of this process; returns its `https://` address.
fn serve_in_process(db: &Db, server_ca: &Path) -> String {
    let args = ServeArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        ocsp_listen: "127.0.0.1:0".parse().unwrap(),
        server_cert_out: server_ca.to_path_buf(),
        clock_offset_days: 0,
        header_timeout_secs: 10,
        request_timeout_secs: 30,
        seconds: None,
        test_clock: false,
    };
    let location = db.location();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Err(e) = portal_web::serve_main(&location, &args, &mut Lines(tx, Vec::new())) {
            eprintln!("portal serve: {e}");
        }
    });
    let first = rx.recv().expect("portal serve started");
    let https = first.split_whitespace().find(|w| w.starts_with("https://")).expect("the API URL");
    https.trim_end_matches("/api").to_string()
}

/// `clients` threads block and unblock their own card through the API for `run`.
fn portal(db: &Db, dir: &Path, clients: usize, run: Duration) -> Figures {
    let server_ca = dir.join("server-ca.pem");
    let https = serve_in_process(db, &server_ca);
    let admin = Login::new(&TestPki::fixtures().unwrap(), dir, ADMIN, URA);
    let mut setup = HttpsClient::new(&https, &server_ca, &admin, false);
    let a = setup.post("/api/organisations", Some(r#"{"name": "Test Zorginstelling 01"}"#)).unwrap();
    assert_eq!(a.status, 200, "register: {}", a.body);
    record_cards(db, clients);
    measure(clients, run, |c| {
        let mut api = HttpsClient::new(&https, &server_ca, &admin, true);
        let serial = card_serial(c);
        let mut n = 0usize;
        move || {
            let action = if n.is_multiple_of(2) { "block" } else { "unblock" };
            n += 1;
            api.post(&format!("/api/cards/{serial}/{action}"), None).is_ok_and(|a| a.status == 200)
        }
    })
}

/// Runs `clients` threads, each calling its own `update` (made by `make`) for `run` after one warm-up call;
/// counts the updates that succeeded and their latencies.
fn measure<F, U>(clients: usize, run: Duration, make: F) -> Figures
where
    F: Fn(usize) -> U + Sync,
    U: FnMut() -> bool,
{
    let barrier = std::sync::Barrier::new(clients);
    let results: Vec<(usize, Vec<Duration>)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..clients)
            .map(|c| {
                let (make, barrier) = (&make, &barrier);
                s.spawn(move || {
                    let mut update = make(c);
                    assert!(update(), "client {c}: the warm-up update failed");
                    barrier.wait();
                    let deadline = Instant::now() + run;
                    let (mut ok, mut latencies) = (0, Vec::new());
                    while Instant::now() < deadline {
                        let started = Instant::now();
                        if update() {
                            ok += 1;
                            latencies.push(started.elapsed());
                        }
                    }
                    (ok, latencies)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let updates = results.iter().map(|(ok, _)| ok).sum();
    Figures { updates, elapsed: run, latencies: results.into_iter().flat_map(|(_, l)| l).collect() }
}

/// What an API write pays twice (`portal-web/src/service.rs`: `admit` reads, then the write transacts), timed
/// alone after the run: opening the store, and loading the whole registry as it has grown.
fn store_costs(db: &Db) -> String {
    const TIMES: u32 = 20;
    let started = Instant::now();
    for _ in 0..TIMES {
        portal::Store::open(db.location()).unwrap();
    }
    let open = started.elapsed() / TIMES;
    let mut store = portal::Store::open(db.location()).unwrap();
    let started = Instant::now();
    let mut events = 0;
    for _ in 0..TIMES {
        events = store.registry().unwrap().cards.iter().map(|c| c.events.len()).sum::<usize>();
    }
    let load = started.elapsed() / TIMES;
    format!(
        "  {}: one Store::open {:.1} ms, one registry load ({events} card events) {:.1} ms",
        db.backend(),
        open.as_secs_f64() * 1000.0,
        load.as_secs_f64() * 1000.0
    )
}

/// One INSERT per transaction into a WAL file with `synchronous=FULL`, each client on its own connection.
fn sqlite_ceiling(dir: &Path, clients: usize, run: Duration) -> Figures {
    let path = dir.join("ceiling.db");
    let open = |path: &Path| {
        let c = rusqlite::Connection::open(path).unwrap();
        c.busy_timeout(Duration::from_secs(30)).unwrap();
        let _: String = c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).unwrap();
        c.execute_batch("PRAGMA synchronous = FULL").unwrap();
        c
    };
    open(&path)
        .execute_batch("CREATE TABLE updates (id INTEGER PRIMARY KEY, client INTEGER NOT NULL, n INTEGER NOT NULL)")
        .unwrap();
    measure(clients, run, |c| {
        let conn = open(&path);
        let mut n = 0i64;
        move || {
            n += 1;
            conn.execute("INSERT INTO updates (client, n) VALUES (?1, ?2)", (c as i64, n)).is_ok()
        }
    })
}

/// `pgbench` (Debian's, beside the server programs) with a one-row UPDATE on `url`.
fn pgbench_ceiling(db: &Db, dir: &Path, clients: usize, run: Duration) -> Figures {
    let Db::Postgres { server, .. } = db else { unreachable!("pgbench runs on PostgreSQL") };
    let name = server.create_database("pgbench");
    server
        .client(&name)
        .batch_execute(
            "CREATE TABLE bench (id integer PRIMARY KEY, n integer NOT NULL);
             INSERT INTO bench SELECT g, 0 FROM generate_series(1, 1000) g",
        )
        .unwrap();
    let script = dir.join("update.sql");
    std::fs::write(&script, "\\set id random(1, 1000)\nUPDATE bench SET n = n + 1 WHERE id = :id;\n").unwrap();
    let logs = dir.join("pgbench-log");
    std::fs::create_dir_all(&logs).unwrap();
    let out = Command::new(pgbench())
        .args(["-n", "-f"])
        .arg(&script)
        .args(["-c", &clients.to_string(), "-j", &clients.min(4).to_string(), "-T", &run.as_secs().to_string()])
        .arg("-l")
        .arg(format!("--log-prefix={}", logs.join("tx").display()))
        .arg(server.url(&name))
        .output()
        .expect("run pgbench");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pgbench: {text}{}", String::from_utf8_lossy(&out.stderr));
    let mut latencies = Vec::new();
    for file in std::fs::read_dir(&logs).unwrap() {
        let log = std::fs::read_to_string(file.unwrap().path()).unwrap();
        // pgbench's per-transaction log: client_id transaction_no time(µs) script_no time_epoch time_us.
        latencies
            .extend(log.lines().filter_map(|l| l.split_whitespace().nth(2)?.parse().ok()).map(Duration::from_micros));
    }
    Figures { updates: latencies.len(), elapsed: run, latencies }
}

/// The newest `/usr/lib/postgresql/<version>/bin/pgbench`, else `pgbench` on PATH.
fn pgbench() -> PathBuf {
    std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin/pgbench"))))
        .filter(|(_, p)| p.is_file())
        .max()
        .map_or_else(|| PathBuf::from("pgbench"), |(_, p)| p)
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().expect("CLIENTS SECONDS as numbers"));
    let clients = args.next().unwrap_or(16) as usize;
    let run = Duration::from_secs(args.next().unwrap_or(5));
    println!("portal_bench: {clients} concurrent clients, {} s per run", run.as_secs());
    println!(
        "{:<11} {:>16} {:>9}   {:<36} {:>11} {:>9}   {:>14}",
        "backend", "portal updates/s", "p99 ms", "ceiling", "updates/s", "p99 ms", "portal/ceiling"
    );
    let mut costs = Vec::new();
    for db in [Db::sqlite as fn() -> Db, Db::postgres] {
        let db = db();
        let backend = db.backend();
        let dir = tempfile::tempdir().unwrap();
        let mut served = portal(&db, dir.path(), clients, run);
        costs.push(store_costs(&db));
        let (what, mut ceiling) = match db {
            Db::Sqlite { .. } => ("rusqlite INSERT, WAL, synchronous=FULL", sqlite_ceiling(dir.path(), clients, run)),
            Db::Postgres { .. } => ("pgbench one-row UPDATE (-f)", pgbench_ceiling(&db, dir.path(), clients, run)),
        };
        println!(
            "{backend:<11} {:>16.0} {:>9.1}   {what:<36} {:>11.0} {:>9.1}   {:>14.3}",
            served.per_second(),
            served.p99_ms(),
            ceiling.per_second(),
            ceiling.p99_ms(),
            served.per_second() / ceiling.per_second()
        );
    }
    println!("where an API write's time goes (each is paid twice per write):");
    for line in costs {
        println!("{line}");
    }
}
