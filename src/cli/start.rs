//! `burrow start -a`: run a created (or exited) container attached.

use anyhow::bail;
use clap::Args;

use crate::container::lifecycle;
use crate::container::record;
use crate::error::Coded;
use crate::paths::Paths;

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach stdout and stderr, and return the command's exit code
    #[arg(short, long)]
    pub attach: bool,

    /// Attach stdin
    #[arg(short, long)]
    pub interactive: bool,

    /// The container (name, id or unique id prefix)
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub fn run(paths: &Paths, args: &StartArgs) -> anyhow::Result<i32> {
    let root = paths.ensure_root()?;
    let rec = record::find(root, &args.container).map_err(|e| Coded::new(1, format!("{e:#}")))?;
    if !args.attach {
        // A detached start needs a supervisor that outlives this command.
        bail!("start without -a (detached) is not supported yet; use 'burrow start -a'");
    }
    // A "running" record may be stale (its burrow was killed) and nothing
    // here can tell yet; a container that really runs keeps its upper dir
    // busy, so the overlay mount of a second start fails instead.
    lifecycle::start(paths, rec, args.interactive)
}
