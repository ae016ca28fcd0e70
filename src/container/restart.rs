//! `--restart`: the policy kept in the record and the decision the
//! detached supervisor makes each time the container's command ends,
//! with docker's rules (restartmanager): a delay that starts at 100 ms
//! and doubles up to a minute, reset after a run of 10 s or more; never
//! after the user stopped or killed it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restart on a non-zero exit, at most `max` times (0: no limit).
    OnFailure {
        max: u32,
    },
    Always,
    UnlessStopped,
}

impl RestartPolicy {
    /// Parse docker's forms: no, on-failure[:N], always, unless-stopped.
    pub fn parse(s: &str) -> Result<RestartPolicy, String> {
        let bad = || {
            format!(
                "invalid --restart {:?}: no, on-failure[:N], always or unless-stopped",
                crate::text::escape_control(s)
            )
        };
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        let policy = match name {
            "" | "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => {
                let max = match count {
                    None => 0,
                    Some(c) => c.parse::<u32>().map_err(|_| {
                        format!(
                            "invalid --restart {:?}: the retry count must be a number",
                            crate::text::escape_control(s)
                        )
                    })?,
                };
                return Ok(RestartPolicy::OnFailure { max });
            }
            _ => return Err(bad()),
        };
        if count.is_some() {
            return Err(format!(
                "invalid --restart {:?}: only on-failure takes a retry count",
                crate::text::escape_control(s)
            ));
        }
        Ok(policy)
    }

    /// Docker's name: "no", "on-failure", "always", "unless-stopped".
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    /// Docker's MaximumRetryCount.
    pub fn max_retries(&self) -> u32 {
        match self {
            RestartPolicy::OnFailure { max } => *max,
            _ => 0,
        }
    }

    pub fn is_none(&self) -> bool {
        *self == RestartPolicy::No
    }

    /// Whether a command that ended with `code`, after `restarts`
    /// restarts so far, runs again. A user's stop or kill ends it for
    /// every policy (for `always` docker waits for its daemon's restart;
    /// we have none).
    pub fn should_restart(&self, code: i32, restarts: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure { max } => code != 0 && (*max == 0 || restarts < *max),
        }
    }
}

/// The delay before the next restart.
#[derive(Debug, Default)]
pub struct Backoff {
    last: Duration,
}

const FIRST: Duration = Duration::from_millis(100);
const MOST: Duration = Duration::from_secs(60);
/// A run this long counts as healthy: the delay starts over.
const HEALTHY: Duration = Duration::from_secs(10);

impl Backoff {
    /// The delay after a run that lasted `ran`.
    pub fn next(&mut self, ran: Duration) -> Duration {
        if ran >= HEALTHY || self.last.is_zero() {
            self.last = FIRST;
        } else {
            self.last = (self.last * 2).min(MOST);
        }
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_forms_and_refuses_the_rest() {
        assert_eq!(RestartPolicy::parse("no"), Ok(RestartPolicy::No));
        assert_eq!(RestartPolicy::parse("always"), Ok(RestartPolicy::Always));
        assert_eq!(
            RestartPolicy::parse("unless-stopped"),
            Ok(RestartPolicy::UnlessStopped)
        );
        assert_eq!(
            RestartPolicy::parse("on-failure"),
            Ok(RestartPolicy::OnFailure { max: 0 })
        );
        assert_eq!(
            RestartPolicy::parse("on-failure:3"),
            Ok(RestartPolicy::OnFailure { max: 3 })
        );
        for bad in ["bogus", "on-failure:x", "always:2", "on-failure:-1"] {
            assert!(RestartPolicy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decides_as_docker() {
        let f = RestartPolicy::OnFailure { max: 2 };
        assert!(f.should_restart(1, 0, false));
        assert!(f.should_restart(1, 1, false));
        assert!(!f.should_restart(1, 2, false));
        assert!(!f.should_restart(0, 0, false));
        assert!(RestartPolicy::Always.should_restart(0, 99, false));
        assert!(!RestartPolicy::Always.should_restart(1, 0, true));
        assert!(!RestartPolicy::UnlessStopped.should_restart(1, 0, true));
        assert!(!RestartPolicy::No.should_restart(1, 0, false));
    }

    #[test]
    fn the_delay_doubles_and_starts_over_after_a_healthy_run() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(5);
        assert_eq!(b.next(short), Duration::from_millis(100));
        assert_eq!(b.next(short), Duration::from_millis(200));
        assert_eq!(b.next(short), Duration::from_millis(400));
        for _ in 0..20 {
            b.next(short);
        }
        assert_eq!(b.next(short), Duration::from_secs(60));
        assert_eq!(b.next(Duration::from_secs(11)), Duration::from_millis(100));
    }
}
