//! `burrow create`: make a container to `start` later; prints its id.

use clap::Args;

use super::run::{create_container, ContainerArgs};
use crate::paths::Paths;

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub container: ContainerArgs,
}

pub fn run(paths: &Paths, args: &CreateArgs) -> anyhow::Result<i32> {
    let rec = create_container(paths, &args.container)?;
    println!("{}", rec.id);
    Ok(0)
}
