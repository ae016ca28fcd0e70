//! A container's state as it truly is now: the record says what the last
//! writer knew; the monitor's pid and start time say whether that still
//! holds (a killed supervisor or a reboot leaves "running" records).

use super::record::{ProcRef, Record, Status};
use crate::error::Coded;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Created,
    Running,
    /// Running, frozen by `pause`.
    Paused,
    /// Ended; its supervisor starts it again after a delay.
    Restarting,
    /// `code` is `None` when the monitor died without noting it.
    Exited {
        code: Option<i32>,
        at: Option<u64>,
    },
}

impl State {
    pub fn of(rec: &Record) -> State {
        match rec.status {
            Status::Created => State::Created,
            Status::Exited => State::Exited {
                code: rec.exit_code,
                at: rec.finished_at,
            },
            Status::Running | Status::Restarting if !rec.monitor.is_some_and(|m| m.alive()) => {
                State::Exited {
                    code: None,
                    at: rec.finished_at,
                }
            }
            Status::Restarting => State::Restarting,
            Status::Running if super::cgroup::is_frozen(rec.cgroup.as_deref()) => State::Paused,
            Status::Running => State::Running,
        }
    }

    /// Whether its supervisor lives: running, paused or restarting.
    pub fn is_live(&self) -> bool {
        matches!(self, State::Running | State::Paused | State::Restarting)
    }

    /// Docker's lower-case word: created, running, exited.
    pub fn word(&self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Restarting => "restarting",
            State::Exited { .. } => "exited",
        }
    }

    /// Docker's STATUS column: "Up 5 seconds", "Exited (0) 2 minutes ago".
    pub fn status_line(&self, rec: &Record, now: u64) -> String {
        match self {
            State::Created => "Created".into(),
            State::Running => format!(
                "Up {}",
                human_duration(now.saturating_sub(rec.started_at.unwrap_or(rec.created)))
            ),
            State::Paused => format!(
                "Up {} (Paused)",
                human_duration(now.saturating_sub(rec.started_at.unwrap_or(rec.created)))
            ),
            State::Restarting => format!(
                "Restarting ({}) {} ago",
                rec.exit_code.unwrap_or(0),
                human_duration(now.saturating_sub(rec.finished_at.unwrap_or(now)))
            ),
            State::Exited { code: Some(c), at } => match at {
                Some(t) => format!(
                    "Exited ({c}) {} ago",
                    human_duration(now.saturating_sub(*t))
                ),
                None => format!("Exited ({c})"),
            },
            State::Exited { code: None, .. } => "Exited (unknown: its supervisor is gone)".into(),
        }
    }
}

/// go-units' HumanDuration, which docker prints.
pub fn human_duration(secs: u64) -> String {
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    let (m, h) = (secs / 60, secs / 3600);
    match secs {
        0 => "Less than a second".into(),
        s if s < 60 => plural(s, "second"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => plural(m, "minute"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => plural(h, "hour"),
        _ if h < 24 * 7 * 2 => plural(h / 24, "day"),
        _ if h < 24 * 30 * 3 => plural(h / 24 / 7, "week"),
        _ if h < 24 * 365 * 2 => plural(h / 24 / 30, "month"),
        _ => plural(h / 24 / 365, "year"),
    }
}

/// Docker's refusal of a container in the wrong state: "container NAME
/// WHY", exit code 1.
pub fn refusal(rec: &Record, why: &str) -> Coded {
    Coded::new(
        1,
        format!("container {} {why}", crate::text::escape_control(&rec.name)),
    )
}

/// "container NAME is not running" (1).
pub fn not_running(rec: &Record) -> Coded {
    refusal(rec, "is not running")
}

/// The init of a running container (`exec` joins it); refused, with
/// docker's words, when it is paused, restarting, still starting or not
/// running.
pub fn require_running(rec: &Record) -> Result<ProcRef, Coded> {
    match (State::of(rec), rec.init.filter(|i| i.alive())) {
        (State::Running, Some(init)) => Ok(init),
        (State::Paused, _) => Err(refusal(rec, "is paused, unpause the container before exec")),
        (State::Restarting, _) => Err(refusal(
            rec,
            "is restarting, wait until the container is running",
        )),
        (State::Running, None) => Err(refusal(
            rec,
            "is starting (its init is not known yet); try again",
        )),
        _ => Err(not_running(rec)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_docker_prints_them() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(300), "5 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }

    #[test]
    fn restarting_holds_only_while_its_supervisor_lives() {
        let mut r = crate::container::record::test_record("a1", "n");
        r.status = Status::Restarting;
        r.exit_code = Some(1);
        r.finished_at = Some(100);
        r.monitor = crate::container::record::ProcRef::of(std::process::id() as i32);
        let s = State::of(&r);
        assert_eq!(s, State::Restarting);
        assert!(s.is_live());
        assert_eq!(s.word(), "restarting");
        assert_eq!(s.status_line(&r, 103), "Restarting (1) 3 seconds ago");
        r.monitor = Some(crate::container::record::ProcRef {
            pid: i32::MAX,
            start: 1,
        });
        assert_eq!(
            State::of(&r),
            State::Exited {
                code: None,
                at: Some(100)
            }
        );
    }
}
