//! What a chaos run injected and how the application reacted, judged from the APDUs that follow each event, and
//! the rules a CI job can fail on.

use std::fmt;
use std::str::FromStr;

use super::event::{ChaosEvent, SeenApdu};

/// How the application reacted to an event, from the APDU it sent next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// It sent the same command again.
    Retried,
    /// It sent nothing more.
    GaveUp,
    /// The card lost its session (pull, reset) and the next command was no SELECT: the application went on with
    /// a handle to a state the card no longer has.
    StaleHandle,
    /// It went on with another command.
    WentOn,
}

impl fmt::Display for Reaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reaction::Retried => "retried",
            Reaction::GaveUp => "gave up",
            Reaction::StaleHandle => "went on with a stale handle",
            Reaction::WentOn => "went on",
        })
    }
}

/// A rule the run must keep; a broken rule fails `zorgcard chaos` (non-zero exit), for CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `no-verify-after-6983`: once the card answered `6983` (PIN blocked), the application sends no PIN again:
    /// each try would be a PIN typed for nothing (ISO 7816-4 §7.5.6).
    NoVerifyAfterBlocked,
    /// `no-stale-handle`: after a pull or reset the application selects again before anything else.
    NoStaleHandle,
    /// `retry-transient`: a transient status word (`6581`, `6F00`, `6A84`) is retried, not taken as final.
    RetryTransient,
}

impl Rule {
    /// Every rule, in the order they are checked.
    pub const ALL: [Rule; 3] = [Rule::NoVerifyAfterBlocked, Rule::NoStaleHandle, Rule::RetryTransient];

    /// The rule's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Rule::NoVerifyAfterBlocked => "no-verify-after-6983",
            Rule::NoStaleHandle => "no-stale-handle",
            Rule::RetryTransient => "retry-transient",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Rule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rule::ALL.into_iter().find(|r| r.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
            format!("no chaos rule `{s}`: use one of {}", names.join(", "))
        })
    }
}

/// One event played, and the reaction to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    /// 1-based position of the APDU it was played on.
    pub apdu: usize,
    /// That APDU's command name.
    pub command: &'static str,
    /// The event.
    pub event: ChaosEvent,
    /// What the application did next.
    pub reaction: Reaction,
}

/// A rule broken, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The rule.
    pub rule: Rule,
    /// 1-based position of the APDU that broke it.
    pub apdu: usize,
    /// What happened.
    pub what: String,
}

/// The end of a run: the seed, what was injected, how the application reacted, which rules broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The seed.
    pub seed: u64,
    /// How many C-APDUs the application sent.
    pub apdus: usize,
    /// The events, in order.
    pub injected: Vec<Injected>,
    /// The rules checked.
    pub rules: Vec<Rule>,
    /// The rules broken (empty: the run passes).
    pub broken: Vec<Broken>,
}

impl Summary {
    /// Sums up `log` (every APDU seen, in order) and checks `rules`.
    pub fn new(seed: u64, log: &[SeenApdu], rules: &[Rule]) -> Summary {
        let injected = log
            .iter()
            .enumerate()
            .filter_map(|(i, seen)| {
                let event = seen.event?;
                Some(Injected { apdu: i + 1, command: seen.name(), event, reaction: reaction(log, i, event) })
            })
            .collect::<Vec<_>>();
        let mut broken = Vec::new();
        for rule in rules {
            broken.extend(check(*rule, log, &injected));
        }
        Summary { seed, apdus: log.len(), injected, rules: rules.to_vec(), broken }
    }

    /// Whether every rule held.
    pub fn passed(&self) -> bool {
        self.broken.is_empty()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "chaos summary: seed {}, {} APDUs, {} events", self.seed, self.apdus, self.injected.len())?;
        for i in &self.injected {
            writeln!(f, "  APDU {} ({}): {} -> {}", i.apdu, i.command, i.event, i.reaction)?;
        }
        for rule in &self.rules {
            let broken: Vec<&Broken> = self.broken.iter().filter(|b| b.rule == *rule).collect();
            match broken.first() {
                None => writeln!(f, "  rule {rule}: kept")?,
                Some(b) => writeln!(f, "  rule {rule}: BROKEN at APDU {}: {}", b.apdu, b.what)?,
            }
        }
        Ok(())
    }
}

