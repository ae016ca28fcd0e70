//! The builder's steps beyond the classic ones, kept apart from exec.rs:
//! COPY/ADD sources with wildcards, `--parents`, `--exclude` and URLs,
//! and RUN's `--mount`s (their key parts and their preparation). A child
//! module of exec, so it shares the builder's private state.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

use super::{copy_entry, file_meta, Builder, State};
use crate::build::cachekey::{self, FileMeta};
use crate::build::copy;
use crate::build::dockerfile::instruction::{Files, Instruction};
use crate::build::dockerfile::mount::MountType;
use crate::build::ignore::{self, Matcher};
use crate::build::mounts::{self, MountContext, StepMounts};
use crate::error::Coded;
use crate::text::escape_control;

impl Builder<'_> {
    /// A source's files in groups, one per path it names (several for a
    /// wildcard): the path, what `--parents` keeps of it, and its files
    /// (relative to it, host path) less what `--exclude` names.
    #[allow(clippy::type_complexity)]
    pub(super) fn expand_source(
        &mut self,
        c: &CopyArgs,
        src: &str,
        exclude: Option<&Matcher>,
    ) -> anyhow::Result<Vec<(String, Option<String>, Vec<(String, PathBuf)>)>> {
        if c.is_add && crate::build::fetch::is_git(src) {
            let root = self.checked_out(src, c.keep_git_dir)?;
            let files = crate::build::stage_tree::tree(&[root], "");
            return Ok(vec![(src.to_string(), None, files)]);
        }
        if c.is_add && crate::build::fetch::is_url(src) {
            let (_, path) = self.fetched(src, c.checksum)?;
            return Ok(vec![(src.to_string(), None, vec![(String::new(), path)])]);
        }
        let paths = if copy::is_glob(src) {
            let m = match c.from.as_deref() {
                None => {
                    let w = self.walked()?;
                    copy::glob_matches(src, w.entries.iter().map(|e| e.path.as_str()))
                }
                Some(from) => {
                    // Only the dir the pattern's literal part names is listed.
                    let layers = self.layers_of(from)?;
                    let base = copy::literal_prefix(src);
                    let all: Vec<String> = crate::build::stage_tree::tree(&layers, &base)
                        .into_iter()
                        .map(|(rel, _)| match (base.as_str(), rel.as_str()) {
                            (b, "") => b.to_string(),
                            ("", r) => r.to_string(),
                            (b, r) => format!("{b}/{r}"),
                        })
                        .collect();
                    copy::glob_matches(src, all.iter().map(String::as_str))
                }
            }
            .map_err(|e| Coded::new(1, format!("{}: bad pattern {src:?}: {e}", c.name)))?;
            if m.is_empty() {
                return Err(Coded::new(
                    1,
                    format!(
                        "{} failed: no source files were specified: {} matches nothing in {}",
                        c.name,
                        escape_control(src),
                        match c.from.as_deref() {
                            Some(f) => escape_control(f),
                            None => "the build context".to_string(),
                        }
                    ),
                )
                .into());
            }
            m
        } else {
            vec![src.to_string()]
        };
        let mut out = Vec::new();
        for p in paths {
            let mut found = self.source_files(c.name, &p, c.from.as_deref())?;
            if let Some(x) = exclude {
                let base = ignore::clean(&p).trim_start_matches('/').to_string();
                found.retain(|(rel, _)| {
                    let full = match (rel.is_empty(), base.as_str()) {
                        (true, _) => base.clone(),
                        (false, "" | ".") => rel.clone(),
                        (false, b) => format!("{b}/{rel}"),
                    };
                    !(x.excludes(&full) || (!rel.is_empty() && x.excludes(rel)))
                });
            }
            let keep = c.parents.then(|| copy::kept_path(&p));
            out.push((p, keep, found));
        }
        Ok(out)
    }

    /// ADD's checkout of git source `src` (once per build): the dir to copy.
    fn checked_out(&mut self, src: &str, keep_git_dir: bool) -> anyhow::Result<PathBuf> {
        let key = format!("git {keep_git_dir} {src}");
        if let Some((_, _, path)) = self.fetched.iter().find(|(u, ..)| *u == key) {
            return Ok(path.clone());
        }
        let dir = self
            .downloads_dir()?
            .join(format!("git{}", self.fetched.len()));
        std::fs::create_dir(&dir).with_context(|| format!("create {}", dir.display()))?;
        let root = crate::build::git::checkout(src, &dir, keep_git_dir)?;
        self.fetched.push((key, String::new(), root.clone()));
        Ok(root)
    }

    /// The build's dir for downloads and checkouts, made on first use.
    fn downloads_dir(&mut self) -> anyhow::Result<PathBuf> {
        if self.downloads.is_none() {
            self.downloads = Some(
                tempfile::Builder::new()
                    .prefix(&crate::fsutil::tmp_prefix())
                    .tempdir_in(self.store.root())
                    .context("make a temp dir for downloads")?,
            );
        }
        Ok(self
            .downloads
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default())
    }

    /// ADD's download of `url` (once per build): the name it takes, the file.
    fn fetched(
        &mut self,
        url: &str,
        checksum: Option<&String>,
    ) -> anyhow::Result<(String, PathBuf)> {
        if let Some((_, name, path)) = self.fetched.iter().find(|(u, ..)| u == url) {
            return Ok((name.clone(), path.clone()));
        }
        let dir = self.downloads_dir()?;
        let path = crate::build::fetch::download(url, &dir, checksum.map(String::as_str))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        self.fetched
            .push((url.to_string(), name.clone(), path.clone()));
        Ok((name, path))
    }

    /// The `--mount` parts of a RUN step's key: each mount as expanded,
    /// and for a bind mount the content of what it binds (a change in the
    /// bound files misses, as in BuildKit). Secrets: only their id.
    pub(super) fn mount_keys(&mut self, st: &State) -> anyhow::Result<Vec<String>> {
        let mut keys = Vec::new();
        let wd = workdir_of(&st.config);
        for m in self.mounts.clone() {
            keys.push(format!("{m:?}"));
            if m.kind == MountType::Bind {
                let src = m.source.as_deref().unwrap_or("/");
                let src = if m.from.is_none() {
                    src.trim_start_matches('/')
                } else {
                    src
                };
                let src = if src.is_empty() { "." } else { src };
                let found = self.source_files("RUN --mount", src, m.from.as_deref())?;
                let metas: Vec<FileMeta> = found
                    .iter()
                    .map(|(rel, path)| file_meta(rel, path))
                    .collect::<anyhow::Result<_>>()?;
                keys.push(cachekey::content_key(&metas));
            }
        }
        keys.push(wd);
        Ok(keys)
    }

    /// A RUN step's mounts (and its heredoc script file) made ready.
    pub(super) fn step_mounts(
        &mut self,
        st: &State,
        rc: &crate::build::heredoc::RunCommand,
    ) -> anyhow::Result<StepMounts> {
        let root = self.store.root().to_path_buf();
        let secrets = self.opts.secrets.clone();
        let wd = workdir_of(&st.config);
        let list = std::mem::take(&mut self.mounts);
        let mut out = mounts::prepare(
            &list,
            &MountContext {
                root: &root,
                workdir: &wd,
                secrets: &secrets,
            },
            &mut |from, src, dir| self.bind_source(from, src, dir),
        )?;
        if let Some((name, data)) = &rc.script {
            out.add_script(&root, name, data)?;
        }
        Ok(out)
    }

    /// A bind mount's files copied into `dir`; the path to bind.
    fn bind_source(
        &mut self,
        from: Option<&str>,
        src: &str,
        dir: &Path,
    ) -> anyhow::Result<PathBuf> {
        let src = if from.is_none() {
            src.trim_start_matches('/')
        } else {
            src
        };
        let src = if src.is_empty() { "." } else { src };
        let found = self.source_files("RUN --mount", src, from)?;
        if let [(rel, path)] = found.as_slice() {
            let meta = std::fs::symlink_metadata(path)?;
            if rel.is_empty() && !meta.is_dir() {
                let name = Path::new(src)
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_else(|| "file".into());
                let target = dir.join(name);
                copy_entry(path, &target, &meta, None)?;
                return Ok(target);
            }
        }
        for (rel, path) in found.iter().filter(|(r, _)| !r.is_empty()) {
            let meta = std::fs::symlink_metadata(path)?;
            copy_entry(path, &dir.join(rel), &meta, None)?;
        }
        Ok(dir.to_path_buf())
    }
}

