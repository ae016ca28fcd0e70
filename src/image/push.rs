//! `push`: an image's blobs and manifest to a registry. Blobs the
//! registry has are skipped (HEAD), blobs it has in another repository
//! we know of are mounted, the rest upload a few at a time; the manifest
//! goes last, so the tag never names an image the registry lacks parts of.

use std::io::Write;
use std::sync::Mutex;

use anyhow::{bail, Context};

use super::blobs::short;
use super::records::ImageRecord;
use super::Store;
use crate::reference::Reference;
use crate::registry::push::Sent;
use crate::registry::{manifest, Client, ClientOptions};

/// Uploads at once (Docker's default is 5; two cores share this machine).
const CONCURRENT: usize = 4;

/// Push the image `name` names (a tag of it) to the registry in its name;
/// progress lines go to `out` as Docker prints them.
pub fn push(
    store: &Store,
    name: &str,
    opts: &ClientOptions,
    out: &Mutex<dyn Write + Send>,
) -> anyhow::Result<()> {
    let r = Reference::parse(name)?;
    if r.digest.is_some() {
        bail!(
            "push a tag, not a digest ({})",
            crate::text::escape_control(name)
        );
    }
    let tagged = r.tagged().context("a tag is needed")?;
    let image = store
        .lookup(&tagged)?
        .ok_or_else(|| super::no_such_image(name))?;
    if image.manifest_media_type == manifest::OCI_INDEX
        || image.manifest_media_type == manifest::DOCKER_LIST
    {
        bail!(
            "{}: an index cannot be pushed; push a single-platform image",
            crate::text::escape_control(name)
        );
    }
    let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
    let say = |line: String| {
        if let Ok(mut o) = out.lock() {
            let _ = writeln!(o, "{line}");
        }
    };
    say(format!("The push refers to repository [{}]", r.name()));
    let client = Client::new(&r, opts)?;
    let others = store.images()?;
    // Layers top-most first as Docker lists them, then the config.
    let mut blobs: Vec<(String, u64, bool)> = image
        .layers
        .iter()
        .rev()
        .map(|l| (l.digest.clone(), l.size, true))
        .collect();
    let config_path = store.blob_path(&image.config_digest)?;
    let config_size = std::fs::metadata(&config_path)
        .with_context(|| {
            format!(
                "blob {} is missing from the store",
                short(&image.config_digest)
            )
        })?
        .len();
    blobs.push((image.config_digest.clone(), config_size, false));
    for (d, _, _) in &blobs {
        if !store.blob_path(d)?.exists() {
            bail!(
                "layer {} of {} is not in the store (an image whose blobs were not kept cannot be pushed)",
                short(d),
                crate::text::escape_control(name)
            );
        }
    }
    let queue = Mutex::new(blobs.into_iter());
    let failed: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..CONCURRENT {
            s.spawn(|| loop {
                if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                    return;
                }
                let Some((digest, size, layer)) = queue.lock().ok().and_then(|mut q| q.next())
                else {
                    return;
                };
                let from = mount_source(&others, &digest, &r);
                match send_blob(store, &client, &digest, size, from.as_deref()) {
                    Ok(sent) if layer => say(format!(
                        "{}: {}",
                        short_id(&digest),
                        match sent {
                            Sent::Exists => "Layer already exists".to_string(),
                            Sent::Mounted =>
                                format!("Mounted from {}", from.as_deref().unwrap_or("")),
                            Sent::Pushed => "Pushed".to_string(),
                        }
                    )),
                    Ok(_) => {}
                    Err(e) => {
                        if let Ok(mut f) = failed.lock() {
                            f.get_or_insert(
                                e.context(format!("push {}", crate::text::escape_control(name))),
                            );
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    let body = store.read_blob(&image.manifest_digest)?;
    client
        .put_manifest(&tag, &image.manifest_media_type, &body)
        .with_context(|| format!("push {}", crate::text::escape_control(name)))?;
    say(format!(
        "{tag}: digest: {} size: {}",
        image.manifest_digest,
        body.len()
    ));
    Ok(())
}

fn send_blob(
    store: &Store,
    client: &Client,
    digest: &str,
    size: u64,
    from: Option<&str>,
) -> anyhow::Result<Sent> {
    crate::interrupt::check()?;
    if client.has_blob(digest)? {
        return Ok(Sent::Exists);
    }
    let path = store.blob_path(digest)?;
    let open = || -> anyhow::Result<Box<dyn std::io::Read + Send>> {
        let f =
            std::fs::File::open(&path).with_context(|| format!("open blob {}", short(digest)))?;
        Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, f)))
    };
    client.put_blob(digest, size, from, &open)
}

/// Another repository of the same registry that an image holding the
/// blob came from or is tagged in: the registry can mount it from there.
fn mount_source(images: &[ImageRecord], digest: &str, to: &Reference) -> Option<String> {
    images
        .iter()
        .filter(|i| i.config_digest == digest || i.layers.iter().any(|l| l.digest == digest))
        .flat_map(|i| {
            i.repo_digests
                .iter()
                .filter_map(|d| d.rsplit_once('@').map(|(n, _)| n))
                .chain(i.repo_tags.iter().map(|t| t.as_str()))
        })
        .filter_map(|n| Reference::parse(n).ok())
        .find(|r| r.registry == to.registry && r.repository != to.repository)
        .map(|r| r.repository)
}

/// Docker's 12-digit layer name.
fn short_id(digest: &str) -> String {
    crate::reference::shown_hex(digest)
        .chars()
        .take(12)
        .collect()
}
