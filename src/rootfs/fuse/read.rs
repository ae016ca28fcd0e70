//! Operations that read the tree or data: getattr, open/read/write of
//! file contents, merged directory listings, xattrs, statfs.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use fuser::{Errno, FileAttr, FileType};

use super::copyup::copy_up;
use super::inode::key_of;
use super::layers::{is_private_xattr, UPPER};
use super::merge;
use super::state::{err, errno, DirHandle, Handle, OverlayFs, R};

/// One entry of a readdir reply.
pub struct DirItem {
    pub ino: u64,
    pub offset: u64,
    pub kind: FileType,
    pub name: OsString,
}

impl OverlayFs {
    pub fn getattr(&self, ino: u64, fh: Option<u64>) -> R<FileAttr> {
        if let Some(h) = fh.and_then(|fh| self.handle(fh).ok()) {
            return self.attr_of_open(ino, &h);
        }
        let t = self.table();
        let (_, real) = match self.real(&t, ino) {
            Ok(r) => r,
            // fstat(2) of an open file whose last name is gone comes
            // without a handle: use the file kept for the node, or a
            // handle the file is open with.
            Err(e) => {
                drop(t);
                return match self.files.get(ino).or_else(|| self.open_handle_of(ino)) {
                    Some(h) => self.attr_of_open(ino, &h),
                    None => Err(e),
                };
            }
        };
        let meta = fs::symlink_metadata(&real).map_err(err)?;
        Ok(self.attr(ino, &meta, &real))
    }

    /// Attributes through an open file (which works after its last name is
    /// gone too). No copy-up to follow: handles from CREATE are upper files,
    /// and a node without a name cannot be copied up.
    fn attr_of_open(&self, ino: u64, h: &Handle) -> R<FileAttr> {
        let meta = h
            .file
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .metadata()
            .map_err(err)?;
        let t = self.table();
        if let Ok((_, real)) = self.real(&t, ino) {
            return Ok(self.attr(ino, &meta, &real));
        }
        Ok(self.attr(ino, &meta, std::path::Path::new("/nonexistent")))
    }

    /// Some open handle of node `ino` (a scan: only for unlinked files).
    pub(super) fn open_handle_of(&self, ino: u64) -> Option<Arc<Handle>> {
        let h = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        h.values().find(|h| h.ino == ino).cloned()
    }

    pub fn readlink(&self, ino: u64) -> R<Vec<u8>> {
        // The table stays locked while the real path is used: a rename
        // through the mount cannot swap a dir on the way for a symlink.
        let t = self.table();
        let real = self.real(&t, ino)?.1;
        let target = fs::read_link(real).map_err(err)?;
        Ok(target.into_os_string().into_encoded_bytes())
    }

