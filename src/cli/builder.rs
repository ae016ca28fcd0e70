//! `burrow builder prune`: remove the build cache.

use clap::{Args, Subcommand};

use crate::paths::Paths;
use crate::units::human_size;

#[derive(Debug, Args)]
pub struct BuilderArgs {
    #[command(subcommand)]
    pub command: BuilderCommand,
}

#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Remove the build cache and the step images only it keeps
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove the RUN --mount=type=cache dirs too
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub fn run_group(paths: &Paths, args: &BuilderArgs) -> anyhow::Result<i32> {
    match &args.command {
        BuilderCommand::Prune(a) => prune(paths, a),
    }
}

fn prune(paths: &Paths, a: &PruneArgs) -> anyhow::Result<i32> {
    let warning = if a.all {
        "WARNING! This will remove all build cache."
    } else {
        "WARNING! This will remove all dangling build cache."
    };
    if !a.force && !super::volume::confirm(warning)? {
        return Ok(0);
    }
    let store = crate::image::Store::open(paths)?;
    let in_use = crate::container::record::all(paths.root())
        .into_iter()
        .map(|r| r.image_id)
        .collect();
    let p = crate::build::prune::prune(&store, &in_use, a.all)?;
    if !p.entries.is_empty() || !p.images.is_empty() {
        println!("Deleted build cache objects:");
        for e in &p.entries {
            println!("{}", &e[..e.len().min(25)]);
        }
        for i in &p.images {
            println!("{i}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(p.bytes));
    Ok(0)
}
