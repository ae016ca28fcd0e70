//! The file system's state and the helpers every operation shares:
//! attributes, lookups under the table lock, open handles.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{Errno, FileAttr, FileType, INodeNo};

use super::copyup;
use super::inode::{key_of, Table};
use super::layers::{Layers, Real, UPPER};
use super::merge::{self, Entry, Found};
use super::ownership;

pub type R<T> = Result<T, Errno>;

/// How long the kernel may cache names and attributes. Only this mount
/// changes the tree (lowers are read-only, the upper is ours, and every
/// change through us updates or drops the kernel's copy), so its view
/// stays right; the limit only bounds surprises from outside (someone
/// writing into the upper dir of a live container).
pub const TTL: Duration = Duration::from_secs(3600);

pub fn err(e: io::Error) -> Errno {
    Errno::from(e)
}

pub fn errno(code: i32) -> Errno {
    Errno::from_i32(code)
}

pub use super::open_files::Handle;

/// An open directory: its merged listing, taken at opendir.
pub struct DirHandle {
    pub entries: Vec<Entry>,
}

pub struct OverlayFs {
    pub layers: Layers,
    pub single_id: bool,
    pub table: Mutex<Table>,
    pub handles: Mutex<HashMap<u64, Arc<Handle>>>,
    pub dirs: Mutex<HashMap<u64, Arc<DirHandle>>>,
    /// Real files for I/O that comes without a handle (files.rs).
    pub files: super::open_files::NodeFiles,
    /// Requests served, for poll.rs.
    pub activity: super::poll::Activity,
    next_fh: AtomicU64,
    /// Our own ids: new files get the requester's ids when they differ.
    pub uid: u32,
    pub gid: u32,
    /// The process umask, which mkdir/open apply on top of the kernel's.
    pub umask: u32,
}

impl OverlayFs {
    pub fn new(layers: Layers, single_id: bool) -> io::Result<OverlayFs> {
        let below: Vec<usize> = (1..layers.count()).collect();
        let root_stack = merge::dir_stack(&layers, Path::new(""), UPPER, &below)?;
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
        nix::sys::stat::umask(old);
        Ok(OverlayFs {
            layers,
            single_id,
            table: Mutex::new(Table::new(root_stack)),
            handles: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
            files: Default::default(),
            activity: Default::default(),
            next_fh: AtomicU64::new(1),
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            umask: old.bits(),
        })
    }

    /// The table, even when a thread panicked while holding it (its data
    /// is a cache of the disk and stays usable). Nearly every request takes
    /// it, so this is where requests are counted (poll.rs).
    pub fn table(&self) -> MutexGuard<'_, Table> {
        self.activity.tick();
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn fh(&self) -> u64 {
        self.next_fh.fetch_add(1, Ordering::Relaxed)
    }

    /// The attributes the mount reports for a real file.
    pub fn attr(&self, ino: u64, meta: &Metadata, real: &Path) -> FileAttr {
        let (uid, gid, mut perm) = (meta.uid(), meta.gid(), meta.mode() & 0o7777);
        // The recorded owner is not told to the kernel: it maps only our
        // id, and would show any other as the overflow id and refuse root
        // the rights it has over its own files. The owner is shown by the
        // supervisor's stat answers (`sandbox::ids::owners`) instead.
        if self.single_id {
            if let Some(o) = ownership::read(real) {
                perm = o.mode;
            }
        }
        FileAttr {
            ino: INodeNo(ino),
            size: meta.size(),
            blocks: meta.blocks(),
            atime: time(meta.atime(), meta.atime_nsec()),
            mtime: time(meta.mtime(), meta.mtime_nsec()),
            ctime: time(meta.ctime(), meta.ctime_nsec()),
            crtime: UNIX_EPOCH,
            kind: FileType::from_std(meta.file_type()).unwrap_or(FileType::RegularFile),
            perm: perm as u16,
            nlink: meta.nlink() as u32,
            uid,
            gid,
            rdev: meta.rdev() as u32,
            blksize: meta.blksize() as u32,
            flags: 0,
        }
    }

    /// A node's path and the real file behind it.
    pub fn real(&self, t: &Table, ino: u64) -> R<(PathBuf, Real)> {
        let node = t.get(ino).ok_or(Errno::ENOENT)?;
        let rel = node.path().ok_or(Errno::ENOENT)?.to_path_buf();
        let real = self.layers.real(node.layer, &rel);
        Ok((rel, real))
    }

