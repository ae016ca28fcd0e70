//! The layer stack on disk, in the kernel overlay driver's format: index 0
//! is the upper (writable) dir, 1.. the lowers, top-most first. A whiteout
//! is a char device 0:0; an opaque dir carries `user.overlay.opaque` = "y".

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nix::sys::stat::{mknod, Mode, SFlag};

/// The xattr the kernel overlay (mounted with `userxattr`) reads as opaque.
pub const OPAQUE_XATTR: &str = "user.overlay.opaque";
/// Layer index of the upper dir.
pub const UPPER: usize = 0;

/// The directories of the stack.
#[derive(Debug, Clone)]
pub struct Layers {
    dirs: Vec<PathBuf>,
    /// An O_PATH fd of each dir, to open files relative to (None where it
    /// could not be opened: opens then go by path).
    fds: Arc<Vec<Option<OwnedFd>>>,
    pub work: PathBuf,
}

impl Layers {
    pub fn new(upper: PathBuf, lowers: Vec<PathBuf>, work: PathBuf) -> Layers {
        let mut dirs = vec![upper];
        dirs.extend(lowers);
        let fds = Arc::new(dirs.iter().map(|d| open_path(d).ok()).collect());
        Layers { dirs, fds, work }
    }

    /// Open the real file `rel` in `layer` (open(2) `flags`, `mode` for
    /// O_CREAT) without following a symlink anywhere on the way: the
    /// server looks a path up and opens it later, without the table lock,
    /// and a symlink put in its place in between (a rename race, or a hand
    /// in the upper dir) must not lead it out of the layer. Such a link
    /// gives ELOOP. Before Linux 5.6, and for paths too long for one call,
    /// only the last component is guarded (O_NOFOLLOW).
    pub fn open(
        &self,
        layer: usize,
        rel: &Path,
        flags: libc::c_int,
        mode: u32,
    ) -> io::Result<File> {
        let short = !rel.as_os_str().is_empty() && rel.as_os_str().len() < SHORT;
        if let (true, Some(dir)) = (short, &self.fds[layer]) {
            match crate::sys::open_beneath_no_symlinks(dir, rel, flags, mode) {
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {}
                other => return other.map(File::from),
            }
        }
        let acc = flags & libc::O_ACCMODE;
        std::fs::OpenOptions::new()
            .read(acc != libc::O_WRONLY)
            .write(acc != libc::O_RDONLY)
            .mode(mode)
            .custom_flags((flags & !libc::O_ACCMODE) | libc::O_NOFOLLOW)
            .open(self.real(layer, rel))
    }

    pub fn count(&self) -> usize {
        self.dirs.len()
    }

    pub fn root(&self, layer: usize) -> &Path {
        &self.dirs[layer]
    }

    /// The real path of `rel` (relative to the mount root) in `layer`.
    pub fn real(&self, layer: usize, rel: &Path) -> Real {
        let root = &self.dirs[layer];
        if rel.as_os_str().is_empty() {
            return Real::plain(root.clone());
        }
        let full = root.join(rel);
        if full.as_os_str().len() < SHORT {
            return Real::plain(full);
        }
        Real::long(root, rel)
    }

    /// Our scratch dir in the work dir (emptied at mount): copies are
    /// assembled there, and the shared whiteout lives there.
    pub fn tmp_dir(&self) -> PathBuf {
        self.work.join("burrow-tmp")
    }

    /// Put a whiteout at `rel` in the upper dir. As the kernel overlay
    /// does, it is a new name for one shared whiteout in the work dir:
    /// a link is far cheaper than allocating an inode per deleted name
    /// (deleting a lower tree makes one whiteout per entry).
    pub fn whiteout(&self, rel: &Path) -> io::Result<()> {
        let dst = self.real(UPPER, rel);
        let shared = self.tmp_dir().join("whiteout");
        match std::fs::hard_link(&shared, &dst) {
            Ok(()) => return Ok(()),
            // None yet, or it has as many links as the fs allows.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::EMLINK)) => {}
            Err(_) => return make_whiteout(&dst),
        }
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = shared.with_file_name(format!("whiteout-{}-{n}", std::process::id()));
        if make_whiteout(&tmp)
            .and_then(|()| std::fs::rename(&tmp, &shared))
            .is_err()
        {
            let _ = std::fs::remove_file(&tmp);
            return make_whiteout(&dst);
        }
        std::fs::hard_link(&shared, &dst).or_else(|_| make_whiteout(&dst))
    }

