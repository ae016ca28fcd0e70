//! The content store in the storage root (DESIGN.md "Storage"):
//!
//! - `blobs/sha256/<hex>`: manifests, configs and layers as served;
//! - `layers/<chain-id hex>/`: unpacked layer trees (overlay lower dirs),
//!   with `layers/<hex>.json` saying what the unpack found;
//! - `images.json`: image records and tags;
//! - `locks/`: flock files; `.tmp-<pid>-*`: temp files of live writers.
//!
//! Every name appears by rename once its content is whole, so a kill -9 at
//! any point leaves a usable store; `Store::open` sweeps the temp files of
//! processes that are gone.

pub mod archive;
pub(crate) mod blobs;
pub mod commit;
mod helper;
pub mod layer_tar;
pub mod lineage;
pub mod progress;
mod pull;
pub mod push;
mod records;
pub mod remove;
pub mod steps;
pub mod unpack;

/// Names that start with it are temp files, swept once their writer is dead.
pub use crate::fsutil::TMP_PREFIX;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

pub use blobs::short;
pub use helper::child_main as helper_main;
pub use helper::{remove_tree as remove_owned_tree, OwnerMode};
pub use pull::{pull, pull_with, PullOptions};
pub use records::{ImageRecord, LayerRecord, Records};

pub struct Store {
    root: PathBuf,
    owners: OwnerMode,
}

impl Store {
    /// Open (and create) the store, sweeping what dead writers left.
    pub fn open(paths: &crate::paths::Paths) -> anyhow::Result<Store> {
        let root = paths.ensure_root()?.to_path_buf();
        for d in ["blobs/sha256", "layers", "locks"] {
            let p = root.join(d);
            fs::create_dir_all(&p).with_context(|| format!("create {}", p.display()))?;
        }
        let store = Store {
            root,
            owners: OwnerMode::detect(),
        };
        store.sweep();
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Find a local image by reference or id prefix; Ok(None) if absent.
    pub fn lookup(&self, reference: &str) -> anyhow::Result<Option<ImageRecord>> {
        Ok(Records::load(&self.root)?.find(reference)?.cloned())
    }

    /// Give the image `source` names the tag `target` (moving the tag
    /// off any other image). Returns the full tag.
    pub fn tag(&self, source: &str, target: &str) -> anyhow::Result<String> {
        let r = crate::reference::Reference::parse(target)?;
        if r.digest.is_some() {
            bail!("cannot tag with a digest ({target}); give a name:tag");
        }
        let tagged = r.tagged().context("a tag is needed")?;
        Records::update(&self.root, |recs| {
            let id = recs
                .find(source)?
                .map(|i| i.id.clone())
                .ok_or_else(|| no_such_image(source))?;
            for i in recs.images.iter_mut() {
                i.repo_tags.retain(|t| *t != tagged);
                if i.id == id {
                    i.repo_tags.push(tagged.clone());
                }
            }
            Ok(())
        })?;
        Ok(tagged)
    }

    /// Record an image, under the records lock where removals collect
    /// garbage, only if all its parts are still in the store.
    pub(crate) fn insert_checked(&self, record: ImageRecord) -> anyhow::Result<ImageRecord> {
        record.check_ids()?;
        Records::update(&self.root, |recs| {
            let blobs_there = [&record.config_digest, &record.manifest_digest]
                .iter()
                .all(|d| self.blob_path(d).is_ok_and(|p| p.exists()));
            let layers_there = record
                .layers
                .iter()
                .all(|l| self.layer_dir(&l.chain_id).is_ok_and(|p| p.is_dir()));
            if !(blobs_there && layers_there) {
                return Err(anyhow::Error::new(Vanished));
            }
            Ok(recs.insert(record))
        })
    }

    /// All image records.
    pub fn images(&self) -> anyhow::Result<Vec<ImageRecord>> {
        Ok(Records::load(&self.root)?.images)
    }

    /// Ordered lower dirs for overlay, TOP-most layer first (overlay's
    /// lowerdir order).
    pub fn layer_dirs(&self, image: &ImageRecord) -> anyhow::Result<Vec<PathBuf>> {
        image
            .layers
            .iter()
            .rev()
            .map(|l| {
                let dir = self.layer_dir(&l.chain_id)?;
                if !dir.is_dir() {
                    bail!(
                        "layer {} of image {} is missing from the store; pull the image again",
                        short(&l.digest),
                        image.short_id()
                    );
                }
                Ok(dir)
            })
            .collect()
    }

    /// The image's config.
    pub fn config(
        &self,
        image: &ImageRecord,
    ) -> anyhow::Result<oci_spec::image::ImageConfiguration> {
        let path = self.blob_path(&image.config_digest)?;
        let bytes = fs::read(&path)
            .with_context(|| format!("read the config of image {}", image.short_id()))?;
        parse_config(&bytes)
            .with_context(|| format!("parse the config of image {}", image.short_id()))
    }

    /// A blob's bytes (manifests, configs).
    pub fn read_blob(&self, digest: &str) -> anyhow::Result<Vec<u8>> {
        let p = self.blob_path(digest)?;
        fs::read(&p).with_context(|| format!("read blob {}", short(digest)))
    }

    /// `blobs/sha256/<hex>`; refuses anything but a sha256 digest.
    pub fn blob_path(&self, digest: &str) -> anyhow::Result<PathBuf> {
        blobs::blob_path(&self.root, digest)
    }

    /// `layers/<hex>`; refuses anything but a sha256 chain id, so no id
    /// (`sha256:..`) can make the store itself a layer.
    pub fn layer_dir(&self, chain_id: &str) -> anyhow::Result<PathBuf> {
        let hex = crate::reference::digest_hex(chain_id).context("a layer's chain id")?;
        Ok(self.root.join("layers").join(hex))
    }

    /// Remove those of `digests` that no image record names (after a
    /// failed pull or load: what it stored stays no longer).
    pub(crate) fn drop_unreferenced(&self, digests: &[String]) {
        let Ok(records) = Records::load(&self.root) else {
            return;
        };
        let used: std::collections::HashSet<&str> = records
            .images
            .iter()
            .flat_map(|i| {
                [i.config_digest.as_str(), i.manifest_digest.as_str()]
                    .into_iter()
                    .chain(i.layers.iter().map(|l| l.digest.as_str()))
                    .chain(
                        i.repo_digests
                            .iter()
                            .filter_map(|d| d.rsplit_once('@').map(|(_, d)| d)),
                    )
            })
            .collect();
        for d in digests.iter().filter(|d| !used.contains(d.as_str())) {
            if let Ok(p) = self.blob_path(d) {
                let _ = fs::remove_file(p);
            }
        }
    }

    /// Bytes free for us on the store's file system, if it says.
    pub fn free_space(&self) -> Option<u64> {
        free_space(&self.root)
    }

    fn sweep(&self) {
        for dir in [
            self.root.clone(),
            self.root.join("blobs/sha256"),
            self.root.join("layers"),
        ] {
            for stale in blobs::stale_temps(&dir) {
                tracing::debug!("removing {} left by a burrow that died", stale.display());
                let r = if stale.is_dir() {
                    helper::remove_tree(&self.owners, &stale)
                } else {
                    fs::remove_file(&stale).map_err(Into::into)
                };
                if let Err(e) = r {
                    tracing::warn!("cannot remove {}: {e:#}", stale.display());
                }
            }
        }
    }
}

/// Parse an image config. oci-spec 0.7 insists on `history`, which the
/// spec makes optional and some builders leave out.
pub fn parse_config(bytes: &[u8]) -> anyhow::Result<oci_spec::image::ImageConfiguration> {
    let mut v: serde_json::Value =
        serde_json::from_slice(bytes).context("the image config is not JSON")?;
    if let Some(obj) = v.as_object_mut() {
        obj.entry("history")
            .or_insert_with(|| serde_json::json!([]));
    }
    let config: oci_spec::image::ImageConfiguration = serde_json::from_value(v)
        .map_err(|e| anyhow::anyhow!("the image config is not valid: {e}"))?;
    // Diff ids become layer dir names (the first chain id is the first
    // diff id): check them here, so nothing downstream sees a bad one.
    for d in config.rootfs().diff_ids() {
        crate::reference::digest_hex(d).context("the image config names a bad layer diff id")?;
    }
    Ok(config)
}

/// Bytes an unprivileged user may still write on the file system of `path`.
pub fn free_space(path: &Path) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(path).ok()?;
    Some((st.blocks_available() as u64).saturating_mul(st.fragment_size() as u64))
}

