//! Pull: manifest (choosing a platform from an index), config, then the
//! layers, each downloaded and unpacked on a few worker threads. All
//! threads are joined before `pull` returns.

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context};

use super::blobs::{self, short};
use super::progress::{self, Progress};
use super::records::{ImageRecord, LayerRecord, Records};
use super::unpack::Unpacked;
use super::{chain_ids, helper, Store};
use crate::reference::Reference;
use crate::registry::manifest::{self, Descriptor, Manifest, Platform};
use crate::registry::{Client, ClientOptions};

/// Layers fetched at once.
const WORKERS: usize = 3;

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `os/arch[/variant]`; this machine's when `None`.
    pub platform: Option<String>,
    /// `--tls-verify=false`.
    pub insecure: bool,
    /// No progress output.
    pub quiet: bool,
}

/// Pull `reference` into the store at `paths`, with progress on stderr.
pub fn pull(
    paths: &crate::paths::Paths,
    reference: &str,
    opts: &PullOptions,
) -> anyhow::Result<ImageRecord> {
    let store = Store::open(paths)?;
    let progress = progress::for_terminal(opts.quiet);
    pull_with(&store, reference, opts, progress.as_ref())
}

pub fn pull_with(
    store: &Store,
    reference: &str,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> anyhow::Result<ImageRecord> {
    let r = Reference::parse(reference)?;
    let want = match &opts.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let client = Client::new(
        &r,
        &ClientOptions {
            insecure: opts.insecure,
        },
    )?;
    pull_ref(store, &r, &client, &want, progress).with_context(|| format!("pull {r}"))
}

fn pull_ref(
    store: &Store,
    r: &Reference,
    client: &Client,
    want: &Platform,
    progress: &dyn Progress,
) -> anyhow::Result<ImageRecord> {
    let root = store.root();
    progress.status(&format!(
        "{}: Pulling from {}",
        r.tag.as_deref().unwrap_or(r.manifest_ref()),
        r.name()
    ));

    // 1. The manifest, through the index when there is one.
    let (body, content_type) = client.manifest(r.manifest_ref())?;
    let top_digest = blobs::sha256(&body);
    if let Some(d) = &r.digest {
        if &top_digest != d {
            bail!(
                "the registry sent a manifest whose digest is {top_digest}, not the {d} asked for"
            );
        }
    }
    let (image_manifest, manifest_digest, manifest_body) = match manifest::parse(
        &body,
        &content_type,
    )? {
        Manifest::Image(m) => (m, top_digest.clone(), body.clone()),
        Manifest::Index(entries) => {
            let entry = manifest::choose(&entries, want)?;
            let (b, ct) = client.manifest(&entry.digest)?;
            let got = blobs::sha256(&b);
            if got != entry.digest {
                bail!("the registry sent a manifest whose digest is {got}, not the {} the index lists", entry.digest);
            }
            match manifest::parse(&b, &ct)? {
                Manifest::Image(m) => (m, got, b),
                Manifest::Index(_) => bail!("an index inside an index is not supported"),
            }
        }
    };
    blobs::write_bytes(root, &top_digest, &body)?;
    blobs::write_bytes(root, &manifest_digest, &manifest_body)?;

    // 2. The config, which names the uncompressed layers.
    let config_desc = &image_manifest.config;
    let config_path = match blobs::blob_path(root, &config_desc.digest) {
        p if p.exists() => p,
        _ => {
            let mut stream = client.blob(&config_desc.digest)?;
            blobs::write_verified(
                root,
                &config_desc.digest,
                Some(config_desc.size),
                &mut stream.reader,
                &mut |_| {},
            )?
        }
    };
    let config = oci_spec::image::ImageConfiguration::from_file(&config_path)
        .context("parse the image config")?;
    let diff_ids = config.rootfs().diff_ids().clone();
    if diff_ids.len() != image_manifest.layers.len() {
        bail!(
            "the manifest has {} layers but the config names {}",
            image_manifest.layers.len(),
            diff_ids.len()
        );
    }
    let chains = chain_ids(&diff_ids);

    // 3. The layers, a few at a time.
    let jobs: Vec<(&Descriptor, &String, &String)> = image_manifest
        .layers
        .iter()
        .zip(diff_ids.iter())
        .zip(chains.iter())
        .map(|((l, d), c)| (l, d, c))
        .collect();
    let results = fetch_layers(store, client, &jobs, progress)?;

    let layers = jobs
        .iter()
        .zip(results)
        .map(|((l, d, c), u)| LayerRecord {
            digest: l.digest.clone(),
            media_type: l.media_type.clone(),
            size: l.size,
            diff_id: (*d).clone(),
            chain_id: (*c).clone(),
            unpacked_size: u.size,
        })
        .collect();
    progress.status(&format!("Digest: {top_digest}"));
    let platform = format!(
        "{}/{}{}",
        config.os(),
        config.architecture(),
        config
            .variant()
            .as_ref()
            .map(|v| format!("/{v}"))
            .unwrap_or_default()
    );
    let record = ImageRecord {
        id: config_desc.digest.clone(),
        repo_tags: r
            .tag
            .as_ref()
            .map(|_| r.tagged().unwrap_or_default())
            .into_iter()
            .collect(),
        repo_digests: vec![format!("{}@{top_digest}", r.name())],
        manifest_digest,
        manifest_media_type: image_manifest.media_type.clone(),
        config_digest: config_desc.digest.clone(),
        layers,
        created: config.created().clone(),
        platform,
        added: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let record = Records::update(root, |recs| Ok(recs.insert(record)))?;
    progress.status(&format!("Status: Downloaded image for {r}"));
    Ok(record)
}

/// Run the layer jobs on `WORKERS` scoped threads; the first error wins
/// and stops the others from starting new layers.
fn fetch_layers(
    store: &Store,
    client: &Client,
    jobs: &[(&Descriptor, &String, &String)],
    progress: &dyn Progress,
) -> anyhow::Result<Vec<Unpacked>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Unpacked>>> = Mutex::new(vec![None; jobs.len()]);
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..WORKERS.min(jobs.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= jobs.len() || failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                    return;
                }
                let (desc, diff_id, chain) = jobs[i];
                match ensure_layer(store, client, desc, diff_id, chain, progress) {
                    Ok(u) => {
                        if let Ok(mut r) = results.lock() {
                            r[i] = Some(u);
                        }
                    }
                    Err(e) => {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a layer worker panicked"))?
        .into_iter()
        .map(|u| u.context("a layer was not fetched"))
        .collect()
}

/// Make `layers/<chain>` exist: download the blob if needed, unpack into
/// a temp dir, check the diff id, rename into place. The layer lock makes
/// a concurrent pull of the same layer wait and then reuse our work.
fn ensure_layer(
    store: &Store,
    client: &Client,
    desc: &Descriptor,
    diff_id: &str,
    chain: &str,
    progress: &dyn Progress,
) -> anyhow::Result<Unpacked> {
    let root = store.root();
    let dir = store.layer_dir(chain);
    let meta_path = dir.with_extension("json");
    let _lock = blobs::lock(
        root,
        &format!("layer-{}", crate::reference::digest_hex(chain)),
    )?;
    if dir.is_dir() {
        progress.layer_end(&desc.digest, "Already exists");
        return Ok(read_meta(&meta_path, diff_id));
    }
    let blob = blobs::blob_path(root, &desc.digest);
    if !blob.exists() {
        progress.layer_begin(&desc.digest, desc.size);
        let mut stream = client
            .blob(&desc.digest)
            .with_context(|| format!("layer {}", short(&desc.digest)))?;
        blobs::write_verified(
            root,
            &desc.digest,
            Some(desc.size),
            &mut stream.reader,
            &mut |n| progress.layer_bytes(&desc.digest, n),
        )?;
    }
    let tmp = tempfile::Builder::new()
        .prefix(&blobs::tmp_prefix())
        .tempdir_in(root.join("layers"))
        .context("create a temp dir for a layer")?
        .keep();
    let result = unpack_checked(store, &blob, &tmp, diff_id, &meta_path);
    let unpacked = match result {
        Ok(u) => u,
        Err(e) => {
            let _ = helper::remove_tree(&store.owners, &tmp);
            return Err(e.context(format!("layer {}", short(&desc.digest))));
        }
    };
    if let Err(e) = fs::rename(&tmp, &dir) {
        // Someone else made it first (a burrow without our lock cannot
        // exist, but be safe): theirs is as good as ours.
        let _ = helper::remove_tree(&store.owners, &tmp);
        if !dir.is_dir() {
            return Err(e).context(format!("store layer {}", short(&desc.digest)));
        }
    }
    progress.layer_end(&desc.digest, "Pull complete");
    Ok(unpacked)
}

fn unpack_checked(
    store: &Store,
    blob: &std::path::Path,
    tmp: &std::path::Path,
    diff_id: &str,
    meta_path: &std::path::Path,
) -> anyhow::Result<Unpacked> {
    use std::os::unix::fs::PermissionsExt;
    // A layer without a "./" entry gets docker's root dir mode.
    fs::set_permissions(tmp, fs::Permissions::from_mode(0o755))?;
    let unpacked = helper::unpack_layer(&store.owners, blob, tmp)?;
    if unpacked.diff_id != diff_id {
        bail!(
            "its content ({}) does not match the diff id in the image config ({diff_id})",
            unpacked.diff_id
        );
    }
    // The meta file goes first: a layer dir never exists without it.
    let mut f = tempfile::Builder::new()
        .prefix(&blobs::tmp_prefix())
        .tempfile_in(store.root().join("layers"))?;
    serde_json::to_writer(&mut f, &unpacked)?;
    f.persist(meta_path)
        .map_err(|e| e.error)
        .context("write layer metadata")?;
    Ok(unpacked)
}

fn read_meta(path: &std::path::Path, diff_id: &str) -> Unpacked {
    fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Unpacked {
            diff_id: diff_id.to_string(),
            size: 0,
        })
}
