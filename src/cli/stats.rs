//! `burrow stats`: containers' CPU, memory, network and block I/O and
//! process counts, refreshed every second as `docker stats` does (a
//! terminal is redrawn like `top`; a pipe gets one table after another),
//! or printed once with `--no-stream`. Read from /proc, and from the
//! container's cgroup where it has one.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;

use crate::container::control::not_found;
use crate::container::record::{self, Record};
use crate::container::state::State;
use crate::container::{cgroup, procs};
use crate::paths::Paths;
use crate::units::{bytes_size, human_size};

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print one sample and exit (default: refresh every second until interrupted)
    #[arg(long)]
    pub no_stream: bool,
    /// Show every container, not only running ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not truncate ids
    #[arg(long)]
    pub no_trunc: bool,
    /// Format: table (default), json, or a Go template ('{{.Name}} {{.CPUPerc}}')
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// The containers [default: all running, including ones started later]
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

const DEFAULT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t\
                       {{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// Docker's column titles for each field of a row.
const HEADER: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("ID", "CONTAINER ID"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// Between the two samples of `--no-stream`, and between refreshes.
const FIRST_SAMPLE: Duration = Duration::from_millis(500);
const REFRESH: Duration = Duration::from_secs(1);

/// What one look at a container finds.
struct Sample {
    at: Instant,
    /// CPU seconds used so far.
    cpu: f64,
    mem: u64,
    net: (u64, u64),
    block: Option<(u64, u64)>,
    pids: usize,
    running: bool,
}

pub fn stats(paths: &Paths, a: &StatsArgs) -> anyhow::Result<i32> {
    let root = paths.root();
    // Named containers must exist now; Docker fails at once too.
    let named: Vec<(String, String)> = a
        .containers
        .iter()
        .map(|c| {
            let r = record::find(root, c).map_err(not_found)?;
            Ok((r.id, crate::text::escape_control(c)))
        })
        .collect::<anyhow::Result<_>>()?;
    let asked: HashMap<String, String> = named.iter().cloned().collect();
    let targets = || -> Vec<Record> {
        if a.containers.is_empty() {
            record::all(root)
                .into_iter()
                .filter(|r| a.all || State::of(r).is_live())
                .collect()
        } else {
            named
                .iter()
                .filter_map(|(id, _)| record::find(root, id).ok())
                .collect()
        }
    };
    let mem_total = procs::status_kib_meminfo() * 1024;
    let mut before: HashMap<String, Sample> = HashMap::new();
    for r in targets() {
        before.insert(r.id.clone(), sample(&r));
    }
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut out = std::io::stdout();
    std::thread::sleep(FIRST_SAMPLE);
    loop {
        let recs = targets();
        let mut rows = Vec::with_capacity(recs.len());
        let mut now = HashMap::new();
        for r in &recs {
            let s = sample(r);
            rows.push(row(
                r,
                asked.get(&r.id),
                &s,
                before.get(&r.id),
                mem_total,
                a,
            ));
            now.insert(r.id.clone(), s);
        }
        let table = super::format::rows(a.format.as_deref(), DEFAULT, HEADER, &rows)?;
        // Redraw in place on a terminal, as top does.
        let clear = if tty && !a.no_stream {
            "\x1b[2J\x1b[H"
        } else {
            ""
        };
        // A closed pipe (`| head`) ends the stream quietly.
        if write!(out, "{clear}{table}")
            .and_then(|_| out.flush())
            .is_err()
        {
            return Ok(0);
        }
        if a.no_stream {
            return Ok(0);
        }
        before = now;
        std::thread::sleep(REFRESH);
    }
}

fn sample(r: &Record) -> Sample {
    let at = Instant::now();
    let init = super::top::running_init(r).ok();
    let Some(init) = init else {
        return Sample {
            at,
            cpu: 0.0,
            mem: 0,
            net: (0, 0),
            block: Some((0, 0)),
            pids: 0,
            running: false,
        };
    };
    let pids = procs::pids_of(init);
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    // The cgroup counts processes that ended meanwhile too; without one,
    // the container's processes in /proc.
    let cgroup = r.cgroup.as_deref();
    let cpu = match cgroup.and_then(cgroup::cpu_usage) {
        Some(used) => used.as_secs_f64(),
        None => pids.iter().map(|p| procs::cpu_ticks(*p)).sum::<u64>() as f64 / ticks,
    };
    let block = cgroup.and_then(cgroup::io_bytes).or_else(|| {
        let each: Vec<(u64, u64)> = pids.iter().filter_map(|p| procs::block_io(*p)).collect();
        (!each.is_empty()).then(|| {
            each.iter()
                .fold((0, 0), |acc, (r, w)| (acc.0 + r, acc.1 + w))
        })
    });
    Sample {
        at,
        cpu,
        mem: pids
            .iter()
            .map(|p| procs::status_kib(*p, "VmRSS") * 1024)
            .sum(),
        net: procs::net_io(init),
        block,
        pids: pids.len(),
        running: true,
    }
}

/// One row with Docker's field names and its ways of printing them.
fn row(
    r: &Record,
    asked: Option<&String>,
    s: &Sample,
    before: Option<&Sample>,
    mem_total: u64,
    a: &StatsArgs,
) -> serde_json::Value {
    let cpu = match before {
        Some(b) if s.running && s.at > b.at => {
            (s.cpu - b.cpu).max(0.0) / (s.at - b.at).as_secs_f64() * 100.0
        }
        _ => 0.0,
    };
    let (mem_usage, mem_pct) = if s.running && mem_total > 0 {
        (
            format!("{} / {}", bytes_size(s.mem), bytes_size(mem_total)),
            s.mem as f64 / mem_total as f64 * 100.0,
        )
    } else {
        ("0B / 0B".to_string(), 0.0)
    };
    let id = if a.no_trunc { &r.id[..] } else { &r.id[..12] };
    let name = crate::text::escape_control(&r.name);
    json!({
        // As the user named it, else the id (Docker's .Container).
        "Container": asked.map(String::as_str).unwrap_or(id),
        "Name": name,
        "ID": id,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": mem_usage,
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", human_size(s.net.0), human_size(s.net.1)),
        "BlockIO": match s.block {
            Some((r, w)) => format!("{} / {}", human_size(r), human_size(w)),
            None => "--".to_string(),
        },
        "PIDs": s.pids.to_string(),
    })
}
