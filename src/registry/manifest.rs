//! Manifests and indexes: Docker v2 schema 2 and OCI, and the choice of a
//! platform from a multi-platform index.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1";

/// The Accept header for manifest requests.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
];

const CONFIG_TYPES: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    /// This machine's platform.
    pub fn host() -> Platform {
        let architecture = crate::sys::oci_arch().to_string();
        let variant = match architecture.as_str() {
            "arm64" => Some("v8".to_string()),
            "arm" => Some("v7".to_string()),
            _ => None,
        };
        Platform {
            architecture,
            os: "linux".into(),
            variant,
        }
    }

    /// Parse `os/arch[/variant]` as `--platform` takes it.
    pub fn parse(s: &str) -> anyhow::Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok =
            |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(ok) {
            bail!("invalid platform {s:?} (expected os/arch[/variant], e.g. linux/arm64)");
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: normalise_arch(parts[1]),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }

    /// Whether an index entry serves this platform. A missing variant on
    /// either side matches (arm64 images seldom set v8).
    fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == normalise_arch(&other.architecture)
            && match (&self.variant, &other.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

fn normalise_arch(a: &str) -> String {
    match a.to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        other => other.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// An image manifest: a config and layers, bottom-most layer first.
#[derive(Debug, Clone)]
pub struct ImageManifest {
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone)]
pub enum Manifest {
    Image(ImageManifest),
    Index(Vec<Descriptor>),
}

/// Parse a manifest body. `content_type` is the registry's header (may be
/// empty); the body's own mediaType wins when present.
pub fn parse(body: &[u8], content_type: &str) -> anyhow::Result<Manifest> {
    let raw: Raw = serde_json::from_slice(body).context("manifest is not valid JSON")?;
    let media_type = raw
        .media_type
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| {
            content_type
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        });
    if media_type.starts_with(DOCKER_SCHEMA1) || raw.schema_version == Some(1) {
        bail!("schema 1 manifests are not supported (the image is too old; rebuild or re-push it)");
    }
    let is_index = media_type == OCI_INDEX
        || media_type == DOCKER_LIST
        || (media_type.is_empty() && raw.manifests.is_some());
    let is_image = media_type == OCI_MANIFEST
        || media_type == DOCKER_MANIFEST
        || (media_type.is_empty() && raw.config.is_some());
    if is_index {
        let manifests = raw.manifests.context("index has no manifests")?;
        for m in &manifests {
            check_digest(&m.digest)?;
        }
        return Ok(Manifest::Index(manifests));
    }
    if !is_image {
        bail!("unsupported manifest media type {media_type:?}");
    }
    let config = raw.config.context("manifest has no config")?;
    if !config.media_type.is_empty() && !CONFIG_TYPES.contains(&config.media_type.as_str()) {
        bail!(
            "unsupported config media type {:?} (not a container image?)",
            config.media_type
        );
    }
    check_digest(&config.digest)?;
    let layers = raw.layers.unwrap_or_default();
    for l in &layers {
        if !LAYER_TYPES.contains(&l.media_type.as_str()) {
            bail!("unsupported layer media type {:?}", l.media_type);
        }
        check_digest(&l.digest)?;
    }
    Ok(Manifest::Image(ImageManifest {
        media_type,
        config,
        layers,
    }))
}

/// Digests in manifests become blob file names: checked at parse time.
fn check_digest(d: &str) -> anyhow::Result<()> {
    crate::reference::digest_hex(d).context("the manifest names a bad digest")?;
    Ok(())
}

/// Pick the entry of an index for `want`; the error lists what there is.
pub fn choose<'a>(entries: &'a [Descriptor], want: &Platform) -> anyhow::Result<&'a Descriptor> {
    let image_entries = || {
        entries.iter().filter(|d| {
            d.media_type != OCI_INDEX && d.media_type != DOCKER_LIST && d.platform.is_some()
        })
    };
    let exact = image_entries().find(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.variant == want.variant && want.matches(p))
    });
    if let Some(d) = exact
        .or_else(|| image_entries().find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p))))
    {
        check_digest(&d.digest)?;
        return Ok(d);
    }
    let have: Vec<String> = image_entries()
        .filter_map(|d| d.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .map(|p| p.to_string())
        .collect();
    bail!(
        "no image for platform {want} in the index (it has: {}); pick one with --platform",
        if have.is_empty() {
            "none".into()
        } else {
            have.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn index() -> Vec<Descriptor> {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{D1}","size":1,"platform":{{"architecture":"amd64","os":"linux"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{D2}","size":1,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{D2}","size":1,"platform":{{"architecture":"unknown","os":"unknown"}}}}]}}"#
        );
        match parse(json.as_bytes(), "").unwrap() {
            Manifest::Index(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn picks_the_platform_from_an_index() {
        let idx = index();
        let amd = Platform::parse("linux/amd64").unwrap();
        assert_eq!(choose(&idx, &amd).unwrap().digest, D1);
        let arm = Platform::parse("linux/aarch64").unwrap();
        assert_eq!(choose(&idx, &arm).unwrap().digest, D2);
        let err = choose(&idx, &Platform::parse("linux/s390x").unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux/amd64, linux/arm64/v8"), "{err}");
        assert!(!err.contains("unknown"), "{err}");
    }

    #[test]
    fn parses_docker_schema2() {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}",
            "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{D1}","size":5}},
            "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{D2}","size":7}}]}}"#
        );
        let Manifest::Image(m) = parse(json.as_bytes(), "").unwrap() else {
            panic!()
        };
        assert_eq!(m.config.digest, D1);
        assert_eq!(m.layers[0].size, 7);
    }

    #[test]
    fn refuses_unknown_types_and_schema1() {
        let err = parse(br#"{"schemaVersion":1,"name":"x"}"#, "").unwrap_err();
        assert!(err.to_string().contains("schema 1"), "{err}");
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":5}},
            "layers":[{{"mediaType":"application/x-evil","digest":"{D2}","size":7}}]}}"#
        );
        let err = parse(json.as_bytes(), "").unwrap_err();
        assert!(
            err.to_string().contains("unsupported layer media type"),
            "{err}"
        );
        let err = parse(br#"{"mediaType":"text/html"}"#, "").unwrap_err();
        assert!(
            err.to_string().contains("unsupported manifest media type"),
            "{err}"
        );
    }

    #[test]
    fn platform_flag_is_checked() {
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux/amd64/v1/x").is_err());
        assert_eq!(
            Platform::parse("linux/arm/v7").unwrap().to_string(),
            "linux/arm/v7"
        );
    }
}
