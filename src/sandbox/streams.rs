//! The caller's terminal is never handed to a container that did not ask
//! for one (`-t`): a process holding a tty fd can read what the user
//! types (reopening it through /proc/self/fd, even read-only ends) or
//! push bytes back with ioctls. Every stdio fd of ours that is a terminal
//! becomes a pipe on the container's side, and we copy the bytes, as
//! Docker and podman do. Other stdio (files, pipes, sockets) is passed as
//! it is: it is what the user gave the container.
//!
//! A terminal stdin without `-i` is not piped: the command reads
//! /dev/null then (`init`), as with Docker.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use anyhow::Context;
use nix::fcntl::OFlag;

/// The container's ends of the pipes, for fds 0, 1 and 2 (`None`: ours is
/// passed on as it is).
pub(super) struct ChildEnds([Option<OwnedFd>; 3]);

impl ChildEnds {
    /// In the forked child: the pipe ends become its stdio (inherited by
    /// everything it forks and execs).
    pub(super) fn attach(self) -> anyhow::Result<()> {
        for (fd, end) in self.0.iter().enumerate() {
            if let Some(end) = end {
                nix::unistd::dup2(end.as_raw_fd(), fd as i32).context("attach a stdio pipe")?;
            }
        }
        Ok(())
    }
}

/// One output pipe: its read end and which of our fds it is copied to.
struct Output {
    from: File,
    to: i32,
    open: bool,
    /// A pty master: read until it reports the end (EIO once every
    /// slave closed); the kernel passes the bytes on asynchronously, so
    /// a pty may not hold them yet when the command has ended.
    until_end: bool,
}

/// Our ends: what we copy while the container runs.
pub(super) struct Streams {
    /// Our stdin (a copy of fd 0) is copied to the write end (closed at
    /// our EOF).
    input: Option<(File, File)>,
    outputs: Vec<Output>,
}

/// A stream to poll, as `Streams::watch` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Live {
    Input,
    Output(usize),
}

/// Pipes for every terminal among our fds 0, 1 and 2; `stdin`: the
/// command keeps its stdin (`-i`), else a terminal stdin is not piped
/// (the command gets /dev/null). Nothing is made when none is a terminal.
pub(super) fn for_terminals(stdin: bool) -> anyhow::Result<(ChildEnds, Streams)> {
    let tty = |fd: i32| nix::unistd::isatty(fd).unwrap_or(false);
    let mut ends: [Option<OwnedFd>; 3] = [None, None, None];
    let mut streams = Streams::none();
    if stdin && tty(0) {
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe")?;
        ends[0] = Some(r);
        let ours = io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .context("dup stdin")?;
        streams.input = Some((File::from(ours), File::from(w)));
    }
    for fd in [1, 2] {
        if tty(fd) {
            let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe")?;
            ends[fd as usize] = Some(w);
            streams.outputs.push(Output {
                from: File::from(r),
                to: fd,
                open: true,
                until_end: false,
            });
        }
    }
    Ok((ChildEnds(ends), streams))
}

impl Streams {
    /// Nothing to copy.
    pub(super) fn none() -> Streams {
        Streams {
            input: None,
            outputs: Vec::new(),
        }
    }

    /// A pty's master: our stdin to it (with `stdin`), it to our stdout.
    pub(super) fn for_pty(master: File, stdin: bool) -> Streams {
        let input = match stdin {
            true => io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .ok()
                .zip(master.try_clone().ok())
                .map(|(ours, m)| (File::from(ours), m)),
            false => None,
        };
        Streams {
            input,
            outputs: vec![Output {
                from: master,
                to: 1,
                open: true,
                until_end: true,
            }],
        }
    }

    /// Stop copying our stdin (the command ended).
    pub(super) fn stop_input(&mut self) {
        self.input = None;
    }

    /// Whether a stream must still be read to its end (a pty).
    pub(super) fn waits_for_end(&self) -> bool {
        self.outputs.iter().any(|o| o.open && o.until_end)
    }

    /// Whether there is anything to copy at all.
    pub(super) fn is_empty(&self) -> bool {
        self.input.is_none() && self.outputs.is_empty()
    }

    /// The streams still open, with the fd to poll for each.
    pub(super) fn watch(&self) -> Vec<(Live, BorrowedFd<'_>)> {
        let mut v = Vec::new();
        if let Some((ours, _)) = &self.input {
            v.push((Live::Input, ours.as_fd()));
        }
        for (i, o) in self.outputs.iter().enumerate() {
            if o.open {
                v.push((Live::Output(i), o.from.as_fd()));
            }
        }
        v
    }

    /// Copy one chunk for a stream that poll said is ready.
    pub(super) fn serve(&mut self, which: Live, buf: &mut [u8]) {
        match which {
            Live::Input => {
                let sent = self
                    .input
                    .as_mut()
                    .is_some_and(|(ours, pipe)| match ours.read(buf) {
                        Ok(0) | Err(_) => false,
                        Ok(n) => pipe.write_all(&buf[..n]).is_ok(),
                    });
                if !sent {
                    // Our EOF (or the command closed its stdin): its EOF.
                    self.input = None;
                }
            }
            Live::Output(i) => {
                let o = &mut self.outputs[i];
                match o.from.read(buf) {
                    Ok(0) => o.open = false,
                    Ok(n) => write_to(o.to, &buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => o.open = false,
                }
            }
        }
    }

    /// What is left in the pipes once the command ended (without waiting
    /// for writers that may still hold them).
    pub(super) fn drain(&mut self, buf: &mut [u8]) {
        self.input = None;
        for o in self.outputs.iter_mut().filter(|o| o.open) {
            let _ = nix::fcntl::fcntl(
                o.from.as_raw_fd(),
                nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
            );
            while let Ok(n) = o.from.read(buf) {
                if n == 0 {
                    break;
                }
                write_to(o.to, &buf[..n]);
            }
            o.open = false;
        }
    }
}

/// All of `data` to our fd 1 or 2.
fn write_to(fd: i32, data: &[u8]) {
    let _ = match fd {
        1 => {
            let mut out = io::stdout().lock();
            out.write_all(data).and_then(|()| out.flush())
        }
        _ => io::stderr().lock().write_all(data),
    };
}
