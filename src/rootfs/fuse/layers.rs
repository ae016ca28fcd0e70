//! The layer stack on disk, in the kernel overlay driver's format: index 0
//! is the upper (writable) dir, 1.. the lowers, top-most first. A whiteout
//! is a char device 0:0; an opaque dir carries `user.overlay.opaque` = "y".

use std::ffi::OsStr;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{mknod, Mode, SFlag};

/// The xattr the kernel overlay (mounted with `userxattr`) reads as opaque.
pub const OPAQUE_XATTR: &str = "user.overlay.opaque";
/// Layer index of the upper dir.
pub const UPPER: usize = 0;

/// The directories of the stack.
#[derive(Debug, Clone)]
pub struct Layers {
    dirs: Vec<PathBuf>,
    pub work: PathBuf,
}

impl Layers {
    pub fn new(upper: PathBuf, lowers: Vec<PathBuf>, work: PathBuf) -> Layers {
        let mut dirs = vec![upper];
        dirs.extend(lowers);
        Layers { dirs, work }
    }

    pub fn count(&self) -> usize {
        self.dirs.len()
    }

    pub fn root(&self, layer: usize) -> &Path {
        &self.dirs[layer]
    }

    /// The real path of `rel` (relative to the mount root) in `layer`.
    pub fn real(&self, layer: usize, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.dirs[layer].clone()
        } else {
            self.dirs[layer].join(rel)
        }
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
    n.starts_with(b"user.overlay.") || n.starts_with(b"trusted.overlay.") || n == OVERRIDE_NAME
}

const OVERRIDE_NAME: &[u8] = b"user.burrow.override";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_paths_and_private_names() {
        let l = Layers::new("/u".into(), vec!["/l1".into(), "/l2".into()], "/w".into());
        assert_eq!(l.count(), 3);
        assert_eq!(l.real(0, Path::new("")), PathBuf::from("/u"));
        assert_eq!(l.real(2, Path::new("a/b")), PathBuf::from("/l2/a/b"));
        assert!(is_private_xattr(OsStr::new("user.overlay.opaque")));
        assert!(is_private_xattr(OsStr::new("user.burrow.override")));
        assert!(!is_private_xattr(OsStr::new("user.mime_type")));
    }

    #[test]
    fn opaque_marker_round_trips() {
        let d = tempfile::tempdir().unwrap();
        assert!(!is_opaque(d.path()));
        if set_opaque(d.path()).is_ok() {
            assert!(is_opaque(d.path()));
        }
    }
}
