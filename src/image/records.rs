//! `images.json`: the image records and their tags, read whole and
//! replaced atomically (temp file + rename) under an flock.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::blobs;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerRecord {
    /// Digest of the blob as served (compressed).
    pub digest: String,
    pub media_type: String,
    /// Compressed size.
    pub size: u64,
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
    /// Names the unpacked tree: `layers/<hex of chain id>`.
    pub chain_id: String,
    /// Bytes of file content once unpacked.
    #[serde(default)]
    pub unpacked_size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageRecord {
    /// `sha256:<config digest hex>`, as docker names images.
    pub id: String,
    /// `registry/repo:tag`, fully qualified.
    #[serde(default)]
    pub repo_tags: Vec<String>,
    /// `registry/repo@sha256:...` of the manifest (or index) pulled.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    pub manifest_digest: String,
    pub manifest_media_type: String,
    pub config_digest: String,
    /// Bottom-most first, as in the manifest.
    pub layers: Vec<LayerRecord>,
    /// From the config (RFC 3339), if it says.
    #[serde(default)]
    pub created: Option<String>,
    pub platform: String,
    /// Unix seconds when this store got it.
    pub added: u64,
}

impl ImageRecord {
    /// Unpacked size, as docker's SIZE column shows.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.unpacked_size).sum()
    }

    /// No tag: `images` shows it with TAG `<none>`, and `image prune`
    /// removes it. A digest name alone (kept from the pull, or a pull by
    /// digest) does not keep an image, as the user cannot see one.
    pub fn is_dangling(&self) -> bool {
        self.repo_tags.is_empty()
    }

    pub fn short_id(&self) -> &str {
        blobs::short(&self.id)
    }

    /// Every digest and id in the record is a sha256 digest.
    pub fn check_ids(&self) -> anyhow::Result<()> {
        use crate::reference::digest_hex;
        for d in [&self.id, &self.config_digest, &self.manifest_digest] {
            digest_hex(d)?;
        }
        for l in &self.layers {
            for d in [&l.digest, &l.diff_id, &l.chain_id] {
                digest_hex(d)?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Records {
    #[serde(default)]
    pub images: Vec<ImageRecord>,
}

impl Records {
    /// Read the records without the lock (a reader sees one whole version
    /// thanks to the atomic rename).
    pub fn load(root: &Path) -> anyhow::Result<Records> {
        let path = root.join("images.json");
        match fs::read(&path) {
            Ok(b) => {
                let mut records: Records = serde_json::from_slice(&b).with_context(|| {
                    format!(
                        "{} is damaged; move it away to start afresh",
                        path.display()
                    )
                })?;
                records.drop_bad_ids();
                Ok(records)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Records::default()),
            Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
        }
    }

    /// Leave out (with a warning) records whose ids could not name a file
    /// in the store: an older burrow recorded what a hostile image said
    /// (`sha256:..`). Dropped here, nothing downstream sees them, and the
    /// next write removes them from the file.
    fn drop_bad_ids(&mut self) {
        self.images.retain(|i| match i.check_ids() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(
                    "ignoring image {} in images.json: {e:#}",
                    crate::text::escape_control(&i.repo_tags.join(", "))
                );
                false
            }
        });
    }

    /// Like `update`, then run `after` on the saved records while still
    /// holding the lock (removals collect garbage there, so a pull cannot
    /// record an image whose layers are being deleted).
    pub fn update_then<T>(
        root: &Path,
        change: impl FnOnce(&mut Records) -> anyhow::Result<T>,
        after: impl FnOnce(&Records, &T) -> anyhow::Result<()>,
    ) -> anyhow::Result<T> {
        let _lock = blobs::lock(root, "images")?;
        let mut records = Records::load(root)?;
        let out = change(&mut records)?;
        records.save(root)?;
        after(&records, &out)?;
        Ok(out)
    }

    /// Read, change and write back under the store's records lock.
    pub fn update<T>(
        root: &Path,
        change: impl FnOnce(&mut Records) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let _lock = blobs::lock(root, "images")?;
        let mut records = Records::load(root)?;
        let out = change(&mut records)?;
        records.save(root)?;
        Ok(out)
    }

    fn save(&self, root: &Path) -> anyhow::Result<()> {
        let mut tmp = tempfile::Builder::new()
            .prefix(&crate::fsutil::tmp_prefix())
            .tempfile_in(root)
            .context("create a temp file for images.json")?;
        let json = serde_json::to_vec_pretty(self)?;
        tmp.write_all(&json).context("write images.json")?;
        tmp.as_file().sync_data().ok();
        let path = root.join("images.json");
        tmp.persist(&path)
            .map_err(|e| e.error)
            .with_context(|| format!("replace {}", path.display()))?;
        Ok(())
    }

    /// Add or merge an image; its tags move away from any other image
    /// (which may be left untagged: "dangling").
    pub fn insert(&mut self, mut image: ImageRecord) -> ImageRecord {
        for other in self.images.iter_mut().filter(|i| i.id != image.id) {
            other.repo_tags.retain(|t| !image.repo_tags.contains(t));
        }
        if let Some(existing) = self.images.iter_mut().find(|i| i.id == image.id) {
            for t in std::mem::take(&mut existing.repo_tags) {
                if !image.repo_tags.contains(&t) {
                    image.repo_tags.push(t);
                }
            }
            for d in std::mem::take(&mut existing.repo_digests) {
                if !image.repo_digests.contains(&d) {
                    image.repo_digests.push(d);
                }
            }
            image.added = existing.added.min(image.added);
            *existing = image.clone();
        } else {
            self.images.push(image.clone());
        }
        image
    }

    /// Find by id (full, `sha256:`-prefixed or a unique prefix of at least
    /// 3 hex digits), by tag, or by digest reference.
    pub fn find(&self, wanted: &str) -> anyhow::Result<Option<&ImageRecord>> {
        if let Some(i) = self.find_by_name(wanted) {
            return Ok(Some(i));
        }
        let hex = wanted.strip_prefix("sha256:").unwrap_or(wanted);
        if hex.len() >= 3 && hex.len() <= 64 && hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            let hits: Vec<&ImageRecord> = self
                .images
                .iter()
                .filter(|i| {
                    crate::reference::shown_hex(&i.id).starts_with(&hex.to_ascii_lowercase())
                })
                .collect();
            match hits.len() {
                0 => {}
                1 => return Ok(Some(hits[0])),
                n => anyhow::bail!(
                    "image id prefix {wanted} is ambiguous ({n} images match); give more digits"
                ),
            }
        }
        Ok(None)
    }

    fn find_by_name(&self, wanted: &str) -> Option<&ImageRecord> {
        let r = crate::reference::Reference::parse(wanted).ok()?;
        if let Some(d) = &r.digest {
            let full = format!("{}@{d}", r.name());
            return self
                .images
                .iter()
                .find(|i| i.repo_digests.contains(&full) || i.manifest_digest == *d);
        }
        let tagged = r.tagged()?;
        self.images.iter().find(|i| i.repo_tags.contains(&tagged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(id_char: char, tags: &[&str]) -> ImageRecord {
        ImageRecord {
            id: format!("sha256:{}", id_char.to_string().repeat(64)),
            repo_tags: tags.iter().map(|t| t.to_string()).collect(),
            repo_digests: vec![],
            manifest_digest: format!("sha256:{}", "d".repeat(64)),
            manifest_media_type: String::new(),
            config_digest: format!("sha256:{}", id_char.to_string().repeat(64)),
            layers: vec![],
            created: None,
            platform: "linux/amd64".into(),
            added: 1,
        }
    }

    #[test]
    fn tags_move_and_lookups_work() {
        let mut r = Records::default();
        r.insert(img('a', &["docker.io/library/alpine:latest"]));
        r.insert(img('b', &["docker.io/library/alpine:latest", "x.io/y:1"]));
        assert!(
            r.images[0].repo_tags.is_empty(),
            "old image is now dangling"
        );
        assert_eq!(r.find("alpine").unwrap().unwrap().id.as_bytes()[7], b'b');
        assert_eq!(r.find("x.io/y:1").unwrap().unwrap().id.as_bytes()[7], b'b');
        assert_eq!(r.find("aaa").unwrap().unwrap().id.as_bytes()[7], b'a');
        assert_eq!(
            r.find("sha256:bbbb").unwrap().unwrap().id.as_bytes()[7],
            b'b'
        );
        assert!(r.find("alpine:3").unwrap().is_none());
        r.insert(img('a', &["other:1"]));
        assert_eq!(r.images.len(), 2);
        r.insert(img('a', &["other:2"]));
        assert_eq!(
            r.images[0].repo_tags,
            vec!["other:2".to_string(), "other:1".to_string()]
        );
    }

    #[test]
    fn ambiguous_prefix_is_an_error() {
        let mut r = Records::default();
        let mut a = img('a', &[]);
        a.id = format!("sha256:abc{}", "0".repeat(61));
        let mut b = img('a', &[]);
        b.id = format!("sha256:abd{}", "0".repeat(61));
        r.images = vec![a, b];
        assert!(r.find("ab").unwrap().is_none(), "too short to be an id");
        assert!(r.find("abc").unwrap().is_some());
        let err = r.find("sha256:ab0").unwrap();
        assert!(err.is_none());
        let mut c = img('a', &[]);
        c.id = format!("sha256:abc1{}", "0".repeat(60));
        r.images.push(c);
        assert!(r.find("abc").unwrap_err().to_string().contains("ambiguous"));
    }

    #[test]
    fn update_is_atomic_and_persistent() {
        let dir = tempfile::tempdir().unwrap();
        Records::update(dir.path(), |r| {
            r.insert(img('c', &["a.io/b:c"]));
            Ok(())
        })
        .unwrap();
        let r = Records::load(dir.path()).unwrap();
        assert_eq!(r.images.len(), 1);
        let leftovers = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(crate::fsutil::TMP_PREFIX)
            })
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn records_with_ids_that_could_name_a_path_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = img('e', &["x.io/bad:1"]);
        let chain = "sha256:..".to_string();
        bad.layers.push(LayerRecord {
            digest: chain.clone(),
            media_type: String::new(),
            size: 0,
            diff_id: chain.clone(),
            chain_id: chain,
            unpacked_size: 0,
        });
        let records = Records {
            images: vec![img('c', &["x.io/good:1"]), bad],
        };
        fs::write(
            dir.path().join("images.json"),
            serde_json::to_vec(&records).unwrap(),
        )
        .unwrap();
        let r = Records::load(dir.path()).unwrap();
        assert_eq!(r.images.len(), 1);
        assert_eq!(r.images[0].repo_tags, ["x.io/good:1"]);
    }
}
