//! `rate` on a rule: the rule matches once more than `max` calls that
//! satisfy its other conditions were seen within `per`, counted by agent,
//! tool or key.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// The largest `max` a rate may have: each counter keeps at most `max + 1`
/// timestamps.
pub const MAX_RATE_MAX: u64 = 100_000;
/// The longest window a rate may have.
pub const MAX_RATE_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// How many counters the engine keeps; past this the stalest are dropped.
const MAX_COUNTERS: usize = 100_000;

/// What a rate counts calls by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateBy {
    /// The request's `agent_id` (`"default"` without one).
    Agent,
    /// The request's tool name.
    Tool,
    /// The API key the gateway authenticated (the embedded engine, which
    /// has no keys, counts by agent instead).
    Key,
}

impl RateBy {
    fn as_str(self) -> &'static str {
        match self {
            RateBy::Agent => "agent",
            RateBy::Tool => "tool",
            RateBy::Key => "key",
        }
    }
}

/// A rule's `rate = { max = 20, per = "1m", by = "agent" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rate {
    /// Calls allowed within the window; the rule matches from call `max + 1`.
    pub max: u64,
    /// The window.
    pub per: Duration,
    /// What calls are counted by (default: agent).
    pub by: RateBy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateSpec {
    max: i64,
    per: toml::Value,
    #[serde(default)]
    by: Option<String>,
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spec = RateSpec::deserialize(d)?;
        Rate::compile(spec).map_err(serde::de::Error::custom)
    }
}

impl Rate {
    fn compile(spec: RateSpec) -> Result<Rate, String> {
        let max = u64::try_from(spec.max)
            .ok()
            .filter(|m| *m <= MAX_RATE_MAX)
            .ok_or_else(|| {
                format!(
                    "rate `max` must be between 0 and {MAX_RATE_MAX}, not {}",
                    spec.max
                )
            })?;
        let per = match &spec.per {
            toml::Value::String(s) => parse_window(s)?,
            toml::Value::Integer(i) if *i > 0 => Duration::from_secs(*i as u64),
            other => {
                return Err(format!(
                    "rate `per` must be a window such as \"30s\", \"1m\" or \"1h\" (or a number of seconds), not {other}"
                ));
            }
        };
        if per > MAX_RATE_WINDOW {
            return Err("rate `per` must be at most 7 days".to_owned());
        }
        let by = match spec.by.as_deref() {
            None | Some("agent") => RateBy::Agent,
            Some("tool") => RateBy::Tool,
            Some("key") => RateBy::Key,
            Some(other) => {
                return Err(format!(
                    "rate `by` must be \"agent\", \"tool\" or \"key\", not \"{other}\""
                ));
            }
        };
        Ok(Rate { max, per, by })
    }
}

