//! New images from a base and new layers (`commit`, and `build` later):
//! the config Docker would write, then config, manifest, layer dirs and
//! the record stored so that the record appears last, only once all its
//! parts are whole (a kill at any point leaves no tag on a half image).

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

use super::blobs;
use super::layer_tar::LayerDigests;
use super::pull::{install_layer, install_tree, Fetch};
use super::records::{ImageRecord, LayerRecord};
use super::unpack::Unpacked;
use super::{chain_ids, Store};
use crate::reference::Reference;
use crate::registry::manifest;

/// A layer already in the store's blobs, to put on top of the base.
pub struct NewLayer {
    pub digests: LayerDigests,
    /// The history entry's `created_by`.
    pub created_by: String,
    /// `empty_layer` steps (ENV, CMD) have no blob.
    pub empty: bool,
    /// The layer's files already laid out as unpacking the blob would
    /// give them, on the store's file system, and their content size:
    /// moved into place instead of unpacking the blob again.
    pub tree: Option<(std::path::PathBuf, u64)>,
}

/// What to store: the base image (None for `FROM scratch`), its config as
/// JSON (already changed as the caller wants), the layers on top.
pub struct NewImage<'a> {
    pub base: Option<&'a ImageRecord>,
    pub config: Value,
    pub layers: Vec<NewLayer>,
    /// RFC 3339; from SOURCE_DATE_EPOCH when that is set.
    pub created: String,
    pub author: Option<String>,
    pub comment: Option<String>,
    pub tag: Option<String>,
}

/// The time to write into a new image: SOURCE_DATE_EPOCH, else now.
pub fn created_now(epoch: Option<i64>) -> String {
    let t = match epoch {
        Some(e) => std::time::UNIX_EPOCH + std::time::Duration::from_secs(e.max(0) as u64),
        None => std::time::SystemTime::now(),
    };
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Store the image; returns its record.
pub fn store_image(store: &Store, new: NewImage) -> anyhow::Result<ImageRecord> {
    let tag = match &new.tag {
        Some(t) => {
            let r = Reference::parse(t)?;
            if r.digest.is_some() {
                bail!("cannot name an image with a digest ({t}); give a name:tag");
            }
            Some(r.tagged().context("a tag is needed")?)
        }
        None => None,
    };
    let mut config = new.config;
    let obj = config
        .as_object_mut()
        .context("the image config is not an object")?;
    let base_layers: Vec<LayerRecord> = new.base.map(|b| b.layers.clone()).unwrap_or_default();
    let mut diff_ids: Vec<String> = base_layers.iter().map(|l| l.diff_id.clone()).collect();
    let mut history = obj
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for l in &new.layers {
        if !l.empty {
            diff_ids.push(l.digests.diff_id.clone());
        }
        let mut h = Map::new();
        h.insert("created".into(), json!(new.created));
        if let Some(a) = &new.author {
            h.insert("author".into(), json!(a));
        }
        h.insert("created_by".into(), json!(l.created_by));
        if let Some(c) = new.comment.as_ref().filter(|c| !c.is_empty()) {
            h.insert("comment".into(), json!(c));
        }
        if l.empty {
            h.insert("empty_layer".into(), json!(true));
        }
        history.push(Value::Object(h));
    }
    obj.insert("created".into(), json!(new.created));
    match &new.author {
        Some(a) => obj.insert("author".into(), json!(a)),
        None => obj.remove("author"),
    };
    obj.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    obj.insert("history".into(), Value::Array(history));
    obj.entry("architecture")
        .or_insert_with(|| json!(crate::sys::oci_arch()));
    obj.entry("os").or_insert_with(|| json!("linux"));
    let config_bytes = serde_json::to_vec(&config)?;
    // Checked as every config we store is.
    let parsed = super::parse_config(&config_bytes)?;
    let config_digest = blobs::sha256(&config_bytes);
    blobs::write_bytes(store.root(), &config_digest, &config_bytes)?;

    // Layers: the base's are in place; the new ones are unpacked from
    // their blobs into the store's layer dirs.
    let chains = chain_ids(&diff_ids);
    let mut records = base_layers;
    for l in new.layers.iter().filter(|l| !l.empty) {
        let i = records.len();
        let d = &l.digests;
        let (u, _) = match &l.tree {
            Some((tree, size)) => {
                let u = Unpacked {
                    diff_id: d.diff_id.clone(),
                    size: *size,
                    skipped_devices: Vec::new(),
                };
                install_tree(store, tree, &u, &chains[i])
            }
            None => install_layer(store, &d.digest, &d.diff_id, &chains[i], Fetch::Stored),
        }
        .with_context(|| format!("layer {}", blobs::short(&d.digest)))?;
        records.push(LayerRecord {
            digest: d.digest.clone(),
            media_type: manifest_layer_type(super::unpack::Compression::Gzip.oci_media_type()),
            size: d.size,
            diff_id: d.diff_id.clone(),
            chain_id: chains[i].clone(),
            unpacked_size: u.size,
        });
    }
    let manifest = json!({
        "schemaVersion": 2, "mediaType": manifest::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_bytes.len()},
        "layers": records.iter().map(|l| json!({"mediaType": manifest_layer_type(&l.media_type),
                   "digest": l.digest, "size": l.size})).collect::<Vec<_>>(),
    });
    let manifest_body = serde_json::to_vec(&manifest)?;
    let manifest_digest = blobs::sha256(&manifest_body);
    blobs::write_bytes(store.root(), &manifest_digest, &manifest_body)?;
    let record = ImageRecord {
        id: config_digest.clone(),
        repo_tags: tag.into_iter().collect(),
        repo_digests: Vec::new(),
        manifest_digest,
        manifest_media_type: manifest::OCI_MANIFEST.into(),
        config_digest,
        layers: records,
        created: parsed.created().clone(),
        platform: format!("{}/{}", parsed.os(), parsed.architecture()),
        added: super::now_secs(),
    };
    store.insert_checked(record)
}

