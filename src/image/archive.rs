//! Image archives, so images move between machines and to and from docker
//! and podman:
//!
//! - `save` writes what docker 25+ writes: an OCI layout (`oci-layout`,
//!   `index.json`, `blobs/sha256/...`) with docker's `manifest.json` beside
//!   it, so `docker load`, `podman load` and skopeo's `docker-archive:` and
//!   `oci-archive:` all read it. Blobs go in exactly as the store keeps them.
//! - `load` reads docker-archive tars (docker's and podman's, old and new)
//!   and OCI archives (`index.json` only).
//! - `import` makes a one-layer image of a root file system tar.
//!
//! Everything read is checked: layer blobs against the config's diff ids,
//! OCI blobs against their digests. A load works in a temp dir in the store
//! and removes it whatever happens.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::blobs::{self, short};
use super::pull::{install_layer, Fetch};
use super::records::{ImageRecord, LayerRecord};
use super::unpack::{self, Compression};
use super::{chain_ids, parse_config, Store};
use crate::reference::Reference;
use crate::registry::manifest::{self, Manifest, Platform};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Write `names` (references or id prefixes) as one archive.
pub fn save(store: &Store, names: &[String], out: &mut dyn Write) -> anyhow::Result<()> {
    let mut images: Vec<(ImageRecord, Vec<String>)> = Vec::new();
    for name in names {
        let image = store
            .lookup(name)?
            .ok_or_else(|| super::no_such_image(name))?;
        // A tag saves that tag; an id saves all of the image's tags.
        let tags = match Reference::parse(name).ok().and_then(|r| r.tagged()) {
            Some(t) if image.repo_tags.contains(&t) => vec![t],
            _ => image.repo_tags.clone(),
        };
        // One entry per image, as docker writes, with all the tags asked for.
        match images.iter_mut().find(|(i, _)| i.id == image.id) {
            Some((_, have)) => {
                for t in tags {
                    if !have.contains(&t) {
                        have.push(t);
                    }
                }
            }
            None => images.push((image, tags)),
        }
    }
    let mut tar = tar::Builder::new(out);
    let mut written = std::collections::HashSet::new();
    let mut docker = Vec::new();
    let mut index = Vec::new();
    append_dir(&mut tar, "blobs/")?;
    append_dir(&mut tar, "blobs/sha256/")?;
    for (image, tags) in &images {
        let digests = [&image.manifest_digest, &image.config_digest]
            .into_iter()
            .chain(image.layers.iter().map(|l| &l.digest));
        for d in digests {
            if written.insert(d.clone()) {
                append_blob(&mut tar, store, d)?;
            }
        }
        let familiar: Vec<String> = tags.iter().map(|t| familiar(t)).collect();
        docker.push(DockerEntry {
            config: archive_blob_name(&image.config_digest)?,
            repo_tags: Some(familiar),
            layers: image
                .layers
                .iter()
                .map(|l| archive_blob_name(&l.digest))
                .collect::<anyhow::Result<_>>()?,
        });
        let size = fs::metadata(store.blob_path(&image.manifest_digest)?)?.len();
        let entry = |annotations: serde_json::Value| {
            json!({"mediaType": image.manifest_media_type, "digest": image.manifest_digest,
                   "size": size, "annotations": annotations})
        };
        if tags.is_empty() {
            index.push(entry(json!({})));
        }
        for t in tags {
            let tag = t.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
            index.push(entry(json!({"io.containerd.image.name": t,
                                    "org.opencontainers.image.ref.name": tag})));
        }
    }
    let index = json!({"schemaVersion": 2, "mediaType": manifest::OCI_INDEX, "manifests": index});
    append_bytes(&mut tar, "index.json", &serde_json::to_vec(&index)?)?;
    append_bytes(&mut tar, "manifest.json", &serde_json::to_vec(&docker)?)?;
    append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    tar.into_inner()?.flush().context("write the archive")?;
    Ok(())
}

fn header(size: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(mode);
    h.set_entry_type(kind);
    h.set_mtime(0);
    h
}

fn append_dir(tar: &mut tar::Builder<&mut dyn Write>, name: &str) -> anyhow::Result<()> {
    let mut h = header(0, 0o755, tar::EntryType::Directory);
    tar.append_data(&mut h, name, std::io::empty())
        .context("write the archive")
}

fn append_bytes(
    tar: &mut tar::Builder<&mut dyn Write>,
    name: &str,
    data: &[u8],
) -> anyhow::Result<()> {
    let mut h = header(data.len() as u64, 0o644, tar::EntryType::Regular);
    tar.append_data(&mut h, name, data)
        .context("write the archive")
}

