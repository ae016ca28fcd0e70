//! `burrow rmi`, `tag`, and the `image` group (`inspect`, `ls`, `rm`,
//! `pull`, `tag`, `prune`).

use clap::{Args, Subcommand};

use super::images::{self, ImagesArgs};
use super::pull::{self, PullArgs};
use crate::image::remove::{self, Removed};
use crate::image::Store;
use crate::paths::Paths;
use crate::text::escape_control;

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Images to remove, by name or id prefix
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,

    /// Remove an image even when several tags name it
    #[arg(long, short = 'f')]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image to tag (name or id prefix)
    #[arg(value_name = "SOURCE_IMAGE")]
    pub source: String,
    /// The new name[:tag]
    #[arg(value_name = "TARGET_IMAGE")]
    pub target: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format each image with a Go template ('{{.Os}}/{{.Architecture}}', '{{json .Config}}')
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Images to inspect, by name or id prefix
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation (burrow never asks; accepted for docker's sake)
    #[arg(long, short = 'f')]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Show an image's record and config as JSON
    Inspect(InspectArgs),
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Remove images
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Pull an image from a registry
    Pull(PullArgs),
    /// Give an image another name
    Tag(TagArgs),
    /// Remove untagged images
    Prune(PruneArgs),
    /// Show the build steps of an image
    History(super::history::HistoryArgs),
    /// Write images to a tar archive
    Save(super::archive::SaveArgs),
    /// Load images from a tar archive
    Load(super::archive::LoadArgs),
    /// Make an image from a root file system tar
    Import(super::archive::ImportArgs),
}

pub fn run_group(paths: &Paths, args: &ImageArgs) -> anyhow::Result<i32> {
    match &args.command {
        ImageCommand::Inspect(a) => inspect(paths, a),
        ImageCommand::Ls(a) => images::run(paths, a),
        ImageCommand::Rm(a) => rmi(paths, a),
        ImageCommand::Pull(a) => pull::run(paths, a),
        ImageCommand::Tag(a) => tag(paths, a),
        ImageCommand::Prune(a) => prune(paths, a),
        ImageCommand::History(a) => super::history::run(paths, a),
        ImageCommand::Save(a) => super::archive::save(paths, a),
        ImageCommand::Load(a) => super::archive::load(paths, a),
        ImageCommand::Import(a) => super::archive::import(paths, a),
    }
}

pub fn rmi(paths: &Paths, args: &RmiArgs) -> anyhow::Result<i32> {
    let store = Store::open(paths)?;
    let in_use = images_in_use(paths);
    let mut failed = None;
    for name in &args.images {
        match remove::remove(&store, name, args.force, &in_use) {
            Ok(removed) => print_removed(&removed),
            Err(e) => {
                // Docker goes on with the others and fails at the end.
                eprintln!("burrow: {}", crate::error::one_line(&e));
                failed = Some(crate::error::exit_code(&e));
            }
        }
    }
    Ok(failed.unwrap_or(0))
}

/// The ids of the images that containers of this store run on.
fn images_in_use(paths: &Paths) -> std::collections::HashSet<String> {
    crate::container::record::all(paths.root())
        .into_iter()
        .map(|r| r.image_id)
        .collect()
}

fn print_removed(removed: &[Removed]) {
    for r in removed {
        match r {
            Removed::Untagged(t) => println!("Untagged: {}", escape_control(t)),
            Removed::Deleted(id) => println!("Deleted: {id}"),
        }
    }
}

pub fn tag(paths: &Paths, args: &TagArgs) -> anyhow::Result<i32> {
    let store = Store::open(paths)?;
    store.tag(&args.source, &args.target)?;
    Ok(0)
}

fn prune(paths: &Paths, _args: &PruneArgs) -> anyhow::Result<i32> {
    let store = Store::open(paths)?;
    let removed = remove::prune_dangling(&store, &images_in_use(paths))?;
    if !removed.is_empty() {
        println!("Deleted Images:");
        print_removed(&removed);
    }
    Ok(0)
}

pub fn inspect(paths: &Paths, args: &InspectArgs) -> anyhow::Result<i32> {
    let store = Store::open(paths)?;
    let mut out = Vec::new();
    let mut failed = None;
    for name in &args.images {
        let found = store
            .lookup(name)
            .and_then(|i| i.ok_or_else(|| crate::image::no_such_image(name)));
        match found.and_then(|image| docker_json(&store, &image)) {
            Ok(v) => out.push(v),
            Err(e) => {
                eprintln!("burrow: {}", crate::error::one_line(&e));
                failed = Some(crate::error::exit_code(&e));
            }
        }
    }
    super::format::print_inspect(&out, args.format.as_deref())?;
    Ok(failed.unwrap_or(0))
}

/// The common fields of `docker image inspect`, in its shape.
pub(super) fn docker_json(
    store: &Store,
    image: &crate::image::ImageRecord,
) -> anyhow::Result<serde_json::Value> {
    let config = store.config(image)?;
    let layer_dirs = store.layer_dirs(image).unwrap_or_default();
    let lower: Vec<String> = layer_dirs.iter().map(|p| p.display().to_string()).collect();
    let history = config.history().clone();
    let comment = history
        .last()
        .and_then(|h| h.comment().clone())
        .unwrap_or_default();
    let mut v = serde_json::json!({
        "Id": image.id,
        "RepoTags": image.repo_tags,
        "RepoDigests": image.repo_digests,
        "Parent": "",
        "Comment": comment,
        "Created": image.created.clone().unwrap_or_default(),
        "DockerVersion": "",
        "Author": config.author().clone().unwrap_or_default(),
        "Config": config.config().as_ref().map(serde_json::to_value).transpose()?.unwrap_or(serde_json::Value::Null),
        "Architecture": config.architecture().to_string(),
        "Os": config.os().to_string(),
        "Size": image.size(),
        "GraphDriver": {
            "Name": "overlay",
            "Data": { "LowerDir": lower.join(":") },
        },
        "RootFS": {
            "Type": "layers",
            "Layers": config.rootfs().diff_ids(),
        },
        "Metadata": { "LastTagTime": "0001-01-01T00:00:00Z" },
    });
    if let Some(variant) = config.variant() {
        v["Variant"] = serde_json::json!(variant);
    }
    Ok(v)
}
