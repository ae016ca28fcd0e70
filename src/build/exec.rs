//! The build executor, Docker's classic builder's way: every step makes an
//! image (config-only steps an `empty_layer` history entry, RUN/COPY/ADD a
//! layer), and the next step starts from it. The cache is one small index
//! file per (parent image, step key) under `<root>/build-cache/`: a lookup
//! is one read, never a scan; after the first miss every step reruns.
//!
//! RUN goes through burrow's own `run` (a child `burrow run` on the step's
//! image, so the confinement and network are `run`'s), and the container's
//! upper dir becomes the layer.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

use super::cachekey::{self, FileKind, FileMeta};
use super::copy;
use super::dockerfile::instruction::{CommandLine, Health, Network};
use super::dockerfile::mount::Mount;
use super::dockerfile::{self, substitute, Dockerfile, Instruction, Step};
use super::ignore::{self, Matcher};
use super::mounts::{self, Secret, StepMounts};

#[path = "exec_steps.rs"]
mod steps;
use super::progress::{Event, Mode, Printer};
use super::pulls::Pulls;
use super::schedule;
use super::walk::{self, EntryKind, Walk};
use crate::error::Coded;
use crate::image::commit::{self, NewImage, NewLayer};
use crate::image::layer_tar::{LayerDigests, TarOptions};
use crate::image::ImageRecord;
use crate::image::Store;
use crate::paths::Paths;
use crate::text::escape_control;
use steps::CopyArgs;

/// The PATH an image from scratch gets (BuildKit's DefaultPathEnvUnix).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the user asked for.
pub struct Options {
    pub context: PathBuf,
    /// The Dockerfile's name in messages, and its text.
    pub file_name: String,
    pub text: String,
    pub dockerfile_path: Option<PathBuf>,
    pub tags: Vec<String>,
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub quiet: bool,
    pub labels: Vec<(String, String)>,
    /// `--network` for RUN steps (None: run's default).
    pub network: Option<String>,
    /// `--secret`s for RUN `--mount=type=secret`.
    pub secrets: Vec<Secret>,
    /// `--pull`: pull every FROM image, even one in the store.
    pub pull: bool,
    pub progress: Mode,
}

/// Where a stage is: its image (None before FROM scratch's first step)
/// and that image's config JSON.
struct State {
    parent: Option<ImageRecord>,
    config: Value,
    /// Build args in scope, in declaration order, with their values.
    args: Vec<(String, String)>,
}

struct Builder<'a> {
    paths: &'a Paths,
    store: Store,
    opts: &'a Options,
    escape: char,
    walk: Option<Walk>,
    /// A step missed the cache: every later one reruns.
    missed: bool,
    step: usize,
    total: usize,
    epoch: Option<i64>,
    /// Each built stage's final image, by index (None: not built).
    stages: Vec<Option<ImageRecord>>,
    /// The stage being built, and where its output goes.
    index: usize,
    printer: &'a Printer,
    /// Every stage's `AS` name, in Dockerfile order.
    stage_names: Vec<Option<String>>,
    /// What the last `commit` stored, for the step's cache index.
    last_recipe: std::cell::RefCell<Option<Recipe>>,
    /// The current RUN step's `--mount`s, expanded.
    mounts: Vec<Mount>,
    /// FROM images fetched by this build, shared by its stages (`--pull`
    /// pulls each once).
    pulled: &'a Pulls,
    /// ADD's downloads, by URL, kept for the build: (url, name, file).
    fetched: Vec<(String, String, PathBuf)>,
    downloads: Option<tempfile::TempDir>,
}

/// How a step's image was stored: enough to store it again.
#[derive(serde::Serialize, serde::Deserialize)]
struct Recipe {
    id: String,
    config: Value,
    layer: Option<LayerDigests>,
    created_by: String,
    created: String,
}

