//! Owners that stick in single-id mode. The kernel cannot give a file an
//! id the namespace does not map, so a chown-family call is answered here:
//! the owner is recorded in `user.burrow.override` ("uid:gid:mode", the
//! xattr our FUSE overlay and the layer writer already read) on the file
//! the caller named, through the container's own mount (the kernel overlay
//! copies it up with the file; the FUSE overlay stores it in its upper
//! dir). A stat-family call on a file with a recorded owner is made here
//! and its buffer filled with that owner; on any other file it runs in the
//! kernel unchanged, so the cost is one round trip and one xattr lookup.
//! Every form is sent: by name, by fd (fstat, and newfstatat/statx with
//! AT_EMPTY_PATH: glibc's fstat, most stat calls), and i386's with their
//! own structs (`stat32`).
//!
//! Names are resolved as the caller would: from its root (the serving
//! thread has its own fs context and chroots into /proc/PID/root for the
//! lookup, then back) and from its cwd or dirfd (/proc/PID/cwd,
//! /proc/PID/fd/N), onto an O_PATH fd; the xattr is then read and written
//! through /proc/thread-self/fd/N of that fd, so no second lookup can be
//! raced. The notification is checked to be still pending
//! (SECCOMP_IOCTL_NOTIF_ID_VALID) before anything is changed or written.

use std::ffi::CString;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;
use nix::sys::uio::{process_vm_readv, process_vm_writev, RemoteIoVec};
use nix::unistd::Pid;

use super::creds::{Creds, KEEP};
use super::filter::{Chmod, Chown, Stat, StatBuf};
use super::stat32;
use crate::rootfs::fuse::ownership::{Override, OVERRIDE_XATTR};
use crate::sys;

/// The longest path the kernel takes (PATH_MAX, with its NUL).
const PATH_MAX: usize = 4096;

/// What a call names: an fd of the caller, or a path from its dirfd
/// (AT_FDCWD: its cwd).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    Fd(i32),
    Path {
        dirfd: i32,
        path: CString,
        follow: bool,
    },
}

/// For a stat: another name to stat instead, and the owner to show.
pub(super) type Shown<'a> = dyn FnMut(&Target) -> Option<(Target, u32, u32)> + 'a;

/// One notification's caller, and how to ask whether it still waits.
pub struct Caller<'a> {
    pub tid: i32,
    pub valid: &'a dyn Fn() -> bool,
}

pub struct Owners {
    /// The supervisor's /proc.
    proc: OwnedFd,
    /// The supervisor's root, to come back to after a lookup.
    root: OwnedFd,
}

