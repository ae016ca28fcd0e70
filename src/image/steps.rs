//! Intermediate images: the image each build step left (Docker's classic
//! builder keeps them, and so does `burrow build`). An image is another's
//! step when its history is a strict prefix of the other's history and its
//! layers a prefix of the other's layers. `images` hides such untagged
//! images unless `-a`, and `history` names them in its IMAGE column.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::{ImageRecord, Store};

/// Each history prefix's fingerprint, after every entry.
fn prefixes(store: &Store, img: &ImageRecord) -> Vec<[u8; 32]> {
    let Ok(config) = store.config(img) else {
        return Vec::new();
    };
    let mut h = Sha256::new();
    // The layers take part so that two images with the same history text
    // over different layers stay apart.
    let mut layers = img.layers.iter();
    config
        .history()
        .iter()
        .map(|e| {
            h.update(e.created().as_deref().unwrap_or("").as_bytes());
            h.update([0]);
            h.update(e.created_by().as_deref().unwrap_or("").as_bytes());
            h.update([0]);
            if !e.empty_layer().unwrap_or(false) {
                h.update(
                    layers
                        .next()
                        .map(|l| l.digest.as_str())
                        .unwrap_or("")
                        .as_bytes(),
                );
            }
            h.update([1]);
            h.clone().finalize().into()
        })
        .collect()
}

/// The lineage of the images in a store.
pub struct Steps {
    /// Image id by its whole-history fingerprint.
    by_print: HashMap<[u8; 32], String>,
    /// Fingerprints that are a strict prefix of some image's history.
    inner: std::collections::HashSet<[u8; 32]>,
    /// Each image's prefix fingerprints.
    of: HashMap<String, Vec<[u8; 32]>>,
}

impl Steps {
    pub fn of_store(store: &Store, images: &[ImageRecord]) -> Steps {
        let mut s = Steps {
            by_print: HashMap::new(),
            inner: Default::default(),
            of: HashMap::new(),
        };
        for img in images {
            let p = prefixes(store, img);
            if let Some((last, before)) = p.split_last() {
                s.by_print.entry(*last).or_insert_with(|| img.id.clone());
                s.inner.extend(before.iter().copied());
            }
            s.of.insert(img.id.clone(), p);
        }
        s
    }

    /// An untagged image that is an earlier step of another image.
    pub fn is_intermediate(&self, img: &ImageRecord) -> bool {
        img.repo_tags.is_empty()
            && img.repo_digests.is_empty()
            && self
                .of
                .get(&img.id)
                .and_then(|p| p.last())
                .is_some_and(|l| self.inner.contains(l))
    }

    /// For each history entry of `img`, oldest first, the image that step
    /// made, where the store still has it.
    pub fn step_images(&self, img: &ImageRecord) -> Vec<Option<String>> {
        self.of
            .get(&img.id)
            .map(|p| p.iter().map(|f| self.by_print.get(f).cloned()).collect())
            .unwrap_or_default()
    }
}
