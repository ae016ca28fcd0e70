//! `.env` and `env_file` files, read by the loader (project variables)
//! and by the normaliser (a service's environment).

use std::collections::BTreeMap;

use anyhow::{bail, Context};

use super::interpolate::{self, Vars};

/// A `.env` file: `KEY=VALUE` lines, `export` allowed, `#` comments;
/// single quotes literal, double quotes with `\n` and interpolation,
/// unquoted values trimmed and interpolated.
pub fn parse(text: &str, env: &Vars) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let (key, raw) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            // A bare name takes the environment's value, if any.
            None => {
                if let Some(v) = env.get(line) {
                    out.insert(line.to_string(), v.to_string());
                }
                continue;
            }
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            bail!("line {}: bad variable name {:?}", n + 1, key);
        }
        let mut seen = env.clone();
        for (k, v) in &out {
            seen.map.insert(k.clone(), v.clone());
        }
        let value = if let Some(inner) = raw.strip_prefix('\'') {
            inner
                .strip_suffix('\'')
                .with_context(|| format!("line {}: unterminated single quote", n + 1))?
                .to_string()
        } else if let Some(inner) = raw.strip_prefix('"') {
            let inner = inner
                .strip_suffix('"')
                .with_context(|| format!("line {}: unterminated double quote", n + 1))?;
            let unescaped = inner
                .replace("\\n", "\n")
                .replace("\\t", "\t")
                .replace("\\\"", "\"")
                .replace("\\\\", "\\");
            interpolate::string(&unescaped, &seen, &mut Vec::new())
                .map_err(|_| anyhow::anyhow!("line {}: bad interpolation", n + 1))?
        } else {
            let bare = match raw.find(" #") {
                Some(i) => raw[..i].trim_end(),
                None => raw,
            };
            interpolate::string(bare, &seen, &mut Vec::new())
                .map_err(|_| anyhow::anyhow!("line {}: bad interpolation", n + 1))?
        };
        out.insert(key.to_string(), value);
    }
    Ok(out)
}
