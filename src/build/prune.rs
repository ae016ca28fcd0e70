//! `builder prune`: forget the build cache. The index entries go, with
//! the layer blobs kept for them, and the step images nothing but the
//! cache kept (untagged, no container on them); tagged images stay. With
//! `all`, the RUN `--mount=type=cache` dirs go too.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context;

use crate::image::Store;

/// What a prune removed.
#[derive(Debug, Default)]
pub struct Pruned {
    /// Cache keys (hex) whose entries went.
    pub entries: Vec<String>,
    /// Step images removed.
    pub images: Vec<String>,
    pub bytes: u64,
}

#[derive(serde::Deserialize)]
struct Entry {
    id: String,
}

/// Prune the cache of `store`; `in_use`: images containers run on.
pub fn prune(store: &Store, in_use: &HashSet<String>, all: bool) -> anyhow::Result<Pruned> {
    let dir = store.root().join("build-cache");
    let mut out = Pruned::default();
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    let mut ids = Vec::new();
    for e in rd.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        // Index entries are the files named by a 64-hex key.
        if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) || !path.is_file() {
            continue;
        }
        if let Some(entry) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
        {
            ids.push(entry.id);
        }
        out.bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
        std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
        out.entries.push(name);
    }
    out.bytes += remove_tree(&dir.join("blobs"))?;
    if all {
        out.bytes += remove_tree(&dir.join("mounts"))?;
    }
    // The step images only the cache kept.
    let images = store.images()?;
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id.clone()) || in_use.contains(&id) {
            continue;
        }
        let Some(img) = images.iter().find(|i| i.id == id) else {
            continue;
        };
        if !img.is_dangling() {
            continue;
        }
        if crate::image::remove::remove(store, &id, false, in_use).is_ok() {
            out.images.push(id);
        }
    }
    Ok(out)
}

/// Remove a dir of the cache; its size in bytes. Files a RUN step left in a
/// cache mount may belong to other ids: those go through `burrow unshare`.
fn remove_tree(dir: &Path) -> anyhow::Result<u64> {
    if !dir.exists() {
        return Ok(0);
    }
    let bytes = crate::volume::du(dir);
    if std::fs::remove_dir_all(dir).is_err() {
        let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
        let ok = std::process::Command::new(exe)
            .args(["unshare", "rm", "-rf"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok || dir.exists() {
            anyhow::bail!("cannot remove {}", dir.display());
        }
    }
    Ok(bytes)
}