impl Owners {
    /// Call on the serving thread: it takes a file system context of its
    /// own (cwd and root), which its lookups change. None when that, or
    /// /proc, is not to be had: chown then records nothing (success, as
    /// before) and stat runs unchanged.
    pub fn new() -> Option<Owners> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS).ok()?;
        let dir = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let open = |p: &str| {
            nix::fcntl::open(p, dir, Mode::empty())
                .ok()
                .map(sys::own_fd)
        };
        Some(Owners {
            proc: open("/proc")?,
            root: open("/")?,
        })
    }

    /// chown, lchown, fchown, fchownat with args `a` (ids already widened).
    pub fn chown(
        &self,
        c: &Caller,
        creds: &Creds,
        kind: Chown,
        a: &[u64; 6],
        uid: u32,
        gid: u32,
    ) -> Result<i64, Errno> {
        let target = match kind {
            Chown::Path => path_target(c.tid, libc::AT_FDCWD, a[0], true)?,
            Chown::LPath => path_target(c.tid, libc::AT_FDCWD, a[0], false)?,
            Chown::Fd => Target::Fd(a[0] as i32),
            Chown::At => at_target(c.tid, a[0] as i32, a[1], a[4] as i32)?,
        };
        let fd = self.open(c.tid, &target)?;
        let st = sys::stat_fd(&fd)?;
        let link = format!("/proc/thread-self/fd/{}", fd.as_raw_fd());
        let kind = st.st_mode & libc::S_IFMT;
        let cur = recorded(&link, kind).unwrap_or(Override {
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode & 0o7777,
        });
        may_chown(creds, &cur, uid, gid)?;
        if !(c.valid)() {
            return Err(Errno::ESRCH);
        }
        // User xattrs live on files and dirs only: a symlink's or a device
        // node's owner is not kept (the call still succeeds, as before).
        if kind != libc::S_IFREG && kind != libc::S_IFDIR {
            return Ok(0);
        }
        let mut mode = st.st_mode & 0o7777;
        // As the kernel does on chown: a file loses setuid, and setgid
        // where it means "run as the group" (group-executable).
        if kind == libc::S_IFREG {
            let kill = libc::S_ISUID | if mode & 0o010 != 0 { libc::S_ISGID } else { 0 };
            if mode & kill != 0 {
                mode &= !kill;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&link, std::fs::Permissions::from_mode(mode))
                    .map_err(io_errno)?;
            }
        }
        let o = Override {
            uid: if uid == KEEP { cur.uid } else { uid },
            gid: if gid == KEEP { cur.gid } else { gid },
            mode,
        };
        match xattr::set_deref(&link, OVERRIDE_XATTR, o.format().as_bytes()) {
            Ok(()) => Ok(0),
            // A file system without user xattrs (or /dev's nodes): the
            // owner is not kept, as before.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP | libc::EPERM)) => Ok(0),
            Err(e) => Err(io_errno(e)),
        }
    }

    /// chmod, fchmod, fchmodat: made here; a recorded owner keeps the new
    /// mode too. Only the (emulated) owner or root may.
    pub fn chmod(
        &self,
        c: &Caller,
        creds: &Creds,
        kind: Chmod,
        a: &[u64; 6],
    ) -> Result<i64, Errno> {
        let (target, mode) = match kind {
            Chmod::Path => (path_target(c.tid, libc::AT_FDCWD, a[0], true)?, a[1]),
            Chmod::Fd => (Target::Fd(a[0] as i32), a[1]),
            Chmod::At => (at_target(c.tid, a[0] as i32, a[1], 0)?, a[2]),
        };
        let fd = self.open(c.tid, &target)?;
        let st = sys::stat_fd(&fd)?;
        let link = format!("/proc/thread-self/fd/{}", fd.as_raw_fd());
        let rec = recorded(&link, st.st_mode & libc::S_IFMT);
        let owner = rec.map_or(st.st_uid, |o| o.uid);
        if !creds.privileged() && creds.fsuid != owner {
            return Err(Errno::EPERM);
        }
        if !(c.valid)() {
            return Err(Errno::ESRCH);
        }
        let mode = (mode as u32) & 0o7777;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&link, std::fs::Permissions::from_mode(mode)).map_err(io_errno)?;
        if let Some(o) = rec {
            let o = Override { mode, ..o };
            // Best effort, as chown's: the mode itself is set.
            let _ = xattr::set_deref(&link, OVERRIDE_XATTR, o.format().as_bytes());
        }
        Ok(0)
    }

    /// stat, lstat, fstat, newfstatat, statx (and i386's, filling the
    /// struct `layout` names): Some(result) when the file has a recorded
    /// owner, or `shown` gives what to show for the name (another name to
    /// stat, and its owner: /proc/PID, `procfs`), and the call was made here; None: let the kernel run it (no owner recorded,
    /// or anything unexpected, where the kernel gives the right error).
    pub(super) fn stat(
        &self,
        c: &Caller,
        kind: Stat,
        layout: StatBuf,
        a: &[u64; 6],
        shown: &mut Shown,
    ) -> Option<Result<i64, Errno>> {
        let (target, buf) = match kind {
            Stat::Path => (path_target(c.tid, libc::AT_FDCWD, a[0], true), a[1]),
            Stat::LPath => (path_target(c.tid, libc::AT_FDCWD, a[0], false), a[1]),
            Stat::Fd => (Ok(Target::Fd(a[0] as i32)), a[1]),
            Stat::At => (at_target(c.tid, a[0] as i32, a[1], a[3] as i32), a[2]),
            Stat::X => (at_target(c.tid, a[0] as i32, a[1], a[2] as i32), a[4]),
        };
        let target = target.ok()?;
        let (fd, shown_ids) = match shown(&target) {
            Some((other, uid, gid)) => (self.open(c.tid, &other).ok()?, Some((uid, gid))),
            None => (self.open(c.tid, &target).ok()?, None),
        };
        // One stat: the kind for the lookup, and the fields shown.
        let mut st = sys::stat_fd(&fd).ok()?;
        let (uid, gid) = match shown_ids {
            Some(ids) => ids,
            None => {
                let link = format!("/proc/thread-self/fd/{}", fd.as_raw_fd());
                let o = recorded(&link, st.st_mode & libc::S_IFMT)?;
                (o.uid, o.gid)
            }
        };
        let bytes = match (kind, layout) {
            (Stat::X, _) => {
                let mut stx = sys::statx_fd(&fd, a[2] as i32, a[3] as u32).ok()?;
                (stx.stx_uid, stx.stx_gid) = (uid, gid);
                sys::statx_bytes(&stx).to_vec()
            }
            (_, StatBuf::Native) => {
                (st.st_uid, st.st_gid) = (uid, gid);
                sys::stat_bytes(&st).to_vec()
            }
            (_, StatBuf::Wide32) => stat32::wide(&st, uid, gid).to_vec(),
            (_, StatBuf::Old32) => match stat32::old(&st, uid, gid, stat32::overflow_ids()) {
                Ok(b) => b.to_vec(),
                // What the kernel would answer: the call fails.
                Err(e) => return Some(Err(e)),
            },
        };
        if !(c.valid)() {
            return Some(Err(Errno::ESRCH));
        }
        Some(write_mem(c.tid, buf, &bytes).map(|()| 0))
    }

    /// Open what the caller named with `flags` (a read), found as the
    /// caller finds it.
    pub(super) fn open_with(&self, tid: i32, target: &Target, flags: OFlag) -> Option<OwnedFd> {
        // O_CLOEXEC also keeps `open_as` from taking it for a mkdir.
        let flags = flags | OFlag::O_CLOEXEC;
        self.open_as(tid, target, flags, Mode::empty())
            .ok()
            .flatten()
    }

    /// Open what the caller named, O_PATH, found as the caller finds it.
    pub(super) fn open(&self, tid: i32, target: &Target) -> Result<OwnedFd, Errno> {
        self.open_as(tid, target, OFlag::O_PATH, Mode::empty())
            .and_then(|fd| fd.ok_or(Errno::EINVAL))
    }

    /// The caller's open or mkdir (`mkdir`: Ok(None)), made here with its
    /// umask, its name resolved as it would be.
    pub(super) fn make_for(
        &self,
        tid: i32,
        target: &Target,
        flags: OFlag,
        mode: Mode,
        mkdir: bool,
    ) -> Result<Option<OwnedFd>, Errno> {
        let umask = caller_umask(tid).unwrap_or(Mode::from_bits_truncate(0o022));
        let old = nix::sys::stat::umask(umask);
        let r = match mkdir {
            true => self.open_as(tid, target, OFlag::empty(), mode),
            false => self.open_as(tid, target, flags, mode),
        };
        nix::sys::stat::umask(old);
        r
    }

    /// `open` with any flags; with no flags at all, mkdirat.
    fn open_as(
        &self,
        tid: i32,
        target: &Target,
        flags: OFlag,
        mode: Mode,
    ) -> Result<Option<OwnedFd>, Errno> {
        let (dirfd, path, follow) = match target {
            Target::Fd(fd) if *fd >= 0 && flags == OFlag::O_PATH => {
                return self
                    .open_proc(&format!("{tid}/fd/{fd}"), OFlag::empty())
                    .map(Some);
            }
            // fstatat(AT_FDCWD, "", AT_EMPTY_PATH) and the like: the cwd.
            Target::Fd(libc::AT_FDCWD) if flags == OFlag::O_PATH => {
                return self
                    .open_proc(&format!("{tid}/cwd"), OFlag::empty())
                    .map(Some);
            }
            Target::Fd(_) => return Err(Errno::EBADF),
            Target::Path {
                dirfd,
                path,
                follow,
            } => (*dirfd, path, *follow),
        };
        let dir = OFlag::O_DIRECTORY;
        let root = self.open_proc(&format!("{tid}/root"), dir)?;
        let mkdir = flags.is_empty();
        let mut flags = flags | OFlag::O_CLOEXEC;
        if !follow {
            flags |= OFlag::O_NOFOLLOW;
        }
        // An absolute name: found below the caller's root in one call (the
        // hot path: most stat calls); the chroot below on any error, where
        // it gives the caller's own answer.
        if !mkdir && path.as_bytes().first() == Some(&b'/') {
            use std::os::unix::ffi::OsStrExt;
            let p = std::path::Path::new(std::ffi::OsStr::from_bytes(path.as_bytes()));
            let f = flags.bits() & !libc::O_CLOEXEC;
            if let Ok(fd) = sys::open_as_if_chrooted(&root, p, f, mode.bits()) {
                return Ok(Some(fd));
            }
        }
        let base = match (path.as_bytes().first(), dirfd) {
            (Some(b'/'), _) => None,
            (_, libc::AT_FDCWD) => Some(self.open_proc(&format!("{tid}/cwd"), dir)?),
            (_, fd) if fd >= 0 => Some(self.open_proc(&format!("{tid}/fd/{fd}"), OFlag::empty())?),
            _ => return Err(Errno::EBADF),
        };
        // In the caller's root for the lookup only: absolute names and
        // symlinks resolve there, and `..` stops at it.
        nix::unistd::fchdir(root.as_raw_fd())?;
        nix::unistd::chroot(".")?;
        let at = base.as_ref().map_or(libc::AT_FDCWD, |b| b.as_raw_fd());
        let r = match mkdir {
            true => nix::sys::stat::mkdirat(Some(at), path.as_c_str(), mode).map(|()| None),
            false => openat(Some(at), path.as_c_str(), flags, mode).map(|fd| Some(sys::own_fd(fd))),
        };
        let back =
            nix::unistd::fchdir(self.root.as_raw_fd()).and_then(|()| nix::unistd::chroot("."));
        // Not back in our own root: /proc/thread-self would not be ours.
        back?;
        r
    }

    fn open_proc(&self, rel: &str, extra: OFlag) -> Result<OwnedFd, Errno> {
        let flags = OFlag::O_PATH | OFlag::O_CLOEXEC | extra;
        openat(Some(self.proc.as_raw_fd()), rel, flags, Mode::empty()).map(sys::own_fd)
    }
}

