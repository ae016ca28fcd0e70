//! `burrow commit`, `diff` and `export`: a container's changes as a new
//! image, as a list, and its whole root as a tar.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};

use crate::container::files::Container;
use crate::image::commit::{self, NewImage, NewLayer};
use crate::image::layer_tar::TarOptions;
use crate::image::Store;
use crate::paths::Paths;
use crate::text::escape_control;

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Apply a Dockerfile instruction to the image's config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
    /// ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)
    #[arg(long, short = 'c', value_name = "CHANGE")]
    pub change: Vec<String>,
    /// Commit message (the history entry's comment)
    #[arg(long, short = 'm', value_name = "MSG")]
    pub message: Option<String>,
    /// Author (e.g. "Jane Doe <jane@example.com>")
    #[arg(long, short = 'a', value_name = "AUTHOR")]
    pub author: Option<String>,
    /// Freeze a running container while its changes are read (when it has a cgroup)
    #[arg(long, short = 'p', default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub pause: bool,
    /// The container (name, id or unique id prefix)
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Name the new image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The container (name, id or unique id prefix)
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to this file instead of standard output
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The container (name, id or unique id prefix)
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub fn commit(paths: &Paths, args: &CommitArgs) -> anyhow::Result<i32> {
    // Bad input fails before anything is written.
    if let Some(r) = &args.reference {
        let parsed = crate::reference::Reference::parse(r)?;
        if parsed.digest.is_some() {
            bail!(
                "cannot name an image with a digest ({}); give a name:tag",
                escape_control(r)
            );
        }
    }
    let mut changes = serde_json::Map::new();
    for c in &args.change {
        commit::apply_change(&mut changes, c)?;
    }
    let epoch = TarOptions::epoch_from_env()?;
    let store = Store::open(paths)?;
    let c = Container::find(paths.root(), &args.container)?;
    let base = store.lookup(&c.record.image_id)?.ok_or_else(|| {
        anyhow::anyhow!(
            "the image of container {} ({}) is no longer in the store",
            escape_control(&c.record.name),
            escape_control(&c.record.image)
        )
    })?;
    let mut config: Value = serde_json::from_slice(&store.read_blob(&base.config_digest)?)
        .context("the base image's config is not JSON")?;

    let layer = {
        let _frozen = args.pause.then(|| Frozen::new(&c)).flatten();
        c.store_layer(&store, epoch)?
    };
    let result = (|| {
        let obj = config
            .as_object_mut()
            .context("the base config is not an object")?;
        let cfg = obj.entry("config").or_insert_with(|| json!({}));
        if cfg.is_null() {
            *cfg = json!({});
        }
        let cfg = cfg
            .as_object_mut()
            .context("the base config is not an object")?;
        container_settings(cfg, &c);
        for c in &args.change {
            commit::apply_change(cfg, c)?;
        }
        commit::store_image(
            &store,
            NewImage {
                base: Some(&base),
                config: config.clone(),
                layers: vec![NewLayer {
                    digests: layer.clone(),
                    created_by: c.record.config.process.args.join(" "),
                    empty: false,
                    tree: None,
                }],
                created: commit::created_now(epoch),
                author: args.author.clone(),
                comment: args.message.clone(),
                tag: args.reference.clone(),
            },
        )
    })();
    match result {
        Ok(image) => {
            println!("{}", image.id);
            Ok(0)
        }
        Err(e) => {
            store_drop(&store, &layer.digest);
            Err(e)
        }
    }
}

fn store_drop(store: &Store, digest: &str) {
    store.drop_unreferenced(&[digest.to_string()]);
}

/// What the container was run with goes into the image, as Docker's
/// commit keeps it: its command (after the image's entrypoint) and the
/// environment it was given.
fn container_settings(cfg: &mut serde_json::Map<String, Value>, c: &Container) {
    let argv = &c.record.config.process.args;
    let entry: Vec<String> = cfg
        .get("Entrypoint")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    if argv.starts_with(&entry) && argv.len() > entry.len() {
        cfg.insert("Cmd".into(), json!(argv[entry.len()..]));
    }
    let base: Vec<String> = cfg
        .get("Env")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let key = |e: &str| e.split('=').next().unwrap_or("").to_string();
    let base_keys: Vec<String> = base.iter().map(|e| key(e)).collect();
    let mut env = base.clone();
    for e in &c.record.config.process.env {
        let k = key(e);
        // Set by the runtime, not by the user.
        if ["HOSTNAME", "HOME", "TERM"].contains(&k.as_str()) && !base_keys.contains(&k) {
            continue;
        }
        env.retain(|x| key(x) != k);
        env.push(e.clone());
    }
    // Keep the base's order where nothing changed.
    if env.iter().collect::<std::collections::HashSet<_>>()
        != base.iter().collect::<std::collections::HashSet<_>>()
    {
        cfg.insert("Env".into(), json!(env));
    }
}

/// A running container frozen for the commit, thawed when dropped.
struct Frozen(PathBuf);

impl Frozen {
    fn new(c: &Container) -> Option<Frozen> {
        use crate::container::state::State;
        if State::of(&c.record) != State::Running {
            return None;
        }
        let dir = c.record.cgroup.clone()?;
        crate::container::cgroup::set_frozen(&dir, true).ok()?;
        Some(Frozen(dir))
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = crate::container::cgroup::set_frozen(&self.0, false);
    }
}

pub fn diff(paths: &Paths, args: &DiffArgs) -> anyhow::Result<i32> {
    let c = Container::find(paths.root(), &args.container)?;
    let mut out = std::io::stdout().lock();
    for ch in c.changes()? {
        writeln!(out, "{} {}", ch.kind, escape_control(&ch.path))?;
    }
    Ok(0)
}

pub fn export(paths: &Paths, args: &ExportArgs) -> anyhow::Result<i32> {
    let c = Container::find(paths.root(), &args.container)?;
    match &args.output {
        Some(path) => to_file(path, |tmp| c.tar("/", false, tmp)),
        None => {
            if std::io::stdout().is_terminal() {
                bail!("refusing to write an archive to a terminal; use -o FILE or redirect the output");
            }
            via_temp(paths, |tmp| c.tar("/", false, tmp))
        }
    }?;
    Ok(0)
}

/// Write `path` whole or not at all: a temp file beside it, renamed.
pub fn to_file(path: &Path, write: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".burrow-export-")
        .tempfile_in(dir)
        .with_context(|| format!("create a file in {}", dir.display()))?;
    write(tmp.path())?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// Let `write` fill a temp file in the store, then copy it to stdout.
pub fn via_temp(
    paths: &Paths,
    write: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix(&crate::fsutil::tmp_prefix())
        .tempfile_in(paths.ensure_root()?)
        .context("create a temp file in the store")?;
    write(tmp.path())?;
    let mut f = std::fs::File::open(tmp.path())?;
    let mut out = std::io::stdout().lock();
    std::io::copy(&mut f, &mut out).context("write to standard output")?;
    out.flush().context("write to standard output")?;
    Ok(())
}