/// Build; returns the final image.
pub fn build(paths: &Paths, opts: &Options) -> anyhow::Result<ImageRecord> {
    let df = dockerfile::parse(&opts.file_name, &opts.text).map_err(|e| e.coded())?;
    let last = match &opts.target {
        Some(t) => df
            .stages
            .iter()
            .position(|s| s.from.name.as_deref() == Some(t.to_ascii_lowercase().as_str()))
            .ok_or_else(|| {
                Coded::new(
                    1,
                    format!("target stage {:?} could not be found", escape_control(t)),
                )
            })?,
        None => df.stages.len() - 1,
    };
    // Only the stages the target needs, independent ones at once.
    let bases: Vec<String> = df
        .stages
        .iter()
        .map(|s| {
            let mut from = s.from.clone();
            match substitute::expand_from(&mut from, df.escape, &meta_args(&df, opts)) {
                Ok(()) => from.base,
                Err(_) => s.from.base.clone(),
            }
        })
        .collect();
    let deps = schedule::deps(&df, &bases);
    let need = schedule::needed(&deps, last);
    let total = (0..df.stages.len())
        .filter(|i| need[*i])
        .map(|i| 1 + df.stages[i].steps.len())
        .sum();
    let names: Vec<String> = df
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| s.from.name.clone().unwrap_or_else(|| format!("stage-{i}")))
        .collect();
    let printer = Printer::new(
        opts.progress,
        (0..df.stages.len()).filter(|i| need[*i]).collect(),
        names,
    );
    let epoch = TarOptions::epoch_from_env()?;
    let pulls = Pulls::default();
    let built = schedule::run(&deps, &need, |i, done| {
        let mut b = Builder {
            paths,
            store: Store::open(paths)?,
            opts,
            escape: df.escape,
            walk: None,
            missed: opts.no_cache,
            // Steps are numbered in Dockerfile order over the needed stages.
            step: (0..i)
                .filter(|j| need[*j])
                .map(|j| 1 + df.stages[j].steps.len())
                .sum(),
            total,
            epoch,
            stages: done,
            index: i,
            printer: &printer,
            stage_names: df.stages.iter().map(|s| s.from.name.clone()).collect(),
            last_recipe: Default::default(),
            mounts: Vec::new(),
            pulled: &pulls,
            fetched: Vec::new(),
            downloads: None,
        };
        let r = b.stage(&df, i);
        printer.finish(i);
        r
    });
    printer.flush();
    let built = built?;
    let b = Builder {
        paths,
        store: Store::open(paths)?,
        opts,
        escape: df.escape,
        walk: None,
        missed: true,
        step: 0,
        total,
        epoch,
        stages: Vec::new(),
        index: last,
        printer: &printer,
        stage_names: Vec::new(),
        last_recipe: Default::default(),
        mounts: Vec::new(),
        pulled: &pulls,
        fetched: Vec::new(),
        downloads: None,
    };
    let mut img = built[last]
        .clone()
        .context("the target stage was not built")?;
    if !opts.labels.is_empty() {
        let mut config = b.config_of(&img)?;
        let labels = cfg_obj(&mut config)?
            .entry("Labels")
            .or_insert_with(|| json!({}));
        if labels.is_null() {
            *labels = json!({});
        }
        for (k, v) in &opts.labels {
            labels
                .as_object_mut()
                .context("bad Labels")?
                .insert(k.clone(), json!(v));
        }
        img = b.commit(Some(&img), config, None, "")?;
    }
    Ok(img)
}

