//! What a conformance run found, and the three ways it is shown: a live progress line, a readable summary and
//! JUnit XML for CI.
//!
//! The model is a tree — profile → script → step → check — because that is how a vendor reads a failure: "on the
//! `uzi-zorgverlener` card, script `pin-counters`, step 03 `wrong PIN leaves two tries`, expected `63C2`, got
//! `9000`". Every rendering is a pure function of the tree, with no timings in the summary, so the summary is a
//! stable golden file (`insta`). Secrets never get here: step labels are the script's text before `${PIN}` and
//! friends are expanded, and checks describe answers, never command data.

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Duration;

/// A whole run: one [`ProfileReport`] per card profile checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SuiteReport {
    /// Where the cards were: `in-process reader` or `reader "NAME"`.
    pub target: String,
    /// In the order they ran.
    pub profiles: Vec<ProfileReport>,
}

/// The scripts run against one profile's card.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileReport {
    /// Profile name, e.g. `uzi-zorgverlener`.
    pub profile: String,
    /// Scripts that apply to this profile, in run order.
    pub scripts: Vec<ScriptReport>,
    /// Names of loaded scripts whose `applies_to` excludes this profile.
    pub not_applicable: Vec<String>,
}

/// One script against one card.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScriptReport {
    /// The script's `name`.
    pub script: String,
    /// The file it came from, as shown to people (`fixtures/scripts/pin-counters.toml`).
    pub file: String,
    /// The script's one-line description.
    pub description: String,
    /// Why the whole script did not run (e.g. destructive through a real reader); `None` when it ran.
    pub skipped: Option<String>,
    /// Its steps, then any restore steps, in the order they ran (or would have).
    pub steps: Vec<StepReport>,
    /// Wall time; shown in JUnit only, so the summary stays reproducible.
    pub duration: Duration,
}

/// One step of a script.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepReport {
    /// 1-based position in the script (restore steps continue the numbering).
    pub number: usize,
    /// The step's `name`, or a label made from its command with variables unexpanded.
    pub label: String,
    /// Line of the step in the script file.
    pub line: usize,
    /// A `[[restore]]` step, run because an earlier step failed.
    pub restore: bool,
    /// Why the step did not run; `None` when it ran.
    pub skipped: Option<String>,
    /// What was checked, in order. A step that ran has at least one.
    pub checks: Vec<CheckResult>,
}

/// One comparison of what the card did with what the script expects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckResult {
    /// What was compared: `status word`, `data`, `signature`, `subject serialNumber`, …
    pub what: String,
    /// What the script expects, in words and hex.
    pub expected: String,
    /// What the card answered.
    pub got: String,
    /// `expected` and `got` agree.
    pub passed: bool,
}

/// Pass, fail or skipped (with the reason), of a step, a script or a single check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every check agreed.
    Pass,
    /// At least one check disagreed.
    Fail,
    /// Not run, and why.
    Skipped(String),
}

/// One row of the flattened report: a check (or a skipped step or script) with where it belongs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRecord<'a> {
    /// Profile name.
    pub profile: &'a str,
    /// Script name.
    pub script: &'a str,
    /// Step title (`03 wrong PIN`); empty for a skipped script.
    pub step: String,
    /// What was compared; empty for skipped steps and scripts.
    pub what: &'a str,
    /// Expected value.
    pub expected: &'a str,
    /// Answered value.
    pub got: &'a str,
    /// The check's outcome.
    pub outcome: Outcome,
}

/// Counts over a report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Profiles checked.
    pub profiles: usize,
    /// Scripts that applied (run or skipped).
    pub scripts: usize,
    /// Scripts with a failed step.
    pub scripts_failed: usize,
    /// Scripts not run.
    pub scripts_skipped: usize,
    /// Checks made.
    pub checks: usize,
    /// Checks that failed.
    pub checks_failed: usize,
    /// Steps not run (after a failure) in scripts that ran.
    pub steps_skipped: usize,
}

impl CheckResult {
    /// A check whose outcome is `expected == got` judged by the caller.
    pub fn new(what: impl Into<String>, expected: impl Into<String>, got: impl Into<String>, passed: bool) -> Self {
        CheckResult { what: what.into(), expected: expected.into(), got: got.into(), passed }
    }
}

impl StepReport {
    /// `03 wrong PIN`, or `restore 07 unblock with the PUK`: the JUnit test-case name and the summary's step title.
    pub fn title(&self) -> String {
        let prefix = if self.restore { "restore " } else { "" };
        format!("{prefix}{:02} {}", self.number, self.label)
    }

