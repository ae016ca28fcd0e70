//! `burrow top`: a running container's processes, as the host's ps(1)
//! shows them, filtered to the container's pids.

use anyhow::{bail, Context};
use clap::Args;

use crate::container::control::not_found;
use crate::container::procs;
use crate::container::record::{self, Record};
use crate::container::state::{self, State};
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

/// The running container's init pid, or docker's "not running" (1).
pub(super) fn running_init(rec: &Record) -> anyhow::Result<i32> {
    match (State::of(rec), rec.init.filter(|i| i.alive())) {
        (State::Running | State::Paused, Some(i)) => Ok(i.pid),
        (State::Running, None) => bail!(state::refusal(
            rec,
            "runs in the foreground of another burrow; its processes are known only for \
             containers started with -d or 'burrow start'"
        )),
        _ => bail!(state::not_running(rec)),
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
