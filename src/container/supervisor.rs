//! What the detached supervisor does for a container: its output goes to
//! the container's log (stdout and stderr apart, rotated by size), its
//! start and exit go into the record. Runs in the supervisor process.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::lifecycle::now;
use super::log::{LogWriter, Rotation, Stream};
use super::record::{self, ProcRef, Record, Status};
use crate::sandbox::{Monitor, OutStream};

/// The log file of a container dir.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("container.log")
}

pub struct RecordMonitor {
    root: PathBuf,
    id: String,
    log: Option<LogWriter>,
}

impl RecordMonitor {
    pub fn new(root: &Path, rec: &Record) -> RecordMonitor {
        let rotation = rec.extras.log_max_size.map(|max_size| Rotation {
            max_size,
            max_files: rec.extras.log_max_file.unwrap_or(1),
        });
        let path = log_path(&record::container_dir(root, &rec.id));
        RecordMonitor {
            root: root.to_path_buf(),
            id: rec.id.clone(),
            // Without a log the container still runs; `logs` says it is empty.
            log: LogWriter::open(&path, rotation).ok(),
        }
    }
}

impl Monitor for RecordMonitor {
    fn started(&mut self, init: i32) {
        let me = ProcRef::of(std::process::id() as i32);
        let init = ProcRef::of(init);
        let _ = record::update(&self.root, &self.id, |r| {
            r.status = Status::Running;
            r.started_at = Some(now());
            r.finished_at = None;
            r.exit_code = None;
            r.monitor = me;
            r.init = init;
            r.detached = true;
        });
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

    fn exited(&mut self, code: i32) {
        let noted = record::update(&self.root, &self.id, |r| {
            r.status = Status::Exited;
            r.exit_code = Some(code);
            r.finished_at = Some(now());
        });
        // Gone already when removed (rm -f, --rm): nothing to note then.
        if let Err(e) = noted {
            if record::container_dir(&self.root, &self.id).exists() {
                let line = format!("burrow: supervisor: note the exit ({code}): {e:#}\n");
                self.output(OutStream::Stderr, line.as_bytes());
            }
        }
    }
}