/// The global ARGs FROM lines see, `--build-arg` over their defaults,
/// and the automatic platform args (a `--build-arg` may set them too).
fn meta_args(df: &Dockerfile, opts: &Options) -> Vec<(String, String)> {
    let given = |key: &str| {
        opts.build_args
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let mut out: Vec<(String, String)> = df
        .meta_args
        .iter()
        .filter_map(|a| {
            given(&a.key)
                .or_else(|| a.default.clone())
                .map(|v| (a.key.clone(), v))
        })
        .collect();
    for (k, v) in substitute::platform_args() {
        if !df.meta_args.iter().any(|a| a.key == k) {
            let v = given(&k).unwrap_or(v);
            out.push((k, v));
        }
    }
    out
}

fn cfg_obj(config: &mut Value) -> anyhow::Result<&mut Map<String, Value>> {
    let obj = config
        .as_object_mut()
        .context("the image config is not an object")?;
    let cfg = obj.entry("config").or_insert_with(|| json!({}));
    if cfg.is_null() {
        *cfg = json!({});
    }
    cfg.as_object_mut()
        .context("the image config is not an object")
}

fn env_of(config: &Value) -> Vec<(String, String)> {
    config["config"]["Env"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(|e| {
                    let (k, v) = e.split_once('=').unwrap_or((e, ""));
                    (k.to_string(), v.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn shell_of(config: &Value) -> Vec<String> {
    serde_json::from_value(config["config"]["Shell"].clone())
        .unwrap_or_else(|_| vec!["/bin/sh".into(), "-c".into()])
}

/// The command a CMD/ENTRYPOINT/RUN runs.
fn argv(c: &CommandLine, shell: &[String]) -> Vec<String> {
    if c.shell_form {
        let mut v = shell.to_vec();
        v.extend(c.args.iter().cloned());
        v
    } else {
        c.args.clone()
    }
}

fn short(id: &str) -> &str {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    &h[..h.len().min(12)]
}

impl Builder<'_> {
    fn say(&self, e: Event) {
        self.printer.event(self.index, e);
    }

    fn config_of(&self, img: &ImageRecord) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.store.read_blob(&img.config_digest)?)
            .context("the image's config is not JSON")
    }

    fn stage(&mut self, df: &Dockerfile, index: usize) -> anyhow::Result<ImageRecord> {
        let stage = &df.stages[index];
        let mut from = stage.from.clone();
        // FROM sees the global ARGs, with --build-arg over their defaults.
        let meta = meta_args(df, self.opts);
        substitute::expand_from(&mut from, self.escape, &meta).map_err(|e| {
            Coded::new(
                1,
                format!("{}:{}: FROM: {e}", self.opts.file_name, stage.line),
            )
        })?;
        self.step += 1;
        self.say(Event::Step(self.step, self.total, &stage.source));
        let earlier = df.stages[..index]
            .iter()
            .position(|s| s.from.name.as_deref() == Some(from.base.to_ascii_lowercase().as_str()));
        let parent = if let Some(i) = earlier {
            Some(
                self.stages[i]
                    .clone()
                    .context("a stage built before its dependency")?,
            )
        } else if from.base == "scratch" {
            None
        } else {
            let pull = || {
                crate::image::pull(
                    self.paths,
                    &from.base,
                    &crate::image::PullOptions::default(),
                )
            };
            let have = || match self.store.lookup(&from.base)? {
                Some(r) => Ok(r),
                None => pull(),
            };
            // The first stage to name it pulls (with --pull even when the
            // store has it); the others use what it got.
            Some(match self.opts.pull {
                true => self.pulled.once(&from.base, pull, have)?,
                false => self.pulled.once(&from.base, have, have)?,
            })
        };
        let config = match &parent {
            Some(p) => {
                self.say(Event::Image(short(&p.id)));
                self.config_of(p)?
            }
            // FROM scratch: BuildKit's empty image carries the default
            // PATH, so images built on scratch have it in their config.
            None => json!({
                "architecture": crate::sys::oci_arch(),
                "os": "linux",
                "config": {"Env": [format!("PATH={DEFAULT_PATH}")]}
            }),
        };
        let mut st = State {
            parent,
            config,
            args: Vec::new(),
        };
        for step in &stage.steps {
            self.step += 1;
            self.say(Event::Step(self.step, self.total, &step.source));
            let at = format!("{}:{}", self.opts.file_name, step.start_line);
            self.one(df, &meta, &mut st, step).map_err(|e| {
                // Every failed step: one line naming it, exit 1 (Docker's).
                let text = format!("{e:#}");
                match text.starts_with(&format!("{at}:")) {
                    true => Coded::new(1, text),
                    false => Coded::new(1, format!("{at}: {text}")),
                }
            })?;
        }
        match st.parent {
            Some(p) => Ok(p),
            // FROM scratch and nothing else: an image with no layers.
            None => self.commit(None, st.config, None, ""),
        }
    }

    fn arg_value(&self, key: &str, default: Option<&str>) -> Option<String> {
        self.opts
            .build_args
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| default.map(String::from))
    }

    /// One step: expand, key, look up, or do it.
    fn one(
        &mut self,
        df: &Dockerfile,
        meta: &[(String, String)],
        st: &mut State,
        step: &Step,
    ) -> anyhow::Result<()> {
        let located = |msg: String| {
            Coded::new(
                1,
                format!("{}:{}: {msg}", self.opts.file_name, step.start_line),
            )
        };
        let env = env_of(&st.config);
        let mut scope: Vec<(String, String)> = st.args.clone();
        scope.extend(env.iter().cloned());
        let mut instr = step.instruction.clone();
        if let Instruction::Arg(decls) = &mut instr {
            substitute::args(decls, self.escape, &scope).map_err(|e| located(e.0))?;
        } else {
            substitute::expand(&mut instr, self.escape, &scope).map_err(|e| located(e.0))?;
        }
        let parent_id = st.parent.as_ref().map(|p| p.id.clone()).unwrap_or_default();
        let shell = shell_of(&st.config);
        let mut mount_keys = Vec::new();
        if let Instruction::Run(r) = &instr {
            let parsed = r
                .mounts(&mut substitute::word_expander(self.escape, &scope))
                .map_err(located)?;
            self.mounts = parsed;
            mount_keys = self.mount_keys(st)?;
        }
        let key = match &instr {
            Instruction::Run(r) => cachekey::run_key(
                &parent_id,
                &cachekey::RunInput {
                    command: &r.command,
                    shell: &shell,
                    env: &env,
                    args: &st.args,
                    mounts: &mount_keys,
                    network: r.network,
                },
            ),
            Instruction::Copy(_) | Instruction::Add(_) => {
                let (name, options, dest, sources) = self.copy_sources(&instr, st)?;
                cachekey::copy_key(
                    &parent_id,
                    &cachekey::CopyInput {
                        instruction: name,
                        options: &options,
                        dest: &dest,
                        sources: &sources,
                    },
                )
            }
            Instruction::Arg(decls) => {
                let text: Vec<String> = decls
                    .iter()
                    .map(|d| {
                        format!(
                            "{}={:?}",
                            d.key,
                            self.arg_value(&d.key, d.default.as_deref())
                        )
                    })
                    .collect();
                cachekey::config_key(&parent_id, &format!("ARG {}", text.join(" ")))
            }
            _ => cachekey::config_key(&parent_id, &format!("{instr:?}")),
        };
        // ARG changes the scope before the lookup: a later use of it sees
        // the value in its key.
        if let Instruction::Arg(decls) = &instr {
            for d in decls {
                let inherited = meta
                    .iter()
                    .find(|(k, _)| *k == d.key)
                    .map(|(_, v)| v.as_str());
                let v = self
                    .arg_value(&d.key, d.default.as_deref().or(inherited))
                    .unwrap_or_default();
                st.args.retain(|(k, _)| *k != d.key);
                st.args.push((d.key.clone(), v));
            }
        }
        let index = self.index_path(&key);
        if !self.missed {
            if let Some(img) = self.cached(&index, st.parent.as_ref())? {
                self.say(Event::Cached);
                self.say(Event::Image(short(&img.id)));
                st.config = self.config_of(&img)?;
                st.parent = Some(img);
                return Ok(());
            }
            self.missed = true;
        }
        let _ = df;
        let img = self.execute(st, &instr, step, &shell)?;
        self.write_index(&index)?;
        self.say(Event::Image(short(&img.id)));
        st.config = self.config_of(&img)?;
        st.parent = Some(img);
        Ok(())
    }

    fn index_path(&self, key: &str) -> PathBuf {
        let k = key.strip_prefix("sha256:").unwrap_or(key);
        self.store.root().join("build-cache").join(k)
    }

    /// The cached image of a step: the one its index names, stored again
    /// from its recipe when `rmi` removed it.
    fn cached(
        &self,
        index: &Path,
        base: Option<&ImageRecord>,
    ) -> anyhow::Result<Option<ImageRecord>> {
        let Ok(bytes) = std::fs::read(index) else {
            return Ok(None);
        };
        let Ok(r) = serde_json::from_slice::<Recipe>(&bytes) else {
            return Ok(None);
        };
        if let Some(img) = self.store.lookup(&r.id)? {
            return Ok(Some(img));
        }
        if let Some(l) = &r.layer {
            let blob = self.store.blob_path(&l.digest)?;
            if !blob.exists() && std::fs::hard_link(self.cache_blob(&l.digest), &blob).is_err() {
                return Ok(None);
            }
        }
        match self.store_recipe(base, &r, None) {
            Ok(img) if img.id == r.id => Ok(Some(img)),
            _ => Ok(None),
        }
    }

    /// Store an image over `base`: one layer (or an empty history entry).
    fn commit(
        &self,
        base: Option<&ImageRecord>,
        config: Value,
        layer: Option<LayerDigests>,
        created_by: &str,
    ) -> anyhow::Result<ImageRecord> {
        self.commit_tree(base, config, layer, created_by, None)
    }

    /// As `commit`, the layer's files already laid out in `tree` (moved
    /// into the store, not unpacked again from the blob).
    fn commit_tree(
        &self,
        base: Option<&ImageRecord>,
        config: Value,
        layer: Option<LayerDigests>,
        created_by: &str,
        tree: Option<(PathBuf, u64)>,
    ) -> anyhow::Result<ImageRecord> {
        let recipe = Recipe {
            id: String::new(),
            config,
            layer,
            created_by: created_by.to_string(),
            created: commit::created_now(self.epoch),
        };
        let img = self.store_recipe(base, &recipe, tree)?;
        *self.last_recipe.borrow_mut() = Some(Recipe {
            id: img.id.clone(),
            ..recipe
        });
        Ok(img)
    }

    fn store_recipe(
        &self,
        base: Option<&ImageRecord>,
        r: &Recipe,
        tree: Option<(PathBuf, u64)>,
    ) -> anyhow::Result<ImageRecord> {
        let layers = if r.created_by.is_empty() && r.layer.is_none() {
            Vec::new()
        } else {
            vec![NewLayer {
                digests: r.layer.clone().unwrap_or(LayerDigests {
                    digest: String::new(),
                    size: 0,
                    diff_id: String::new(),
                }),
                created_by: r.created_by.clone(),
                empty: r.layer.is_none(),
                tree,
            }]
        };
        commit::store_image(
            &self.store,
            NewImage {
                base,
                config: r.config.clone(),
                layers,
                created: r.created.clone(),
                author: None,
                comment: None,
                tag: None,
            },
        )
    }

    /// Keep the step's recipe in its index, and its layer blob linked
    /// beside it, so that the step's image can be stored again after an
    /// `rmi` removed it.
    fn write_index(&self, index: &Path) -> anyhow::Result<()> {
        let Some(r) = self.last_recipe.borrow_mut().take() else {
            return Ok(());
        };
        if let Some(l) = &r.layer {
            let keep = self.cache_blob(&l.digest);
            if !keep.exists() {
                std::fs::create_dir_all(keep.parent().context("bad cache path")?)?;
                // A hard link, not a copy; without one the cache just
                // does not outlive rmi.
                let _ = std::fs::hard_link(self.store.blob_path(&l.digest)?, &keep);
            }
        }
        write_atomic(index, &serde_json::to_vec(&r)?)
    }

    fn cache_blob(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.store.root().join("build-cache/blobs").join(hex)
    }

    fn execute(
        &mut self,
        st: &State,
        instr: &Instruction,
        step: &Step,
        shell: &[String],
    ) -> anyhow::Result<ImageRecord> {
        let mut config = st.config.clone();
        let source = step.source.clone();
        match instr {
            Instruction::Run(r) => {
                let rc =
                    super::heredoc::run_command(&r.command, shell).map_err(|e| Coded::new(1, e))?;
                let mounts = self.step_mounts(st, &rc)?;
                return self.run(st, r.network, &rc.argv, r, mounts);
            }
            Instruction::Copy(_) | Instruction::Add(_) => return self.copy(st, instr, &source),
            Instruction::Maintainer(m) => {
                config
                    .as_object_mut()
                    .context("bad config")?
                    .insert("author".into(), json!(m));
            }
            _ => {
                let cfg = cfg_obj(&mut config)?;
                apply_config(cfg, instr, shell)?;
            }
        }
        let cmd = match instr {
            Instruction::Cmd(c) | Instruction::Entrypoint(c) => Some(argv(c, shell)),
            _ => None,
        };
        let by = super::created_by::config_step(instr, cmd.as_deref(), &config, &source);
        self.commit(st.parent.as_ref(), config, None, &by)
    }

    fn run(
        &mut self,
        st: &State,
        network: Network,
        argv: &[String],
        _r: &super::dockerfile::instruction::Run,
        mounts: StepMounts,
    ) -> anyhow::Result<ImageRecord> {
        let Some(parent) = &st.parent else {
            bail!("RUN needs a base image (FROM scratch has no shell)");
        };
        let name = format!("burrow-build-{}", &crate::random_id::new_id()?[..16]);
        // Our own binary by /proc/self/exe, not by its path: a command that
        // runs out of the containers' reach (`compose up`, crate::exe) runs
        // from a mount or memfd whose path no other process can open.
        let mut cmd = Command::new("/proc/self/exe");
        cmd.env("BURROW_ROOT", self.paths.root()).args([
            "run",
            "--name",
            &name,
            "--entrypoint",
            "",
        ]);
        let net = match network {
            Network::None => Some("none".to_string()),
            Network::Host => Some("host".to_string()),
            Network::Default => self.opts.network.clone(),
        };
        if let Some(n) = net.filter(|n| n != "default") {
            cmd.args(["--network", &n]);
        }
        // Build args are in RUN's environment (ENV wins over them).
        let env = env_of(&st.config);
        for (k, v) in &st.args {
            if !env.iter().any(|(e, _)| e == k) {
                cmd.arg("-e").arg(format!("{k}={v}"));
            }
        }
        cmd.args(&mounts.args);
        cmd.arg(&parent.id).args(argv);
        let log = tempfile::tempfile().context("make a temp file for the step's output")?;
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?);
        self.say(Event::Running(short(&name["burrow-build-".len()..])));
        let status = cmd.status().context("start the step's container")?;
        let mut out = String::new();
        let mut log = log;
        use std::io::Seek;
        log.rewind()?;
        log.read_to_string(&mut out).ok();
        let code = status.code().unwrap_or(1);
        let result = (|| {
            if code != 0 {
                // Docker's words; the output tail helps when -q or the
                // live view hid it.
                if self.printer.mode() != Mode::Plain {
                    let lines: Vec<&str> = out.lines().collect();
                    for l in &lines[lines.len().saturating_sub(10)..] {
                        eprintln!("{}", escape_control(l));
                    }
                }
                return Err(Coded::new(
                    1,
                    format!(
                        "The command '{}' returned a non-zero code: {code}",
                        escape_control(&argv.join(" "))
                    ),
                )
                .into());
            }
            let c = crate::container::files::Container::find(self.paths.root(), &name)?;
            mounts::remove_stubs(&c.upper(), &mounts.targets);
            let layer = c.store_layer(&self.store, self.epoch)?;
            let mut by = argv.join(" ");
            if !st.args.is_empty() {
                let a: Vec<String> = st.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
                by = format!("|{} {} {by}", a.len(), a.join(" "));
            }
            self.commit(Some(parent), st.config.clone(), Some(layer), &by)
        })();
        if !out.is_empty() {
            self.say(Event::Output(&out));
        }
        let _ = Command::new("/proc/self/exe")
            .env("BURROW_ROOT", self.paths.root())
            .args(["rm", "-f", &name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        result
    }

    fn walked(&mut self) -> anyhow::Result<&Walk> {
        if self.walk.is_none() {
            let df = self
                .opts
                .dockerfile_path
                .clone()
                .unwrap_or_else(|| self.opts.context.join("Dockerfile"));
            let patterns = match ignore::ignore_file_for(&self.opts.context, &df) {
                Some(p) => ignore::read_patterns(
                    &std::fs::read_to_string(&p)
                        .with_context(|| format!("read {}", p.display()))?,
                ),
                None => Vec::new(),
            };
            let m = Matcher::new(&patterns).map_err(anyhow::Error::msg)?;
            self.walk = Some(walk::walk(&self.opts.context, &m)?);
        }
        Ok(self.walk.as_ref().unwrap())
    }

    /// COPY/ADD's key parts: instruction, options, destination and one
    /// content key per source (files hashed, never copied, before the
    /// lookup).
    #[allow(clippy::type_complexity)]
    fn copy_sources(
        &mut self,
        instr: &Instruction,
        st: &State,
    ) -> anyhow::Result<(&'static str, Vec<(String, String)>, String, Vec<String>)> {
        let c = CopyArgs::of(instr);
        let mut options: Vec<(String, String)> = Vec::new();
        for (k, v) in [
            ("chown", c.chown),
            ("chmod", c.chmod),
            ("from", c.from.as_ref()),
        ] {
            if let Some(v) = v {
                options.push((k.to_string(), v.to_string()));
            }
        }
        if c.parents {
            options.push(("parents".into(), "true".into()));
        }
        for x in c.excludes {
            options.push(("exclude".into(), x.clone()));
        }
        if let Some(sum) = c.checksum {
            options.push(("checksum".into(), sum.clone()));
        }
        let dest = dest_path(&c.files.dest, &st.config);
        let mut sources = Vec::new();
        for f in &c.files.inline {
            sources.push(cachekey::content_key(&[FileMeta {
                path: f.name.clone(),
                kind: FileKind::File,
                mode: 0o644,
                uid: 0,
                gid: 0,
                size: f.data.len() as u64,
                content: crate::image::blobs::sha256(f.data.as_bytes()),
                link: String::new(),
            }]));
        }
        let exclude = copy::excluder(c.excludes)?;
        let mut named = c.files.inline.len();
        for src in &c.files.sources {
            let groups = self.expand_source(&c, src, exclude.as_ref())?;
            named += groups.len();
            if named > 1 && !c.files.dest.ends_with('/') && !dest.ends_with('/') {
                return Err(Coded::new(
                    1,
                    format!(
                        "When using {} with more than one source file, the destination must be a directory and end with a /",
                        c.name
                    ),
                )
                .into());
            }
            for (p, keep, found) in groups {
                // Hashed on every core: this is the whole cost of a cached COPY.
                let metas: Vec<FileMeta> =
                    super::par::map(&found, |(rel, path)| file_meta(rel, path))?;
                sources.push(p);
                sources.push(keep.unwrap_or_default());
                sources.push(cachekey::content_key(&metas));
            }
        }
        Ok((c.name, options, dest, sources))
    }

    /// The files a source names: (path relative to the source, host path).
    fn source_files(
        &mut self,
        name: &str,
        src: &str,
        from: Option<&str>,
    ) -> anyhow::Result<Vec<(String, PathBuf)>> {
        let missing = || {
            Coded::new(
                1,
                format!(
                    "{name} failed: file not found in build context or excluded by .dockerignore: stat {}: file does not exist",
                    escape_control(src)
                ),
            )
        };
        if let Some(from) = from {
            // A source that is a symlink is followed (in the stage's
            // root), as Docker copies what it points to.
            let layers = self.layers_of(from)?;
            let resolved = super::destpath::resolve(&layers, &format!("/{src}/"));
            let found = super::stage_tree::tree(&layers, resolved.trim_matches('/'));
            if !found.is_empty() {
                return Ok(found);
            }
            return Err(Coded::new(
                1,
                format!(
                    "COPY --from={from} failed: {}: no such file or directory",
                    escape_control(src)
                ),
            )
            .into());
        }
        let clean = ignore::clean(src);
        let clean = clean.trim_start_matches('/').to_string();
        let ctx = self.opts.context.clone();
        let w = self.walked()?;
        let mut out = Vec::new();
        for e in &w.entries {
            let rel = if clean.is_empty() || clean == "." {
                e.path.as_str()
            } else if e.path == clean {
                ""
            } else if let Some(r) = e.path.strip_prefix(&format!("{clean}/")) {
                r
            } else {
                continue;
            };
            if e.kind == EntryKind::Other {
                continue;
            }
            out.push((rel.to_string(), ctx.join(&e.path)));
        }
        if out.is_empty() && !(clean.is_empty() || clean == ".") {
            return Err(missing().into());
        }
        out.sort();
        Ok(out)
    }

    /// The layer dirs (top-most first) of `COPY --from`'s stage or image.
    fn layers_of(&self, from: &str) -> anyhow::Result<Vec<PathBuf>> {
        let img = match self.stage_named(from) {
            Some(i) => i,
            None => self
                .store
                .lookup(from)?
                .ok_or_else(|| anyhow::anyhow!("COPY --from: no stage or image {from:?}"))?,
        };
        self.store.layer_dirs(&img)
    }

    fn stage_named(&self, name: &str) -> Option<ImageRecord> {
        if let Ok(i) = name.parse::<usize>() {
            return self.stages.get(i).cloned().flatten();
        }
        self.stage_names
            .iter()
            .position(|n| n.as_deref() == Some(name.to_ascii_lowercase().as_str()))
            .and_then(|i| self.stages.get(i).cloned().flatten())
    }

    /// COPY/ADD: the files put in a fresh upper dir, stored as the layer.
    /// The layer never depends on the parent's files (`--link` asks for
    /// no more than that).
    fn copy(
        &mut self,
        st: &State,
        instr: &Instruction,
        source: &str,
    ) -> anyhow::Result<ImageRecord> {
        let c = CopyArgs::of(instr);
        let owner = match c.chown {
            Some(spec) => {
                let layers = match &st.parent {
                    Some(p) => self.store.layer_dirs(p)?,
                    None => Vec::new(),
                };
                Some(
                    copy::resolve_chown(spec, &layers)
                        .map_err(|e| Coded::new(1, format!("{}: --chown: {e}", c.name)))?,
                )
            }
            None => None,
        };
        let mode = match c.chmod {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .map_err(|_| Coded::new(1, format!("invalid --chmod {m:?}")))?,
            ),
            None => None,
        };
        let dest = dest_path(&c.files.dest, &st.config);
        // Symlinks on the way in the base image are followed, as Docker does.
        let layers = match &st.parent {
            Some(p) => self.store.layer_dirs(p)?,
            None => Vec::new(),
        };
        let dest = super::destpath::resolve_dest(&layers, &dest);
        let tmp = tempfile::Builder::new()
            .prefix(&crate::fsutil::tmp_prefix())
            .tempdir_in(self.store.root())
            .context("make a temp dir for the step")?;
        let upper = tmp.path();
        for f in &c.files.inline {
            let many = c.files.sources.len() + c.files.inline.len() > 1;
            let target = join(upper, &dest, Some(&f.name), many);
            write_file(&target, f.data.as_bytes(), mode)?;
        }
        let exclude = copy::excluder(c.excludes)?;
        let mut groups = Vec::new();
        for src in &c.files.sources {
            groups.extend(self.expand_source(&c, src, exclude.as_ref())?);
        }
        let to_dir = dest.ends_with('/') || groups.len() + c.files.inline.len() > 1;
        // Files made by us, owned by the containers' root: the temp dir is
        // the layer as unpacking its blob would make it, and is moved into
        // the store instead (--chown's owners are only xattrs here).
        let mut movable = owner.is_none();
        for (p, keep, found) in groups {
            let single_file = found.len() == 1 && found[0].0.is_empty();
            let url = c.is_add && super::fetch::is_url(&p);
            for (rel, path) in found {
                let meta = std::fs::symlink_metadata(&path)
                    .with_context(|| format!("read {}", path.display()))?;
                if let Some(k) = &keep {
                    let base = join(upper, &dest, None, false).join(k);
                    let target = if rel.is_empty() {
                        base
                    } else {
                        base.join(&rel)
                    };
                    copy_entry(&path, &target, &meta, mode)?;
                } else if single_file && meta.is_file() {
                    if c.is_add && !url && is_archive(&path) {
                        super::untar::extract(&path, upper, &dest, &layers)?;
                        // Its owners are in xattrs the blob's unpacking
                        // turns into real ones: the tree is not the layer.
                        movable = false;
                        continue;
                    }
                    // A URL's file: its name from the URL, mode 0600 as
                    // Docker gives downloads.
                    let base = match url {
                        true => super::fetch::file_name(&p),
                        false => Path::new(&p)
                            .file_name()
                            .map(|n| n.to_string_lossy().to_string()),
                    };
                    let target = join(upper, &dest, base.as_deref(), to_dir);
                    let mode = mode.or(url.then_some(0o600));
                    copy_entry(&path, &target, &meta, mode)?;
                } else if rel.is_empty() {
                    std::fs::create_dir_all(join(upper, &dest, None, false))?;
                } else {
                    let target = join(upper, &dest, None, false).join(&rel);
                    copy_entry(&path, &target, &meta, mode)?;
                }
            }
        }
        if let Some(ids) = owner {
            copy::set_owners(upper, ids)?;
        }
        // Modes and times as the blob will carry them, before it is written.
        let movable = copy::mirror_base_dirs(upper, &layers)? && movable;
        let tree = match movable {
            true => Some((upper.to_path_buf(), copy::settle_tree(upper, self.epoch)?)),
            false => None,
        };
        // Owners marked by --chown or kept from an ADDed archive; the
        // base's dirs on the way keep theirs.
        let layer = crate::container::files::store_layer_with(
            &self.store,
            upper,
            self.epoch,
            Some(&layers),
        )?;
        let by = format!("/bin/sh -c #(nop) {source}");
        let img = self.commit_tree(
            st.parent.as_ref(),
            st.config.clone(),
            Some(layer),
            &by,
            tree,
        )?;
        if !upper.exists() {
            // Moved into the store: nothing left to remove.
            let _ = tmp.keep();
        }
        Ok(img)
    }
}

fn file_meta(rel: &str, path: &Path) -> anyhow::Result<FileMeta> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).with_context(|| format!("read {}", path.display()))?;
    let (kind, content, link) = if m.is_file() {
        let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
        (
            FileKind::File,
            crate::image::blobs::sha256(&bytes),
            String::new(),
        )
    } else if m.is_dir() {
        (FileKind::Dir, String::new(), String::new())
    } else if m.file_type().is_symlink() {
        let l = std::fs::read_link(path)?;
        (
            FileKind::Symlink,
            String::new(),
            l.to_string_lossy().to_string(),
        )
    } else {
        (FileKind::Other, String::new(), String::new())
    };
    Ok(FileMeta {
        path: rel.to_string(),
        kind,
        mode: m.mode() & 0o7777,
        // Owners in the context do not reach the image (COPY gives root).
        uid: 0,
        gid: 0,
        size: if m.is_file() { m.len() } else { 0 },
        content,
        link,
    })
}

