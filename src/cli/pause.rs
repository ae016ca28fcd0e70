//! `burrow pause` and `unpause`: the cgroup v2 freezer of the container's
//! own cgroup, which it has when the user's cgroup is delegated.

use anyhow::bail;
use clap::Args;

use crate::container::cgroup;
use crate::container::record::Record;
use crate::container::state::{self, State};
use crate::error::{Coded, EXIT_BURROW};
use crate::paths::Paths;

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// The containers (names, ids or unique id prefixes)
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub fn pause(paths: &Paths, a: &PauseArgs) -> anyhow::Result<i32> {
    super::containers::each(paths, &a.containers, |r| freeze(r, true))
}

pub fn unpause(paths: &Paths, a: &PauseArgs) -> anyhow::Result<i32> {
    super::containers::each(paths, &a.containers, |r| freeze(r, false))
}

fn freeze(rec: &Record, frozen: bool) -> anyhow::Result<()> {
    let name = crate::text::escape_control(&rec.name);
    let refuse = |why: &str| state::refusal(rec, why);
    match (State::of(rec), frozen) {
        (State::Running, true) | (State::Paused, false) => {}
        (State::Paused, true) => bail!(refuse("is already paused")),
        (State::Running, false) => bail!(refuse("is not paused")),
        (State::Restarting, _) => {
            bail!(refuse("is restarting, wait until the container is running"))
        }
        _ => bail!(state::not_running(rec)),
    }
    let Some(dir) = &rec.cgroup else {
        let why = match cgroup::delegated_dir() {
            Err(why) => why,
            Ok(_) => "it was started before your cgroup was delegated (restart it)".into(),
        };
        bail!(Coded::new(
            EXIT_BURROW,
            format!(
                "cannot pause {name}: it has no cgroup of its own, because {why}; {}",
                cgroup::HOW_TO_DELEGATE
            )
        ));
    };
    let verb = if frozen { "freeze" } else { "thaw" };
    cgroup::set_frozen(dir, frozen)
        .map_err(|e| anyhow::anyhow!("{verb} {name} ({}): {e}", dir.display()))
}
