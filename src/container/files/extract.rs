//! Unpacking a `cp` archive where it is asked to go, as `docker cp` does:
//! into DEST when it is a directory, else as DEST itself (the archive's
//! top entry renamed). The archive may come from a hostile container: no
//! entry may climb out with `..`, and none is written through a symlink
//! that an earlier entry (or the tree) put on its way.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context};

/// Where the entries go: `base` joined with each name, the first
/// component replaced by `rename` when set.
pub struct Target {
    pub base: PathBuf,
    pub rename: Option<String>,
}

impl Target {
    /// DEST a directory: into it; else DEST names the copy (its parent
    /// must exist).
    pub fn for_dest(dest: &Path) -> anyhow::Result<Target> {
        if dest.is_dir() {
            return Ok(Target {
                base: dest.to_path_buf(),
                rename: None,
            });
        }
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .context("the destination has no name")?
            .to_string_lossy()
            .into_owned();
        if !parent.is_dir() {
            bail!(
                "no such directory: {}",
                crate::text::escape_control(&parent.to_string_lossy())
            );
        }
        Ok(Target {
            base: parent.to_path_buf(),
            rename: Some(name),
        })
    }

    fn place(&self, name: &Path) -> anyhow::Result<Option<PathBuf>> {
        let mut parts: Vec<String> = Vec::new();
        for c in name.components() {
            match c {
                Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                Component::CurDir | Component::RootDir => {}
                _ => bail!(
                    "the archive names {} outside its root",
                    crate::text::escape_control(&name.to_string_lossy())
                ),
            }
        }
        if parts.is_empty() {
            return Ok(None);
        }
        if let Some(r) = &self.rename {
            parts[0] = r.clone();
        }
        Ok(Some(parts.iter().collect()))
    }
}

/// Unpack `input` at `target`; with `owners`, entries get the owners the
/// archive names (else ours). Modes and mtimes are kept.
pub fn extract(input: impl Read, target: &Target, owners: bool) -> anyhow::Result<()> {
    let mut archive = tar::Archive::new(input);
    for entry in archive.entries().context("read the archive")? {
        let mut entry = entry.context("read the archive")?;
        let name = entry.path().context("read the archive")?.into_owned();
        let Some(rel) = target.place(&name)? else {
            continue;
        };
        no_symlink_on_the_way(&target.base, &rel)?;
        let dest = target.base.join(&rel);
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::Link {
            let link = entry
                .link_name()?
                .context("a hard link without a target")?
                .into_owned();
            let Some(from) = target.place(&link)? else {
                bail!("a hard link to the archive's root");
            };
            no_symlink_on_the_way(&target.base, &from)?;
            let _ = fs::remove_file(&dest);
            fs::hard_link(target.base.join(&from), &dest)
                .with_context(|| format!("link {}", dest.display()))?;
            continue;
        }
        // A directory that exists stays (its entries merge), anything
        // else in the way is replaced, as tar does.
        if kind != tar::EntryType::Directory {
            if let Ok(m) = fs::symlink_metadata(&dest) {
                if m.is_dir() {
                    fs::remove_dir_all(&dest)
                } else {
                    fs::remove_file(&dest)
                }
                .with_context(|| format!("replace {}", dest.display()))?;
            }
        }
        entry.set_preserve_permissions(true);
        entry.set_preserve_mtime(true);
        entry.set_unpack_xattrs(false);
        entry
            .unpack(&dest)
            .with_context(|| format!("write {}", dest.display()))?;
        if owners {
            let (u, g) = (entry.header().uid()? as u32, entry.header().gid()? as u32);
            std::os::unix::fs::lchown(&dest, Some(u), Some(g))
                .with_context(|| format!("chown {} to {u}:{g}", dest.display()))?;
            // chown clears set-id bits: put the mode back.
            if kind != tar::EntryType::Symlink {
                let mode = entry.header().mode()? & 0o7777;
                if fs::symlink_metadata(&dest)?.mode() & 0o7777 != mode {
                    use std::os::unix::fs::PermissionsExt;
                    fs::set_permissions(&dest, fs::Permissions::from_mode(mode))?;
                }
            }
        }
    }
    Ok(())
}

/// Every dir between `base` and `rel`'s last component is a real dir.
fn no_symlink_on_the_way(base: &Path, rel: &Path) -> anyhow::Result<()> {
    let mut p = base.to_path_buf();
    let n = rel.components().count();
    for c in rel.components().take(n.saturating_sub(1)) {
        p.push(c);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => bail!(
                "the archive writes through the symlink {}",
                crate::text::escape_control(&p.to_string_lossy())
            ),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o640);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn into_a_dir_or_as_a_new_name() {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(&[("f", b"x")]);
        extract(&tar[..], &Target::for_dest(t.path()).unwrap(), false).unwrap();
        assert_eq!(fs::read(t.path().join("f")).unwrap(), b"x");
        extract(
            &tar[..],
            &Target::for_dest(&t.path().join("g")).unwrap(),
            false,
        )
        .unwrap();
        assert_eq!(fs::read(t.path().join("g")).unwrap(), b"x");
        assert_eq!(
            fs::metadata(t.path().join("g")).unwrap().mode() & 0o777,
            0o640
        );
    }

    #[test]
    fn no_writing_through_a_symlink() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("l")).unwrap();
        let tar = tar_of(&[("l/f", b"x")]);
        assert!(extract(&tar[..], &Target::for_dest(t.path()).unwrap(), false).is_err());
        assert!(!outside.path().join("f").exists());
    }
}
