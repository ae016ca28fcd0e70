//! Real files opened per node, for I/O the kernel sends without a handle.
//!
//! The server answers OPEN with ENOSYS, so the kernel stops sending OPEN and
//! RELEASE for files (two round trips per open(2); reading a tree is mostly
//! those) and its reads, writes and syncs then come with handle 0. The real
//! file is opened here on first use and kept: up to `KEEP` of them, and
//! besides those every file whose last name went while the kernel holds it
//! (it can no longer be opened by name) until the kernel forgets the node.
//! Writing copies the file up first, as opening it for writing would.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use std::sync::Arc;

use fuser::Errno;

use super::copyup::copy_up;
use super::inode::Table;
use super::layers::{Layers, UPPER};
use super::merge::Found;
use super::open_files::Handle;
use super::state::{err, OverlayFs, R};

impl OverlayFs {
    /// The real file for I/O on `ino`: the handle `fh` when the kernel sent
    /// one (files made by CREATE), else the node's kept file.
    pub fn io_handle(&self, ino: u64, fh: u64, write: bool) -> R<Arc<Handle>> {
        // I/O on a kept file skips the table: count it here (poll.rs).
        self.activity.tick();
        if fh != 0 {
            let h = self.handle(fh)?;
            self.follow_copy_up(&h)?;
            return Ok(h);
        }
        let kept = self
            .files
            .map()
            .get(&ino)
            .filter(|e| e.writable || !write)
            .map(|e| e.handle.clone());
        if let Some(h) = kept {
            self.follow_copy_up(&h)?;
            return Ok(h);
        }
        let (rel, layer, watch) = {
            let mut t = self.table();
            if write {
                copy_up(&self.layers, &mut t, ino).map_err(err)?;
            }
            let node = t.get(ino).ok_or(Errno::EIO)?;
            let watch = (node.layer != UPPER).then(|| node.copied.clone());
            (self.real(&t, ino)?.0, node.layer, watch)
        };
        // Opened after the lock is dropped: see Layers::open.
        let (file, writable) = open_real(&self.layers, layer, &rel, write)?;
        Ok(self.files.insert(ino, file, writable, false, watch))
    }

    /// Before `found` (a file) loses a name: if that is its last name and
    /// the kernel still holds its node, keep the real file open, as the
    /// kernel may read or write it later through an open file.
    pub fn keep_open_if_last_name(&self, t: &Table, found: &Found) {
        let upper = found.layer == UPPER;
        if upper && found.meta.nlink() > 1 {
            return;
        }
        let Some(ino) = t.by_name(&found.rel) else {
            return;
        };
        if t.get(ino).is_none_or(|n| n.lookups == 0) {
            return;
        }
        if let Some(e) = self.files.map().get_mut(&ino) {
            e.pinned = true;
            return;
        }
        if let Ok((file, writable)) = open_real(&self.layers, found.layer, &found.rel, false) {
            self.files.insert(ino, file, writable, true, None);
        }
    }
}

/// Open a real file for I/O: an upper one read-write where it can be (one
/// fd then serves readers and writers), a lower one read-only. No symlink
/// is followed on the way (Layers::open).
fn open_real(layers: &Layers, layer: usize, rel: &Path, write: bool) -> R<(File, bool)> {
    if layer == UPPER {
        match layers.open(layer, rel, libc::O_RDWR, 0) {
            Ok(f) => return Ok((f, true)),
            Err(e) if write => return Err(err(e)),
            // ELOOP: a symlink was put in its place; reading it read-only
            // would follow nothing either.
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(err(e)),
            Err(_) => {}
        }
    }
    if write {
        return Err(Errno::EROFS);
    }
    Ok((
        layers.open(layer, rel, libc::O_RDONLY, 0).map_err(err)?,
        false,
    ))
}
