//! Health checks, as Docker has them: the check's settings (the image's
//! `HEALTHCHECK` under `--health-*` flags), the state it leads to
//! (starting -> healthy / unhealthy, the failing streak, the last five
//! results) and the `health.json` that holds it beside the record. Pure:
//! the process that runs the checks is `health_probe`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// Docker's defaults (daemon/health.go).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: u32 = 3;
/// Results kept, and bytes of output kept per result.
pub const MAX_LOG: usize = 5;
pub const MAX_OUTPUT: usize = 4096;

/// A check's settings, in the image config's shape (`Healthcheck`):
/// durations in nanoseconds, 0 meaning "the default" (or "the image's"
/// while flags are merged over an image's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["CMD", args...]`, `["CMD-SHELL", command]`, `["NONE"]`; empty:
    /// the image's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: u64,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub retries: u32,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

impl HealthConfig {
    /// The image config's `config.Healthcheck`, if it has a usable one (a
    /// malformed one is ignored, as an image's unknown fields are).
    pub fn from_image_config(bytes: &[u8]) -> Option<HealthConfig> {
        let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let h = v.get("config")?.get("Healthcheck")?;
        // Docker writes durations as signed integers; a negative one is junk.
        serde_json::from_value(h.clone()).ok()
    }

    /// The `--health-*` flags over the image's check, as the daemon merges
    /// them: no test given keeps the image's, a zero field takes the
    /// image's value.
    pub fn merged_over(self, image: Option<&HealthConfig>) -> HealthConfig {
        let Some(img) = image else { return self };
        let pick = |mine: u64, theirs: u64| if mine == 0 { theirs } else { mine };
        HealthConfig {
            test: if self.test.is_empty() {
                img.test.clone()
            } else {
                self.test
            },
            interval: pick(self.interval, img.interval),
            timeout: pick(self.timeout, img.timeout),
            start_period: pick(self.start_period, img.start_period),
            start_interval: pick(self.start_interval, img.start_interval),
            retries: if self.retries == 0 {
                img.retries
            } else {
                self.retries
            },
        }
    }

    /// The command to run, or `None`: no check (none given, `NONE`, or a
    /// test that names no command).
    pub fn command(&self) -> Option<Vec<String>> {
        match self.test.split_first()?.0.as_str() {
            "CMD" if self.test.len() > 1 => Some(self.test[1..].to_vec()),
            "CMD-SHELL" if self.test.len() > 1 => Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                self.test[1..].join(" "),
            ]),
            _ => None,
        }
    }

    pub fn interval(&self) -> Duration {
        or_default(self.interval, DEFAULT_INTERVAL)
    }
    pub fn timeout(&self) -> Duration {
        or_default(self.timeout, DEFAULT_TIMEOUT)
    }
    pub fn start_period(&self) -> Duration {
        Duration::from_nanos(self.start_period)
    }
    pub fn start_interval(&self) -> Duration {
        or_default(self.start_interval, DEFAULT_START_INTERVAL)
    }
    pub fn retries(&self) -> u32 {
        if self.retries == 0 {
            DEFAULT_RETRIES
        } else {
            self.retries
        }
    }

    /// The wait before the next check: the start interval while the
    /// container is starting within its start period, else the interval.
    pub fn next_interval(&self, since_start: Duration, status: Status) -> Duration {
        if since_start < self.start_period() && status == Status::Starting {
            self.start_interval()
        } else {
            self.interval()
        }
    }
}

fn or_default(nanos: u64, default: Duration) -> Duration {
    match nanos {
        0 => default,
        n => Duration::from_nanos(n),
    }
}

/// The `--health-*` flags of `run` and `create`, as given.
#[derive(Debug, Clone, Default)]
pub struct HealthFlags {
    pub cmd: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<i64>,
    pub none: bool,
}

impl HealthFlags {
    /// The flags as a config to merge over the image's; `None`: no flag
    /// given. Refuses what Docker refuses, in its words.
    pub fn to_config(&self) -> anyhow::Result<Option<HealthConfig>> {
        let any_flag = self.cmd.is_some()
            || self.interval.is_some()
            || self.timeout.is_some()
            || self.start_period.is_some()
            || self.start_interval.is_some()
            || self.retries.is_some();
        if self.none {
            if any_flag {
                bail!("--no-healthcheck conflicts with --health-* options");
            }
            return Ok(Some(HealthConfig {
                test: vec!["NONE".into()],
                ..Default::default()
            }));
        }
        if !any_flag {
            return Ok(None);
        }
        let duration = |flag: &str, field: &str, v: &Option<String>| -> anyhow::Result<u64> {
            let Some(v) = v else { return Ok(0) };
            let d = parse_go_duration(v).with_context(|| {
                format!(
                    "invalid argument {:?} for \"--{flag}\" flag",
                    crate::text::escape_control(v)
                )
            })?;
            // The daemon's floor: 0 (the default) or at least 1 ms.
            if d != Duration::ZERO && d < Duration::from_millis(1) {
                bail!("{field} in Healthcheck cannot be less than 1ms");
            }
            Ok(d.as_nanos().min(u64::MAX as u128) as u64)
        };
        let retries = match self.retries {
            Some(n) if n < 0 => bail!("--health-retries cannot be negative"),
            Some(n) => u32::try_from(n).context("--health-retries is too large")?,
            None => 0,
        };
        Ok(Some(HealthConfig {
            test: match &self.cmd {
                Some(c) if !c.is_empty() => vec!["CMD-SHELL".into(), c.clone()],
                _ => Vec::new(),
            },
            interval: duration("health-interval", "Interval", &self.interval)?,
            timeout: duration("health-timeout", "Timeout", &self.timeout)?,
            start_period: duration("health-start-period", "StartPeriod", &self.start_period)?,
            start_interval: duration(
                "health-start-interval",
                "StartInterval",
                &self.start_interval,
            )?,
            retries,
        }))
    }
}