    pub fn add_handle(&self, ino: u64, file: File) -> u64 {
        let fh = self.fh();
        let h = Handle {
            ino,
            file: std::sync::RwLock::new(file),
            watch: None,
            reopened: AtomicBool::new(false),
        };
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fh, Arc::new(h));
        fh
    }

    pub fn release(&self, fh: u64) {
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&fh);
    }

    pub fn read(&self, ino: u64, fh: u64, offset: u64, size: u32) -> R<Vec<u8>> {
        let h = self.io_handle(ino, fh, false)?;
        let f = h.file.read().unwrap_or_else(|p| p.into_inner());
        let mut buf = vec![0u8; size as usize];
        let mut done = 0;
        // FUSE wants a full buffer except at end of file.
        while done < buf.len() {
            match f.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(err(e)),
            }
        }
        buf.truncate(done);
        Ok(buf)
    }

    pub fn write(&self, ino: u64, fh: u64, offset: u64, data: &[u8]) -> R<u32> {
        let h = self.io_handle(ino, fh, true)?;
        let f = h.file.read().unwrap_or_else(|p| p.into_inner());
        f.write_all_at(data, offset).map_err(err)?;
        Ok(data.len() as u32)
    }

    /// fallocate(2) on the open (upper: opened for writing) file.
    pub fn fallocate(&self, ino: u64, fh: u64, offset: u64, length: u64, mode: i32) -> R<()> {
        use std::os::fd::AsRawFd;
        let h = self.io_handle(ino, fh, true)?;
        let f = h.file.read().unwrap_or_else(|p| p.into_inner());
        let flags = nix::fcntl::FallocateFlags::from_bits(mode).ok_or(Errno::EOPNOTSUPP)?;
        nix::fcntl::fallocate(
            f.as_raw_fd(),
            flags,
            offset as libc::off_t,
            length as libc::off_t,
        )
        .map_err(|e| err(e.into()))
    }

    pub fn fsync(&self, ino: u64, fh: u64, datasync: bool) -> R<()> {
        let h = self.io_handle(ino, fh, false)?;
        let f = h.file.read().unwrap_or_else(|p| p.into_inner());
        if datasync {
            f.sync_data()
        } else {
            f.sync_all()
        }
        .map_err(err)
    }

    pub fn opendir(&self, ino: u64) -> R<u64> {
        let (rel, stack) = self.dir(&self.table(), ino)?;
        let entries = merge::list(&self.layers, &rel, &stack).map_err(err)?;
        let fh = self.fh();
        self.dirs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fh, Arc::new(DirHandle { entries }));
        Ok(fh)
    }

    pub fn releasedir(&self, fh: u64) {
        self.dirs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&fh);
    }

    fn dir_handle(&self, fh: u64) -> R<Arc<DirHandle>> {
        let d = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
        d.get(&fh).cloned().ok_or(Errno::EBADF)
    }

    /// Entries from `offset` on ("." and ".." first); each carries the
    /// offset of the next one. `add` returns true when the reply is full.
    pub fn readdir(
        &self,
        ino: u64,
        fh: u64,
        offset: u64,
        mut add: impl FnMut(DirItem) -> bool,
    ) -> R<()> {
        let d = self.dir_handle(fh)?;
        let mut t = self.table();
        let (rel, stack) = self.dir(&t, ino)?;
        for i in offset as usize..d.entries.len() + 2 {
            let item = match i {
                0 => DirItem {
                    ino,
                    offset: 1,
                    kind: FileType::Directory,
                    name: ".".into(),
                },
                1 => DirItem {
                    ino: 1,
                    offset: 2,
                    kind: FileType::Directory,
                    name: "..".into(),
                },
                _ => {
                    let e = &d.entries[i - 2];
                    // The number the lookup would give: the top-most real file.
                    let Ok(Some(f)) = merge::resolve(&self.layers, &rel, &stack, &e.name) else {
                        continue;
                    };
                    DirItem {
                        ino: t.number(key_of(&f.meta)),
                        offset: i as u64 + 1,
                        kind: e.kind,
                        name: e.name.clone(),
                    }
                }
            };
            if add(item) {
                break;
            }
        }
        Ok(())
    }

    /// readdirplus: each entry (but "." and "..") counts as a lookup; an
    /// entry that did not fit is forgotten again.
    pub fn readdirplus(
        &self,
        ino: u64,
        fh: u64,
        offset: u64,
        mut add: impl FnMut(&OsStr, u64, &FileAttr) -> bool,
    ) -> R<()> {
        let d = self.dir_handle(fh)?;
        let mut t = self.table();
        let self_attr = {
            let (_, real) = self.real(&t, ino)?;
            let meta = fs::symlink_metadata(&real).map_err(err)?;
            self.attr(ino, &meta, &real)
        };
        for i in offset as usize..d.entries.len() + 2 {
            let next = i as u64 + 1;
            let full = match i {
                0 => add(OsStr::new("."), next, &self_attr),
                1 => add(OsStr::new(".."), next, &self_attr),
                _ => {
                    let name = &d.entries[i - 2].name;
                    // Gone since opendir: skip it.
                    let Ok(attr) = self.lookup_in(&mut t, ino, name) else {
                        continue;
                    };
                    let full = add(name, next, &attr);
                    if full {
                        t.forget(attr.ino.0, 1);
                    }
                    full
                }
            };
            if full {
                break;
            }
        }
        Ok(())
    }

    pub fn statfs(&self) -> R<nix::sys::statvfs::Statvfs> {
        nix::sys::statvfs::statvfs(self.layers.root(UPPER)).map_err(|e| err(e.into()))
    }

    pub fn getxattr(&self, ino: u64, name: &OsStr) -> R<Vec<u8>> {
        if is_private_xattr(name) && !self.owner_xattr(name) {
            return Err(errno(libc::ENODATA));
        }
        let t = self.table(); // held while the path is used, as in readlink
        let real = self.real(&t, ino)?.1;
        xattr::get(real, name)
            .map_err(err)?
            .ok_or(errno(libc::ENODATA))
    }

    /// In single-id mode the recorded owner is read and written through
    /// the mount by name (the supervisor's chown and stat answers,
    /// `sandbox::ids::owners`), though never listed.
    fn owner_xattr(&self, name: &OsStr) -> bool {
        self.single_id && name == super::ownership::OVERRIDE_XATTR
    }

    pub fn listxattr(&self, ino: u64) -> R<Vec<u8>> {
        let t = self.table(); // held while the path is used, as in readlink
        let real = self.real(&t, ino)?.1;
        let mut out = Vec::new();
        for name in xattr::list(real).map_err(err)? {
            if !is_private_xattr(&name) {
                out.extend_from_slice(name.as_encoded_bytes());
                out.push(0);
            }
        }
        Ok(out)
    }

    pub fn setxattr(&self, ino: u64, name: &OsStr, value: &[u8], flags: i32) -> R<()> {
        if is_private_xattr(name) && !self.owner_xattr(name) {
            return Err(Errno::EPERM);
        }
        let mut t = self.table();
        let rel = copy_up(&self.layers, &mut t, ino).map_err(err)?;
        let real = self.layers.real(UPPER, &rel);
        let exists = xattr::get(&real, name).map_err(err)?.is_some();
        if flags & libc::XATTR_CREATE != 0 && exists {
            return Err(Errno::EEXIST);
        }
        if flags & libc::XATTR_REPLACE != 0 && !exists {
            return Err(errno(libc::ENODATA));
        }
        xattr::set(&real, name, value).map_err(err)
    }

    pub fn removexattr(&self, ino: u64, name: &OsStr) -> R<()> {
        if is_private_xattr(name) {
            return Err(errno(libc::ENODATA));
        }
        let mut t = self.table();
        let rel = copy_up(&self.layers, &mut t, ino).map_err(err)?;
        xattr::remove(self.layers.real(UPPER, &rel), name).map_err(err)
    }
}