fn append_blob(
    tar: &mut tar::Builder<&mut dyn Write>,
    store: &Store,
    digest: &str,
) -> anyhow::Result<()> {
    let path = store.blob_path(digest)?;
    let f = fs::File::open(&path).with_context(|| {
        format!(
            "blob {} is missing from the store; pull the image again",
            short(digest)
        )
    })?;
    let mut h = header(f.metadata()?.len(), 0o644, tar::EntryType::Regular);
    tar.append_data(&mut h, archive_blob_name(digest)?, f)
        .context("write the archive")
}

/// `blobs/sha256/<hex>`, a blob's name in an archive (OCI layout).
fn archive_blob_name(digest: &str) -> anyhow::Result<String> {
    Ok(format!(
        "blobs/sha256/{}",
        crate::reference::digest_hex(digest)?
    ))
}

/// docker's short names in archives: `docker.io/library/alpine:1` is `alpine:1`.
pub fn familiar(tag: &str) -> String {
    let t = tag.strip_prefix("docker.io/").unwrap_or(tag);
    t.strip_prefix("library/").unwrap_or(t).to_string()
}

/// What a load or import made, for the "Loaded image" lines.
pub struct Loaded {
    pub id: String,
    pub tags: Vec<String>,
}

/// Load every image of a docker-archive or OCI archive tar.
pub fn load(store: &Store, input: &mut dyn Read) -> anyhow::Result<Vec<Loaded>> {
    // Ctrl-C stops the load between reads; what it wrote is removed.
    crate::interrupt::during(|| {
        let mut input = crate::interrupt::Checked(input);
        let mut written = Vec::new();
        let result = load_into(store, &mut input, &mut written);
        if result.is_err() {
            drop_unused(store, &written);
        }
        result
    })
}

fn load_into(
    store: &Store,
    input: &mut dyn Read,
    written: &mut Vec<String>,
) -> anyhow::Result<Vec<Loaded>> {
    let tmp = tempfile::Builder::new()
        .prefix(&crate::fsutil::tmp_prefix())
        .tempdir_in(store.root())
        .context("create a temp dir for the archive")?;
    let files = extract(input, tmp.path()).context("read the archive")?;
    if let Some(m) = files.get("manifest.json") {
        let entries: Vec<DockerEntry> =
            serde_json::from_slice(&fs::read(m)?).context("manifest.json is not valid")?;
        return entries
            .iter()
            .map(|e| load_docker(store, &files, e, written))
            .collect();
    }
    if let Some(i) = files.get("index.json") {
        return load_oci(store, &files, i, written);
    }
    bail!("not an image archive: it has neither manifest.json nor index.json")
}

/// After a failed load: remove the blobs it wrote that no image uses, so
/// nothing half-made stays behind.
fn drop_unused(store: &Store, written: &[String]) {
    store.drop_unreferenced(written);
}

/// Extract the regular files of a tar (symlinks resolved, as old docker
/// archives link duplicate layers) into `dir`; the map is by archive path.
fn extract(input: &mut dyn Read, dir: &Path) -> anyhow::Result<HashMap<String, PathBuf>> {
    let mut archive = tar::Archive::new(input);
    let mut files = HashMap::new();
    let mut links = Vec::new();
    for (n, entry) in archive.entries()?.enumerate() {
        let mut entry = entry?;
        let rel = unpack::clean(&entry.path()?)?;
        let key = rel.to_string_lossy().into_owned();
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                // Flat names: no directories to trick us with.
                let path = dir.join(format!("f{n}"));
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)?;
                std::io::copy(&mut entry, &mut f)?;
                files.insert(key, path);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()?
                    .context("link without a target")?
                    .into_owned();
                let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                    rel.parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_default()
                        .join(target)
                } else {
                    target
                };
                links.push((key, base));
            }
            _ => {}
        }
    }
    for (key, target) in links {
        let resolved = normalise(&target)?;
        if let Some(p) = files.get(&resolved).cloned() {
            files.insert(key, p);
        }
    }
    Ok(files)
}

/// Resolve `..` lexically inside the archive; refuse to climb out of it.
fn normalise(p: &Path) -> anyhow::Result<String> {
    let mut out: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            std::path::Component::ParentDir => {
                out.pop()
                    .context("a link in the archive points outside it")?;
            }
            _ => {}
        }
    }
    Ok(out.join("/"))
}

