//! Permission checks on emulated ids: to the kernel every process of the
//! container is the one mapped id with root's capabilities, so a process
//! that switched to `nobody` could still write anywhere. The calls that
//! write a file or a directory's entries (open and openat to write or
//! create, creat, mkdir, mknod, unlink, rmdir, rename, link, symlink) come
//! here; for a caller whose emulated fs uid is not a privileged root, the
//! file's (or parent dir's) recorded owner and mode decide as the kernel
//! would: owner, group or other bits, and the sticky bit for removal.
//! Allowed calls run in the kernel (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
//!
//! Close enough for `su nobody -c 'touch /root/x'` to fail, not a
//! boundary: reads, chmod, truncate, xattrs, openat2 and the search
//! permission of the dirs on the way are not checked, and a caller that
//! races a rename between the check and the call gets what the kernel
//! gives root.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::creds::Creds;
use super::filter::Access;
use super::owners::{read_cstr, record, recorded, Owners, Target};
use crate::sys;

const W: u32 = 2;
const X: u32 = 1;

/// Puts an fd into the caller and answers its call with the fd's number.
pub type AddFd<'a> = &'a dyn Fn(&OwnedFd, bool) -> Result<i64, Errno>;

/// Ok(None): let the call run; Ok(Some(v)): it was made here and returns
/// v; Err: fail it with that errno. A file or dir a non-root caller makes
/// is made here (the kernel would give it the one mapped id) and given
/// the caller's fs ids as its recorded owner.
pub fn check(
    o: &Owners,
    tid: i32,
    creds: &Creds,
    kind: Access,
    a: &[u64; 6],
    addfd: AddFd,
) -> Result<Option<i64>, Errno> {
    if creds.fsuid == 0 && creds.privileged() {
        return Ok(None);
    }
    let fd = |x: u64| x as i32;
    let cwd = libc::AT_FDCWD;
    let c = Checker { o, tid, creds };
    let run = |r: Result<(), Errno>| r.map(|()| None);
    match kind {
        Access::Open => c.open(cwd, a[0], a[1] as i32, a[2] as u32, addfd),
        Access::OpenAt => c.open(fd(a[0]), a[1], a[2] as i32, a[3] as u32, addfd),
        Access::Creat => {
            let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
            c.open(cwd, a[0], flags, a[1] as u32, addfd)
        }
        Access::Mkdir => c.mkdir(cwd, a[0], a[1] as u32),
        Access::MkdirAt => c.mkdir(fd(a[0]), a[1], a[2] as u32),
        Access::Parent => run(c.entry(cwd, a[0])),
        Access::ParentAt => run(c.entry(fd(a[0]), a[1])),
        Access::Pair => run(c.entry(cwd, a[0]).and_then(|()| c.entry(cwd, a[1]))),
        Access::PairAt => run(c
            .entry(fd(a[0]), a[1])
            .and_then(|()| c.entry(fd(a[2]), a[3]))),
        Access::SymlinkAt => run(c.entry(fd(a[1]), a[2])),
    }
}

struct Checker<'a> {
    o: &'a Owners,
    tid: i32,
    creds: &'a Creds,
}

/// What the checks need of a file: owner, group, mode (with type bits).
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
}