/// Go's `time.ParseDuration`: "1h2m3.5s", "300ms", "0" (units ns, us,
/// µs, ms, s, m, h; a number without a unit only for 0).
pub fn parse_go_duration(s: &str) -> anyhow::Result<Duration> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        bail!("a duration cannot be negative");
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        bail!("an empty duration");
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_end);
        let value: f64 = num.parse().context("not a duration such as 30s or 1m30s")?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let nanos = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => bail!("missing unit in duration (such as 30s)"),
            _ => bail!("unknown unit {unit:?} in duration"),
        };
        total += value * nanos;
        rest = next;
    }
    if total > u64::MAX as f64 {
        bail!("the duration is too long");
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Go's `Duration.String` for the durations a check has: "30s", "1m30s",
/// "500ms", "1.5s".
pub fn go_duration(d: Duration) -> String {
    let n = d.as_nanos();
    if n == 0 {
        return "0s".into();
    }
    if n < 1_000_000_000 {
        let (v, unit) = match n {
            n if n < 1_000 => return format!("{n}ns"),
            n if n < 1_000_000 => (n as f64 / 1e3, "µs"),
            n => (n as f64 / 1e6, "ms"),
        };
        return format!("{}{unit}", trim_float(v));
    }
    let secs = n as f64 / 1e9;
    let (h, m) = ((n / 3_600_000_000_000), (n / 60_000_000_000) % 60);
    let s = secs - (h * 3600 + m * 60) as f64;
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if h > 0 || m > 0 {
        out += &format!("{m}m");
    }
    out + &format!("{}s", trim_float(s))
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// A container's health: `starting` until a check passes or fails for
/// good, then `healthy` or `unhealthy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Starting,
    Healthy,
    Unhealthy,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Starting => "starting",
            Status::Healthy => "healthy",
            Status::Unhealthy => "unhealthy",
        }
    }

    /// What `ps` shows in parentheses after "Up ...".
    pub fn ps_word(self) -> &'static str {
        match self {
            Status::Starting => "health: starting",
            s => s.word(),
        }
    }
}

/// One check's result, in inspect's shape (times in RFC 3339 with
/// nanoseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Outcome {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// `State.Health` of inspect, kept in `health.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: Status,
    pub failing_streak: u32,
    #[serde(default)]
    pub log: Vec<Outcome>,
}

impl Health {
    /// A (re)started container: starting, no streak; the log is kept.
    pub fn restarted(old: Option<Health>) -> Health {
        Health {
            status: Status::Starting,
            failing_streak: 0,
            log: old.map(|h| h.log).unwrap_or_default(),
        }
    }

    /// Docker's rule for a result: a pass makes it healthy; a failure
    /// within the start period while still starting is not counted; else
    /// it lengthens the streak, which at `retries` makes it unhealthy.
    pub fn note(&mut self, result: Outcome, started_after: Duration, cfg: &HealthConfig) {
        if result.exit_code == 0 {
            self.failing_streak = 0;
            self.status = Status::Healthy;
        } else if !(self.status == Status::Starting && started_after < cfg.start_period()) {
            self.failing_streak += 1;
            if self.failing_streak >= cfg.retries() {
                self.status = Status::Unhealthy;
            }
        }
        self.log.push(result);
        if self.log.len() > MAX_LOG {
            self.log.drain(..self.log.len() - MAX_LOG);
        }
    }
}

/// Output kept as Docker keeps it: the first 4096 bytes, "..." after
/// them when more came.
#[derive(Debug, Default)]
pub struct LimitedOutput {
    buf: Vec<u8>,
    truncated: bool,
}

impl LimitedOutput {
    pub fn push(&mut self, data: &[u8]) {
        let keep = MAX_OUTPUT.saturating_sub(self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..keep]);
        self.truncated |= keep < data.len();
    }

    pub fn finish(self) -> String {
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if self.truncated {
            s.push_str("...");
        }
        s
    }
}

/// `containers/<id>/health.json`.
pub fn path(container_dir: &Path) -> PathBuf {
    container_dir.join("health.json")
}