/// Parses `"30s"`, `"1m"`, `"1h"`, `"1d"`, `"500ms"` or plain seconds `"30"`.
pub(crate) fn parse_window(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || {
        format!(
            "rate `per` = \"{text}\" is not a window: write e.g. \"30s\", \"1m\", \"1h\" or \"1d\""
        )
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let ms = match unit.trim() {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => n.checked_mul(1000),
        "ms" => Some(n),
        "m" | "min" | "mins" | "minute" | "minutes" => n.checked_mul(60_000),
        "h" | "hr" | "hour" | "hours" => n.checked_mul(3_600_000),
        "d" | "day" | "days" => n.checked_mul(86_400_000),
        _ => return Err(bad()),
    }
    .ok_or_else(bad)?;
    if ms == 0 {
        return Err(format!("rate `per` = \"{text}\" is an empty window"));
    }
    Ok(Duration::from_millis(ms))
}

/// The key of one counter: tenant, rule, what it counts by, and the value
/// counted (a tuple, so no two keys can collide).
type CounterKey = (String, String, RateBy, String);

/// The engine's rate counters: the timestamps (ms) of each counter's last
/// `max + 1` calls, so the state is bounded by the rules' `max`.
#[derive(Debug, Default)]
pub(crate) struct RateCounters {
    counters: Mutex<HashMap<CounterKey, VecDeque<u64>>>,
}

impl RateCounters {
    /// Records a call at `now_ms` and says whether the rule matches: more
    /// than `max` calls (this one included) within the window.
    pub(crate) fn hit(
        &self,
        tenant: &str,
        rule: &str,
        rate: &Rate,
        value: &str,
        now_ms: u64,
    ) -> bool {
        let window = rate.per.as_millis() as u64;
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let key: CounterKey = (
            tenant.to_owned(),
            rule.to_owned(),
            rate.by,
            value.to_owned(),
        );
        if !counters.contains_key(&key) && counters.len() >= MAX_COUNTERS {
            evict(&mut counters, now_ms);
        }
        let times = counters.entry(key).or_default();
        // A clock that went back counts as now.
        while times
            .front()
            .is_some_and(|&t| t.min(now_ms) + window <= now_ms)
        {
            times.pop_front();
        }
        times.push_back(now_ms);
        let keep = rate.max as usize + 1;
        while times.len() > keep {
            times.pop_front();
        }
        times.len() as u64 > rate.max
    }

    /// How many counters there are (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Drops every counter idle for more than the longest window, then, if the
/// map is still full, the stalest half.
fn evict(counters: &mut HashMap<CounterKey, VecDeque<u64>>, now_ms: u64) {
    let longest = MAX_RATE_WINDOW.as_millis() as u64;
    counters.retain(|_, t| t.back().is_some_and(|&last| last + longest > now_ms));
    if counters.len() >= MAX_COUNTERS {
        let mut lasts: Vec<u64> = counters
            .values()
            .filter_map(|t| t.back().copied())
            .collect();
        lasts.sort_unstable();
        let cut = lasts[lasts.len() / 2];
        counters.retain(|_, t| t.back().is_some_and(|&last| last > cut));
    }
}

impl std::fmt::Display for RateBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(max: u64, per: &str) -> Rate {
        Rate {
            max,
            per: parse_window(per).unwrap(),
            by: RateBy::Agent,
        }
    }

    #[test]
    fn windows_parse() {
        assert_eq!(parse_window("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_window("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_window("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_window("2d").unwrap(), Duration::from_secs(2 * 86400));
        assert_eq!(parse_window("45").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_window("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_window("5 minutes").unwrap(), Duration::from_secs(300));
        for bad in ["", "m", "1w", "0s", "-1s", "1.5m", "99999999999999999999h"] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matches_from_call_max_plus_one_and_expires() {
        let c = RateCounters::default();
        let r = rate(3, "1m");
        let hits: Vec<bool> = (0..5)
            .map(|i| c.hit("t", "r", &r, "a", 1_000 + i))
            .collect();
        assert_eq!(hits, [false, false, false, true, true]);
        // Another agent, tenant or rule has its own counter.
        assert!(!c.hit("t", "r", &r, "b", 1_010));
        assert!(!c.hit("u", "r", &r, "a", 1_010));
        assert!(!c.hit("t", "r2", &r, "a", 1_010));
        // A minute after the 2nd call (t = 1001) only the calls at 1002..1004 remain, plus this one.
        assert!(c.hit("t", "r", &r, "a", 61_001));
        // After a quiet minute the count starts again.
        assert!(!c.hit("t", "r", &r, "a", 200_000));
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn max_zero_matches_every_call_and_memory_is_bounded() {
        let c = RateCounters::default();
        assert!(c.hit("t", "r", &rate(0, "1s"), "a", 5));
        let r = rate(2, "1h");
        for i in 0..1000 {
            c.hit("t", "big", &r, "a", i);
        }
        let counters = c.counters.lock().unwrap();
        assert!(counters.values().all(|t| t.len() <= 3));
    }

    #[test]
    fn a_clock_going_back_does_not_panic() {
        let c = RateCounters::default();
        let r = rate(1, "1m");
        assert!(!c.hit("t", "r", &r, "a", 100_000));
        assert!(c.hit("t", "r", &r, "a", 50));
    }
}