    /// lstat `rel` in `layer`; `None` when it does not exist there (or a
    /// path component is not a directory, which hides it the same way).
    pub fn stat(&self, layer: usize, rel: &Path) -> io::Result<Option<Metadata>> {
        match std::fs::symlink_metadata(self.real(layer, rel)) {
            Ok(m) => Ok(Some(m)),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Paths up to this long are used as they are; longer ones (the kernel
/// takes at most PATH_MAX, 4096 bytes) go through a dir fd.
const SHORT: usize = 3800;

/// A real file's path, usable in any path-based call: for a path too long
/// for the kernel, `/proc/self/fd/N/rest` with N an O_PATH fd of a dir
/// near the end, opened by walking down in pieces (and held here).
#[derive(Debug)]
pub struct Real {
    path: PathBuf,
    _dir: Option<OwnedFd>,
}

impl Real {
    fn plain(path: PathBuf) -> Real {
        Real { path, _dir: None }
    }

    fn long(root: &Path, rel: &Path) -> Real {
        let Ok(mut dir) = open_path(root) else {
            return Real::plain(root.join(rel));
        };
        let mut rest = rel.as_os_str().as_bytes();
        while rest.len() >= SHORT {
            // The longest leading piece that ends before a '/' and fits.
            let Some(cut) = rest[..SHORT].iter().rposition(|&b| b == b'/') else {
                break;
            };
            let piece = Path::new(OsStr::from_bytes(&rest[..cut]));
            match open_path(&fd_path(&dir).join(piece)) {
                Ok(fd) => {
                    dir = fd;
                    rest = &rest[cut + 1..];
                }
                Err(_) => return Real::broken(dir, piece, rel),
            }
        }
        Real {
            path: fd_path(&dir).join(OsStr::from_bytes(rest)),
            _dir: Some(dir),
        }
    }

    /// A dir in `piece` (below `dir`) cannot be opened: a short path
    /// through that dir, so the call fails on it as it would on the whole
    /// path (ENOENT, ENOTDIR, EACCES), not with ENAMETOOLONG.
    fn broken(mut dir: OwnedFd, piece: &Path, rel: &Path) -> Real {
        for comp in piece.components() {
            match open_path(&fd_path(&dir).join(comp)) {
                Ok(fd) => dir = fd,
                Err(_) => {
                    let mut path = fd_path(&dir).join(comp);
                    path.push(rel.file_name().unwrap_or_default());
                    return Real {
                        path,
                        _dir: Some(dir),
                    };
                }
            }
        }
        // Opened after all (a race): the plain path fails as before.
        Real::plain(fd_path(&dir).join(piece))
    }
}

fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// An O_PATH fd for the dir at `p` (symlinks not followed).
fn open_path(p: &Path) -> io::Result<OwnedFd> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(p)?;
    Ok(f.into())
}

impl std::ops::Deref for Real {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Real {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// Is this a whiteout (char device 0:0)?
pub fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Is the directory at `path` opaque (hides the layers below it)?
pub fn is_opaque(path: &Path) -> bool {
    matches!(xattr::get(path, OPAQUE_XATTR), Ok(Some(v)) if v == b"y")
}

/// Mark a directory opaque, as the kernel does for a dir made over a whiteout.
pub fn set_opaque(path: &Path) -> io::Result<()> {
    xattr::set(path, OPAQUE_XATTR, b"y")
}

/// Write a whiteout at `path` (mknod 0:0 is allowed unprivileged since 5.8).
pub fn make_whiteout(path: &Path) -> io::Result<()> {
    mknod(path, SFlag::S_IFCHR, Mode::empty(), 0).map_err(io::Error::from)
}

/// Xattrs that belong to the overlay itself and are hidden from the mount.
pub fn is_private_xattr(name: &OsStr) -> bool {
    let n = name.as_encoded_bytes();
    n.starts_with(b"user.overlay.")
        || n.starts_with(b"trusted.overlay.")
        || n.starts_with(b"user.burrow.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_paths_and_private_names() {
        let l = Layers::new("/u".into(), vec!["/l1".into(), "/l2".into()], "/w".into());
        assert_eq!(l.count(), 3);
        assert_eq!(&*l.real(0, Path::new("")), Path::new("/u"));
        assert_eq!(&*l.real(2, Path::new("a/b")), Path::new("/l2/a/b"));
        assert!(is_private_xattr(OsStr::new("user.overlay.opaque")));
        assert!(is_private_xattr(OsStr::new("user.burrow.override")));
        assert!(!is_private_xattr(OsStr::new("user.mime_type")));
    }

    #[test]
    fn whiteouts_share_one_inode() {
        let d = tempfile::tempdir().unwrap();
        let (u, w) = (d.path().join("u"), d.path().join("w"));
        std::fs::create_dir_all(&u).unwrap();
        std::fs::create_dir_all(w.join("burrow-tmp")).unwrap();
        let l = Layers::new(u.clone(), vec![], w);
        if let Err(e) = l.whiteout(Path::new("a")) {
            return crate::testkit::skip(&format!("no mknod 0:0 here ({e})"));
        }
        l.whiteout(Path::new("b")).unwrap();
        let (a, b) = (
            std::fs::symlink_metadata(u.join("a")).unwrap(),
            std::fs::symlink_metadata(u.join("b")).unwrap(),
        );
        assert!(is_whiteout(&a) && is_whiteout(&b));
        assert_eq!(a.ino(), b.ino(), "one shared whiteout");
        // An existing name is an error, as mknod would give.
        assert!(l.whiteout(Path::new("a")).is_err());
    }

    #[test]
    fn opaque_marker_round_trips() {
        let d = tempfile::tempdir().unwrap();
        assert!(!is_opaque(d.path()));
        if let Err(e) = set_opaque(d.path()) {
            return crate::testkit::skip(&format!("no user xattrs on the temp dir ({e})"));
        }
        assert!(is_opaque(d.path()));
        // Only the value "y" marks a dir opaque, as for the kernel overlay.
        xattr::set(d.path(), OPAQUE_XATTR, b"n").unwrap();
        assert!(!is_opaque(d.path()));
    }
}
