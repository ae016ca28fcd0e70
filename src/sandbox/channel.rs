//! Typed messages between the launcher's stages, one JSON datagram per
//! message over a SOCK_SEQPACKET pair (boundaries kept, fds passed with
//! SCM_RIGHTS). A closed peer reads as `Ok(None)`, so no wait can hang on
//! a stage that died.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use anyhow::Context;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};

use crate::error::{Coded, EXIT_BURROW};

/// What the stages tell each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// init -> supervisor -> caller: the pty master is attached.
    Pty,
    /// supervisor -> caller: the command runs; `pid` is the init's pid.
    Started { pid: i32 },
    /// The command could not be executed (126) or found (127).
    ExecFailed { code: i32, message: String },
    /// Setting the container up failed (125).
    SetupFailed { message: String },
    /// supervisor -> caller: the container ended.
    Exited { code: i32 },
    /// FUSE server -> supervisor: the container's root is mounted.
    Mounted,
    /// init -> supervisor, with the fd: the listener of the id emulation
    /// filter (single-id mode), sent right before execve.
    IdsListener,
    /// init -> supervisor, with the fd: an O_PATH handle on the
    /// container's root, which keeps its root mount past the init's end
    /// (the supervisor decides when the unmount, a flush to disk, runs).
    Root,
    /// `burrow oci` stage -> runtime: my user namespace is made, write
    /// its id maps (answered with `IdsMapped`).
    MapIds,
    /// runtime -> `burrow oci` stage: the id maps are written.
    IdsMapped,
    /// `burrow oci` init -> runtime: set up, waiting for `start`.
    Created,
}

impl Msg {
    /// The failure a stage reports, as the caller returns it: the exec's
    /// own code (126, 127), else burrow's (125). The one mapping of stage
    /// failures to exit codes.
    pub fn failure(&self) -> Option<Coded> {
        match self {
            Msg::ExecFailed { code, message } => Some(Coded::new(*code, message.clone())),
            Msg::SetupFailed { message } => Some(Coded::new(EXIT_BURROW, message.clone())),
            _ => None,
        }
    }
}

/// A message a stage never sends at that point of the protocol: a bug in
/// burrow, reported rather than dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnexpectedMessage {
    /// What was being waited for.
    pub waiting_for: &'static str,
    pub msg: Msg,
}

impl std::fmt::Display for UnexpectedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unexpected {:?} while waiting for {}",
            self.msg, self.waiting_for
        )
    }
}

impl std::error::Error for UnexpectedMessage {}

pub struct Channel {
    fd: OwnedFd,
}

const MAX_MSG: usize = 64 * 1024;

/// A connected pair, close-on-exec so the command inherits neither end.
pub fn pair() -> anyhow::Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair")?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, msg: &Msg) -> anyhow::Result<()> {
        self.send_with_fd(msg, None)
    }

    pub fn send_with_fd(&self, msg: &Msg, fd: Option<RawFd>) -> anyhow::Result<()> {
        let body = serde_json::to_vec(msg)?;
        let iov = [IoSlice::new(&body)];
        let fds = fd.map(|f| [f]);
        let cmsgs: Vec<ControlMessage> = fds
            .as_ref()
            .map(|f| vec![ControlMessage::ScmRights(f)])
            .unwrap_or_default();
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &iov,
            &cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .with_context(|| format!("send {msg:?}"))?;
        Ok(())
    }

    /// The next message, `None` when the peer is gone.
    pub fn recv(&self) -> anyhow::Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; MAX_MSG];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(r) => {
                    let mut fd = None;
                    for c in r.cmsgs().context("read control message")? {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            for f in fds {
                                fd = Some(owned(f));
                            }
                        }
                    }
                    break (r.bytes, fd);
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).context("receive from launcher stage"),
            }
        };
        if len == 0 {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf[..len]).context("bad launcher message")?;
        Ok(Some((msg, fd)))
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn owned(fd: RawFd) -> OwnedFd {
    crate::sys::own_fd(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_their_exit_codes_once() {
        let exec = Msg::ExecFailed {
            code: 127,
            message: "exec x: not found".into(),
        };
        let f = exec.failure().unwrap();
        assert_eq!((f.code, f.to_string()), (127, "exec x: not found".into()));
        let setup = Msg::SetupFailed {
            message: "mount".into(),
        };
        assert_eq!(setup.failure().unwrap().code, EXIT_BURROW);
        for m in [
            Msg::Pty,
            Msg::Mounted,
            Msg::Exited { code: 0 },
            Msg::Started { pid: 1 },
        ] {
            assert!(m.failure().is_none(), "{m:?}");
        }
        let e = UnexpectedMessage {
            waiting_for: "the container's start",
            msg: Msg::Mounted,
        };
        assert_eq!(
            e.to_string(),
            "unexpected Mounted while waiting for the container's start"
        );
    }

    #[test]
    fn messages_and_fds_cross() {
        let (a, b) = pair().unwrap();
        a.send(&Msg::Started { pid: 7 }).unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        a.send_with_fd(&Msg::Pty, Some(file.as_raw_fd())).unwrap();
        assert_eq!(b.recv().unwrap().unwrap().0, Msg::Started { pid: 7 });
        let (m, fd) = b.recv().unwrap().unwrap();
        assert_eq!(m, Msg::Pty);
        assert!(fd.is_some());
        drop(a);
        assert!(b.recv().unwrap().is_none());
    }
}
