//! Untagging and removing images, and dropping the layers and blobs that
//! no image uses any more.

use std::collections::HashSet;
use std::fs;

use anyhow::{bail, Context};

use super::records::{ImageRecord, Records};
use super::{blobs, helper, Store};
use crate::reference::Reference;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    Untagged(String),
    Deleted(String),
}

/// `rmi`: a tag removes that tag (and the image with its last tag); an id
/// removes the image, which needs `force` when several tags name it.
/// `in_use` holds the ids of images that containers run on (the caller
/// knows the containers; this module does not): such an image is refused,
/// and with `force` only loses its tags, as Docker does, so the
/// containers keep their layers.
pub fn remove(
    store: &Store,
    name: &str,
    force: bool,
    in_use: &HashSet<String>,
) -> anyhow::Result<Vec<Removed>> {
    let root = store.root();
    let (out, _) = Records::update_then(
        root,
        |recs| {
            let image = recs
                .find(name)?
                .cloned()
                .ok_or_else(|| super::no_such_image(name))?;
            let by_tag = Reference::parse(name)
                .ok()
                .and_then(|r| r.tagged())
                .filter(|t| image.repo_tags.contains(t));
            let mut out = Vec::new();
            if in_use.contains(&image.id)
                && by_tag.as_ref().is_none_or(|_| image.repo_tags.len() <= 1)
            {
                if !force {
                    bail!(
                        "image {} is used by a container; remove the container first \
                         (burrow rm) or use -f to untag the image",
                        image.short_id()
                    );
                }
                for t in image.repo_tags.clone() {
                    untag(recs, &image.id, &t);
                    out.push(Removed::Untagged(t));
                }
                return Ok((out, None));
            }
            let delete = match &by_tag {
                Some(tag) if image.repo_tags.len() > 1 => {
                    untag(recs, &image.id, tag);
                    out.push(Removed::Untagged(tag.clone()));
                    false
                }
                _ if by_tag.is_none() && image.repo_tags.len() > 1 && !force => bail!(
                    "image {} is tagged {} times ({}); remove the tags one by one or use -f",
                    image.short_id(),
                    image.repo_tags.len(),
                    image.repo_tags.join(", ")
                ),
                _ => true,
            };
            if !delete {
                return Ok((out, None));
            }
            for t in &image.repo_tags {
                out.push(Removed::Untagged(t.clone()));
            }
            for d in &image.repo_digests {
                out.push(Removed::Untagged(d.clone()));
            }
            out.push(Removed::Deleted(image.id.clone()));
            recs.images.retain(|i| i.id != image.id);
            Ok((out, Some(image)))
        },
        |recs, (_, gone)| match gone {
            Some(image) => collect_garbage(store, recs, image),
            None => Ok(()),
        },
    )?;
    Ok(out)
}

/// `image prune`: remove every image without a tag that no container uses.
pub fn prune_dangling(store: &Store, in_use: &HashSet<String>) -> anyhow::Result<Vec<Removed>> {
    let gone = Records::update_then(
        store.root(),
        |recs| {
            let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut recs.images)
                .into_iter()
                .partition(|i| i.is_dangling() && !in_use.contains(&i.id));
            recs.images = kept;
            Ok(gone)
        },
        |recs, gone| {
            for image in gone {
                collect_garbage(store, recs, image)?;
            }
            Ok(())
        },
    )?;
    Ok(gone.into_iter().map(|i| Removed::Deleted(i.id)).collect())
}

fn untag(recs: &mut Records, id: &str, tag: &str) {
    if let Some(i) = recs.images.iter_mut().find(|i| i.id == id) {
        i.repo_tags.retain(|t| t != tag);
    }
}

/// Drop the layers and blobs of `image` that no image in `recs` uses.
/// Runs under the records lock; each layer also under its own lock, so a
/// pull unpacking it waits.
fn collect_garbage(store: &Store, recs: &Records, image: &ImageRecord) -> anyhow::Result<()> {
    let root = store.root();
    let remaining = &recs.images;
    let used_chains: HashSet<&str> = remaining
        .iter()
        .flat_map(|i| i.layers.iter().map(|l| l.chain_id.as_str()))
        .collect();
    let used_blobs: HashSet<String> = remaining.iter().flat_map(blob_digests).collect();
    for layer in &image.layers {
        if used_chains.contains(layer.chain_id.as_str()) {
            continue;
        }
        // Records are checked when read; a bad id here is skipped, never
        // turned into a path to delete.
        let (Ok(hex), Ok(dir)) = (
            crate::reference::digest_hex(&layer.chain_id),
            store.layer_dir(&layer.chain_id),
        ) else {
            tracing::warn!("not removing a layer with a bad chain id");
            continue;
        };
        let _lock = blobs::lock(root, &format!("layer-{hex}"))?;
        // The dir goes first: a layer dir never exists without its meta.
        helper::remove_tree(&store.owners, &dir)?;
        let _ = fs::remove_file(dir.with_extension("json"));
        // The mount point layer built on it by a container (sandbox::mountpoints).
        let init = dir.with_extension("init");
        if init.exists() {
            helper::remove_tree(&store.owners, &init)?;
        }
        if !used_blobs.contains(&layer.digest) {
            if let Ok(p) = store.blob_path(&layer.digest) {
                let _ = fs::remove_file(p);
            }
        }
    }
    for digest in blob_digests(image) {
        if used_blobs.contains(&digest) {
            continue;
        }
        let Ok(path) = store.blob_path(&digest) else {
            continue;
        };
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context(format!("remove blob {}", blobs::short(&digest))),
        }
    }
    Ok(())
}

fn blob_digests(image: &ImageRecord) -> Vec<String> {
    let mut v = vec![image.config_digest.clone(), image.manifest_digest.clone()];
    v.extend(image.layers.iter().map(|l| l.digest.clone()));
    v.extend(
        image
            .repo_digests
            .iter()
            .filter_map(|d| d.rsplit_once('@').map(|(_, d)| d.to_string())),
    );
    v
}
