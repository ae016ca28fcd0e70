//! The caller's loop while the container runs: stage messages, signals to
//! forward, and with a tty the bytes between the caller's terminal and the
//! container's pty (raw mode on, window size passed on).

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use anyhow::Context;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
use nix::unistd::Pid;

use super::channel::{Channel, Msg, UnexpectedMessage};
use super::streams::{Live, Streams};
use super::{Exit, ProcessSpec};
use crate::error::Coded;

/// Signals the caller passes on to the container.
pub(super) fn forwarded_signals() -> SigSet {
    let mut s = SigSet::empty();
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        s.add(sig);
    }
    s
}

/// Puts the caller's terminal back as it was.
pub(super) struct RawMode {
    fd: OwnedFd,
    saved: Termios,
}

impl RawMode {
    pub(super) fn enter() -> Option<RawMode> {
        let stdin = io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode {
            fd: stdin.as_fd().try_clone_to_owned().ok()?,
            saved,
        })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(&self.fd, SetArg::TCSANOW, &self.saved);
    }
}

/// Copy the caller's window size to the pty.
pub(super) fn pass_winsize(master: &impl AsRawFd) {
    if let Some(ws) = caller_winsize() {
        let _ = crate::sys::set_winsize(master, &ws);
    }
}

/// The caller's terminal size (stdin's, else stdout's).
pub fn caller_winsize() -> Option<libc::winsize> {
    crate::sys::get_winsize(&io::stdin())
        .or_else(|_| crate::sys::get_winsize(&io::stdout()))
        .ok()
}

struct Tty {
    master: std::fs::File,
    _raw: Option<RawMode>,
    stdin_open: bool,
    master_open: bool,
}

