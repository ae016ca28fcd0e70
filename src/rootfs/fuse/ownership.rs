//! Single-id mode: the image's owner and mode kept in an xattr.
//!
//! With only one id mapped, files cannot really belong to other ids, so the
//! owner and mode the image asked for live in `user.burrow.override` =
//! "uid:gid:mode" (mode in octal, permission bits only) on the real file,
//! and the mount reports them (like fuse-overlayfs's override_stat).

use std::io;
use std::path::Path;

pub const OVERRIDE_XATTR: &str = "user.burrow.override";

/// Owner and permission bits recorded for a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Override {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

impl Override {
    pub fn parse(v: &[u8]) -> Option<Override> {
        let s = std::str::from_utf8(v).ok()?;
        let mut it = s.trim().split(':');
        let uid = it.next()?.parse().ok()?;
        let gid = it.next()?.parse().ok()?;
        let mode = u32::from_str_radix(it.next()?, 8).ok()?;
        if it.next().is_some() || mode > 0o7777 {
            return None;
        }
        Some(Override { uid, gid, mode })
    }

    pub fn format(&self) -> String {
        format!("{}:{}:{:o}", self.uid, self.gid, self.mode & 0o7777)
    }
}

/// The override recorded on `path`, if any (a malformed one is ignored).
pub fn read(path: &Path) -> Option<Override> {
    xattr::get(path, OVERRIDE_XATTR)
        .ok()
        .flatten()
        .and_then(|v| Override::parse(&v))
}

pub fn write(path: &Path, o: &Override) -> io::Result<()> {
    xattr::set(path, OVERRIDE_XATTR, o.format().as_bytes())
}

/// Linux has no user xattrs on symlinks: a symlink's owner is recorded on
/// its parent dir, in `user.burrow.link.NAME` = "uid:gid" (builds record
/// the owners of symlinks they make; the layer writer reads them).
const LINK_PREFIX: &str = "user.burrow.link.";

fn link_key(path: &Path) -> Option<(std::path::PathBuf, std::ffi::OsString)> {
    let parent = path.parent()?;
    let mut key = std::ffi::OsString::from(LINK_PREFIX);
    key.push(path.file_name()?);
    // Longer xattr names do not exist (XATTR_NAME_MAX).
    (key.len() <= 255).then(|| (parent.to_path_buf(), key))
}

/// The owner recorded for symlink `path`, if any.
pub fn read_link(path: &Path) -> Option<(u32, u32)> {
    let (dir, key) = link_key(path)?;
    let v = xattr::get(dir, key).ok().flatten()?;
    let (u, g) = std::str::from_utf8(&v).ok()?.trim().split_once(':')?;
    Some((u.parse().ok()?, g.parse().ok()?))
}

/// Record `uid:gid` as the owner of symlink `path`; a name too long for
/// an xattr keeps root.
pub fn write_link(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    match link_key(path) {
        Some((dir, key)) => xattr::set(dir, key, format!("{uid}:{gid}").as_bytes()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format() {
        let o = Override::parse(b"1000:100:4755").unwrap();
        assert_eq!(
            o,
            Override {
                uid: 1000,
                gid: 100,
                mode: 0o4755
            }
        );
        assert_eq!(o.format(), "1000:100:4755");
        assert_eq!(Override::parse(b"1:2"), None);
        assert_eq!(Override::parse(b"1:2:3:4"), None);
        assert_eq!(Override::parse(b"x:2:755"), None);
        assert_eq!(Override::parse(b"1:2:99999"), None);
    }

    #[test]
    fn a_symlinks_owner_is_kept_on_its_parent() {
        let d = tempfile::tempdir().unwrap();
        let l = d.path().join("lnk");
        std::os::unix::fs::symlink("..", &l).unwrap();
        assert_eq!(read_link(&l), None);
        write_link(&l, 1000, 1001).unwrap();
        assert_eq!(read_link(&l), Some((1000, 1001)));
        assert_eq!(read_link(&d.path().join("other")), None);
    }
}
