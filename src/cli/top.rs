//! `burrow top` and `burrow stats --no-stream`: a running container's
//! processes and their use, read from /proc (no cgroups needed).

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use crate::container::control::not_found;
use crate::container::record::{self, Record};
use crate::container::state::State;
use crate::container::{cgroup, procs};
use crate::error::Coded;
use crate::paths::Paths;

#[derive(Debug, Args)]
#[command(override_usage = "burrow top CONTAINER [ps OPTIONS]")]
pub struct TopArgs {
    /// The container (name, id or unique id prefix)
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Options for ps(1) [default: -ef]
    #[arg(
        value_name = "ps OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print one sample and exit (the only mode burrow has)
    #[arg(long, required = true)]
    pub no_stream: bool,
    /// Show every container, not only running ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not truncate ids
    #[arg(long)]
    pub no_trunc: bool,
    /// The containers [default: all running]
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// The running container's init pid, or docker's "not running" (1).
fn running_init(rec: &Record) -> anyhow::Result<i32> {
    match (State::of(rec), rec.init.filter(|i| i.alive())) {
        (State::Running | State::Paused, Some(i)) => Ok(i.pid),
        (State::Running, None) => bail!(Coded::new(
            1,
            format!(
                "container {} runs in the foreground of another burrow; its processes are \
                 known only for containers started with -d or 'burrow start'",
                crate::text::escape_control(&rec.name)
            )
        )),
        _ => bail!(Coded::new(
            1,
            format!(
                "container {} is not running",
                crate::text::escape_control(&rec.name)
            )
        )),
    }
}

pub fn top(paths: &Paths, a: &TopArgs) -> anyhow::Result<i32> {
    let rec = record::find(paths.root(), &a.container).map_err(not_found)?;
    let init = running_init(&rec)?;
    let pids = procs::pids_of(init);
    // As docker does: the host's ps, filtered to the container's pids.
    let ps_args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&ps_args)
        .output()
        .context("run ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            ps_args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let Some(col) = header.split_whitespace().position(|h| h == "PID") else {
        bail!("ps {} has no PID column", ps_args.join(" "));
    };
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(0)
}

pub fn stats(paths: &Paths, a: &StatsArgs) -> anyhow::Result<i32> {
    let root = paths.root();
    let recs: Vec<Record> = if a.containers.is_empty() {
        record::all(root)
            .into_iter()
            .filter(|r| a.all || State::of(r).is_live())
            .collect()
    } else {
        a.containers
            .iter()
            .map(|c| record::find(root, c).map_err(not_found))
            .collect::<anyhow::Result<_>>()?
    };
    let inits: Vec<Option<i32>> = recs.iter().map(|r| running_init(r).ok()).collect();
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    // CPU use over a short sample, as `docker stats --no-stream` does: from
    // the container's cgroup when it has one (it counts processes that
    // ended meanwhile too), else from its processes in /proc.
    let sample = || -> Vec<f64> {
        recs.iter()
            .zip(&inits)
            .map(|(r, i)| {
                let cgroup = r.cgroup.as_deref().and_then(cgroup::cpu_usage);
                match (cgroup, i) {
                    (Some(used), Some(_)) => used.as_secs_f64(),
                    (_, Some(i)) => {
                        let t: u64 = procs::pids_of(*i)
                            .iter()
                            .map(|p| procs::cpu_ticks(*p))
                            .sum();
                        t as f64 / ticks
                    }
                    (_, None) => 0.0,
                }
            })
            .collect()
    };
    let before = sample();
    let t = std::time::Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let after = sample();
    let secs = t.elapsed().as_secs_f64();
    let mem_total = procs::status_kib_meminfo();
    println!(
        "{:<14}{:<22}{:<9}{:<22}{:<9}{:<22}PIDS",
        "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O"
    );
    for (i, r) in recs.iter().enumerate() {
        let id = if a.no_trunc { &r.id[..] } else { &r.id[..12] };
        let (cpu, mem, net, pids) = match inits[i] {
            Some(init) => {
                let pids = procs::pids_of(init);
                let cpu = (after[i] - before[i]).max(0.0) / secs * 100.0;
                let mem: u64 = pids.iter().map(|p| procs::status_kib(*p, "VmRSS")).sum();
                (cpu, mem * 1024, procs::net_io(init), pids.len())
            }
            None => (0.0, 0, (0, 0), 0),
        };
        let mem_pct = if mem_total > 0 {
            mem as f64 / (mem_total * 1024) as f64 * 100.0
        } else {
            0.0
        };
        println!(
            "{:<14}{:<22}{:<9}{:<22}{:<9}{:<22}{}",
            id,
            r.name,
            format!("{cpu:.2}%"),
            format!(
                "{} / {}",
                procs::human_bytes(mem, true),
                procs::human_bytes(mem_total * 1024, true)
            ),
            format!("{mem_pct:.2}%"),
            format!(
                "{} / {}",
                procs::human_bytes(net.0, false),
                procs::human_bytes(net.1, false)
            ),
            pids
        );
    }
    Ok(0)
}
