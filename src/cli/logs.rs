//! `burrow logs`: what a container wrote, stdout to stdout and stderr to
//! stderr, from its log (container/log.rs).

use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Args;

use crate::container::control::not_found;
use crate::container::log::{self, Entry, Follower, Stream};
use crate::container::record;
use crate::container::state::State;
use crate::container::supervisor::log_path;
use crate::paths::Paths;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing what the container writes, until it ends
    #[arg(short, long)]
    pub follow: bool,

    /// Only the last N lines ("all" for every line)
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<String>,

    /// Prefix each line with its time (RFC 3339)
    #[arg(short, long)]
    pub timestamps: bool,

    /// Only lines since a time (2024-01-02T15:04:05Z, a Unix time) or a duration ago (10m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// The container (name, id or unique id prefix)
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub fn run(paths: &Paths, args: &LogsArgs) -> anyhow::Result<i32> {
    let root = paths.root();
    let rec = record::find(root, &args.container).map_err(not_found)?;
    let tail = match args.tail.as_deref() {
        None | Some("all") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .with_context(|| format!("invalid --tail {n:?}: a number or \"all\""))?,
        ),
    };
    let since = args
        .since
        .as_deref()
        .map(|s| log::parse_since(s, SystemTime::now()))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let path = log_path(&record::container_dir(root, &rec.id));
    if !rec.detached && rec.started_at.is_some() && !path.exists() {
        // Its output went straight to the caller's terminal or pipes:
        // teeing it would cost every foreground run a copy in between.
        eprintln!(
            "burrow: note: {} ran in the foreground: its output went to the terminal that \
             started it, not to a log (containers started with -d or 'burrow start' keep one)",
            crate::text::escape_control(&rec.name)
        );
    }
    // Follow from here first, so nothing written meanwhile is lost.
    let mut follower = if args.follow {
        Some(Follower::at_end(&path).context("open the log")?)
    } else {
        None
    };
    match tail {
        // From the end backwards: only what is printed is read.
        Some(n) => print(
            &log::tail(&path, since, n).context("read the log")?,
            args.timestamps,
        ),
        None => {
            let mut out = Printer::new(args.timestamps);
            log::for_each(&path, since, |e| out.entry(e)).context("read the log")?;
        }
    }
    let Some(follower) = &mut follower else {
        return Ok(0);
    };
    loop {
        let running = record::find(root, &rec.id)
            .map(|r| State::of(&r).is_live())
            .unwrap_or(false);
        print(&follower.poll().context("read the log")?, args.timestamps);
        if !running {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn print(entries: &[Entry], timestamps: bool) {
    let mut out = Printer::new(timestamps);
    for e in entries {
        out.entry(e);
    }
}

/// Writes entries to our stdout and stderr. Stdout is buffered (a log of
/// a million short lines is not a million writes) and flushed before
/// anything goes to stderr, so the two keep their order on one terminal.
struct Printer {
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
    err: std::io::StderrLock<'static>,
    timestamps: bool,
}

impl Printer {
    fn new(timestamps: bool) -> Printer {
        Printer {
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock()),
            err: std::io::stderr().lock(),
            timestamps,
        }
    }

    fn entry(&mut self, e: &Entry) {
        let w: &mut dyn Write = match e.stream {
            Stream::Stdout => &mut self.out,
            Stream::Stderr => {
                let _ = self.out.flush();
                &mut self.err
            }
        };
        if !self.timestamps {
            let _ = w.write_all(&e.text);
            return;
        }
        // A record may hold many lines: each gets the time.
        let time = humantime::format_rfc3339_nanos(e.time);
        for line in e.text.split_inclusive(|b| *b == b'\n') {
            let _ = write!(w, "{time} ");
            let _ = w.write_all(line);
        }
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}
