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

    /// JUnit XML for CI: `<testsuites>` with one `<testsuite name=PROFILE>` per profile and one
    /// `<testcase classname=SCRIPT name=STEP>` per step; a failed step carries `<failure message="expected …, got
    /// …">` with every failed check in its text, a skipped step or script `<skipped message=…/>`. Everything is
    /// escaped here ([`xml_escape`]) rather than with an XML crate: the format needs five entities and the
    /// removal of characters XML 1.0 cannot carry.
    pub fn junit_xml(&self) -> String {
        let t = self.totals();
        let mut out = String::new();
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let cases_of = |p: &ProfileReport| -> (usize, usize, usize) {
            let (mut tests, mut failures, mut skipped) = (0, 0, 0);
            for s in &p.scripts {
                if s.skipped.is_some() {
                    tests += 1;
                    skipped += 1;
                    continue;
                }
                for step in &s.steps {
                    tests += 1;
                    match step.outcome() {
                        Outcome::Fail => failures += 1,
                        Outcome::Skipped(_) => skipped += 1,
                        Outcome::Pass => {}
                    }
                }
            }
            (tests, failures, skipped)
        };
        let (mut all_tests, mut all_failures, mut all_skipped) = (0, 0, 0);
        for p in &self.profiles {
            let (a, b, c) = cases_of(p);
            all_tests += a;
            all_failures += b;
            all_skipped += c;
        }
        let total_time: Duration = self.profiles.iter().flat_map(|p| &p.scripts).map(|s| s.duration).sum();
        let _ = writeln!(
            out,
            "<testsuites name=\"{}\" tests=\"{all_tests}\" failures=\"{all_failures}\" errors=\"0\" skipped=\"{all_skipped}\" time=\"{:.3}\">",
            xml_escape(&format!("zorgcard conformance ({}, {} checks)", self.target, t.checks)),
            total_time.as_secs_f64()
        );
        for p in &self.profiles {
            let (tests, failures, skipped) = cases_of(p);
            let time: Duration = p.scripts.iter().map(|s| s.duration).sum();
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{:.3}\">",
                xml_escape(&p.profile),
                time.as_secs_f64()
            );
            for s in &p.scripts {
                let classname = xml_escape(&s.script);
                if let Some(reason) = &s.skipped {
                    let _ = writeln!(
                        out,
                        "    <testcase classname=\"{classname}\" name=\"(whole script)\" file=\"{}\">",
                        xml_escape(&s.file)
                    );
                    let _ = writeln!(out, "      <skipped message=\"{}\"/>", xml_escape(&format!("skipped: {reason}")));
                    out.push_str("    </testcase>\n");
                    continue;
                }
                let per_step = if s.steps.is_empty() { 0.0 } else { s.duration.as_secs_f64() / s.steps.len() as f64 };
                for step in &s.steps {
                    let _ = write!(
                        out,
                        "    <testcase classname=\"{classname}\" name=\"{}\" file=\"{}\" line=\"{}\" time=\"{per_step:.3}\"",
                        xml_escape(&step.title()),
                        xml_escape(&s.file),
                        step.line
                    );
                    match step.outcome() {
                        Outcome::Pass => out.push_str("/>\n"),
                        Outcome::Skipped(reason) => {
                            out.push_str(">\n");
                            let _ = writeln!(out, "      <skipped message=\"{}\"/>", xml_escape(&reason));
                            out.push_str("    </testcase>\n");
                        }
                        Outcome::Fail => {
                            out.push_str(">\n");
                            let failed: Vec<_> = step.checks.iter().filter(|c| !c.passed).collect();
                            let message = failed
                                .first()
                                .map(|c| format!("{}: expected {}, got {}", c.what, c.expected, c.got))
                                .unwrap_or_default();
                            let mut body = String::new();
                            for c in &failed {
                                let _ = writeln!(body, "{}\nexpected: {}\ngot:      {}", c.what, c.expected, c.got);
                            }
                            let _ = writeln!(
                                out,
                                "      <failure message=\"{}\" type=\"check\">{}</failure>",
                                xml_escape(&message),
                                xml_escape(&body)
                            );
                            out.push_str("    </testcase>\n");
                        }
                    }
                }
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

/// `1 check`, `2 checks`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// Escapes text for an XML attribute value or character data (XML 1.0 §2.4, §3.3.3): the five predefined entities,
/// tab/newline/carriage return as character references (so attribute-value normalisation keeps them), and every
/// other character XML 1.0 cannot carry (C0 controls, U+FFFE, U+FFFF) replaced by U+FFFD.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
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
/// On a terminal the line is rewritten in place with `\r` (passing scripts overwrite each other; failures and
/// skips stay on screen, so nothing is skipped silently); anywhere else, for CI logs, one plain line per finished
/// script.
#[derive(Debug)]
pub struct ProgressPrinter<W: Write> {
    out: W,
    live: bool,
    line_open: bool,
}

impl ProgressPrinter<io::Stderr> {
    /// Progress on stderr (stdout carries the summary), live when stderr is a terminal.
    pub fn stderr() -> Self {
        let out = io::stderr();
        let live = out.is_terminal();
        ProgressPrinter::new(out, live)
    }
}

impl<W: Write> ProgressPrinter<W> {
    /// Progress on `out`; `live` rewrites one line with `\r`.
    pub fn new(out: W, live: bool) -> Self {
        ProgressPrinter { out, live, line_open: false }
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
        let keep = matches!(p.state, ProgressState::Failed(_) | ProgressState::Skipped(_));
        if self.live {
            // `\r` to the line start, `ESC [2K` clears what a longer previous line left.
            let _ = match &tail {
                None => write!(self.out, "\r\x1b[2K{head}"),
                Some(t) => write!(self.out, "\r\x1b[2K{head} {t}"),
            };
            if keep {
                let _ = writeln!(self.out);
                self.line_open = false;
            } else {
                self.line_open = true;
            }
        } else if let Some(t) = tail {
            let _ = writeln!(self.out, "{head} {t}");
        }
        let _ = self.out.flush();
    }

    /// Ends a live line so that what follows starts on a fresh one.
    pub fn finish(&mut self) {
        if self.line_open {
            let _ = writeln!(self.out);
            self.line_open = false;
        }
        let _ = self.out.flush();
    }

    /// The writer, e.g. a `Vec<u8>` in tests.
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_entities_and_controls() {
        assert_eq!(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(xml_escape("x\ny\u{1}"), "x&#10;y\u{FFFD}");
    }

    #[test]
    fn plain_progress_prints_finished_scripts_only() {
        let mut p = ProgressPrinter::new(Vec::new(), false);
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
            String::from_utf8(p.into_inner()).unwrap_or_default(),
            "[12/48] uzi-zorgverlener pin-counters … ok\n"
        );
    }

    #[test]
    fn live_progress_rewrites_the_line_and_keeps_failures() {
        let mut p = ProgressPrinter::new(Vec::new(), true);
        let ev = |state| Progress { index: 1, total: 2, profile: "p".into(), script: "s".into(), state };
        p.show(&ev(ProgressState::Started));
        p.show(&ev(ProgressState::Failed(1)));
        p.show(&ev(ProgressState::Passed));
        p.finish();
        let text = String::from_utf8(p.into_inner()).unwrap_or_default();
        assert_eq!(text, "\r\x1b[2K[1/2] p s …\r\x1b[2K[1/2] p s … FAILED (1 step)\n\r\x1b[2K[1/2] p s … ok\n");
    }
}