fn is_select(seen: &SeenApdu) -> bool {
    seen.apdu.get(1) == Some(&0xA4)
}

fn is_pin_try(seen: &SeenApdu) -> bool {
    // A VERIFY with data presents a PIN; without data it only asks the tries left (ISO 7816-4 §11.5.6).
    seen.apdu.get(1) == Some(&0x20) && seen.apdu.len() > 5
}

fn reaction(log: &[SeenApdu], i: usize, event: ChaosEvent) -> Reaction {
    let Some(next) = log.get(i + 1) else { return Reaction::GaveUp };
    if next.apdu == log[i].apdu {
        Reaction::Retried
    } else if event.loses_session() && !is_select(next) {
        Reaction::StaleHandle
    } else {
        Reaction::WentOn
    }
}

fn check(rule: Rule, log: &[SeenApdu], injected: &[Injected]) -> Vec<Broken> {
    match rule {
        Rule::NoVerifyAfterBlocked => {
            let Some(first) = log.iter().position(|s| s.sw == Some(0x6983)) else { return Vec::new() };
            log.iter()
                .enumerate()
                .skip(first + 1)
                .filter(|(_, s)| is_pin_try(s))
                .map(|(i, _)| Broken {
                    rule,
                    apdu: i + 1,
                    what: format!("VERIFY with a PIN after the card answered 6983 at APDU {}", first + 1),
                })
                .collect()
        }
        Rule::NoStaleHandle => injected
            .iter()
            .filter(|i| i.reaction == Reaction::StaleHandle)
            .map(|i| Broken {
                rule,
                apdu: i.apdu + 1,
                what: format!("{} after the {} at APDU {}, without SELECT", log[i.apdu].name(), i.event, i.apdu),
            })
            .collect(),
        Rule::RetryTransient => injected
            .iter()
            .filter(|i| matches!(i.event, ChaosEvent::Transient(_)) && i.reaction != Reaction::Retried)
            .map(|i| Broken { rule, apdu: i.apdu, what: format!("{} not retried: {}", i.event, i.reaction) })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(apdu: &[u8], sw: u16, event: Option<ChaosEvent>) -> SeenApdu {
        SeenApdu { apdu: apdu.to_vec(), sw: Some(sw), event }
    }

    #[test]
    fn reactions_follow_from_the_next_apdu() {
        let select = [0x00, 0xA4, 0x04, 0x0C, 0x01, 0xAA];
        let get = [0x00, 0xCA, 0xDF, 0x31, 0x00];
        let log = vec![
            seen(&get, 0x6F00, Some(ChaosEvent::Transient(0x6F00))),
            seen(&get, 0x9000, Some(ChaosEvent::Reset)),
            seen(&get, 0x9000, Some(ChaosEvent::Pull)),
            seen(&select, 0x9000, Some(ChaosEvent::Slow)),
            seen(&get, 0x9000, Some(ChaosEvent::Expired)),
        ];
        let s = Summary::new(7, &log, &Rule::ALL);
        let reactions: Vec<Reaction> = s.injected.iter().map(|i| i.reaction).collect();
        use Reaction::*;
        assert_eq!(reactions, [Retried, Retried, WentOn, WentOn, GaveUp]);
        assert!(s.passed(), "{s}");
    }

    #[test]
    fn a_pin_after_6983_breaks_the_rule_and_a_status_query_does_not() {
        let log = vec![
            seen(&[0x00, 0x20, 0x00, 0x01, 0x06, 1, 2, 3, 4, 5, 6], 0x6983, Some(ChaosEvent::PinBlocked)),
            seen(&[0x00, 0x20, 0x00, 0x01], 0x6983, None),
            seen(&[0x00, 0x20, 0x00, 0x01, 0x06, 1, 2, 3, 4, 5, 6], 0x6983, None),
        ];
        let s = Summary::new(1, &log, &[Rule::NoVerifyAfterBlocked]);
        assert_eq!(s.broken.len(), 1, "{s}");
        assert_eq!(s.broken[0].apdu, 3);
        assert!(s.to_string().contains("rule no-verify-after-6983: BROKEN at APDU 3"), "{s}");
        assert!(!format!("{log:?}").contains("1, 2, 3"), "APDU bytes never print");
    }
}
