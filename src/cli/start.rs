//! `burrow start`: run a created (or exited) container again on its kept
//! upper dir, detached (or attached with -a).

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
    let running = crate::container::state::State::of(&rec).is_live();
    if running && !args.attach && !args.interactive {
        // As docker: starting a running container changes nothing.
        println!("{}", crate::text::escape_control(&args.container));
        return Ok(0);
    }
    if !args.attach && !args.interactive {
        // Detached, on its kept upper dir: the supervisor lives on.
        lifecycle::start_detached(paths, rec, None)?;
        println!("{}", crate::text::escape_control(&args.container));
        return Ok(0);
    }
    if !rec.extras.restart.is_none() && !args.interactive {
        // Its policy needs a detached supervisor; we follow the first run.
        return super::run::attach_first_run(paths, rec, None);
    }
    lifecycle::start(paths, rec, args.interactive, None)
}