    /// A dir node's path and merge stack.
    pub fn dir(&self, t: &Table, ino: u64) -> R<(PathBuf, Vec<usize>)> {
        let node = t.get(ino).ok_or(Errno::ENOENT)?;
        if !node.is_dir {
            return Err(Errno::ENOTDIR);
        }
        let rel = node.path().ok_or(Errno::ENOENT)?.to_path_buf();
        Ok((rel, node.stack.clone()))
    }

    /// Resolve `name` in dir `parent` without counting a lookup.
    pub fn resolve(&self, t: &Table, parent: u64, name: &OsStr) -> R<Option<Found>> {
        if name.len() > 255 {
            return Err(Errno::ENAMETOOLONG);
        }
        let (prel, stack) = self.dir(t, parent)?;
        merge::resolve(&self.layers, &prel, &stack, name).map_err(err)
    }

    /// The kernel's LOOKUP: resolve, link up a hardlink whose other name
    /// was copied up, count the lookup.
    pub fn lookup_in(&self, t: &mut Table, parent: u64, name: &OsStr) -> R<FileAttr> {
        let found = self.resolve(t, parent, name)?.ok_or(Errno::ENOENT)?;
        let found = self.link_up(t, found).map_err(err)?;
        Ok(self.register(t, found))
    }

    /// Count a lookup of a resolved entry and return its attributes.
    pub fn register(&self, t: &mut Table, f: Found) -> FileAttr {
        let ino = t.found(&f.rel, key_of(&f.meta), f.layer, f.stack, f.meta.is_dir());
        self.attr(ino, &f.meta, &self.layers.real(f.layer, &f.rel))
    }

    /// A new object was made at `rel` in the upper dir: count its lookup.
    pub fn register_new(&self, t: &mut Table, rel: PathBuf) -> R<FileAttr> {
        let meta = self
            .layers
            .stat(UPPER, &rel)
            .map_err(err)?
            .ok_or(Errno::ENOENT)?;
        let stack = vec![UPPER];
        Ok(self.register(
            t,
            Found {
                rel,
                layer: UPPER,
                meta,
                stack,
            },
        ))
    }

    fn link_up(&self, t: &mut Table, f: Found) -> io::Result<Found> {
        if f.layer == UPPER || f.meta.is_dir() || f.meta.nlink() < 2 {
            return Ok(f);
        }
        let Some(up) = t.linkups.get(&key_of(&f.meta)).cloned() else {
            return Ok(f);
        };
        if self.layers.stat(UPPER, &up)?.is_none() {
            return Ok(f);
        }
        if let Some(p) = f.rel.parent() {
            copyup::copy_up_dirs(&self.layers, t, p)?;
        }
        std::fs::hard_link(
            self.layers.real(UPPER, &up),
            self.layers.real(UPPER, &f.rel),
        )?;
        let meta = std::fs::symlink_metadata(self.layers.real(UPPER, &f.rel))?;
        Ok(Found {
            rel: f.rel,
            layer: UPPER,
            meta,
            stack: vec![UPPER],
        })
    }

    pub fn handle(&self, fh: u64) -> R<Arc<Handle>> {
        let h = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        h.get(&fh).cloned().ok_or(Errno::EBADF)
    }

    /// For a handle opened on a lower file that was copied up since: reopen
    /// the upper copy, so the reader sees the writes.
    pub fn follow_copy_up(&self, h: &Handle) -> R<()> {
        let Some(w) = &h.watch else { return Ok(()) };
        if !w.load(Ordering::Acquire) || h.reopened.load(Ordering::Acquire) {
            return Ok(());
        }
        let (rel, layer) = {
            let t = self.table();
            let layer = t.get(h.ino).ok_or(Errno::ENOENT)?.layer;
            (self.real(&t, h.ino)?.0, layer)
        };
        let f = self
            .layers
            .open(layer, &rel, libc::O_RDONLY, 0)
            .map_err(err)?;
        *h.file.write().unwrap_or_else(|p| p.into_inner()) = f;
        h.reopened.store(true, Ordering::Release);
        Ok(())
    }
}

fn time(secs: i64, nsecs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsecs as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nsecs as u64)
    }
}