/// An OCI manifest names its layers with OCI types.
fn manifest_layer_type(t: &str) -> String {
    match t {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.v1.tar+gzip".into()
        }
        "application/vnd.docker.image.rootfs.diff.tar" => {
            "application/vnd.oci.image.layer.v1.tar".into()
        }
        other => other.into(),
    }
}

/// Apply `commit -c` changes (Dockerfile instructions) to a config's
/// `config` object, as Docker's commit does.
pub fn apply_change(cfg: &mut Map<String, Value>, change: &str) -> anyhow::Result<()> {
    let change = change.trim();
    let (word, rest) = change
        .split_once(|c: char| c.is_whitespace())
        .map(|(w, r)| (w, r.trim()))
        .unwrap_or((change, ""));
    let bad = || anyhow::anyhow!("invalid change {:?}", crate::text::escape_control(change));
    match word.to_ascii_uppercase().as_str() {
        "CMD" => {
            cfg.insert("Cmd".into(), json!(command_form(rest)));
        }
        "ENTRYPOINT" => {
            cfg.insert("Entrypoint".into(), json!(command_form(rest)));
        }
        "ENV" => {
            let pairs = key_values(rest).ok_or_else(bad)?;
            let env = cfg.entry("Env").or_insert_with(|| json!([]));
            let list = env.as_array_mut().ok_or_else(bad)?;
            for (k, v) in pairs {
                list.retain(|e| e.as_str().and_then(|e| e.split('=').next()) != Some(k.as_str()));
                list.push(json!(format!("{k}={v}")));
            }
        }
        "LABEL" => {
            let pairs = key_values(rest).ok_or_else(bad)?;
            let labels = cfg.entry("Labels").or_insert_with(|| json!({}));
            if labels.is_null() {
                *labels = json!({});
            }
            let map = labels.as_object_mut().ok_or_else(bad)?;
            for (k, v) in pairs {
                map.insert(k, json!(v));
            }
        }
        "EXPOSE" => {
            let ports = cfg.entry("ExposedPorts").or_insert_with(|| json!({}));
            if ports.is_null() {
                *ports = json!({});
            }
            let map = ports.as_object_mut().ok_or_else(bad)?;
            for p in rest.split_whitespace() {
                let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                let ok = num.split('-').all(|n| n.parse::<u16>().is_ok())
                    && matches!(proto, "tcp" | "udp" | "sctp");
                if !ok {
                    bail!("invalid port {:?} in EXPOSE", crate::text::escape_control(p));
                }
                map.insert(format!("{num}/{proto}"), json!({}));
            }
        }
        "VOLUME" => {
            let vols = cfg.entry("Volumes").or_insert_with(|| json!({}));
            if vols.is_null() {
                *vols = json!({});
            }
            let map = vols.as_object_mut().ok_or_else(bad)?;
            let list: Vec<String> = match serde_json::from_str::<Vec<String>>(rest) {
                Ok(l) => l,
                Err(_) => rest.split_whitespace().map(String::from).collect(),
            };
            for v in list {
                map.insert(v, json!({}));
            }
        }
        "USER" if !rest.is_empty() => {
            cfg.insert("User".into(), json!(rest));
        }
        "WORKDIR" if !rest.is_empty() => {
            let cur = cfg.get("WorkingDir").and_then(Value::as_str).unwrap_or("/");
            let dir = if rest.starts_with('/') {
                rest.to_string()
            } else {
                format!("{}/{rest}", cur.trim_end_matches('/'))
            };
            cfg.insert("WorkingDir".into(), json!(dir));
        }
        "STOPSIGNAL" if !rest.is_empty() => {
            cfg.insert("StopSignal".into(), json!(rest));
        }
        "ONBUILD" if !rest.is_empty() => {
            let list = cfg.entry("OnBuild").or_insert_with(|| json!([]));
            if list.is_null() {
                *list = json!([]);
            }
            list.as_array_mut().ok_or_else(bad)?.push(json!(rest));
        }
        _ => bail!(
            "{} is not a change commit can make (use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR)",
            crate::text::escape_control(change)
        ),
    }
    Ok(())
}