fn file<'a>(files: &'a HashMap<String, PathBuf>, name: &str) -> anyhow::Result<&'a PathBuf> {
    let key = normalise(Path::new(name))?;
    files
        .get(&key)
        .with_context(|| format!("the archive lacks {}", crate::text::escape_control(name)))
}

fn load_docker(
    store: &Store,
    files: &HashMap<String, PathBuf>,
    e: &DockerEntry,
    written: &mut Vec<String>,
) -> anyhow::Result<Loaded> {
    let config_bytes = fs::read(file(files, &e.config)?)?;
    let tags = e.repo_tags.clone().unwrap_or_default();
    let mut layers = Vec::new();
    for l in &e.layers {
        let mut f = fs::File::open(file(files, l)?)?;
        let (digest, size) = blobs::write_hashed(store.root(), &mut f)?;
        written.push(digest.clone());
        let (_, compression) = unpack::decompressed(fs::File::open(store.blob_path(&digest)?)?)?;
        layers.push((digest, size, compression));
    }
    finish(store, &config_bytes, layers, &tags, None, written)
}

fn load_oci(
    store: &Store,
    files: &HashMap<String, PathBuf>,
    index: &Path,
    written: &mut Vec<String>,
) -> anyhow::Result<Vec<Loaded>> {
    let verified = |digest: &str| -> anyhow::Result<Vec<u8>> {
        let path = file(files, &archive_blob_name(digest)?)?;
        let data = fs::read(path)?;
        if blobs::sha256(&data) != digest {
            bail!(
                "blob {} in the archive does not match its digest",
                short(digest)
            );
        }
        Ok(data)
    };
    let index_bytes = fs::read(index)?;
    let Manifest::Index(entries) = manifest::parse(&index_bytes, manifest::OCI_INDEX)? else {
        bail!("index.json is not an index");
    };
    let mut out = Vec::new();
    for entry in &entries {
        let mut body = verified(&entry.digest)?;
        let mut parsed = manifest::parse(&body, &entry.media_type)?;
        if let Manifest::Index(inner) = &parsed {
            let chosen = manifest::choose(inner, &Platform::host())?;
            body = verified(&chosen.digest)?;
            parsed = manifest::parse(&body, &chosen.media_type)?;
        }
        let Manifest::Image(m) = parsed else {
            bail!("an index inside an index is not supported")
        };
        let config_bytes = verified(&m.config.digest)?;
        let mut layers = Vec::new();
        for l in &m.layers {
            let path = file(files, &archive_blob_name(&l.digest)?)?;
            let (digest, size) = blobs::write_hashed(store.root(), &mut fs::File::open(path)?)?;
            written.push(digest.clone());
            if digest != l.digest {
                bail!(
                    "layer {} in the archive does not match its digest",
                    short(&l.digest)
                );
            }
            let (_, compression) =
                unpack::decompressed(fs::File::open(store.blob_path(&digest)?)?)?;
            layers.push((digest, size, compression));
        }
        let annotations = entry_annotations(&index_bytes, &entry.digest);
        let name = annotations
            .get("io.containerd.image.name")
            .or_else(|| {
                annotations
                    .get("org.opencontainers.image.ref.name")
                    .filter(|n| n.contains('/') || n.contains(':'))
            })
            .cloned();
        let tags: Vec<String> = name.into_iter().collect();
        out.push(finish(
            store,
            &config_bytes,
            layers,
            &tags,
            Some((body, m.media_type.clone())),
            written,
        )?);
    }
    Ok(out)
}

/// The annotations of the index entry with `digest` (our Descriptor type
/// does not keep them).
fn entry_annotations(index: &[u8], digest: &str) -> BTreeMap<String, String> {
    let v: serde_json::Value = serde_json::from_slice(index).unwrap_or_default();
    v["manifests"]
        .as_array()
        .and_then(|m| m.iter().find(|e| e["digest"] == digest))
        .and_then(|e| serde_json::from_value(e["annotations"].clone()).ok())
        .unwrap_or_default()
}

