//! The inode table: FUSE node ids for merged paths, stable for the life of
//! the mount.
//!
//! A node is identified by the (device, inode) of the real file that first
//! backed it; after a copy-up the upper file's key maps to the same number,
//! so `st_ino` does not change when a file is copied up, and hardlinks
//! (same key) share one node with several names.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::layers::UPPER;

/// (st_dev, st_ino) of a real file.
pub type Key = (u64, u64);

pub const ROOT: u64 = 1;

pub fn key_of(meta: &Metadata) -> Key {
    (meta.dev(), meta.ino())
}

#[derive(Debug)]
pub struct Node {
    /// Paths in the merged view, relative to the root; `names[0]` is used
    /// for I/O. Several when hardlinked; empty once every name is gone.
    pub names: Vec<PathBuf>,
    /// The layer that holds the real file (the top-most for a dir).
    pub layer: usize,
    /// For a dir: the layers whose dirs merge into it, top-most first.
    pub stack: Vec<usize>,
    pub is_dir: bool,
    /// How many lookups the kernel holds (FUSE forget protocol).
    pub lookups: u64,
    /// Set once the node has been copied up: handles opened on the lower
    /// file reopen the upper one (a file open across a copy-up).
    pub copied: Arc<AtomicBool>,
}

impl Node {
    pub fn path(&self) -> Option<&Path> {
        self.names.first().map(|p| p.as_path())
    }
}

#[derive(Debug, Default)]
pub struct Table {
    nodes: HashMap<u64, Node>,
    /// Real file key to node number. Kept after a forget so numbers stay
    /// stable; dropped when an upper file is deleted (its key may be reused).
    numbers: HashMap<Key, u64>,
    /// Lower hardlinked files already copied up: their upper path, so the
    /// other names are linked to the copy instead of showing stale data.
    pub linkups: HashMap<Key, PathBuf>,
    /// Live nodes by name, so removing or renaming one name is not a scan.
    by_name: HashMap<PathBuf, u64>,
    next: u64,
}

impl Table {
    pub fn new(root_stack: Vec<usize>) -> Table {
        let mut t = Table {
            next: ROOT + 1,
            ..Default::default()
        };
        t.by_name.insert(PathBuf::new(), ROOT);
        let layer = root_stack.first().copied().unwrap_or(UPPER);
        t.nodes.insert(
            ROOT,
            Node {
                names: vec![PathBuf::new()],
                layer,
                stack: root_stack,
                is_dir: true,
                lookups: 1,
                copied: Arc::new(AtomicBool::new(true)),
            },
        );
        t
    }

    pub fn get(&self, ino: u64) -> Option<&Node> {
        self.nodes.get(&ino)
    }

    /// The number for a real file, allocating one the first time.
    pub fn number(&mut self, key: Key) -> u64 {
        if let Some(n) = self.numbers.get(&key) {
            return *n;
        }
        let n = self.next;
        self.next += 1;
        self.numbers.insert(key, n);
        n
    }

    /// Forget a deleted upper file's key: the fs may reuse its inode.
    pub fn drop_key(&mut self, key: Key) {
        self.numbers.remove(&key);
    }

    /// Record a lookup of `rel` resolved to a real file: create or refresh
    /// its node and count the lookup. Returns the node number.
    pub fn found(
        &mut self,
        rel: &Path,
        key: Key,
        layer: usize,
        stack: Vec<usize>,
        is_dir: bool,
    ) -> u64 {
        let ino = self.number(key);
        let node = self.nodes.entry(ino).or_insert_with(|| Node {
            names: Vec::new(),
            layer,
            stack: Vec::new(),
            is_dir,
            lookups: 0,
            copied: Arc::new(AtomicBool::new(layer == UPPER)),
        });
        if !node.names.iter().any(|n| n == rel) {
            node.names.push(rel.to_path_buf());
        }
        // A name now backed by another file: the old node loses it.
        if let Some(old) = self.by_name.insert(rel.to_path_buf(), ino) {
            if old != ino {
                if let Some(o) = self.nodes.get_mut(&old) {
                    o.names.retain(|n| n != rel);
                }
            }
        }
        let node = self.nodes.get_mut(&ino).expect("inserted above");
        node.layer = layer;
        node.stack = stack;
        node.is_dir = is_dir;
        node.lookups += 1;
        ino
    }

    /// The live node named `rel`, if any.
    pub fn by_name(&self, rel: &Path) -> Option<u64> {
        self.by_name.get(rel).copied()
    }