/// The destination, relative ones under WORKDIR.
fn dest_path(dest: &str, config: &Value) -> String {
    if dest.starts_with('/') {
        return dest.to_string();
    }
    let wd = config["config"]["WorkingDir"].as_str().unwrap_or("/");
    let wd = if wd.is_empty() { "/" } else { wd };
    let mut d = format!("{}/{}", wd.trim_end_matches('/'), dest);
    if dest == "." || dest == "./" {
        d = format!("{}/", wd.trim_end_matches('/'));
    }
    d
}

/// Where a file lands in the upper dir.
fn join(upper: &Path, dest: &str, name: Option<&str>, to_dir: bool) -> PathBuf {
    let mut p = upper.join(dest.trim_start_matches('/'));
    if to_dir || dest.ends_with('/') {
        if let Some(n) = name {
            p = p.join(n);
        }
    }
    p
}

fn write_file(target: &Path, data: &[u8], mode: Option<u32>) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(d) = target.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(target, data).with_context(|| format!("write {}", target.display()))?;
    std::fs::set_permissions(
        target,
        std::fs::Permissions::from_mode(mode.unwrap_or(0o644)),
    )?;
    Ok(())
}

fn copy_entry(
    src: &Path,
    target: &Path,
    meta: &std::fs::Metadata,
    mode: Option<u32>,
) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(d) = target.parent() {
        std::fs::create_dir_all(d)?;
    }
    if meta.is_dir() {
        std::fs::create_dir_all(target)?;
    } else if meta.file_type().is_symlink() {
        let l = std::fs::read_link(src)?;
        let _ = std::fs::remove_file(target);
        std::os::unix::fs::symlink(l, target)?;
        return Ok(());
    } else {
        std::fs::copy(src, target)
            .with_context(|| format!("copy {} to the layer", src.display()))?;
    }
    let m = mode.unwrap_or(meta.permissions().mode() & 0o7777);
    std::fs::set_permissions(target, std::fs::Permissions::from_mode(m))?;
    Ok(())
}