impl Checker<'_> {
    /// open/openat/creat that write or create: the file's write bit, or
    /// for a new one the parent's write and search bits; a new one is
    /// made here and its fd put into the caller.
    fn open(
        &self,
        dirfd: i32,
        addr: u64,
        flags: i32,
        mode: u32,
        addfd: AddFd,
    ) -> Result<Option<i64>, Errno> {
        let Ok(path) = read_cstr(self.tid, addr) else {
            return Ok(None);
        };
        let write = flags & (libc::O_WRONLY | libc::O_RDWR | libc::O_TRUNC) != 0;
        let create = flags & libc::O_CREAT != 0;
        let follow = flags & libc::O_NOFOLLOW == 0 && !(create && flags & libc::O_EXCL != 0);
        let target = Target::Path {
            dirfd,
            path: path.clone(),
            follow,
        };
        match self.meta(&target) {
            Some(m) if write && m.mode & libc::S_IFMT == libc::S_IFREG => {
                self.may(&m, W).map(|()| None)
            }
            Some(_) => Ok(None),
            None if create => {
                self.in_parent(dirfd, &path, false)?;
                let oflags = OFlag::from_bits_truncate(flags & !libc::O_CLOEXEC);
                let mode = Mode::from_bits_truncate((mode & 0o7777) as libc::mode_t);
                let made = self.o.make_for(self.tid, &target, oflags, mode, false)?;
                let Some(made) = made else {
                    return Ok(None);
                };
                // Made: a file system without user xattrs keeps it ours.
                let _ = record(&made, self.creds.fsuid, self.creds.fsgid);
                addfd(&made, flags & libc::O_CLOEXEC != 0).map(Some)
            }
            None => Ok(None),
        }
    }

    /// mkdir: the parent's bits; made here, owned by the caller.
    fn mkdir(&self, dirfd: i32, addr: u64, mode: u32) -> Result<Option<i64>, Errno> {
        let Ok(path) = read_cstr(self.tid, addr) else {
            return Ok(None);
        };
        self.in_parent(dirfd, &path, false)?;
        let target = Target::Path {
            dirfd,
            path,
            follow: false,
        };
        if self.meta(&target).is_some() {
            return Err(Errno::EEXIST);
        }
        let mode = Mode::from_bits_truncate((mode & 0o7777) as libc::mode_t);
        self.o
            .make_for(self.tid, &target, OFlag::empty(), mode, true)?;
        if let Ok(made) = self.o.open(self.tid, &target) {
            let _ = record(&made, self.creds.fsuid, self.creds.fsgid);
        }
        Ok(Some(0))
    }

    /// A call that adds or removes the entry `addr` names: the parent's
    /// write and search bits, and the sticky bit's rule.
    fn entry(&self, dirfd: i32, addr: u64) -> Result<(), Errno> {
        match read_cstr(self.tid, addr) {
            Ok(path) => self.in_parent(dirfd, &path, true),
            Err(_) => Ok(()),
        }
    }

    fn in_parent(&self, dirfd: i32, path: &CString, sticky: bool) -> Result<(), Errno> {
        let Some((parent, _)) = split(path.as_bytes()) else {
            return Ok(());
        };
        let parent = Target::Path {
            dirfd,
            path: parent,
            follow: true,
        };
        let Some(dir) = self.meta(&parent) else {
            return Ok(());
        };
        self.may(&dir, W | X)?;
        // In a sticky dir (/tmp) only the owner of the entry or of the dir
        // may remove or replace it.
        if sticky && dir.mode & libc::S_ISVTX != 0 && self.creds.fsuid != dir.uid {
            let entry = Target::Path {
                dirfd,
                path: path.clone(),
                follow: false,
            };
            if self.meta(&entry).is_some_and(|e| e.uid != self.creds.fsuid) {
                return Err(Errno::EPERM);
            }
        }
        Ok(())
    }

    /// Owner, group and mode of what `t` names as the caller finds it,
    /// the recorded owner first; None when it is not there.
    fn meta(&self, t: &Target) -> Option<Meta> {
        let fd = self.o.open(self.tid, t).ok()?;
        let st = sys::stat_fd(&fd).ok()?;
        let link = format!("/proc/thread-self/fd/{}", fd.as_raw_fd());
        let (uid, gid) = match recorded(&link, st.st_mode & libc::S_IFMT) {
            Some(o) => (o.uid, o.gid),
            None => (st.st_uid, st.st_gid),
        };
        Some(Meta {
            uid,
            gid,
            mode: st.st_mode,
        })
    }

    fn may(&self, m: &Meta, want: u32) -> Result<(), Errno> {
        match allowed(self.creds, m, want) {
            true => Ok(()),
            false => Err(Errno::EACCES),
        }
    }
}

/// The kernel's rule (generic_permission) on emulated ids: the owner's
/// bits, else the group's, else the others'; root (privileged, fs uid 0)
/// passes.
fn allowed(c: &Creds, m: &Meta, want: u32) -> bool {
    if c.fsuid == 0 && c.privileged() {
        return true;
    }
    let shift = if c.fsuid == m.uid {
        6
    } else if c.fsgid == m.gid || c.groups.contains(&m.gid) {
        3
    } else {
        0
    };
    (m.mode >> shift) & want == want
}

/// A path's parent dir and last name; None for names with no entry to
/// add or remove ("/", ".", "..").
fn split(path: &[u8]) -> Option<(CString, CString)> {
    let trimmed = {
        let mut end = path.len();
        while end > 1 && path[end - 1] == b'/' {
            end -= 1;
        }
        &path[..end]
    };
    let (parent, name): (&[u8], &[u8]) = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(0) => (b"/", &trimmed[1..]),
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => (b".", trimmed),
    };
    if name.is_empty() || name == b"." || name == b".." {
        return None;
    }
    Some((CString::new(parent).ok()?, CString::new(name).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_parent_and_name() {
        let s = |p: &[u8]| split(p).map(|(a, b)| (a.into_bytes(), b.into_bytes()));
        assert_eq!(s(b"/root/x"), Some((b"/root".to_vec(), b"x".to_vec())));
        assert_eq!(s(b"/x"), Some((b"/".to_vec(), b"x".to_vec())));
        assert_eq!(s(b"x"), Some((b".".to_vec(), b"x".to_vec())));
        assert_eq!(s(b"a/b/"), Some((b"a".to_vec(), b"b".to_vec())));
        assert_eq!(s(b"/"), None);
        assert_eq!(s(b"a/.."), None);
    }

    #[test]
    fn owner_group_and_other_bits_decide() {
        let nobody = Creds::new(65534, 65534, vec![]);
        let root_dir = Meta {
            uid: 0,
            gid: 0,
            mode: libc::S_IFDIR | 0o700,
        };
        let tmp = Meta {
            uid: 0,
            gid: 0,
            mode: libc::S_IFDIR | 0o1777,
        };
        assert!(!allowed(&nobody, &root_dir, W | X));
        assert!(allowed(&nobody, &tmp, W | X));
        assert!(allowed(&Creds::new(0, 0, vec![]), &root_dir, W | X));
        let shared = Meta {
            uid: 0,
            gid: 50,
            mode: libc::S_IFDIR | 0o770,
        };
        assert!(allowed(&Creds::new(7, 7, vec![50]), &shared, W | X));
        assert!(!allowed(&Creds::new(7, 7, vec![]), &shared, W | X));
        // Root that gave up its uid is checked like anyone.
        let mut dropped = Creds::new(0, 0, vec![]);
        dropped
            .apply(super::super::creds::Set::ResUid(5, 5, 5))
            .unwrap();
        assert!(!allowed(&dropped, &root_dir, W));
    }
}