/// What COPY and ADD share, borrowed from either.
pub(super) struct CopyArgs<'a> {
    pub(super) name: &'static str,
    pub(super) is_add: bool,
    pub(super) files: &'a Files,
    pub(super) from: Option<String>,
    pub(super) chown: Option<&'a String>,
    pub(super) chmod: Option<&'a String>,
    pub(super) parents: bool,
    pub(super) excludes: &'a [String],
    pub(super) checksum: Option<&'a String>,
    pub(super) keep_git_dir: bool,
}

impl<'a> CopyArgs<'a> {
    pub(super) fn of(instr: &'a Instruction) -> CopyArgs<'a> {
        match instr {
            Instruction::Copy(c) => CopyArgs {
                name: "COPY",
                is_add: false,
                files: &c.files,
                from: c.from.clone(),
                chown: c.chown.as_ref(),
                chmod: c.chmod.as_ref(),
                parents: c.parents,
                excludes: &c.excludes,
                checksum: None,
                keep_git_dir: false,
            },
            Instruction::Add(a) => CopyArgs {
                name: "ADD",
                is_add: true,
                files: &a.files,
                from: None,
                chown: a.chown.as_ref(),
                chmod: a.chmod.as_ref(),
                parents: false,
                excludes: &a.excludes,
                checksum: a.checksum.as_ref(),
                keep_git_dir: a.keep_git_dir.unwrap_or(false),
            },
            _ => unreachable!("COPY or ADD"),
        }
    }
}

pub(super) fn workdir_of(config: &Value) -> String {
    match config["config"]["WorkingDir"].as_str() {
        Some(w) if !w.is_empty() => w.to_string(),
        _ => "/".to_string(),
    }
}
