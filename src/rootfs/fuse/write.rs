//! Operations that change the tree: create, mkdir, mknod, symlink, link,
//! unlink, rmdir, rename, setattr. Changes land in the upper dir in the
//! kernel overlay's format: whiteouts over removed lower entries, opaque
//! dirs made over whiteouts.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use fuser::{Errno, FileAttr, TimeOrNow};
use nix::sys::stat::{mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use super::copyup::{copy_up, copy_up_dirs, copy_up_file};
use super::inode::{key_of, Table};
use super::layers::{is_whiteout, set_opaque, UPPER};
use super::merge::{self, child_path};
use super::ownership::{self, Override};
use super::state::{err, OverlayFs, R};

/// Who asked, for the owner of what they create.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
}

/// The object a create-like call makes.
pub enum NewKind<'a> {
    Dir,
    Node { kind: SFlag, rdev: u64 },
    Symlink(&'a Path),
    File { flags: i32 },
}

/// What setattr asks for.
#[derive(Debug, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeOrNow>,
    pub mtime: Option<TimeOrNow>,
    /// Clear set-user-ID (and set-group-ID with group execute) of a
    /// regular file, as Linux does on chown, truncate and write.
    pub kill_privs: bool,
}

impl OverlayFs {
    /// Make a new entry `name` in dir `parent`; for a file, also open it.
    pub fn make(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        kind: NewKind,
        who: Caller,
    ) -> R<(FileAttr, Option<File>)> {
        let mut t = self.table();
        if self.resolve(&t, parent, name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        let (prel, _) = self.dir(&t, parent)?;
        let rel = child_path(&prel, name);
        let over_whiteout = self.prepare_upper(&mut t, &prel, &rel)?;
        let real = self.layers.real(UPPER, &rel);
        let perm = mode & 0o7777;
        let mut file = None;
        match kind {
            NewKind::Dir => {
                fs::DirBuilder::new()
                    .mode(perm)
                    .create(&real)
                    .map_err(err)?;
                // As the kernel does: a dir made where a lower entry was
                // deleted must not show that entry's old contents.
                if over_whiteout {
                    set_opaque(&real).map_err(err)?;
                }
            }
            NewKind::Node { kind, rdev } => {
                mknod(&*real, kind, Mode::from_bits_truncate(perm), rdev)
                    .map_err(|e| err(e.into()))?
            }
            NewKind::Symlink(target) => std::os::unix::fs::symlink(target, &real).map_err(err)?,
            NewKind::File { flags } => {
                // O_CREAT|O_EXCL by hand: std refuses to create without
                // write access, and open(O_RDONLY|O_CREAT) is valid POSIX.
                // With the writeback cache the kernel also reads pages of a
                // write-only file (to fill partial ones) and places appends
                // itself: open read-write, without O_APPEND.
                // No symlink followed on the way (Layers::open).
                let acc = match flags & libc::O_ACCMODE {
                    libc::O_RDONLY => libc::O_RDONLY,
                    _ => libc::O_RDWR,
                };
                let f = self
                    .layers
                    .open(
                        UPPER,
                        &rel,
                        acc | (flags & !(libc::O_ACCMODE | libc::O_NOCTTY | libc::O_APPEND))
                            | libc::O_CREAT
                            | libc::O_EXCL,
                        perm,
                    )
                    .map_err(err)?;
                file = Some(f);
            }
        }
        let is_link = matches!(kind, NewKind::Symlink(_));
        if let Err(e) = self.settle_new(&real, perm, is_link, who) {
            let _ = if real.is_dir() {
                fs::remove_dir(&real)
            } else {
                fs::remove_file(&real)
            };
            return Err(e);
        }
        Ok((self.register_new(&mut t, rel)?, file))
    }

    /// Make sure the parent is in the upper dir and no whiteout sits at
    /// `rel`; true when one did (the name hid a lower entry).
    fn prepare_upper(&self, t: &mut Table, prel: &Path, rel: &Path) -> R<bool> {
        copy_up_dirs(&self.layers, t, prel).map_err(err)?;
        match self.layers.stat(UPPER, rel).map_err(err)? {
            Some(m) if is_whiteout(&m) => {
                fs::remove_file(self.layers.real(UPPER, rel)).map_err(err)?;
                Ok(true)
            }
            Some(_) => Err(Errno::EEXIST),
            None => Ok(false),
        }
    }

    /// Give a new object the mode asked for (our umask may have cut it)
    /// and the caller's ids.
    fn settle_new(&self, real: &Path, perm: u32, is_link: bool, who: Caller) -> R<()> {
        if who.uid != self.uid || who.gid != self.gid {
            std::os::unix::fs::lchown(real, Some(who.uid), Some(who.gid)).map_err(err)?;
        }
        if !is_link && (perm & self.umask != 0 || perm & 0o7000 != 0) {
            fs::set_permissions(real, fs::Permissions::from_mode(perm)).map_err(err)?;
        }
        Ok(())
    }

    /// A hardlink `newname` in `newparent` to node `ino`.
    pub fn link(&self, ino: u64, newparent: u64, newname: &OsStr) -> R<FileAttr> {
        let mut t = self.table();
        if t.get(ino).is_some_and(|n| n.is_dir) {
            return Err(Errno::EPERM);
        }
        if self.resolve(&t, newparent, newname)?.is_some() {
            return Err(Errno::EEXIST);
        }
        let src = copy_up(&self.layers, &mut t, ino).map_err(err)?;
        let (prel, _) = self.dir(&t, newparent)?;
        let rel = child_path(&prel, newname);
        self.prepare_upper(&mut t, &prel, &rel)?;
        fs::hard_link(self.layers.real(UPPER, &src), self.layers.real(UPPER, &rel)).map_err(err)?;
        self.register_new(&mut t, rel)
    }

    /// unlink and rmdir.
    pub fn remove(&self, parent: u64, name: &OsStr, dir: bool) -> R<()> {
        let mut t = self.table();
        let found = self.resolve(&t, parent, name)?.ok_or(Errno::ENOENT)?;
        let (prel, pstack) = self.dir(&t, parent)?;
        match (dir, found.meta.is_dir()) {
            (true, false) => return Err(Errno::ENOTDIR),
            (false, true) => return Err(Errno::EISDIR),
            _ => {}
        }
        if dir
            && !merge::list(&self.layers, &found.rel, &found.stack)
                .map_err(err)?
                .is_empty()
        {
            return Err(Errno::ENOTEMPTY);
        }
        if !dir {
            self.keep_open_if_last_name(&t, &found);
        }
        if found.layer == UPPER {
            let real = self.layers.real(UPPER, &found.rel);
            if dir {
                clear_whiteouts(&real).map_err(err)?;
                fs::remove_dir(&real).map_err(err)?;
            } else {
                fs::remove_file(&real).map_err(err)?;
            }
            if found.meta.nlink() <= 1 || dir {
                t.drop_key(key_of(&found.meta));
            }
        }
        if merge::shown_below(&self.layers, &prel, &pstack, UPPER, name).map_err(err)? {
            copy_up_dirs(&self.layers, &mut t, &prel).map_err(err)?;
            self.layers.whiteout(&found.rel).map_err(err)?;
        }
        t.remove_name(&found.rel);
        Ok(())
    }

    /// rename(2) without EXCHANGE. A dir with lower parts gives EXDEV, as
    /// the kernel overlay without redirect_dir does (mv then copies it).
    pub fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        noreplace: bool,
    ) -> R<()> {
        let mut t = self.table();
        let src = self.resolve(&t, parent, name)?.ok_or(Errno::ENOENT)?;
        let dst = self.resolve(&t, newparent, newname)?;
        let (prel, pstack) = self.dir(&t, parent)?;
        let (nprel, npstack) = self.dir(&t, newparent)?;
        let src_dir = src.meta.is_dir();
        if src_dir && src.stack != [UPPER] {
            return Err(Errno::EXDEV);
        }
        if let Some(d) = &dst {
            if noreplace {
                return Err(Errno::EEXIST);
            }
            if key_of(&d.meta) == key_of(&src.meta) && d.layer == src.layer {
                return Ok(());
            }
            match (src_dir, d.meta.is_dir()) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) => {
                    if !merge::list(&self.layers, &d.rel, &d.stack)
                        .map_err(err)?
                        .is_empty()
                    {
                        return Err(Errno::ENOTEMPTY);
                    }
                    if d.layer == UPPER {
                        clear_whiteouts(&self.layers.real(UPPER, &d.rel)).map_err(err)?;
                    }
                }
                (false, false) => self.keep_open_if_last_name(&t, d),
            }
        }
        if src.layer != UPPER {
            copy_up_file(&self.layers, &mut t, &src.rel, src.layer).map_err(err)?;
        }
        copy_up_dirs(&self.layers, &mut t, &nprel).map_err(err)?;
        let to_rel = child_path(&nprel, newname);
        let to = self.layers.real(UPPER, &to_rel);
        if src_dir {
            // A dir cannot replace a whiteout (a char device) in one rename.
            if let Some(m) = self.layers.stat(UPPER, &to_rel).map_err(err)? {
                if is_whiteout(&m) {
                    fs::remove_file(&to).map_err(err)?;
                }
            }
        }
        fs::rename(self.layers.real(UPPER, &src.rel), &to).map_err(err)?;
        // As the kernel does: an upper dir moved into a merged dir is made
        // opaque, so a lower dir of the new name can never merge into it.
        if src_dir && npstack.iter().any(|&l| l != UPPER) {
            set_opaque(&to).map_err(err)?;
        }
        if merge::shown_below(&self.layers, &prel, &pstack, UPPER, name).map_err(err)? {
            self.layers.whiteout(&src.rel).map_err(err)?;
        }
        if dst.is_some() {
            t.remove_name(&to_rel);
        }
        t.rename(&src.rel, &to_rel, src_dir);
        Ok(())
    }

    /// chmod, chown, truncate, utimens: on the upper copy.
    pub fn setattr(&self, ino: u64, a: &SetAttr, fh: Option<&File>) -> R<FileAttr> {
        let mut t = self.table();
        if self.real(&t, ino).is_err() {
            // The node's last name is gone (a temp file unlinked while
            // open, then ftruncate'd and mmap'ed, as apt's cache is):
            // change it through an open file.
            drop(t);
            return self.setattr_open(ino, a, fh);
        }
        let rel = copy_up(&self.layers, &mut t, ino).map_err(err)?;
        let real = self.layers.real(UPPER, &rel);
        let meta = fs::symlink_metadata(&real).map_err(err)?;
        let is_link = meta.file_type().is_symlink();
        if let Some(mode) = a.mode {
            self.set_mode(&real, is_link, mode)?;
        }
        if a.uid.is_some() || a.gid.is_some() {
            if self.single_id {
                // Only one id is mapped: record the owner instead.
                let cur = ownership::read(&real).unwrap_or(Override {
                    uid: meta.uid(),
                    gid: meta.gid(),
                    mode: meta.mode() & 0o7777,
                });
                let o = Override {
                    uid: a.uid.unwrap_or(cur.uid),
                    gid: a.gid.unwrap_or(cur.gid),
                    mode: a.mode.map(|m| m & 0o7777).unwrap_or(cur.mode),
                };
                ownership::write(&real, &o).map_err(err)?;
            } else {
                std::os::unix::fs::lchown(&real, a.uid, a.gid).map_err(err)?;
            }
        }
        if let Some(size) = a.size {
            match fh {
                Some(f) => f.set_len(size).map_err(err)?,
                None => {
                    nix::unistd::truncate(&*real, size as libc::off_t).map_err(|e| err(e.into()))?
                }
            }
        }
        if a.atime.is_some() || a.mtime.is_some() {
            utimensat(
                None,
                &*real,
                &time_spec(&a.atime),
                &time_spec(&a.mtime),
                UtimensatFlags::NoFollowSymlink,
            )
            .map_err(|e| err(e.into()))?;
        }
        let meta = fs::symlink_metadata(&real).map_err(err)?;
        let attr = self.attr(ino, &meta, &real);
        let perm = u32::from(attr.perm);
        let kept = if perm & libc::S_IXGRP != 0 {
            perm & !(libc::S_ISUID | libc::S_ISGID)
        } else {
            perm & !libc::S_ISUID
        };
        if !a.kill_privs || !meta.is_file() || kept == perm {
            return Ok(attr);
        }
        self.set_mode(&real, false, kept)?;
        let meta = fs::symlink_metadata(&real).map_err(err)?;
        Ok(self.attr(ino, &meta, &real))
    }

    /// setattr of a node without a name, through the file it is open
    /// with (the call's handle, the file kept for it, or any handle). Its
    /// owner in single-id mode is not recorded: no name, no xattr to keep
    /// it, and nothing sees it after the last close.
    fn setattr_open(&self, ino: u64, a: &SetAttr, fh: Option<&File>) -> R<FileAttr> {
        let kept = match fh {
            Some(_) => None,
            None => Some(
                self.files
                    .get(ino)
                    .or_else(|| self.open_handle_of(ino))
                    .ok_or(Errno::ENOENT)?,
            ),
        };
        let guard = kept
            .as_ref()
            .map(|h| h.file.read().unwrap_or_else(|p| p.into_inner()));
        let f = fh.or(guard.as_deref()).ok_or(Errno::ENOENT)?;
        use std::os::fd::AsRawFd;
        let nix_err = |e: nix::Error| err(e.into());
        if let Some(mode) = a.mode {
            nix::sys::stat::fchmod(f.as_raw_fd(), Mode::from_bits_truncate(mode & 0o7777))
                .map_err(nix_err)?;
        }
        if (a.uid.is_some() || a.gid.is_some()) && !self.single_id {
            let uid = a.uid.map(nix::unistd::Uid::from_raw);
            let gid = a.gid.map(nix::unistd::Gid::from_raw);
            nix::unistd::fchown(f.as_raw_fd(), uid, gid).map_err(nix_err)?;
        }
        if let Some(size) = a.size {
            f.set_len(size).map_err(err)?;
        }
        if a.atime.is_some() || a.mtime.is_some() {
            nix::sys::stat::futimens(f.as_raw_fd(), &time_spec(&a.atime), &time_spec(&a.mtime))
                .map_err(nix_err)?;
        }
        let meta = f.metadata().map_err(err)?;
        Ok(self.attr(ino, &meta, Path::new("/nonexistent")))
    }

    /// chmod the real file (a symlink has no mode of its own), and in
    /// single-id mode the recorded mode too.
    fn set_mode(&self, real: &Path, is_link: bool, mode: u32) -> R<()> {
        if !is_link {
            fs::set_permissions(real, fs::Permissions::from_mode(mode & 0o7777)).map_err(err)?;
        }
        if self.single_id {
            if let Some(mut o) = ownership::read(real) {
                o.mode = mode & 0o7777;
                ownership::write(real, &o).map_err(err)?;
            }
        }
        Ok(())
    }
}

/// A time to set, as utimensat(2) takes it.
fn time_spec(x: &Option<TimeOrNow>) -> TimeSpec {
    match x {
        None => TimeSpec::UTIME_OMIT,
        Some(TimeOrNow::Now) => TimeSpec::UTIME_NOW,
        Some(TimeOrNow::SpecificTime(st)) => {
            let d = st.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            TimeSpec::new(d.as_secs() as i64, d.subsec_nanos() as i64)
        }
    }
}

/// Empty an upper dir whose merged view is empty: only whiteouts remain.
fn clear_whiteouts(dir: &Path) -> io::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        if is_whiteout(&e.metadata()?) {
            fs::remove_file(e.path())?;
        } else {
            return Err(io::Error::from_raw_os_error(libc::ENOTEMPTY));
        }
    }
    Ok(())
}