    /// Skipped if it did not run, failed if any check failed, else passed.
    pub fn outcome(&self) -> Outcome {
        match &self.skipped {
            Some(reason) => Outcome::Skipped(reason.clone()),
            None if self.checks.iter().any(|c| !c.passed) => Outcome::Fail,
            None => Outcome::Pass,
        }
    }
}

impl ScriptReport {
    /// Skipped if it did not run, failed if any step failed, else passed.
    pub fn outcome(&self) -> Outcome {
        match &self.skipped {
            Some(reason) => Outcome::Skipped(reason.clone()),
            None if self.steps.iter().any(|s| s.outcome() == Outcome::Fail) => Outcome::Fail,
            None => Outcome::Pass,
        }
    }

    /// Checks made by its steps.
    pub fn check_count(&self) -> usize {
        self.steps.iter().map(|s| s.checks.len()).sum()
    }
}

impl SuiteReport {
    /// `0` when nothing failed, `1` when any check failed: what `zorgcard conformance` exits with, so a CI job
    /// goes red on any failure. Skipped scripts do not fail the run (they are listed in the summary instead).
    pub fn exit_code(&self) -> i32 {
        if self.totals().checks_failed > 0 { 1 } else { 0 }
    }

    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.exit_code() == 0
    }

    /// Counts over the whole run.
    pub fn totals(&self) -> Totals {
        let mut t = Totals { profiles: self.profiles.len(), ..Totals::default() };
        for script in self.profiles.iter().flat_map(|p| &p.scripts) {
            t.scripts += 1;
            match script.outcome() {
                Outcome::Fail => t.scripts_failed += 1,
                Outcome::Skipped(_) => t.scripts_skipped += 1,
                Outcome::Pass => {}
            }
            for step in &script.steps {
                if step.skipped.is_some() {
                    t.steps_skipped += 1;
                }
                t.checks += step.checks.len();
                t.checks_failed += step.checks.iter().filter(|c| !c.passed).count();
            }
        }
        t
    }

    /// Every check, skipped step and skipped script as one flat list, in run order.
    pub fn records(&self) -> Vec<CheckRecord<'_>> {
        let mut out = Vec::new();
        for profile in &self.profiles {
            for script in &profile.scripts {
                let base = CheckRecord {
                    profile: &profile.profile,
                    script: &script.script,
                    step: String::new(),
                    what: "",
                    expected: "",
                    got: "",
                    outcome: Outcome::Pass,
                };
                if let Some(reason) = &script.skipped {
                    out.push(CheckRecord { outcome: Outcome::Skipped(reason.clone()), ..base });
                    continue;
                }
                for step in &script.steps {
                    if let Some(reason) = &step.skipped {
                        out.push(CheckRecord {
                            step: step.title(),
                            outcome: Outcome::Skipped(reason.clone()),
                            ..base.clone()
                        });
                        continue;
                    }
                    for check in &step.checks {
                        out.push(CheckRecord {
                            step: step.title(),
                            what: &check.what,
                            expected: &check.expected,
                            got: &check.got,
                            outcome: if check.passed { Outcome::Pass } else { Outcome::Fail },
                            ..base.clone()
                        });
                    }
                }
            }
        }
        out
    }

    /// The readable summary: one line per script and profile, then every failure with expected and got, then the
    /// totals. No timings, so it is the same for the same card on every run.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "zorgcard conformance against the {}", self.target);
        let width = self.profiles.iter().flat_map(|p| &p.scripts).map(|s| s.script.chars().count()).max().unwrap_or(0);
        for profile in &self.profiles {
            let failed = profile.scripts.iter().filter(|s| s.outcome() == Outcome::Fail).count();
            let checks: usize = profile.scripts.iter().map(ScriptReport::check_count).sum();
            let verdict = if failed == 0 { "passed".to_string() } else { format!("{failed} FAILED") };
            let _ = writeln!(
                out,
                "\nprofile {}: {}, {}: {verdict}",
                profile.profile,
                count(profile.scripts.len(), "script"),
                count(checks, "check")
            );
            for script in &profile.scripts {
                let name = &script.script;
                match script.outcome() {
                    Outcome::Pass => {
                        let _ = writeln!(out, "  ok    {name:<width$}  {}", count(script.check_count(), "check"));
                    }
                    Outcome::Fail => {
                        let bad = script.steps.iter().filter(|s| s.outcome() == Outcome::Fail).count();
                        let restore: Vec<Outcome> =
                            script.steps.iter().filter(|s| s.restore).map(StepReport::outcome).collect();
                        // Through a real reader this says whether the card was put back as it was.
                        let restored = match restore.as_slice() {
                            [] => "",
                            r if r.iter().all(|o| *o == Outcome::Pass) => ", restore steps passed",
                            _ => ", restore steps FAILED: the card may not be as it was",
                        };
                        let _ = writeln!(
                            out,
                            "  FAIL  {name:<width$}  {}, {} failed{restored}",
                            count(script.check_count(), "check"),
                            count(bad, "step")
                        );
                    }
                    Outcome::Skipped(reason) => {
                        let _ = writeln!(out, "  skip  {name:<width$}  skipped: {reason}");
                    }
                }
            }
            if !profile.not_applicable.is_empty() {
                let _ = writeln!(out, "  not for this profile: {}", profile.not_applicable.join(", "));
            }
        }

        let failures: Vec<_> = self.records().into_iter().filter(|r| r.outcome == Outcome::Fail).collect();
        if !failures.is_empty() {
            let _ = writeln!(out, "\nfailures");
            for r in &failures {
                let _ = writeln!(out, "  {} / {} / {}: {}", r.profile, r.script, r.step, r.what);
                let _ = writeln!(out, "    expected  {}", r.expected);
                let _ = writeln!(out, "    got       {}", r.got);
            }
            let not_run: usize = self
                .profiles
                .iter()
                .flat_map(|p| &p.scripts)
                .flat_map(|s| &s.steps)
                .filter(|s| s.skipped.is_some())
                .count();
            if not_run > 0 {
                let _ = writeln!(out, "  ({} of failed scripts not run)", count(not_run, "later step"));
            }
        }

        let t = self.totals();
        let _ = writeln!(
            out,
            "\n{}: {}, {} ({} failed, {} skipped), {} ({} failed)",
            if t.checks_failed == 0 { "PASSED" } else { "FAILED" },
            count(t.profiles, "profile"),
            count(t.scripts, "script"),
            t.scripts_failed,
            t.scripts_skipped,
            count(t.checks, "check"),
            t.checks_failed
        );
        out
    }

    /// JUnit XML for CI, written by `quick-junit`: `<testsuites>` with one `<testsuite name=PROFILE>` per profile
    /// and one `<testcase name=STEP classname=SCRIPT>` per step (with the script's `file` and the step's `line`); a
    /// failed step carries `<failure message="expected …, got …">` with every failed check in its text, a skipped
    /// step or script `<skipped message=…/>`. The crate escapes, and drops what XML 1.0 cannot carry.
    pub fn junit_xml(&self) -> Result<String, quick_junit::SerializeError> {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let checks = self.totals().checks;
        let mut report = Report::new(format!("zorgcard conformance ({}, {checks} checks)", self.target));
        let skipped = |reason: &str| {
            let mut status = TestCaseStatus::skipped();
            status.set_message(reason);
            status
        };
        for p in &self.profiles {
            let mut suite = TestSuite::new(p.profile.as_str());
            for s in &p.scripts {
                if let Some(reason) = &s.skipped {
                    let mut case = TestCase::new("(whole script)", skipped(&format!("skipped: {reason}")));
                    case.set_classname(s.script.as_str());
                    case.extra.insert("file".into(), s.file.as_str().into());
                    suite.add_test_case(case);
                    continue;
                }
                let per_step = s.duration.checked_div(u32::try_from(s.steps.len()).unwrap_or(u32::MAX));
                for step in &s.steps {
                    let status = match step.outcome() {
                        Outcome::Pass => TestCaseStatus::success(),
                        Outcome::Skipped(reason) => skipped(&reason),
                        Outcome::Fail => {
                            let failed: Vec<_> = step.checks.iter().filter(|c| !c.passed).collect();
                            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                            if let Some(c) = failed.first() {
                                status.set_message(format!("{}: expected {}, got {}", c.what, c.expected, c.got));
                            }
                            let mut body = String::new();
                            for c in &failed {
                                let _ = writeln!(body, "{}\nexpected: {}\ngot:      {}", c.what, c.expected, c.got);
                            }
                            status.set_type("check").set_description(body);
                            status
                        }
                    };
                    let mut case = TestCase::new(step.title(), status);
                    case.set_classname(s.script.as_str());
                    if let Some(t) = per_step {
                        case.set_time(t);
                    }
                    case.extra.insert("file".into(), s.file.as_str().into());
                    case.extra.insert("line".into(), step.line.to_string().into());
                    suite.add_test_case(case);
                }
            }
            suite.set_time(p.scripts.iter().map(|s| s.duration).sum());
            report.add_test_suite(suite);
        }
        report.set_time(self.profiles.iter().flat_map(|p| &p.scripts).map(|s| s.duration).sum());
        report.to_string()
    }
}