/// JSON form `["a","b"]`, else shell form run by `/bin/sh -c`.
fn command_form(rest: &str) -> Vec<String> {
    if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
        return v;
    }
    vec!["/bin/sh".into(), "-c".into(), rest.into()]
}

/// `K=V K2="v 2"` or the old `K V` form.
fn key_values(rest: &str) -> Option<Vec<(String, String)>> {
    if rest.is_empty() {
        return None;
    }
    let first = rest.split_whitespace().next()?;
    if !first.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        return Some(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut word = String::new();
        let mut quote = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => break,
                (_, '\\') => word.extend(chars.next()),
                (_, c) => word.push(c),
            }
        }
        let (k, v) = word.split_once('=')?;
        if k.is_empty() {
            return None;
        }
        out.push((k.to_string(), v.to_string()));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_as_docker_applies_them() {
        let mut c = Map::new();
        apply_change(&mut c, "CMD [\"/bin/sh\",\"-c\",\"x\"]").unwrap();
        apply_change(&mut c, "ENTRYPOINT echo hi").unwrap();
        apply_change(&mut c, "ENV A=1 B=\"two words\"").unwrap();
        apply_change(&mut c, "ENV A 3").unwrap();
        apply_change(&mut c, "EXPOSE 80 53/udp").unwrap();
        apply_change(&mut c, "LABEL a=b").unwrap();
        apply_change(&mut c, "WORKDIR /srv").unwrap();
        apply_change(&mut c, "WORKDIR app").unwrap();
        apply_change(&mut c, "USER 33:33").unwrap();
        let v = Value::Object(c.clone());
        assert_eq!(v["Cmd"], json!(["/bin/sh", "-c", "x"]));
        assert_eq!(v["Entrypoint"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(v["Env"], json!(["B=two words", "A=3"]));
        assert_eq!(v["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(v["Labels"], json!({"a": "b"}));
        assert_eq!(v["WorkingDir"], json!("/srv/app"));
        assert_eq!(v["User"], json!("33:33"));
        assert!(apply_change(&mut c, "RUN true").is_err());
        assert!(apply_change(&mut c, "EXPOSE http").is_err());
    }
}