/// Store the config and manifest, unpack the layers (checked against the
/// config's diff ids) and write the record.
fn finish(
    store: &Store,
    config_bytes: &[u8],
    layers: Vec<(String, u64, Compression)>,
    tags: &[String],
    manifest: Option<(Vec<u8>, String)>,
    written: &mut Vec<String>,
) -> anyhow::Result<Loaded> {
    let root = store.root();
    let config = parse_config(config_bytes)?;
    let config_digest = blobs::sha256(config_bytes);
    blobs::write_bytes(root, &config_digest, config_bytes)?;
    written.push(config_digest.clone());
    let diff_ids = config.rootfs().diff_ids().clone();
    if diff_ids.len() != layers.len() {
        bail!(
            "the archive has {} layers but the config names {}",
            layers.len(),
            diff_ids.len()
        );
    }
    let chains = chain_ids(&diff_ids);
    let mut records = Vec::new();
    for ((digest, size, compression), (diff_id, chain)) in
        layers.iter().zip(diff_ids.iter().zip(&chains))
    {
        let (u, _) = install_layer(store, digest, diff_id, chain, Fetch::Stored)
            .with_context(|| format!("layer {}", short(digest)))?;
        if let Some(w) = super::pull::devices_warning(digest, &u) {
            tracing::warn!("{w}");
        }
        records.push(LayerRecord {
            digest: digest.clone(),
            media_type: compression.oci_media_type().into(),
            size: *size,
            diff_id: diff_id.clone(),
            chain_id: chain.clone(),
            unpacked_size: u.size,
        });
    }
    // Docker archives carry no manifest: make the OCI one they imply.
    let (manifest_body, manifest_media_type) = match manifest {
        Some(m) => m,
        None => {
            let m = json!({
                "schemaVersion": 2, "mediaType": manifest::OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": config_digest, "size": config_bytes.len()},
                "layers": records.iter().map(|l| json!({"mediaType": l.media_type,
                           "digest": l.digest, "size": l.size})).collect::<Vec<_>>(),
            });
            (serde_json::to_vec(&m)?, manifest::OCI_MANIFEST.to_string())
        }
    };
    let manifest_digest = blobs::sha256(&manifest_body);
    blobs::write_bytes(root, &manifest_digest, &manifest_body)?;
    written.push(manifest_digest.clone());
    let mut repo_tags = Vec::new();
    for t in tags {
        let r = Reference::parse(t).with_context(|| format!("bad tag in the archive: {t}"))?;
        repo_tags.extend(r.tagged());
    }
    let record = ImageRecord {
        id: config_digest.clone(),
        repo_tags: repo_tags.clone(),
        repo_digests: Vec::new(),
        manifest_digest,
        manifest_media_type,
        config_digest,
        layers: records,
        created: config.created().clone(),
        platform: format!("{}/{}", config.os(), config.architecture()),
        added: super::now_secs(),
    };
    let record = store.insert_checked(record)?;
    Ok(Loaded {
        id: record.id,
        tags: repo_tags,
    })
}

/// `import`: a root file system tar (plain, gzip or zstd) as a one-layer
/// image, tagged `tag` when given.
pub fn import(
    store: &Store,
    input: &mut dyn Read,
    tag: Option<&str>,
    source: &str,
) -> anyhow::Result<Loaded> {
    if let Some(t) = tag {
        Reference::parse(t)?;
    }
    crate::interrupt::during(|| {
        let mut input = crate::interrupt::Checked(input);
        let mut written = Vec::new();
        let result = import_into(store, &mut input, tag, source, &mut written);
        if result.is_err() {
            drop_unused(store, &written);
        }
        result
    })
}

fn import_into(
    store: &Store,
    input: &mut dyn Read,
    tag: Option<&str>,
    source: &str,
    written: &mut Vec<String>,
) -> anyhow::Result<Loaded> {
    let (digest, size) = blobs::write_hashed(store.root(), input)?;
    written.push(digest.clone());
    let blob = store.blob_path(&digest)?;
    let (diff_id, compression) = unpack::diff_id_of(&blob)?;
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let config = json!({
        "architecture": crate::sys::oci_arch(), "os": "linux", "created": now,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": now, "created_by": "burrow import", "comment": format!("imported from {source}")}],
    });
    let tags: Vec<String> = tag.map(String::from).into_iter().collect();
    let layers = vec![(digest, size, compression)];
    finish(
        store,
        &serde_json::to_vec(&config)?,
        layers,
        &tags,
        None,
        written,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_inside_the_archive_only() {
        assert_eq!(
            normalise(Path::new("a/../b/layer.tar")).unwrap(),
            "b/layer.tar"
        );
        assert!(normalise(Path::new("../../etc/passwd")).is_err());
        assert_eq!(familiar("docker.io/library/alpine:1"), "alpine:1");
        assert_eq!(familiar("127.0.0.1:5000/a/b:c"), "127.0.0.1:5000/a/b:c");
    }
}
