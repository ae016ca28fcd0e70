//! `burrow logs`: what a container wrote, stdout to stdout and stderr to
//! stderr, from its json-file log.

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
    let entries = log::read_all(&path).context("read the log")?;
    print(&log::select(entries, since, tail), args.timestamps);
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
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for e in entries {
        let w: &mut dyn Write = match e.stream {
            Stream::Stdout => &mut out,
            Stream::Stderr => &mut err,
        };
        if timestamps {
            let _ = write!(w, "{} ", humantime::format_rfc3339_nanos(e.time));
        }
        let _ = w.write_all(e.text.as_bytes());
    }
    let _ = out.flush();
}
