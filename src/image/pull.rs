//! Pull: manifest (choosing a platform from an index), config, then the
//! layers, each downloaded and unpacked on a few worker threads. All
//! threads are joined before `pull` returns.

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context};

use super::blobs::{self, short};
use super::helper::{self, LayerInput};
use super::progress::{self, Progress};
use super::records::{ImageRecord, LayerRecord};
use super::unpack::Unpacked;
use super::{chain_ids, Store, Vanished};
use crate::reference::Reference;
use crate::registry::limits::{MAX_CONFIG, MAX_MANIFEST};
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
    /// Where progress goes (stderr unless `burrow pull` asks for stdout).
    pub output: progress::Output,
}

/// Pull `reference` into the store at `paths`, with progress on stderr.
pub fn pull(
    paths: &crate::paths::Paths,
    reference: &str,
    opts: &PullOptions,
) -> anyhow::Result<ImageRecord> {
    let store = Store::open(paths)?;
    let progress = progress::for_terminal(opts.quiet, opts.output);
    // Ctrl-C stops the pull and removes what it half-wrote.
    crate::interrupt::during(|| pull_with(&store, reference, opts, progress.as_ref()))
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
    let opts = ClientOptions {
        insecure: opts.insecure,
        conf: crate::registry::config::RegistriesConf::load()?,
    };
    // Mirrors first, in order, then the registry itself.
    let mut sources: Vec<Reference> = opts
        .conf
        .mirrors_of(&r.registry)
        .iter()
        .map(|m| Reference {
            registry: m.clone(),
            ..r.clone()
        })
        .collect();
    sources.push(r.clone());
    let mut failures = Vec::new();
    for source in &sources {
        let client = Client::new(source, &opts)?;
        let mut written = Vec::new();
        let first = pull_ref(store, &r, &client, &want, progress, &mut written);
        // A concurrent rmi may delete shared layers between our unpacking
        // and our record; then everything missing is fetched again, once.
        let result = match first {
            Err(e) if e.downcast_ref::<Vanished>().is_some() => {
                pull_ref(store, &r, &client, &want, progress, &mut written)
            }
            other => other,
        };
        if result.is_err() {
            // The manifests and config of a pull that failed go too.
            store.drop_unreferenced(&written);
        }
        match result {
            Ok(record) => return Ok(record),
            Err(e) => {
                if source.registry != r.registry {
                    tracing::warn!(
                        "mirror {} failed ({}); trying the next source",
                        source.registry,
                        crate::error::one_line(&e)
                    );
                }
                failures.push(e);
            }
        }
    }
    // The registry's own answer is the one that matters.
    let last = failures
        .pop()
        .unwrap_or_else(|| anyhow::anyhow!("no source to pull from"));
    Err(last.context(format!("pull {r}")))
}

fn pull_ref(
    store: &Store,
    r: &Reference,
    client: &Client,
    want: &Platform,
    progress: &dyn Progress,
    written: &mut Vec<String>,
) -> anyhow::Result<ImageRecord> {
    let root = store.root();
    progress.status(&format!(
        "{}: Pulling from {}",
        r.tag.as_deref().unwrap_or(r.manifest_ref()),
        r.name()
    ));

    // 1. The manifest, through the index when there is one.
    let Manifests {
        top_digest,
        top_body: body,
        image: image_manifest,
        digest: manifest_digest,
        body: manifest_body,
    } = fetch_manifest(client, r, want)?;
    written.extend([top_digest.clone(), manifest_digest.clone()]);
    blobs::write_bytes(root, &top_digest, &body)?;
    blobs::write_bytes(root, &manifest_digest, &manifest_body)?;

    // 2. The config, which names the uncompressed layers.
    let config_desc = &image_manifest.config;
    written.push(config_desc.digest.clone());
    let config_path = fetch_config(root, client, config_desc)?;
    let config_bytes = fs::read(&config_path).context("read the image config")?;
    let config = super::parse_config(&config_bytes)?;
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
    // Docker's words: up to date when this name already gave this image.
    let had = store.lookup(&r.to_string()).ok().flatten();
    let up_to_date =
        had.is_some_and(|h| h.id == record.id && h.repo_digests == record.repo_digests);
    let record = store.insert_checked(record)?;
    progress.status(&if up_to_date {
        format!("Status: Image is up to date for {r}")
    } else {
        format!("Status: Downloaded newer image for {r}")
    });
    Ok(record)
}

/// The manifests a reference names: the one it points at (maybe an index)
/// and the image manifest chosen for this platform, each with its digest
/// checked.
struct Manifests {
    top_digest: String,
    top_body: Vec<u8>,
    image: manifest::ImageManifest,
    digest: String,
    body: Vec<u8>,
}

