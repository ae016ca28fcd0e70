//! Docker's copy on first use: a new (empty) volume mounted where the
//! image has files gets a copy of them, owners, modes and times kept.
//! Runs in the container init, as root of the user namespace, before the
//! volume is bound over the path: the source is the container's own root
//! (overlay or FUSE), so whiteouts and owners read as the container sees
//! them. An owner the namespace does not map (single-id mode) stays root.

use std::fs;
use std::io;
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

/// Copy `from`'s content into `into` when `into` is an empty dir and
/// `from` a dir; else do nothing.
pub fn fill(into: &Path, from: &Path) -> anyhow::Result<()> {
    let empty = fs::read_dir(into)
        .with_context(|| format!("read {}", into.display()))?
        .next()
        .is_none();
    let is_dir = fs::symlink_metadata(from).is_ok_and(|m| m.is_dir());
    if !empty || !is_dir {
        return Ok(());
    }
    copy_dir(from, into).with_context(|| format!("copy {} into the volume", from.display()))?;
    // The volume's root takes the owner and mode of the image's dir.
    let m = fs::symlink_metadata(from)?;
    keep_meta(into, &m, from);
    Ok(())
}

fn copy_dir(from: &Path, into: &Path) -> io::Result<()> {
    for e in fs::read_dir(from)? {
        let e = e?;
        let src = e.path();
        let dst = into.join(e.file_name());
        let m = fs::symlink_metadata(&src)?;
        let t = m.file_type();
        if t.is_dir() {
            fs::create_dir(&dst)?;
            copy_dir(&src, &dst)?;
        } else if t.is_symlink() {
            symlink(fs::read_link(&src)?, &dst)?;
        } else if t.is_file() {
            fs::copy(&src, &dst)?;
        } else {
            // Device nodes, fifos and sockets: not made in a user
            // namespace (mknod is refused there); Docker's images rarely
            // hold them in a VOLUME path.
            continue;
        }
        keep_meta(&dst, &m, &src);
    }
    Ok(())
}

/// Owner first (a chown clears setuid bits), then mode, then times.
/// Best effort: an id the namespace does not map stays ours, and single-id
/// mode's recorded owner (`user.burrow.override`) goes along with the file.
fn keep_meta(p: &Path, m: &fs::Metadata, src: &Path) {
    let _ = lchown(p, Some(m.uid()), Some(m.gid()));
    if !m.file_type().is_symlink() {
        const OVERRIDE: &str = crate::rootfs::fuse::ownership::OVERRIDE_XATTR;
        if let Ok(Some(v)) = xattr::get(src, OVERRIDE) {
            let _ = xattr::set(p, OVERRIDE, &v);
        }
        let _ = fs::set_permissions(p, fs::Permissions::from_mode(m.mode() & 0o7777));
        let times =
            fs::FileTimes::new().set_modified(m.modified().unwrap_or(std::time::UNIX_EPOCH));
        if let Ok(f) = fs::File::open(p) {
            let _ = f.set_times(times);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_into_an_empty_dir_only() {
        let d = tempfile::tempdir().unwrap();
        let from = d.path().join("img");
        fs::create_dir_all(from.join("sub")).unwrap();
        fs::write(from.join("sub/f"), "x").unwrap();
        fs::set_permissions(from.join("sub/f"), fs::Permissions::from_mode(0o640)).unwrap();
        symlink("sub/f", from.join("l")).unwrap();
        let into = d.path().join("vol");
        fs::create_dir(&into).unwrap();
        fill(&into, &from).unwrap();
        assert_eq!(fs::read_to_string(into.join("sub/f")).unwrap(), "x");
        let mode = fs::metadata(into.join("sub/f")).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(fs::read_link(into.join("l")).unwrap(), Path::new("sub/f"));
        // Not empty any more: nothing is copied again.
        fs::write(from.join("new"), "y").unwrap();
        fill(&into, &from).unwrap();
        assert!(!into.join("new").exists());
        // Nothing at the path in the image: nothing to do.
        let other = d.path().join("vol2");
        fs::create_dir(&other).unwrap();
        fill(&other, &d.path().join("missing")).unwrap();
        assert_eq!(fs::read_dir(&other).unwrap().count(), 0);
    }
}
