//! Signalling, stopping and removing containers from later commands.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::record::{self, Record};
use super::state::State;
use crate::error::Coded;

/// Docker answers 1 for "no such container" and "not running" in the
/// verbs that act on containers.
pub fn not_found(e: anyhow::Error) -> anyhow::Error {
    Coded::new(1, format!("{e:#}")).into()
}

/// Parse a signal as docker takes it: "KILL", "SIGKILL", "9".
pub fn parse_signal(s: &str) -> anyhow::Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).with_context(|| format!("invalid signal {s:?}"));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>()
        .map_err(|_| anyhow::anyhow!("invalid signal {:?}", crate::text::escape_control(s)))
}

/// Send `sig` to a running container: to its init when the supervisor is
/// detached (the init forwards to the command), else to the foreground
/// `burrow`, which forwards it. The user's signal ends its restart policy
/// (docker counts a kill as a manual stop).
pub fn signal(root: &Path, rec: &Record, sig: Signal) -> anyhow::Result<()> {
    signal_noting(root, rec, sig, false)
}

/// `signal`, noting too whether the container is stopped to be removed.
fn signal_noting(root: &Path, rec: &Record, sig: Signal, removing: bool) -> anyhow::Result<()> {
    let state = State::of(rec);
    if !state.is_live() {
        bail!(super::state::not_running(rec));
    }
    // Noted before the signal: the supervisor reads it when the init ends.
    let _ = record::update(root, &rec.id, |r| {
        r.manually_stopped = true;
        r.removing |= removing;
    });
    // As docker: a paused container is thawed for its stop signal and
    // SIGKILL (others wait, pending, for `unpause`).
    if state == State::Paused && (sig == Signal::SIGKILL || sig == stop_signal(rec)) {
        if let Some(cg) = &rec.cgroup {
            let _ = super::cgroup::set_frozen(cg, false);
        }
    }
    let target = if rec.detached {
        // The init forwards to the command. Gone (or a zombie not yet
        // reaped): the container is ending or waits to restart; SIGTERM
        // to its supervisor ends a restart delay (never the user's signal
        // there: SIGKILL would keep it from noting the end).
        match rec.init.filter(|i| i.alive()) {
            Some(init) => (init, sig),
            None => match rec.monitor {
                Some(m) => (m, Signal::SIGTERM),
                None => return Ok(()),
            },
        }
    } else {
        (rec.monitor.context("no process to signal")?, sig)
    };
    match kill(Pid::from_raw(target.0.pid), target.1) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("send {sig} to the container")),
    }
}

/// Wait until the monitor is gone (it has written the exit); false when
/// `timeout` passed first.
pub fn wait_gone(rec: &Record, timeout: Option<Duration>) -> bool {
    match rec.monitor {
        Some(monitor) => monitor.wait_gone(timeout),
        None => true,
    }
}

/// `stop`: the stop signal, `timeout` to end, then SIGKILL.
pub fn stop(root: &Path, rec: &Record, timeout: Duration) -> anyhow::Result<()> {
    stop_noting(root, rec, timeout, false)
}

/// `stop` of a container about to be removed (`compose down`, a
/// recreate): its supervisor need not wait for its root to reach the disk.
pub fn stop_to_remove(root: &Path, rec: &Record, timeout: Duration) -> anyhow::Result<()> {
    stop_noting(root, rec, timeout, true)
}

fn stop_noting(root: &Path, rec: &Record, timeout: Duration, removing: bool) -> anyhow::Result<()> {
    if !State::of(rec).is_live() {
        return Ok(());
    }
    let _ = signal_noting(root, rec, stop_signal(rec), removing);
    if wait_gone(rec, Some(timeout)) {
        return Ok(());
    }
    kill_and_wait(root, rec, removing)
}

/// The image's STOPSIGNAL, else SIGTERM.
fn stop_signal(rec: &Record) -> Signal {
    rec.extras
        .stop_signal
        .as_deref()
        .and_then(|s| parse_signal(s).ok())
        .unwrap_or(Signal::SIGTERM)
}

/// SIGKILL and wait for the monitor to note the end.
fn kill_and_wait(root: &Path, rec: &Record, removing: bool) -> anyhow::Result<()> {
    // The record as it is now: a restart may have started a new init.
    let now = record::read(&record::container_dir(root, &rec.id));
    let _ = signal_noting(root, now.as_ref().unwrap_or(rec), Signal::SIGKILL, removing);
    if wait_gone(rec, Some(Duration::from_secs(10))) {
        return Ok(());
    }
    // A foreground monitor killed by us cannot note anything; a detached
    // supervisor that does not end after its init was killed is stuck.
    if let Some(m) = rec.monitor {
        let _ = kill(Pid::from_raw(m.pid), Signal::SIGKILL);
    }
    if wait_gone(rec, Some(Duration::from_secs(5))) {
        Ok(())
    } else {
        bail!("container {} did not stop", rec.name)
    }
}

/// `rm`: refuse a running container unless `force`, which kills it first.
/// Returns false when another command removed it meanwhile.
pub fn remove(root: &Path, rec: &Record, force: bool) -> anyhow::Result<bool> {
    if State::of(rec).is_live() {
        if !force {
            bail!(Coded::new(
                1,
                format!(
                    "cannot remove container {}: it is running (stop it first, or use rm -f)",
                    crate::text::escape_control(&rec.name)
                )
            ));
        }
        kill_and_wait(root, rec, true)?;
    }
    if let Some(cg) = &rec.cgroup {
        // Its supervisor removes it, unless it was killed.
        let _ = std::fs::remove_dir(cg);
    }
    let Some(trash) = record::take_out(root, &rec.id)? else {
        return Ok(false);
    };
    let mode = crate::image::OwnerMode::detect();
    crate::image::remove_owned_tree(&mode, &trash)?;
    Ok(true)
}
