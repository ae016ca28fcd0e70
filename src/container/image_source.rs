//! The one place `run`/`create` reach the image store: find the image
//! (pulling it when missing, as Docker does) and give back what the
//! launcher needs: lower dirs (top-most first) and the config.

use std::path::PathBuf;

use anyhow::Context;

use crate::image::{self, PullOptions, Store};
use crate::paths::Paths;

pub struct ResolvedImage {
    pub id: String,
    pub lower_dirs: Vec<PathBuf>,
    pub config: oci_spec::image::ImageConfiguration,
    /// Docker's `Healthcheck`, which the OCI config type leaves out.
    pub healthcheck: Option<super::health::HealthConfig>,
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
    // Parsed from the bytes (serde_json reading a bare File does one
    // read(2) per byte), as the store parses it: `history` may be missing.
    let bytes = store.read_blob(&rec.config_digest)?;
    let config = crate::image::parse_config(&bytes)
        .with_context(|| format!("parse the config of image {}", rec.short_id()))?;
    let healthcheck = super::health::HealthConfig::from_image_config(&bytes);
    Ok(ResolvedImage {
        lower_dirs: store.layer_dirs(&rec)?,
        config,
        healthcheck,
        id: rec.id,
    })
}