/// The container's health, when it has a check and one was noted.
pub fn read(container_dir: &Path) -> Option<Health> {
    let bytes = std::fs::read(path(container_dir)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Replace the health file atomically (readers never see half of one).
pub fn write(container_dir: &Path, h: &Health) -> anyhow::Result<()> {
    let body = serde_json::to_vec_pretty(h)?;
    crate::fsutil::write_atomic(&path(container_dir), &body, false)
        .context("replace the container's health file")
}

/// RFC 3339 with nanoseconds, as Docker's health log has it.
pub fn timestamp(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(code: i32) -> Outcome {
        Outcome {
            start: "s".into(),
            end: "e".into(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn go_durations_parse_and_print() {
        assert_eq!(parse_go_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("1.5s").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            parse_go_duration("300ms").unwrap(),
            Duration::from_millis(300)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "5", "-1s", "1x", "s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn flags_merge_over_the_images_check() {
        let image = HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            interval: 5_000_000_000,
            retries: 7,
            ..Default::default()
        };
        let flags = HealthFlags {
            interval: Some("2s".into()),
            ..Default::default()
        };
        let c = flags
            .to_config()
            .unwrap()
            .unwrap()
            .merged_over(Some(&image));
        assert_eq!(c.test, image.test);
        assert_eq!(c.interval(), Duration::from_secs(2));
        assert_eq!(c.retries(), 7);
        assert_eq!(c.timeout(), DEFAULT_TIMEOUT);
        let none = HealthFlags {
            none: true,
            ..Default::default()
        };
        let c = none.to_config().unwrap().unwrap().merged_over(Some(&image));
        assert_eq!(c.command(), None);
        let both = HealthFlags {
            none: true,
            cmd: Some("true".into()),
            ..Default::default()
        };
        assert!(format!("{:#}", both.to_config().unwrap_err()).contains("conflicts"));
        assert_eq!(HealthFlags::default().to_config().unwrap(), None);
        let tiny = HealthFlags {
            timeout: Some("10us".into()),
            ..Default::default()
        };
        assert!(tiny.to_config().is_err());
    }

    #[test]
    fn tests_become_commands() {
        let t = |v: &[&str]| HealthConfig {
            test: v.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert_eq!(t(&["CMD", "a", "b"]).command().unwrap(), ["a", "b"]);
        assert_eq!(
            t(&["CMD-SHELL", "exit 1"]).command().unwrap(),
            ["/bin/sh", "-c", "exit 1"]
        );
        assert_eq!(t(&["NONE"]).command(), None);
        assert_eq!(t(&["CMD"]).command(), None);
        assert_eq!(t(&[]).command(), None);
    }

    #[test]
    fn the_image_configs_check_is_read() {
        let cfg = br#"{"config":{"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":1000000000,"Retries":2}},"rootfs":{}}"#;
        let h = HealthConfig::from_image_config(cfg).unwrap();
        assert_eq!(h.test, ["CMD-SHELL", "true"]);
        assert_eq!(h.interval(), Duration::from_secs(1));
        assert_eq!(h.retries(), 2);
        assert_eq!(HealthConfig::from_image_config(br#"{"config":{}}"#), None);
    }

    #[test]
    fn a_streak_of_failures_makes_it_unhealthy_and_a_pass_heals_it() {
        let cfg = HealthConfig {
            retries: 2,
            ..Default::default()
        };
        let mut h = Health::restarted(None);
        let late = Duration::from_secs(100);
        h.note(outcome(1), late, &cfg);
        assert_eq!((h.status, h.failing_streak), (Status::Starting, 1));
        h.note(outcome(1), late, &cfg);
        assert_eq!((h.status, h.failing_streak), (Status::Unhealthy, 2));
        h.note(outcome(0), late, &cfg);
        assert_eq!((h.status, h.failing_streak), (Status::Healthy, 0));
        for _ in 0..6 {
            h.note(outcome(-1), late, &cfg);
        }
        assert_eq!(h.log.len(), MAX_LOG);
        assert_eq!(h.status, Status::Unhealthy);
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_while_starting() {
        let cfg = HealthConfig {
            retries: 1,
            start_period: 10_000_000_000,
            ..Default::default()
        };
        let mut h = Health::restarted(None);
        h.note(outcome(1), Duration::from_secs(1), &cfg);
        assert_eq!((h.status, h.failing_streak), (Status::Starting, 0));
        assert_eq!(
            cfg.next_interval(Duration::from_secs(1), h.status),
            DEFAULT_START_INTERVAL
        );
        h.note(outcome(0), Duration::from_secs(2), &cfg);
        // Healthy once: failures count from then on, start period or not.
        h.note(outcome(1), Duration::from_secs(3), &cfg);
        assert_eq!(h.status, Status::Unhealthy);
        assert_eq!(
            cfg.next_interval(Duration::from_secs(3), h.status),
            DEFAULT_INTERVAL
        );
    }

    #[test]
    fn output_is_cut_at_4096_bytes() {
        let mut o = LimitedOutput::default();
        o.push(&[b'a'; 4000]);
        o.push(&[b'b'; 200]);
        let s = o.finish();
        assert_eq!(s.len(), 4096 + 3);
        assert!(s.ends_with("bbb..."));
        let mut o = LimitedOutput::default();
        o.push(b"ok\n");
        assert_eq!(o.finish(), "ok\n");
    }
}
