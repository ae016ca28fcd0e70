//! The user's settings file: `$XDG_CONFIG_HOME/burrow/burrow.toml`
//! (default `~/.config/burrow/burrow.toml`), beside registries.json.
//!
//! ```toml
//! storage_driver = "fuse-overlay"   # overlay, fuse-overlay or auto
//! ```
//! A missing file means no settings; a broken one, or a key burrow does not
//! know, is an error (a typo must not be silently ignored).

use std::path::PathBuf;

use anyhow::{anyhow, bail};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Config {
    /// `overlay`, `fuse-overlay` or `auto` (checked by the caller).
    pub storage_driver: Option<String>,
}

/// `$XDG_CONFIG_HOME/burrow`, else `~/.config/burrow`.
pub fn dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })
        .map(|d| d.join("burrow"))
}

impl Config {
    pub fn path() -> Option<PathBuf> {
        dir().map(|d| d.join("burrow.toml"))
    }

    pub fn load() -> anyhow::Result<Config> {
        let Some(file) = Self::path() else {
            return Ok(Config::default());
        };
        match std::fs::read_to_string(&file) {
            Ok(text) => Self::parse(&text).map_err(|e| {
                anyhow!(
                    "{} is not valid: {}",
                    file.display(),
                    crate::text::escape_control(&format!("{e:#}")).replace("\\x0a", " ")
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(anyhow!("read {}: {e}", file.display())),
        }
    }

    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let doc: toml_edit::DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| anyhow!("{}", e.message().trim()))?;
        let mut conf = Config::default();
        for (key, item) in doc.as_table().iter() {
            match key {
                "storage_driver" => match item.as_str() {
                    Some(s) => conf.storage_driver = Some(s.to_string()),
                    None => bail!("storage_driver must be a string (\"overlay\", \"fuse-overlay\" or \"auto\")"),
                },
                other => bail!("unknown key {other:?} (burrow knows storage_driver)"),
            }
        }
        Ok(conf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_typos() {
        let c = Config::parse("# mine\nstorage_driver = \"fuse-overlay\"\n").unwrap();
        assert_eq!(c.storage_driver.as_deref(), Some("fuse-overlay"));
        assert_eq!(Config::parse("").unwrap(), Config::default());
        let e = Config::parse("storage-driver = \"auto\"").unwrap_err();
        assert!(format!("{e}").contains("unknown key"), "{e}");
        assert!(Config::parse("storage_driver = 1").is_err());
        assert!(Config::parse("storage_driver = ").is_err());
    }
}
