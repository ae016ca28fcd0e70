//! The one place `run`/`create` reach the image store: find the image
//! (pulling it when missing, as Docker does) and give back what the
//! launcher needs: lower dirs (top-most first) and the config.

use std::path::PathBuf;

use crate::image::{self, PullOptions, Store};
use crate::paths::Paths;

pub struct ResolvedImage {
    pub id: String,
    pub lower_dirs: Vec<PathBuf>,
    pub config: oci_spec::image::ImageConfiguration,
}

pub fn resolve(paths: &Paths, reference: &str) -> anyhow::Result<ResolvedImage> {
    let store = Store::open(paths)?;
    let rec = match store.lookup(reference)? {
        Some(rec) => rec,
        None => {
            eprintln!(
                "Unable to find image '{}' locally",
                crate::text::escape_control(reference)
            );
            image::pull(paths, reference, &PullOptions::default())?
        }
    };
    Ok(ResolvedImage {
        lower_dirs: store.layer_dirs(&rec)?,
        config: store.config(&rec)?,
        id: rec.id,
    })
}
