//! Running one more command in a running container (`burrow exec`): the
//! process is the container's, with the request's changes, and joins the
//! init's namespaces under the confinement the container was made with.

use super::control::not_found;
use super::record;
use super::spec;
use super::state;
use crate::paths::Paths;
use crate::userns::idmap::{self, HostUser};

/// What to run, from the user's flags.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// The container: name, id or unique id prefix.
    pub container: String,
    /// The command and its arguments.
    pub args: Vec<String>,
    pub interactive: bool,
    pub tty: bool,
    /// Run in the background; the exit code is then 0 once it started.
    pub detach: bool,
    /// `NAME=VALUE`, or `NAME` to pass the caller's on.
    pub env: Vec<String>,
    /// Name or uid, optionally :group or :gid, looked up in the container.
    pub user: Option<String>,
    /// Absolute path inside the container.
    pub workdir: Option<String>,
}

/// Run the command; returns its exit code (foreground).
pub fn exec(paths: &Paths, req: &ExecRequest) -> anyhow::Result<i32> {
    let root = paths.root();
    let rec = record::find(root, &req.container).map_err(not_found)?;
    let init = state::require_running(&rec)?;
    let mut p = rec.config.process.clone();
    p.args = req.args.to_vec();
    p.stdin = req.interactive && !req.detach;
    p.tty = req.tty && !req.detach;
    if let Some(w) = &req.workdir {
        if !w.starts_with('/') {
            anyhow::bail!(
                "the working directory must be absolute: {}",
                crate::text::escape_control(w)
            );
        }
        p.cwd = w.clone();
    }
    if let Some(u) = &req.user {
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
    let extra = spec::resolve_from_caller(&req.env, |n| std::env::var(n).ok());
    for e in extra {
        let key = e.split('=').next().unwrap_or("").to_string();
        p.env.retain(|x| x.split('=').next() != Some(key.as_str()));
        p.env.push(e);
    }
    let mode = idmap::choose(&HostUser::current()).mode;
    // The same confinement `start` gives the container's init, from the
    // security options the container was created with.
    let single = mode == idmap::IdMapMode::Single;
    // Not emulated ids: the supervisor has no channel to a process that
    // joins from outside.
    let confinement =
        crate::sandbox::Confinement::resolve_unemulated(&rec.config.security, single, Some(root))?;
    // A process joining from outside is not under the init's filter: its
    // connect() is checked too while the `-p` bypass is on.
    crate::sandbox::enter(
        init.pid,
        &p,
        &mode,
        &confinement,
        req.detach,
        rec.bypass_netns,
    )
}
