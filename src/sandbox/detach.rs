//! The detached supervisor: out of the caller's session, it collects the
//! container's stdout and stderr (pipes, or the pty with `-t`), forwards
//! signals to the init and reports the exit to a [`Monitor`] (which keeps
//! the log and the record; the sandbox knows nothing of either).

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use anyhow::Context;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Which of the container's output streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutStream {
    Stdout,
    Stderr,
}

/// What the detached supervisor reports, called in the supervisor process.
pub trait Monitor {
    /// The command runs; `init` is the container init's pid (ours).
    fn started(&mut self, init: i32);
    /// A chunk of output, in the order read.
    fn output(&mut self, stream: OutStream, data: &[u8]);
    /// The command ended with `code` after running for `ran`: the delay
    /// before a new init runs it again (a restart policy), or `None` to
    /// end; `exited` follows then.
    fn restart_delay(&mut self, code: i32, ran: std::time::Duration)
        -> Option<std::time::Duration>;
    /// The container ended with this code (128 + signal when killed).
    fn exited(&mut self, code: i32);
    /// Asked when the container ends for good: it is about to be removed,
    /// so its root need not reach the disk before the end is reported.
    fn discard_root(&mut self) -> bool {
        false
    }
}

/// A detached container that runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    pub supervisor: i32,
    pub init: i32,
}

/// Leave the caller's session and stdio: no terminal can reach us, and
/// nothing we print lands on the caller's screen after it returned.
pub(super) fn detach_self() {
    let _ = nix::unistd::setsid();
    crate::proc::stdio_to_null();
}

/// The pipes for the command's stdout and stderr.
pub(super) struct OutputPipes {
    out: (OwnedFd, OwnedFd),
    err: (OwnedFd, OwnedFd),
}

impl OutputPipes {
    pub(super) fn new() -> anyhow::Result<OutputPipes> {
        let out = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe")?;
        let err = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe")?;
        Ok(OutputPipes { out, err })
    }

    /// In the init: the write ends become fds 1 and 2.
    pub(super) fn attach_child(self) {
        let _ = nix::unistd::dup2(self.out.1.as_raw_fd(), 1);
        let _ = nix::unistd::dup2(self.err.1.as_raw_fd(), 2);
    }

    /// In the supervisor: the read ends (and the pty master, if any).
    pub(super) fn into_readers(self, pty: Option<OwnedFd>) -> Vec<(OutStream, std::fs::File)> {
        let mut v = vec![
            (OutStream::Stdout, std::fs::File::from(self.out.0)),
            (OutStream::Stderr, std::fs::File::from(self.err.0)),
        ];
        if let Some(m) = pty {
            v.push((OutStream::Stdout, std::fs::File::from(m)));
        }
        v
    }
}

/// Copy output to the monitor and forward signals until the init ends;
/// returns its exit code.
pub(super) fn collect(
    init: Pid,
    sfd: &SignalFd,
    mut readers: Vec<(OutStream, std::fs::File)>,
    monitor: &mut dyn Monitor,
    fuse: Option<&mut super::fuse_root::FuseServer>,
) -> anyhow::Result<i32> {
    let mut buf = vec![0u8; 32 * 1024];
    let mut open: Vec<bool> = vec![true; readers.len()];
    let mut watch = super::fuse_root::Watch::new(fuse);
    loop {
        match waitpid(init, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => {
                let code = drain_then(code, &mut readers, monitor);
                return Ok(logged(watch.outcome(code), code, monitor));
            }
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                let code = drain_then(128 + sig as i32, &mut readers, monitor);
                return Ok(logged(watch.outcome(code), code, monitor));
            }
            Ok(_) => {}
            Err(e) => return Err(e).context("wait for the container init"),
        }
        watch.check(init);
        // Closed streams are left out: poll reports HUP for them forever.
        let live: Vec<usize> = (0..readers.len()).filter(|i| open[*i]).collect();
        let ready: Vec<bool> = {
            let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
            for i in &live {
                fds.push(PollFd::new(readers[*i].1.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(e).context("poll"),
            }
            fds.iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect()
        };
        if ready[0] {
            // One signal per round: the signalfd blocks when none is left.
            if let Ok(Some(info)) = sfd.read_signal() {
                let sig = Signal::try_from(info.ssi_signo as i32).ok();
                if let Some(sig) = sig.filter(|s| *s != Signal::SIGCHLD) {
                    let _ = kill(init, sig);
                }
            }
        }
        for (k, i) in live.iter().enumerate() {
            if !ready[k + 1] {
                continue;
            }
            let (stream, f) = &mut readers[*i];
            match f.read(&mut buf) {
                Ok(0) => open[*i] = false,
                Ok(n) => monitor.output(*stream, &buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // EIO from a pty whose slaves are all closed.
                Err(_) => open[*i] = false,
            }
        }
    }
}

/// The container's code; why it was stopped (its FUSE root was lost)
/// goes to the log, where `burrow logs` shows it.
fn logged(outcome: anyhow::Result<i32>, code: i32, monitor: &mut dyn Monitor) -> i32 {
    if let Err(e) = outcome {
        monitor.output(OutStream::Stderr, format!("burrow: {e:#}\n").as_bytes());
    }
    code
}

/// Sleep `delay` before a restart; false when a signal came meanwhile
/// (`stop` or `kill` of a restarting container: no restart then).
pub(super) fn wait_delay(delay: std::time::Duration, sfd: &SignalFd) -> bool {
    let end = std::time::Instant::now() + delay;
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return true;
        }
        let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => return false,
        }
        if let Ok(Some(info)) = sfd.read_signal() {
            if info.ssi_signo != Signal::SIGCHLD as u32 {
                return false;
            }
        }
    }
}

/// What the command wrote just before it ended, then its code.
fn drain_then(
    code: i32,
    readers: &mut [(OutStream, std::fs::File)],
    monitor: &mut dyn Monitor,
) -> i32 {
    let mut buf = vec![0u8; 32 * 1024];
    for (stream, f) in readers.iter_mut() {
        let _ = nix::fcntl::fcntl(
            f.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
        );
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            monitor.output(*stream, &buf[..n]);
        }
    }
    code
}
