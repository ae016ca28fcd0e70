//! `burrow exec`: run a command in a running container.

use clap::Args;

use crate::container::control::not_found;
use crate::container::record;
use crate::container::spec;
use crate::container::state::State;
use crate::error::Coded;
use crate::paths::Paths;
use crate::userns::idmap::{self, HostUser};

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep stdin attached
    #[arg(short, long)]
    pub interactive: bool,

    /// Run in the background
    #[arg(short, long)]
    pub detach: bool,

    /// Give the command a pseudo-terminal
    #[arg(short, long)]
    pub tty: bool,

    /// Set an environment variable (NAME=VALUE, or NAME to pass yours on)
    #[arg(short, long = "env", value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,

    /// User to run as: name or uid, optionally :group or :gid
    #[arg(short, long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// Working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// The container: name, id or unique id prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// The command and its arguments
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

pub fn run(paths: &Paths, a: &ExecArgs) -> anyhow::Result<i32> {
    let (name, argv) = (&a.container, &a.command);
    if !a.detach {
        super::run::refuse_tty_without_terminal(a.interactive, a.tty)?;
    }
    let root = paths.root();
    let rec = record::find(root, name).map_err(not_found)?;
    let init = match (State::of(&rec), rec.init.filter(|i| i.alive())) {
        (State::Running, Some(init)) => init,
        (State::Paused, _) => {
            return Err(Coded::new(
                1,
                format!(
                    "container {} is paused, unpause the container before exec",
                    crate::text::escape_control(&rec.name)
                ),
            )
            .into())
        }
        (State::Restarting, _) => {
            return Err(Coded::new(
                1,
                format!(
                    "container {} is restarting, wait until the container is running",
                    crate::text::escape_control(&rec.name)
                ),
            )
            .into())
        }
        (State::Running, None) => {
            return Err(Coded::new(
                1,
                format!(
                    "container {} is starting (its init is not known yet); try again",
                    crate::text::escape_control(&rec.name)
                ),
            )
            .into())
        }
        _ => {
            return Err(Coded::new(
                1,
                format!(
                    "container {} is not running",
                    crate::text::escape_control(&rec.name)
                ),
            )
            .into())
        }
    };
    let mut p = rec.config.process.clone();
    p.args = argv.to_vec();
    p.stdin = a.interactive && !a.detach;
    p.tty = a.tty && !a.detach;
    if let Some(w) = &a.workdir {
        if !w.starts_with('/') {
            anyhow::bail!(
                "the working directory must be absolute: {}",
                crate::text::escape_control(w)
            );
        }
        p.cwd = w.clone();
    }
    if let Some(u) = &a.user {
        // The container's own passwd and group, as they are now, looked up
        // inside its root (a symlinked /etc must not reach the host's),
        // through a process whose /proc entries are open to us (our tiny
        // init is not dumpable). One that cannot be read counts as absent,
        // as before: names then fail, numbers work.
        let pid = crate::sandbox::joinable(init.pid);
        let files = crate::rootfs::lookup::read_in_container(pid, &["/etc/passwd", "/etc/group"])
            .unwrap_or_default();
        let read = |i: usize| files.get(i).cloned().flatten();
        let user = spec::exec_user(u, read(0).as_deref(), read(1).as_deref())?;
        p.uid = user.uid;
        p.gid = user.gid;
        p.additional_gids = user.additional_gids;
    }
    let extra = spec::resolve_from_caller(&a.env, |n| std::env::var(n).ok());
    for e in extra {
        let key = e.split('=').next().unwrap_or("").to_string();
        p.env.retain(|x| x.split('=').next() != Some(key.as_str()));
        p.env.push(e);
    }
    let mode = idmap::choose(&HostUser::current()).mode;
    // The same confinement `start` gives the container's init, from the
    // security options the container was created with.
    let single = mode == idmap::IdMapMode::Single;
    let confinement =
        crate::sandbox::Confinement::resolve(&rec.config.security, single, Some(root))?;
    crate::sandbox::enter(init.pid, &p, &mode, &confinement, a.detach)
}