/// Fetch the manifest `r` names and, through it when it is an index, the
/// one for `want`.
fn fetch_manifest(client: &Client, r: &Reference, want: &Platform) -> anyhow::Result<Manifests> {
    let (body, content_type) = client.manifest(r.manifest_ref())?;
    let top_digest = blobs::sha256(&body);
    if let Some(d) = &r.digest {
        if &top_digest != d {
            bail!(
                "the registry sent a manifest whose digest is {top_digest}, not the {d} asked for"
            );
        }
    }
    let (image, digest, image_body) = match manifest::parse(&body, &content_type)? {
        Manifest::Image(m) => (m, top_digest.clone(), body.clone()),
        Manifest::Index(entries) => {
            let entry = manifest::choose(&entries, want)?;
            if entry.size > MAX_MANIFEST {
                bail!(
                    "the index lists a manifest of {} bytes, more than the {MAX_MANIFEST} a manifest may have",
                    entry.size
                );
            }
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
    Ok(Manifests {
        top_digest,
        top_body: body,
        image,
        digest,
        body: image_body,
    })
}

/// The image config's blob, fetched (and verified) unless the store has it.
fn fetch_config(
    root: &std::path::Path,
    client: &Client,
    config_desc: &Descriptor,
) -> anyhow::Result<std::path::PathBuf> {
    Ok(match blobs::blob_path(root, &config_desc.digest)? {
        p if p.exists() => p,
        _ => {
            // Refused before a byte is fetched: a config is a small JSON file.
            if config_desc.size > MAX_CONFIG {
                bail!(
                    "config {} declares {} bytes, more than the {MAX_CONFIG} a config may have",
                    short(&config_desc.digest),
                    config_desc.size
                );
            }
            let mut stream = client.blob(&config_desc.digest, config_desc.size)?;
            blobs::write_verified(
                root,
                &config_desc.digest,
                Some(config_desc.size),
                &mut stream.reader,
                &mut |_| {},
            )
            .with_context(|| format!("config {}", short(&config_desc.digest)))?
        }
    })
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

/// Make `layers/<chain>` exist for one layer of a pull. A layer not in
/// the store is unpacked as it downloads.
fn ensure_layer(
    store: &Store,
    client: &Client,
    desc: &Descriptor,
    diff_id: &str,
    chain: &str,
    progress: &dyn Progress,
) -> anyhow::Result<Unpacked> {
    let root = store.root();
    let counted = |n: u64| progress.layer_bytes(&desc.digest, n);
    let open = || {
        progress.layer_begin(&desc.digest, desc.size);
        // A layer that cannot fit is refused before it is fetched.
        if let Some(free) = store.free_space().filter(|f| desc.size > *f) {
            bail!(
                "it is {} bytes, more than the {free} bytes free on the store's file system",
                desc.size
            );
        }
        let stream = client.blob(&desc.digest, desc.size)?;
        blobs::TeeBlob::new(root, &desc.digest, desc.size, stream.reader, &counted)
    };
    let (unpacked, fresh) = install_layer(
        store,
        &desc.digest,
        diff_id,
        chain,
        Fetch::Stream(Box::new(open)),
    )
    .with_context(|| format!("layer {}", short(&desc.digest)))?;
    let status = if fresh {
        "Pull complete"
    } else {
        "Already exists"
    };
    progress.layer_end(&desc.digest, status);
    // Said once, when the layer is unpacked, not on every pull that finds it.
    if let Some(w) = devices_warning(&desc.digest, &unpacked).filter(|_| fresh) {
        progress.warn(&w);
    }
    Ok(unpacked)
}

/// How `install_layer` gets a blob the store lacks.
pub(super) enum Fetch<'a> {
    /// It must be in the store already.
    Stored,
    /// Open a download; it is unpacked as it arrives and stored as it passes.
    Stream(Box<dyn FnOnce() -> anyhow::Result<blobs::TeeBlob<'a>> + 'a>),
}

/// Make `layers/<chain>` exist: unpack the blob (from the store, or as it
/// downloads) into a temp dir, check the blob's digest and the diff id,
/// write the meta file, rename into place. The layer lock makes a
/// concurrent pull of the same layer wait and then reuse our work. `true`
/// when this call unpacked it.
pub(super) fn install_layer(
    store: &Store,
    digest: &str,
    diff_id: &str,
    chain: &str,
    fetch: Fetch,
) -> anyhow::Result<(Unpacked, bool)> {
    let root = store.root();
    let (dir, meta_path, _lock) = locked_layer(store, chain)?;
    if dir.is_dir() {
        return Ok((read_meta(&meta_path, diff_id), false));
    }
    let tmp = tempfile::Builder::new()
        .prefix(&crate::fsutil::tmp_prefix())
        .tempdir_in(root.join("layers"))
        .context("create a temp dir for a layer")?
        .keep();
    let unpacked = match unpack_verified(store, digest, diff_id, fetch, &tmp, &meta_path) {
        Ok(u) => u,
        Err(e) => {
            let _ = helper::remove_tree(&store.owners, &tmp);
            return Err(e);
        }
    };
    if let Err(e) = fs::rename(&tmp, &dir) {
        // Someone else made it first (a burrow without our lock cannot
        // exist, but be safe): theirs is as good as ours.
        let _ = helper::remove_tree(&store.owners, &tmp);
        if !dir.is_dir() {
            return Err(e).context("store the layer");
        }
    }
    Ok((unpacked, true))
}

/// The dir and meta file of layer `chain`, and the lock that makes one
/// process at a time make them.
fn locked_layer(
    store: &Store,
    chain: &str,
) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf, impl Drop)> {
    let dir = store.layer_dir(chain)?;
    let meta_path = dir.with_extension("json");
    let name = format!("layer-{}", crate::reference::digest_hex(chain)?);
    let lock = blobs::lock(store.root(), &name)?;
    Ok((dir, meta_path, lock))
}

/// Make `layers/<chain>` exist from `tree`, a directory that already
/// holds the layer's files as unpacking its blob would give them (a
/// build's COPY layer, made by us on the store's file system): the meta
/// file written, the tree renamed into place. Writing every file once
/// more from the blob costs a file creation each, and on a busy ext4
/// creations are what a COPY of many files spends its time on. `tree` is
/// left where it was when the layer is there already.
pub(super) fn install_tree(
    store: &Store,
    tree: &std::path::Path,
    unpacked: &Unpacked,
    chain: &str,
) -> anyhow::Result<(Unpacked, bool)> {
    let root = store.root();
    let (dir, meta_path, _lock) = locked_layer(store, chain)?;
    if dir.is_dir() {
        return Ok((read_meta(&meta_path, &unpacked.diff_id), false));
    }
    // The meta file goes first: a layer dir never exists without it.
    let mut f = tempfile::Builder::new()
        .prefix(&crate::fsutil::tmp_prefix())
        .tempfile_in(root.join("layers"))?;
    serde_json::to_writer(&mut f, unpacked)?;
    f.persist(&meta_path)
        .map_err(|e| e.error)
        .context("write layer metadata")?;
    fs::rename(tree, &dir).context("store the layer")?;
    Ok((unpacked.clone(), true))
}

fn unpack_verified(
    store: &Store,
    digest: &str,
    diff_id: &str,
    fetch: Fetch,
    tmp: &std::path::Path,
    meta_path: &std::path::Path,
) -> anyhow::Result<Unpacked> {
    use std::os::unix::fs::PermissionsExt;
    // A layer without a "./" entry gets docker's root dir mode.
    fs::set_permissions(tmp, fs::Permissions::from_mode(0o755))?;
    let blob = store.blob_path(digest)?;
    let unpacked = if blob.exists() {
        helper::unpack_layer(&store.owners, LayerInput::File(&blob), tmp)?
    } else {
        let Fetch::Stream(open) = fetch else {
            bail!("blob {} vanished from the store", short(digest));
        };
        let mut tee = open()?;
        let result = helper::unpack_layer(&store.owners, LayerInput::Stream(&mut tee), tmp);
        // A blob that is not what the manifest says (cut short, wrong
        // bytes) is the cause of whatever the unpacker saw; the tree is
        // kept only if the blob checks out.
        tee.verify()?;
        let unpacked = result?;
        tee.persist(store.root())?;
        unpacked
    };
    if unpacked.diff_id != diff_id {
        bail!(
            "its content ({}) does not match the diff id in the image config ({diff_id})",
            unpacked.diff_id
        );
    }
    // The meta file goes first: a layer dir never exists without it.
    let mut f = tempfile::Builder::new()
        .prefix(&crate::fsutil::tmp_prefix())
        .tempfile_in(store.root().join("layers"))?;
    serde_json::to_writer(&mut f, &unpacked)?;
    f.persist(meta_path)
        .map_err(|e| e.error)
        .context("write layer metadata")?;
    Ok(unpacked)
}

/// The one warning for a layer's device nodes, or None.
pub(super) fn devices_warning(digest: &str, unpacked: &Unpacked) -> Option<String> {
    let first = unpacked.skipped_devices.first()?;
    Some(format!(
        "layer {}: left out {} device node(s) ({}{}); an unprivileged user cannot create them, and containers get their own /dev",
        short(digest),
        unpacked.skipped_devices.len(),
        crate::text::escape_control(first),
        if unpacked.skipped_devices.len() > 1 { ", ..." } else { "" }
    ))
}

fn read_meta(path: &std::path::Path, diff_id: &str) -> Unpacked {
    fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Unpacked {
            diff_id: diff_id.to_string(),
            size: 0,
            skipped_devices: Vec::new(),
        })
}
