//! The user's registry settings: `$XDG_CONFIG_HOME/burrow/registries.json`
//! (default `~/.config/burrow/registries.json`):
//!
//! ```json
//! { "insecure": ["registry.lab:5000"],
//!   "mirrors": { "docker.io": ["mirror.lab:5000"] } }
//! ```
//! `insecure` registries are reached over plain HTTP; `mirrors` are tried
//! in order before the registry itself (everything they serve is checked
//! against its digest, so a bad mirror can only fail, not deceive).

use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistriesConf {
    #[serde(default)]
    pub insecure: Vec<String>,
    #[serde(default)]
    pub mirrors: HashMap<String, Vec<String>>,
}

impl RegistriesConf {
    pub fn path() -> Option<PathBuf> {
        crate::config::dir().map(|d| d.join("registries.json"))
    }

    /// The settings; a missing file means none, a broken one is an error
    /// (a typo must not silently send a pull to the wrong place).
    pub fn load() -> anyhow::Result<RegistriesConf> {
        let Some(file) = Self::path() else {
            return Ok(Self::default());
        };
        match std::fs::read_to_string(&file) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{} is not valid: {e}", file.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(anyhow::anyhow!("read {}: {e}", file.display())),
        }
    }

    pub fn is_insecure(&self, registry: &str) -> bool {
        self.insecure.iter().any(|r| r == registry)
    }

    pub fn mirrors_of(&self, registry: &str) -> &[String] {
        self.mirrors.get(registry).map(Vec::as_slice).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_typos() {
        let c: RegistriesConf =
            serde_json::from_str(r#"{"insecure":["a:5000"],"mirrors":{"docker.io":["m1","m2"]}}"#)
                .unwrap();
        assert!(c.is_insecure("a:5000"));
        assert_eq!(c.mirrors_of("docker.io"), ["m1", "m2"]);
        assert!(c.mirrors_of("ghcr.io").is_empty());
        assert!(serde_json::from_str::<RegistriesConf>(r#"{"mirror":{}}"#).is_err());
    }
}
