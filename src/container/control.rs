//! Signalling, stopping and removing containers from later commands.

use std::path::Path;
use std::time::{Duration, Instant};

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
/// `burrow`, which forwards it.
pub fn signal(rec: &Record, sig: Signal) -> anyhow::Result<()> {
    if State::of(rec) != State::Running {
        bail!(Coded::new(
            1,
            format!(
                "container {} is not running",
                crate::text::escape_control(&rec.name)
            )
        ));
    }
    let target = if rec.detached {
        // The init forwards to the command. Gone (or a zombie not yet
        // reaped): the container is ending, and its supervisor, which
        // notes the end, must never get the signal instead.
        match rec.init.filter(|i| i.alive()) {
            Some(init) => init,
            None => return Ok(()),
        }
    } else {
        rec.monitor.context("no process to signal")?
    };
    match kill(Pid::from_raw(target.pid), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("send {sig} to the container")),
    }
}

/// Wait until the monitor is gone (it has written the exit); false when
/// `timeout` passed first.
pub fn wait_gone(rec: &Record, timeout: Option<Duration>) -> bool {
    let Some(monitor) = rec.monitor else {
        return true;
    };
    let deadline = timeout.map(|t| Instant::now() + t);
    while monitor.alive() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    true
}

/// `stop`: the stop signal, `timeout` to end, then SIGKILL.
pub fn stop(rec: &Record, timeout: Duration) -> anyhow::Result<()> {
    if State::of(rec) != State::Running {
        return Ok(());
    }
    let sig = match &rec.extras.stop_signal {
        Some(s) => parse_signal(s).unwrap_or(Signal::SIGTERM),
        None => Signal::SIGTERM,
    };
    let _ = signal(rec, sig);
    if wait_gone(rec, Some(timeout)) {
        return Ok(());
    }
    kill_and_wait(rec)
}

/// SIGKILL and wait for the monitor to note the end.
fn kill_and_wait(rec: &Record) -> anyhow::Result<()> {
    let _ = signal(rec, Signal::SIGKILL);
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
    if State::of(rec) == State::Running {
        if !force {
            bail!(Coded::new(
                1,
                format!(
                    "cannot remove container {}: it is running (stop it first, or use rm -f)",
                    crate::text::escape_control(&rec.name)
                )
            ));
        }
        kill_and_wait(rec)?;
    }
    let Some(trash) = record::take_out(root, &rec.id)? else {
        return Ok(false);
    };
    let mode = crate::image::OwnerMode::detect();
    crate::image::remove_owned_tree(&mode, &trash)?;
    Ok(true)
}