/// The owner recorded on the file at `link` (files and dirs only: a
/// symlink's xattrs would be read through it).
pub(super) fn recorded(link: &str, kind: u32) -> Option<Override> {
    if kind != libc::S_IFREG && kind != libc::S_IFDIR {
        return None;
    }
    xattr::get_deref(link, OVERRIDE_XATTR)
        .ok()
        .flatten()
        .and_then(|v| Override::parse(&v))
}

/// The kernel's chown rule, on emulated ids: a privileged caller may give
/// any owner; another may only keep the owner and, owning the file, set a
/// group it is in.
fn may_chown(c: &Creds, cur: &Override, uid: u32, gid: u32) -> Result<(), Errno> {
    if c.privileged() {
        return Ok(());
    }
    let owner = c.fsuid == cur.uid;
    if uid != KEEP && uid != cur.uid {
        return Err(Errno::EPERM);
    }
    let member = gid == c.fsgid || c.groups.contains(&gid);
    if gid != KEEP && gid != cur.gid && !(owner && member) {
        return Err(Errno::EPERM);
    }
    if (uid != KEEP || gid != KEEP) && !owner {
        return Err(Errno::EPERM);
    }
    Ok(())
}

fn path_target(tid: i32, dirfd: i32, addr: u64, follow: bool) -> Result<Target, Errno> {
    let path = read_cstr(tid, addr)?;
    if path.as_bytes().is_empty() {
        return Err(Errno::ENOENT);
    }
    Ok(Target::Path {
        dirfd,
        path,
        follow,
    })
}

