//! `burrow inspect`: containers, images and volumes by name or id, as
//! Docker's top-level `inspect` shows them: a JSON array, or one line per
//! object through `-f '{{.State.Pid}}'`. A name is looked up as a
//! container first, then as an image, then a volume, unless `--type` says
//! which.

use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::container::record;
use crate::error::Coded;
use crate::image::Store;
use crate::paths::Paths;
use crate::text::escape_control;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format each object with a Go template ('{{.State.Pid}}', '{{json .Config}}')
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Look only for this kind of object
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: Option<Kind>,
    /// Containers, images or volumes (names, ids or unique id prefixes)
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Container,
    Image,
    Volume,
}

pub fn run(paths: &Paths, args: &InspectArgs) -> anyhow::Result<i32> {
    let mut store = None;
    let mut found = Vec::new();
    let mut code = 0;
    for name in &args.names {
        match find(paths, &mut store, name, args.kind) {
            Ok(v) => found.push(v),
            Err(e) => {
                eprintln!("burrow: {}", crate::error::one_line(&e));
                code = code.max(crate::error::exit_code(&e));
            }
        }
    }
    super::format::print_inspect(&found, args.format.as_deref())?;
    Ok(code)
}

/// The object's inspect JSON; "No such object" (exit 1) when neither kind
/// has it, as Docker says.
fn find(
    paths: &Paths,
    store: &mut Option<Store>,
    name: &str,
    kind: Option<Kind>,
) -> anyhow::Result<Value> {
    if kind.is_none() || kind == Some(Kind::Container) {
        if let Some(v) = container(paths, name)? {
            return Ok(v);
        }
    }
    if kind.is_none() || kind == Some(Kind::Image) {
        if store.is_none() {
            *store = Some(Store::open(paths)?);
        }
        let store = store.as_ref().expect("opened above");
        // A name that is no valid reference is no image either.
        if let Ok(Some(image)) = store.lookup(name) {
            return super::image::docker_json(store, &image);
        }
    }
    if kind.is_none() || kind == Some(Kind::Volume) {
        if let Some(v) = crate::volume::get(paths.root(), name)? {
            return Ok(v.inspect_json());
        }
    }
    let what = match kind {
        None => "object",
        Some(Kind::Container) => "container",
        Some(Kind::Image) => "image",
        Some(Kind::Volume) => "volume",
    };
    Err(Coded::new(1, format!("No such {what}: {}", escape_control(name))).into())
}

/// A container's inspect JSON, None when no container has that name, id
/// or id prefix (an ambiguous prefix is an error).
fn container(paths: &Paths, name: &str) -> anyhow::Result<Option<Value>> {
    let root = paths.root();
    let known = record::all(root)
        .iter()
        .any(|r| r.name == name || (!name.is_empty() && r.id.starts_with(name)));
    if !known {
        return Ok(None);
    }
    let r = record::find(root, name).map_err(crate::container::control::not_found)?;
    Ok(Some(super::containers::inspect_json(root, &r)))
}
