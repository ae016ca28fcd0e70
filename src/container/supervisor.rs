//! What the detached supervisor does for a container: its output goes to
//! the container's log (stdout and stderr apart, rotated by size), its
//! start and exit go into the record. Runs in the supervisor process.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::health_probe::{Checker, ProbeSetup};
use super::log::{LogWriter, Rotation, Stream};
use super::record::now;
use super::record::{self, ProcRef, Record, Status};
use super::restart::{Backoff, RestartPolicy};
use crate::sandbox::{Monitor, OutStream};

/// The log file of a container dir.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("container.log")
}

pub struct RecordMonitor {
    root: PathBuf,
    id: String,
    log: Option<LogWriter>,
    policy: RestartPolicy,
    restarts: u32,
    cgroup: Option<PathBuf>,
    /// Whether `started` was called once already (later calls are restarts).
    ran: bool,
    backoff: Backoff,
    /// The container's health check, and its checker while it runs.
    health: Option<ProbeSetup>,
    checker: Option<Checker>,
}

impl RecordMonitor {
    pub fn new(root: &Path, rec: &Record, cgroup: Option<PathBuf>) -> RecordMonitor {
        let rotation = Rotation::from_opts(rec.extras.log_max_size, rec.extras.log_max_file);
        let path = log_path(&record::container_dir(root, &rec.id));
        RecordMonitor {
            root: root.to_path_buf(),
            id: rec.id.clone(),
            // Without a log the container still runs; `logs` says it is empty.
            log: LogWriter::open(&path, rotation).ok(),
            policy: rec.extras.restart,
            cgroup,
            restarts: 0,
            ran: false,
            backoff: Backoff::default(),
            health: None,
            checker: None,
        }
    }

    /// Run the container's health check (if it has one) while it runs.
    pub fn with_health(mut self, setup: Option<ProbeSetup>) -> RecordMonitor {
        self.health = setup.filter(|s| s.config.command().is_some());
        self
    }
}

impl Monitor for RecordMonitor {
    fn started(&mut self, init: i32) {
        let init_pid = init;
        let me = ProcRef::of(std::process::id() as i32);
        let init = ProcRef::of(init);
        let restart = std::mem::replace(&mut self.ran, true);
        let restarts = self.restarts;
        let cgroup = self.cgroup.clone();
        let _ = record::update(&self.root, &self.id, |r| {
            r.cgroup = cgroup;
            // A start by the user counts from zero and clears its stop.
            r.restart_count = if restart { restarts } else { 0 };
            r.manually_stopped &= restart;
            r.removing &= restart;
            r.status = Status::Running;
            r.started_at = Some(now());
            r.finished_at = None;
            // A restart keeps the last run's code (`run` without -d reads it).
            if !restart {
                r.exit_code = None;
            }
            r.monitor = me;
            r.init = init;
            r.detached = true;
        });
        // Last, so the checker holds none of the above.
        self.checker = None;
        self.checker = self
            .health
            .as_ref()
            .and_then(|h| Checker::spawn(h, init_pid));
    }

    fn output(&mut self, stream: OutStream, data: &[u8]) {
        let stream = match stream {
            OutStream::Stdout => Stream::Stdout,
            OutStream::Stderr => Stream::Stderr,
        };
        if let Some(log) = &mut self.log {
            // A full disk loses output, never the container.
            let _ = log.write(stream, data, SystemTime::now());
        }
    }

    fn restart_delay(&mut self, code: i32, ran: Duration) -> Option<Duration> {
        // The checks end with the command; a restart starts them anew.
        self.checker = None;
        // The record says whether the user stopped it (or removed it).
        let rec = record::read(&record::container_dir(&self.root, &self.id)).ok()?;
        if !self
            .policy
            .should_restart(code, self.restarts, rec.manually_stopped)
        {
            return None;
        }
        let delay = self.backoff.next(ran);
        self.restarts += 1;
        let noted = record::update(&self.root, &self.id, |r| {
            r.status = Status::Restarting;
            r.exit_code = Some(code);
            r.finished_at = Some(now());
            r.init = None;
        });
        // Stopped meanwhile (the flag is set before the signal): no restart.
        noted.ok().filter(|r| !r.manually_stopped).map(|_| delay)
    }

    fn discard_root(&mut self) -> bool {
        // Gone already: removed.
        record::read(&record::container_dir(&self.root, &self.id))
            .map_or(true, |r| r.removing || r.config.auto_remove)
    }

    fn exited(&mut self, code: i32) {
        self.checker = None;
        let noted = record::update(&self.root, &self.id, |r| {
            r.status = Status::Exited;
            r.exit_code = Some(code);
            r.finished_at = Some(now());
        });
        // A --rm container's anonymous volumes go now (its dir goes next);
        // as root of the user namespace we can delete what it chowned.
        if let Ok(rec) = &noted {
            if rec.config.auto_remove {
                if let Err(e) = super::volumes::remove_anonymous_of(&self.root, rec) {
                    let line = format!("burrow: supervisor: {e:#}\n");
                    self.output(OutStream::Stderr, line.as_bytes());
                }
            }
        }
        // Gone already when removed (rm -f, --rm): nothing to note then.
        if let Err(e) = noted {
            if record::container_dir(&self.root, &self.id).exists() {
                let line = format!("burrow: supervisor: note the exit ({code}): {e:#}\n");
                self.output(OutStream::Stderr, line.as_bytes());
            }
        }
    }
}