/// Run until the supervisor reports the exit. `forwarded` are blocked in
/// this process already; they are read here and sent to the supervisor.
/// `streams`: the pipes that stand for our terminals (see `streams`).
pub fn run(
    chan: &Channel,
    supervisor: Pid,
    process: &ProcessSpec,
    forwarded: &SigSet,
    streams: &mut Streams,
    on_started: &mut dyn FnMut(i32),
) -> anyhow::Result<Exit> {
    let sfd = SignalFd::with_flags(forwarded, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .context("signalfd")?;
    let mut tty: Option<Tty> = None;
    let mut failure: Option<Coded> = None;
    let mut buf = vec![0u8; 16 * 1024];
    let mut chan_open = true;
    let code = loop {
        if !chan_open {
            break None;
        }
        let Some(Ready {
            chan: chan_ready,
            signals: sig_ready,
            master: master_ready,
            stdin: in_ready,
            streams: streams_ready,
        }) = wait_ready(chan, &sfd, streams, tty.as_ref())?
        else {
            continue;
        };
        for l in streams_ready {
            streams.serve(l, &mut buf);
        }
        if sig_ready {
            pass_signals(&sfd, tty.as_ref(), supervisor);
        }
        if master_ready {
            if let Some(t) = &mut tty {
                // EIO: every slave closed; keep waiting for the exit.
                t.master_open = copy_out(&mut t.master, &mut buf);
            }
        }
        if in_ready {
            if let Some(t) = &mut tty {
                match io::stdin().lock().read(&mut buf) {
                    Ok(0) | Err(_) => t.stdin_open = false,
                    Ok(n) => {
                        let _ = t.master.write_all(&buf[..n]);
                    }
                }
            }
        }
        if !chan_ready {
            continue;
        }
        match chan.recv()? {
            None => chan_open = false,
            Some((Msg::Pty, Some(fd))) => {
                let master = std::fs::File::from(fd);
                pass_winsize(&master);
                let raw = if process.stdin {
                    RawMode::enter()
                } else {
                    None
                };
                tty = Some(Tty {
                    master,
                    _raw: raw,
                    stdin_open: process.stdin,
                    master_open: true,
                });
            }
            Some((msg @ (Msg::ExecFailed { .. } | Msg::SetupFailed { .. }), _)) => {
                failure = failure.or(msg.failure());
            }
            Some((Msg::Exited { code }, _)) => break Some(code),
            Some((Msg::Started { pid }, _)) => on_started(pid),
            Some((
                msg @ (Msg::Pty
                | Msg::Mounted
                | Msg::IdsListener
                | Msg::Root
                | Msg::MapIds
                | Msg::IdsMapped
                | Msg::Created),
                _,
            )) => {
                return Err(UnexpectedMessage {
                    waiting_for: "the container's end",
                    msg,
                }
                .into())
            }
        }
    };
    if let Some(t) = &mut tty {
        drain(&mut t.master, &mut buf);
    }
    drop(tty);
    streams.drain(&mut buf);
    if let Some(f) = failure {
        return Err(f.into());
    }
    match code {
        Some(code) => Ok(Exit { code }),
        None => Err(anyhow::anyhow!(
            "the supervisor died before the container ended"
        )),
    }
}

/// Which of the relay's fds are ready to read.
struct Ready {
    chan: bool,
    signals: bool,
    master: bool,
    stdin: bool,
    streams: Vec<Live>,
}

/// Poll the channel, the signals, the container's streams and (with a
/// tty) the pty master and our stdin. `None`: interrupted, poll again.
fn wait_ready(
    chan: &Channel,
    sfd: &SignalFd,
    streams: &Streams,
    tty: Option<&Tty>,
) -> anyhow::Result<Option<Ready>> {
    let stdin = io::stdin();
    let mut fds = vec![
        PollFd::new(chan.as_fd(), PollFlags::POLLIN),
        PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
    ];
    let streams_at = fds.len();
    let watched = streams.watch();
    for (_, fd) in &watched {
        fds.push(PollFd::new(*fd, PollFlags::POLLIN));
    }
    let (mut master_at, mut stdin_at) = (None, None);
    if let Some(t) = tty {
        if t.master_open {
            master_at = Some(fds.len());
            fds.push(PollFd::new(t.master.as_fd(), PollFlags::POLLIN));
        }
        if t.stdin_open {
            stdin_at = Some(fds.len());
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
    }
    match poll(&mut fds, PollTimeout::NONE) {
        Ok(_) => {}
        Err(Errno::EINTR) => return Ok(None),
        Err(e) => return Err(e).context("poll"),
    }
    let ready = |i: Option<usize>| {
        i.and_then(|i| fds.get(i))
            .and_then(|f| f.revents())
            .is_some_and(|r| !r.is_empty())
    };
    let streams_ready: Vec<Live> = (0..watched.len())
        .filter(|i| ready(Some(streams_at + i)))
        .map(|i| watched[i].0)
        .collect();
    Ok(Some(Ready {
        chan: ready(Some(0)),
        signals: ready(Some(1)),
        master: ready(master_at),
        stdin: ready(stdin_at),
        streams: streams_ready,
    }))
}

/// Pass on the signals read: SIGWINCH as the pty's new size, the others
/// to the supervisor (which forwards them to the container).
fn pass_signals(sfd: &SignalFd, tty: Option<&Tty>, supervisor: Pid) {
    while let Ok(Some(info)) = sfd.read_signal() {
        let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
            continue;
        };
        match (sig, tty) {
            (Signal::SIGWINCH, Some(t)) => pass_winsize(&t.master),
            (Signal::SIGWINCH, None) => {}
            _ => {
                let _ = kill(supervisor, sig);
            }
        }
    }
}

/// One read from the master to stdout; false once the pty is closed.
fn copy_out(master: &mut std::fs::File, buf: &mut [u8]) -> bool {
    match master.read(buf) {
        Ok(0) => false,
        Ok(n) => {
            let mut out = io::stdout().lock();
            let _ = out.write_all(&buf[..n]);
            let _ = out.flush();
            true
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
        Err(_) => false,
    }
}

/// What the command wrote just before it ended.
fn drain(master: &mut std::fs::File, buf: &mut [u8]) {
    let _ = nix::fcntl::fcntl(
        master.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    while copy_out(master, buf) {}
}
