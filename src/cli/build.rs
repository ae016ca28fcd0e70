//! `burrow build`: an image from a Dockerfile and a context directory.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use crate::build::exec::{self, Options};
use crate::paths::Paths;
use crate::text::escape_control;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name the image (repeatable)
    #[arg(long, short = 't', value_name = "NAME[:TAG]")]
    pub tag: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile; "-" reads it from standard input)
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<String>,
    /// Set a build argument (KEY=VALUE; a bare KEY takes it from the environment)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_arg: Vec<String>,
    /// Build the stages up to this one and make it the image
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Run every step, using no cached step
    #[arg(long)]
    pub no_cache: bool,
    /// Print only the image id
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Write the image id to this file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Set a label on the image (KEY=VALUE, repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// The network of RUN steps (default, none, host)
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
    /// Give RUN --mount=type=secret a secret: id=NAME,src=FILE (or env=VAR)
    #[arg(long, value_name = "id=NAME,src=FILE")]
    pub secret: Vec<String>,
    /// Pull every FROM image, even one the store has
    #[arg(long)]
    pub pull: bool,
    /// Output style: plain (Docker's classic builder's lines), tty (a live view), auto (tty on a terminal)
    #[arg(long, value_name = "auto|plain|tty", default_value = "auto")]
    pub progress: String,
    /// The context directory ("-": a tar, or a Dockerfile, on standard input)
    #[arg(value_name = "CONTEXT")]
    pub context: PathBuf,
}

fn pair(s: &str, from_env: bool) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        None if from_env && !s.is_empty() => {
            Ok((s.to_string(), std::env::var(s).unwrap_or_default()))
        }
        _ => bail!("invalid KEY=VALUE {:?}", escape_control(s)),
    }
}

pub fn build(paths: &Paths, args: &BuildArgs) -> anyhow::Result<i32> {
    for t in &args.tag {
        let r = crate::reference::Reference::parse(t)?;
        if r.digest.is_some() {
            bail!(
                "cannot name an image with a digest ({}); give a name:tag",
                escape_control(t)
            );
        }
    }
    if !matches!(args.progress.as_str(), "auto" | "plain" | "tty") {
        bail!(
            "invalid --progress {:?} (auto, plain or tty)",
            escape_control(&args.progress)
        );
    }
    if let Some(n) = &args.network {
        if !matches!(n.as_str(), "default" | "none" | "host" | "bridge") {
            bail!(
                "invalid --network {:?} (default, none or host)",
                escape_control(n)
            );
        }
    }
    let build_args = args
        .build_arg
        .iter()
        .map(|a| pair(a, true))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let labels = args
        .label
        .iter()
        .map(|a| pair(a, false))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let secrets = args
        .secret
        .iter()
        .map(|s| crate::build::mounts::parse_secret(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // `-`: the context (or the Dockerfile) comes on standard input; the
    // temp dir lives until the build is over.
    let stdin_ctx = if args.context.as_os_str() == "-" {
        if args.file.as_deref() == Some("-") {
            bail!("invalid argument: can't use stdin for both build context and dockerfile");
        }
        Some(crate::build::context::from_stdin(
            &paths.root().join("tmp"),
        )?)
    } else {
        None
    };
    let context = match &stdin_ctx {
        Some(c) => c.dir().to_path_buf(),
        None => args.context.clone(),
    };
    if !context.is_dir() {
        bail!(
            "unable to prepare context: path {:?} not found",
            escape_control(&args.context.display().to_string())
        );
    }
    let (file_name, text, dockerfile_path) = match (args.file.as_deref(), &stdin_ctx) {
        (_, Some(crate::build::context::StdinContext::Dockerfile(_, t))) => {
            ("Dockerfile".to_string(), t.clone(), None)
        }
        (f, Some(crate::build::context::StdinContext::Tar(d))) => {
            let p = crate::build::context::dockerfile_in(d.path(), f);
            let t = std::fs::read_to_string(&p).with_context(|| {
                format!(
                    "unable to read the Dockerfile {} in the context tar",
                    escape_control(f.unwrap_or("Dockerfile"))
                )
            })?;
            (f.unwrap_or("Dockerfile").to_string(), t, Some(p))
        }
        (Some("-"), None) => {
            let mut t = String::new();
            std::io::stdin()
                .read_to_string(&mut t)
                .context("read the Dockerfile from standard input")?;
            ("Dockerfile".to_string(), t, None)
        }
        (other, None) => {
            let p = match other {
                Some(f) => PathBuf::from(f),
                None => context.join("Dockerfile"),
            };
            let t = std::fs::read_to_string(&p)
                .with_context(|| format!("unable to read the Dockerfile {}", p.display()))?;
            let name = other
                .map(String::from)
                .unwrap_or_else(|| "Dockerfile".to_string());
            (name, t, Some(p))
        }
    };
    let opts = Options {
        context,
        file_name,
        text,
        dockerfile_path,
        tags: args.tag.clone(),
        build_args,
        target: args.target.clone(),
        no_cache: args.no_cache,
        quiet: args.quiet,
        labels,
        network: args.network.clone(),
        secrets,
        pull: args.pull,
        progress: crate::build::progress::Mode::pick(&args.progress, args.quiet),
    };
    let img = exec::build(paths, &opts)?;
    // Tags only once the whole image is stored.
    let store = crate::image::Store::open(paths)?;
    let mut tagged = Vec::new();
    for t in &args.tag {
        store.tag(&img.id, t)?;
        // Docker's words: the name as given, with :latest when untagged.
        let last = t.rsplit('/').next().unwrap_or(t);
        tagged.push(if last.contains(':') || t.contains('@') {
            t.clone()
        } else {
            format!("{t}:latest")
        });
    }
    if let Some(f) = &args.iidfile {
        std::fs::write(f, &img.id).with_context(|| format!("write {}", f.display()))?;
    }
    if args.quiet {
        println!("{}", img.id);
    } else {
        println!("Successfully built {}", img.short_id());
        for t in &tagged {
            println!("Successfully tagged {}", escape_control(t));
        }
    }
    Ok(0)
}