/// `1 check`, `2 checks`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// One script starting or finishing, for the live progress line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// 1-based position of this script in the whole run.
    pub index: usize,
    /// Scripts in the whole run (all profiles).
    pub total: usize,
    /// Profile name.
    pub profile: String,
    /// Script name.
    pub script: String,
    /// Where the script is.
    pub state: ProgressState,
}

/// Where a script is in its run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// About to send its first command.
    Started,
    /// Every check passed.
    Passed,
    /// This many steps failed.
    Failed(usize),
    /// Not run, and why.
    Skipped(String),
}

/// Prints [`Progress`] as `[12/48] uzi-zorgverlener pin-counters … ok`.
///
/// On a terminal, an `indicatif` progress line that passing scripts overwrite; failures and skips are printed above
/// it and stay on screen, so nothing is skipped silently. Anywhere else, for CI logs, one plain line per finished
/// script.
#[derive(Debug)]
pub struct ProgressPrinter<W: Write> {
    sink: Sink<W>,
}

#[derive(Debug)]
enum Sink<W> {
    Plain(W),
    Live(ProgressBar),
}

impl ProgressPrinter<io::Stderr> {
    /// Progress on stderr (stdout carries the summary), live when stderr is a terminal.
    pub fn stderr() -> Self {
        if io::stderr().is_terminal() {
            ProgressPrinter::live(ProgressDrawTarget::stderr())
        } else {
            ProgressPrinter::plain(io::stderr())
        }
    }