/// A tar (plain or gzip) by its content, as ADD decides.
fn is_archive(p: &Path) -> bool {
    let mut head = [0u8; 262];
    let Ok(mut f) = std::fs::File::open(p) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    (n >= 2 && head[..2] == [0x1f, 0x8b]) || (n >= 262 && &head[257..262] == b"ustar")
}

fn write_atomic(index: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = index.parent().context("bad cache path")?;
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(index).map_err(|e| e.error)?;
    Ok(())
}

/// A config-only instruction applied to the config's `config`.
fn apply_config(
    cfg: &mut Map<String, Value>,
    instr: &Instruction,
    shell: &[String],
) -> anyhow::Result<()> {
    fn ensure<'a>(
        cfg: &'a mut Map<String, Value>,
        k: &str,
        empty: Value,
    ) -> anyhow::Result<&'a mut Value> {
        let v = cfg.entry(k).or_insert_with(|| empty.clone());
        if v.is_null() {
            *v = empty;
        }
        Ok(v)
    }
    match instr {
        Instruction::Env(kv) => {
            let list = ensure(cfg, "Env", json!([]))?
                .as_array_mut()
                .context("bad Env")?;
            for k in kv {
                list.retain(|e| e.as_str().and_then(|e| e.split('=').next()) != Some(&k.key));
                list.push(json!(format!("{}={}", k.key, k.value)));
            }
        }
        Instruction::Label(kv) => {
            let m = ensure(cfg, "Labels", json!({}))?
                .as_object_mut()
                .context("bad Labels")?;
            for k in kv {
                m.insert(k.key.clone(), json!(k.value));
            }
        }
        Instruction::Expose(ports) => {
            commit::apply_change(cfg, &format!("EXPOSE {}", ports.join(" ")))?;
        }
        Instruction::Volume(v) => {
            let m = ensure(cfg, "Volumes", json!({}))?
                .as_object_mut()
                .context("bad Volumes")?;
            for p in v {
                m.insert(p.clone(), json!({}));
            }
        }
        Instruction::User(u) => {
            cfg.insert("User".into(), json!(u));
        }
        Instruction::Workdir(w) => commit::apply_change(cfg, &format!("WORKDIR {w}"))?,
        Instruction::StopSignal(s) => {
            cfg.insert("StopSignal".into(), json!(s));
        }
        Instruction::Onbuild(t) => {
            ensure(cfg, "OnBuild", json!([]))?
                .as_array_mut()
                .context("bad OnBuild")?
                .push(json!(t));
        }
        Instruction::Shell(s) => {
            cfg.insert("Shell".into(), json!(s));
        }
        Instruction::Cmd(c) => {
            cfg.insert("Cmd".into(), json!(argv(c, shell)));
        }
        Instruction::Entrypoint(c) => {
            cfg.insert("Entrypoint".into(), json!(argv(c, shell)));
        }
        Instruction::Healthcheck(Health::None) => {
            cfg.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
        }
        Instruction::Healthcheck(Health::Check {
            test,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        }) => {
            let mut h = Map::new();
            h.insert("Test".into(), json!(test));
            let ns = |d: &Option<std::time::Duration>| d.map(|d| d.as_nanos() as u64);
            for (k, v) in [
                ("Interval", ns(interval)),
                ("Timeout", ns(timeout)),
                ("StartPeriod", ns(start_period)),
                ("StartInterval", ns(start_interval)),
            ] {
                if let Some(v) = v {
                    h.insert(k.into(), json!(v));
                }
            }
            if let Some(r) = retries {
                h.insert("Retries".into(), json!(r));
            }
            cfg.insert("Healthcheck".into(), Value::Object(h));
        }
        Instruction::Arg(_) => {}
        other => bail!("{other:?} is not a config step"),
    }
    Ok(())
}