/// An *at call's target: with AT_EMPTY_PATH and an empty (or, since
/// Linux 6.11, NULL) path, the dirfd itself.
fn at_target(tid: i32, dirfd: i32, addr: u64, flags: i32) -> Result<Target, Errno> {
    let empty_ok = flags & libc::AT_EMPTY_PATH != 0;
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    if empty_ok && addr == 0 {
        return Ok(Target::Fd(dirfd));
    }
    let path = read_cstr(tid, addr)?;
    match (path.as_bytes().is_empty(), empty_ok) {
        (true, true) => Ok(Target::Fd(dirfd)),
        (true, false) => Err(Errno::ENOENT),
        _ => Ok(Target::Path {
            dirfd,
            path,
            follow,
        }),
    }
}

/// A NUL-terminated string from the caller's memory, read a page at most
/// at a time so an unmapped page after the string is never touched.
pub(super) fn read_cstr(tid: i32, addr: u64) -> Result<CString, Errno> {
    const PAGE: u64 = 4096;
    if addr == 0 {
        return Err(Errno::EFAULT);
    }
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < PATH_MAX {
        let len = (PAGE - at % PAGE) as usize;
        let mut buf = vec![0u8; len];
        let remote = [RemoteIoVec {
            base: at as usize,
            len,
        }];
        let n = process_vm_readv(
            Pid::from_raw(tid),
            &mut [IoSliceMut::new(&mut buf)],
            &remote,
        )
        .map_err(|_| Errno::EFAULT)?;
        if n == 0 {
            return Err(Errno::EFAULT);
        }
        if let Some(end) = buf[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&buf[..end]);
            return CString::new(out).map_err(|_| Errno::EINVAL);
        }
        out.extend_from_slice(&buf[..n]);
        at += n as u64;
    }
    Err(Errno::ENAMETOOLONG)
}

