//! The real files the FUSE overlay keeps open: a handle per open file,
//! and per node the file kept for I/O that comes without a handle
//! (files.rs says why and when).

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// An open file: the real file, and for one opened on a lower layer the
/// node's copied-up flag, so reads switch to the upper copy after it.
pub struct Handle {
    pub ino: u64,
    pub file: RwLock<File>,
    pub watch: Option<Arc<AtomicBool>>,
    pub reopened: AtomicBool,
}

/// Open files kept beyond the pinned ones; past this, unpinned ones go.
const KEEP: usize = 512;

/// A lower file's copied-up flag: its reader then reopens the upper copy.
pub(super) type Watch = Option<Arc<AtomicBool>>;

pub(super) struct Entry {
    pub handle: Arc<Handle>,
    pub writable: bool,
    pub pinned: bool,
}

#[derive(Default)]
pub struct NodeFiles {
    map: Mutex<HashMap<u64, Entry>>,
}

impl NodeFiles {
    pub(super) fn map(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn insert(
        &self,
        ino: u64,
        file: File,
        writable: bool,
        pinned: bool,
        watch: Watch,
    ) -> Arc<Handle> {
        let handle = Arc::new(Handle {
            ino,
            file: RwLock::new(file),
            watch,
            reopened: AtomicBool::new(false),
        });
        let mut m = self.map();
        if m.len() >= KEEP {
            m.retain(|_, e| e.pinned);
        }
        let e = Entry {
            handle: handle.clone(),
            writable,
            pinned,
        };
        m.insert(ino, e);
        handle
    }

    /// The file kept for `ino`, if any (a node whose names are all gone).
    pub fn get(&self, ino: u64) -> Option<Arc<Handle>> {
        self.map().get(&ino).map(|e| e.handle.clone())
    }

    /// The kernel forgot `ino`: nothing can use its file any more.
    pub fn forget(&self, ino: u64) {
        self.map().remove(&ino);
    }
}
