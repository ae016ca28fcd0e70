//! `burrow unshare`: run a host command in the user namespace containers
//! get, with the same id mapping (as `podman unshare` does). There the
//! files a container chowned to other ids (owned by subordinate ids on the
//! host, such as 100999) belong to ids you hold, so you can remove them.

use std::os::unix::process::CommandExt;

use clap::Args;

use crate::error::{Coded, EXIT_CANNOT_EXEC, EXIT_NOT_FOUND};
use crate::userns::idmap::{self, HostUser};
use crate::userns::{self, Mapping};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  burrow unshare rm -rf ./data     \
    # remove files a container chowned\n  burrow unshare cat /proc/self/uid_map")]
pub struct UnshareArgs {
    /// The command and its arguments [default: $SHELL, else /bin/sh]
    #[arg(value_name = "COMMAND [ARG...]", trailing_var_arg = true)]
    pub command: Vec<String>,
}

pub fn run(args: &UnshareArgs) -> anyhow::Result<i32> {
    let user = HostUser::current();
    let mode = idmap::choose(&user).mode;
    // This process is still single-threaded: it may join a user namespace.
    let ns = userns::for_launch(&Mapping::Root(mode), &user, None)?;
    ns.join()?;
    // We are in it for good; its holder process is no longer needed.
    drop(ns);
    let argv = if args.command.is_empty() {
        vec![std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into())]
    } else {
        args.command.clone()
    };
    let err = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .env("BURROW_UNSHARE", "1")
        .exec();
    let name = crate::text::escape_control(&argv[0]);
    Err(match err.kind() {
        std::io::ErrorKind::NotFound => Coded::new(EXIT_NOT_FOUND, format!("{name}: not found")),
        _ => Coded::new(EXIT_CANNOT_EXEC, format!("{name}: {err}")),
    }
    .into())
}