fn write_mem(tid: i32, addr: u64, bytes: &[u8]) -> Result<(), Errno> {
    let remote = [RemoteIoVec {
        base: addr as usize,
        len: bytes.len(),
    }];
    match process_vm_writev(Pid::from_raw(tid), &[IoSlice::new(bytes)], &remote) {
        Ok(n) if n == bytes.len() => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// The caller's umask (/proc/TID/status, Linux 4.7).
fn caller_umask(tid: i32) -> Option<Mode> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    let v = s.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    let bits = u32::from_str_radix(v.trim(), 8).ok()?;
    Some(Mode::from_bits_truncate(bits as libc::mode_t))
}

/// Record `uid:gid` on what `fd` (O_PATH or not) names, with its mode.
pub(super) fn record(fd: &OwnedFd, uid: u32, gid: u32) -> Result<(), Errno> {
    let st = sys::stat_fd(fd)?;
    let link = format!("/proc/thread-self/fd/{}", fd.as_raw_fd());
    let o = Override {
        uid,
        gid,
        mode: st.st_mode & 0o7777,
    };
    xattr::set_deref(&link, OVERRIDE_XATTR, o.format().as_bytes()).map_err(io_errno)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(uid: u32, gid: u32, groups: Vec<u32>) -> Creds {
        Creds::new(uid, gid, groups)
    }

    #[test]
    fn only_a_privileged_caller_gives_files_away() {
        let cur = Override {
            uid: 1000,
            gid: 1000,
            mode: 0o644,
        };
        assert_eq!(may_chown(&creds(0, 0, vec![]), &cur, 5, 5), Ok(()));
        // The owner may set a group it is in, not another owner.
        let app = creds(1000, 1000, vec![27]);
        assert_eq!(may_chown(&app, &cur, KEEP, 27), Ok(()));
        assert_eq!(may_chown(&app, &cur, 1000, 1000), Ok(()));
        assert_eq!(may_chown(&app, &cur, 0, KEEP), Err(Errno::EPERM));
        assert_eq!(may_chown(&app, &cur, KEEP, 28), Err(Errno::EPERM));
        // Someone else may not even set the same group.
        let other = creds(1001, 27, vec![]);
        assert_eq!(may_chown(&other, &cur, KEEP, 27), Err(Errno::EPERM));
    }

    #[test]
    fn strings_are_read_from_the_callers_memory() {
        let me = std::process::id() as i32;
        let s = c"/srv/x";
        let got = read_cstr(me, s.as_ptr() as u64).unwrap();
        assert_eq!(got.as_c_str(), s);
        assert_eq!(read_cstr(me, 0), Err(Errno::EFAULT));
        let empty = c"";
        let t = at_target(me, 3, empty.as_ptr() as u64, libc::AT_EMPTY_PATH).unwrap();
        assert_eq!(t, Target::Fd(3));
        assert_eq!(
            at_target(me, 3, empty.as_ptr() as u64, 0),
            Err(Errno::ENOENT)
        );
    }
}
