//! Copy-up: bring a lower file (and the dirs above it) into the upper dir
//! before it is changed, keeping data, mode, owner, xattrs and times.
//!
//! Files are built under a temporary name in the work dir and renamed into
//! place, so a crash never leaves a half-copied file in the upper dir.

use std::fs::{self, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::stat::{mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use super::inode::{key_of, Table};
use super::layers::{Layers, UPPER};

static SEQ: AtomicU64 = AtomicU64::new(0);

fn tmp_name(layers: &Layers) -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    layers
        .tmp_dir()
        .join(format!("c{}-{n}", std::process::id()))
}

/// Make sure dir `rel` and all its parents exist in the upper dir.
pub fn copy_up_dirs(layers: &Layers, table: &mut Table, rel: &Path) -> io::Result<()> {
    // The common case, one stat: the dir is upper, so are its parents.
    if layers.stat(UPPER, rel)?.is_some_and(|m| m.is_dir()) {
        return Ok(());
    }
    let mut prefix = PathBuf::new();
    for comp in rel.components() {
        prefix.push(comp);
        match layers.stat(UPPER, &prefix)? {
            Some(m) if m.is_dir() => continue,
            Some(_) => return Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
            None => {}
        }
        let src = (1..layers.count())
            .find_map(|l| match layers.stat(l, &prefix) {
                Ok(Some(m)) if m.is_dir() => Some((l, m)),
                _ => None,
            })
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        let dst = layers.real(UPPER, &prefix);
        fs::DirBuilder::new().mode(0o700).create(&dst)?;
        copy_meta(&layers.real(src.0, &prefix), &src.1, &dst)?;
        let upper_key = key_of(&fs::symlink_metadata(&dst)?);
        table.dir_copied_up(&prefix, upper_key);
    }
    Ok(())
}

/// Copy node `ino` up (no-op when it is already upper). Returns its
/// relative path.
pub fn copy_up(layers: &Layers, table: &mut Table, ino: u64) -> io::Result<PathBuf> {
    let node = table
        .get(ino)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
    let rel = node
        .path()
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?
        .to_path_buf();
    let (layer, is_dir) = (node.layer, node.is_dir);
    if layer == UPPER {
        return Ok(rel);
    }
    if is_dir {
        copy_up_dirs(layers, table, &rel)?;
    } else {
        copy_up_file(layers, table, &rel, layer)?;
    }
    Ok(rel)
}

/// Copy the non-dir `rel` found in lower `layer` into the upper dir.
pub fn copy_up_file(
    layers: &Layers,
    table: &mut Table,
    rel: &Path,
    layer: usize,
) -> io::Result<()> {
    if let Some(parent) = rel.parent() {
        copy_up_dirs(layers, table, parent)?;
    }
    let src = layers.real(layer, rel);
    let meta = fs::symlink_metadata(&src)?;
    let tmp = tmp_name(layers);
    let made = copy_object(&src, &meta, &tmp).and_then(|()| copy_meta(&src, &meta, &tmp));
    if let Err(e) = made {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    let dst = layers.real(UPPER, rel);
    if let Err(e) = fs::rename(&tmp, &dst) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    let upper_key = key_of(&fs::symlink_metadata(&dst)?);
    let others = table.file_copied_up(key_of(&meta), upper_key, rel);
    if meta.nlink() > 1 {
        // Keep hardlinks linked: the other names known now are linked to
        // the copy; names looked up later are linked by the lookup.
        table.linkups.insert(key_of(&meta), rel.to_path_buf());
        for other in others {
            if let Some(p) = other.parent() {
                copy_up_dirs(layers, table, p)?;
            }
            if layers.stat(UPPER, &other)?.is_none() {
                fs::hard_link(&dst, layers.real(UPPER, &other))?;
            }
        }
    }
    Ok(())
}

/// Create the copy of one non-dir at `dst`.
fn copy_object(src: &Path, meta: &Metadata, dst: &Path) -> io::Result<()> {
    let ft = meta.file_type();
    if ft.is_file() {
        let mut from = fs::File::open(src)?;
        let mut to = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dst)?;
        // std uses copy_file_range here (reflink where the fs can).
        io::copy(&mut from, &mut to)?;
        Ok(())
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, dst)
    } else {
        let kind = SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT);
        mknod(dst, kind, Mode::from_bits_truncate(0o600), meta.rdev()).map_err(io::Error::from)
    }
}

/// Copy owner, mode, xattrs and times from `src` to `dst`.
pub fn copy_meta(src: &Path, meta: &Metadata, dst: &Path) -> io::Result<()> {
    if let Ok(names) = xattr::list(src) {
        for name in names {
            // The overlay's own markers describe the lower dir, not the copy.
            if name.as_encoded_bytes().starts_with(b"user.overlay.") {
                continue;
            }
            if let Ok(Some(value)) = xattr::get(src, &name) {
                if let Err(e) = xattr::set(dst, &name, &value) {
                    tracing::debug!("copy-up: xattr {:?} on {}: {e}", name, dst.display());
                }
            }
        }
    }
    // An id that is not mapped here cannot be given; the copy keeps ours.
    if let Err(e) = std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid())) {
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::EPERM)) {
            return Err(e);
        }
    }
    let is_link = meta.file_type().is_symlink();
    if !is_link {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    let atime = TimeSpec::new(meta.atime(), meta.atime_nsec());
    let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    utimensat(None, dst, &atime, &mtime, UtimensatFlags::NoFollowSymlink).map_err(io::Error::from)
}