    /// The kernel dropped `n` lookups of `ino`; true when that was the last.
    pub fn forget(&mut self, ino: u64, n: u64) -> bool {
        if ino == ROOT {
            return false;
        }
        let Some(node) = self.nodes.get_mut(&ino) else {
            return false;
        };
        node.lookups = node.lookups.saturating_sub(n);
        if node.lookups > 0 {
            return false;
        }
        if let Some(node) = self.nodes.remove(&ino) {
            for name in node.names {
                if self.by_name.get(&name) == Some(&ino) {
                    self.by_name.remove(&name);
                }
            }
        }
        true
    }

    /// A name went away (unlink, rmdir, or replaced by a rename).
    pub fn remove_name(&mut self, rel: &Path) {
        if let Some(ino) = self.by_name.remove(rel) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.names.retain(|n| n != rel);
            }
        }
    }

    /// Dir `rel` now has an upper part (key `upper`): it merges from there.
    pub fn dir_copied_up(&mut self, rel: &Path, upper: Key) {
        let ino = self.by_name.get(rel).copied();
        if let Some(ino) = ino.filter(|i| self.nodes.get(i).is_some_and(|n| n.is_dir)) {
            self.numbers.insert(upper, ino);
            let node = self.nodes.get_mut(&ino).expect("found above");
            if node.layer != UPPER {
                node.stack.insert(0, UPPER);
                node.layer = UPPER;
            }
        }
    }

    /// The file with lower key `lower` was copied up to a file with key
    /// `upper`: same number, now upper. Returns the node's other names.
    pub fn file_copied_up(&mut self, lower: Key, upper: Key, rel: &Path) -> Vec<PathBuf> {
        let ino = self.number(lower);
        self.numbers.insert(upper, ino);
        match self.nodes.get_mut(&ino) {
            Some(node) => {
                node.layer = UPPER;
                node.stack = vec![UPPER];
                node.copied
                    .store(true, std::sync::atomic::Ordering::Release);
                node.names
                    .iter()
                    .filter(|n| n.as_path() != rel)
                    .cloned()
                    .collect()
            }
            None => Vec::new(),
        }
    }

    /// `from` was renamed to `to`: rewrite it and every path below it.
    pub fn rename(&mut self, from: &Path, to: &Path, is_dir: bool) {
        let moved: Vec<(PathBuf, u64)> = if is_dir {
            // A dir: every live name below it moves too (rare: only upper
            // dirs can be renamed).
            self.by_name
                .iter()
                .filter(|(n, _)| n.starts_with(from))
                .map(|(n, i)| (n.clone(), *i))
                .collect()
        } else {
            self.by_name
                .get(from)
                .map(|i| vec![(from.to_path_buf(), *i)])
                .unwrap_or_default()
        };
        for (old, ino) in moved {
            let rest = old.strip_prefix(from).expect("filtered above");
            let new = if rest.as_os_str().is_empty() {
                to.to_path_buf()
            } else {
                to.join(rest)
            };
            self.by_name.remove(&old);
            self.by_name.insert(new.clone(), ino);
            if let Some(node) = self.nodes.get_mut(&ino) {
                for name in node.names.iter_mut() {
                    if *name == old {
                        *name = new.clone();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_stable_across_forget_and_copy_up() {
        let mut t = Table::new(vec![0, 1]);
        let a = t.found(Path::new("a"), (9, 100), 1, vec![1], false);
        assert_ne!(a, ROOT);
        t.forget(a, 1);
        assert!(t.get(a).is_none());
        let again = t.found(Path::new("a"), (9, 100), 1, vec![1], false);
        assert_eq!(a, again);
        // Copy-up: the upper file's key aliases the same number.
        t.file_copied_up((9, 100), (8, 5), Path::new("a"));
        assert_eq!(t.found(Path::new("a"), (8, 5), 0, vec![0], false), a);
        assert_eq!(t.get(a).unwrap().lookups, 2);
        let b = t.found(Path::new("b"), (9, 101), 1, vec![1], false);
        assert_ne!(a, b);
    }

    #[test]
    fn hardlinks_share_a_node_and_renames_rewrite_subtrees() {
        let mut t = Table::new(vec![0]);
        let x = t.found(Path::new("d/x"), (1, 7), 0, vec![0], false);
        let y = t.found(Path::new("d/y"), (1, 7), 0, vec![0], false);
        assert_eq!(x, y);
        assert_eq!(t.get(x).unwrap().names.len(), 2);
        t.rename(Path::new("d"), Path::new("e"), true);
        assert_eq!(t.get(x).unwrap().path(), Some(Path::new("e/x")));
        t.remove_name(Path::new("e/x"));
        assert_eq!(t.get(x).unwrap().path(), Some(Path::new("e/y")));
        // "dd" is not below "d".
        let z = t.found(Path::new("dd/z"), (1, 8), 0, vec![0], false);
        t.rename(Path::new("d"), Path::new("q"), true);
        assert_eq!(t.get(z).unwrap().path(), Some(Path::new("dd/z")));
    }
}