/// Parts of an image were removed by a concurrent `rmi` before it could
/// be recorded.
#[derive(Debug)]
pub struct Vanished;

impl std::fmt::Display for Vanished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("parts of the image were removed while it was being stored; try again")
    }
}

impl std::error::Error for Vanished {}

/// Seconds since the epoch, for records.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Docker's "No such image" error (exit code 1).
pub fn no_such_image(name: &str) -> anyhow::Error {
    crate::error::Coded::new(
        1,
        format!("no such image: {}", crate::text::escape_control(name)),
    )
    .into()
}

/// chain id of layer n = sha256(chain id of n-1 + " " + diff id of n).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => blobs::sha256(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_whose_layer_vanished_is_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::paths::Paths::new(Some(dir.path().join("s")))).unwrap();
        let config = blobs::write_bytes(store.root(), &blobs::sha256(b"c"), b"c").unwrap();
        assert!(config.exists());
        let chain = format!("sha256:{}", "a".repeat(64));
        let record = ImageRecord {
            id: blobs::sha256(b"c"),
            repo_tags: vec!["x.io/y:z".into()],
            repo_digests: vec![],
            manifest_digest: blobs::sha256(b"c"),
            manifest_media_type: String::new(),
            config_digest: blobs::sha256(b"c"),
            layers: vec![LayerRecord {
                digest: chain.clone(),
                media_type: String::new(),
                size: 0,
                diff_id: chain.clone(),
                chain_id: chain.clone(),
                unpacked_size: 0,
            }],
            created: None,
            platform: String::new(),
            added: 0,
        };
        let err = store.insert_checked(record.clone()).unwrap_err();
        assert!(err.downcast_ref::<Vanished>().is_some(), "{err}");
        assert!(store.lookup("x.io/y:z").unwrap().is_none());
        fs::create_dir(store.layer_dir(&chain).unwrap()).unwrap();
        store.insert_checked(record).unwrap();
        assert!(store.lookup("x.io/y:z").unwrap().is_some());
    }

    #[test]
    fn chain_ids_follow_the_oci_rule() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], blobs::sha256(format!("{a} {b}").as_bytes()));
    }
}