    /// A live progress line drawn on `target` (tests pass an in-memory terminal).
    pub fn live(target: ProgressDrawTarget) -> Self {
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
        ProgressPrinter { sink: Sink::Live(bar) }
    }
}

impl<W: Write> ProgressPrinter<W> {
    /// One plain line per finished script on `out`.
    pub fn plain(out: W) -> Self {
        ProgressPrinter { sink: Sink::Plain(out) }
    }

    /// Show one event. Write errors are ignored: progress is a courtesy, the summary is the result.
    pub fn show(&mut self, p: &Progress) {
        let head = format!("[{}/{}] {} {} …", p.index, p.total, p.profile, p.script);
        let tail = match &p.state {
            ProgressState::Started => None,
            ProgressState::Passed => Some("ok".to_string()),
            ProgressState::Failed(n) => Some(format!("FAILED ({n} step{})", if *n == 1 { "" } else { "s" })),
            ProgressState::Skipped(reason) => Some(format!("skipped: {reason}")),
        };
        let line = match &tail {
            Some(t) => format!("{head} {t}"),
            None => head,
        };
        match &mut self.sink {
            Sink::Live(bar) => {
                if matches!(p.state, ProgressState::Failed(_) | ProgressState::Skipped(_)) {
                    bar.println(&line);
                }
                bar.set_message(line);
            }
            Sink::Plain(out) => {
                if tail.is_some() {
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
            }
        }
    }

    /// Clears a live line so that what follows starts on a fresh one.
    pub fn finish(&mut self) {
        match &mut self.sink {
            Sink::Live(bar) => bar.finish_and_clear(),
            Sink::Plain(out) => {
                let _ = out.flush();
            }
        }
    }

    /// The plain writer, e.g. a `Vec<u8>` in tests; `None` for a live line.
    pub fn into_inner(self) -> Option<W> {
        match self.sink {
            Sink::Plain(out) => Some(out),
            Sink::Live(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use super::*;

    #[test]
    fn plain_progress_prints_finished_scripts_only() {
        let mut p = ProgressPrinter::plain(Vec::new());
        let mut ev = Progress {
            index: 12,
            total: 48,
            profile: "uzi-zorgverlener".into(),
            script: "pin-counters".into(),
            state: ProgressState::Started,
        };
        p.show(&ev);
        ev.state = ProgressState::Passed;
        p.show(&ev);
        p.finish();
        assert_eq!(
            String::from_utf8(p.into_inner().unwrap_or_default()).unwrap_or_default(),
            "[12/48] uzi-zorgverlener pin-counters … ok\n"
        );
    }

    /// A terminal in memory: the lines indicatif writes, in order.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            if !s.is_empty() {
                self.0.lock().map_err(|_| io::Error::other("poisoned"))?.push(s.to_string());
            }
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn live_progress_keeps_failures_on_screen() {
        let screen = Screen::default();
        let mut p = ProgressPrinter::live(ProgressDrawTarget::term_like(Box::new(screen.clone())));
        let ev = |state| Progress { index: 1, total: 2, profile: "p".into(), script: "s".into(), state };
        p.show(&ev(ProgressState::Started));
        p.show(&ev(ProgressState::Failed(1)));
        p.show(&ev(ProgressState::Passed));
        p.finish();
        let lines = screen.0.lock().map(|l| l.clone()).unwrap_or_default();
        assert!(lines.iter().any(|l| l == "[1/2] p s … FAILED (1 step)"), "{lines:?}");
        assert!(p.into_inner().is_none());
    }
}
