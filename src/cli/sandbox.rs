//! `burrow sandbox -- CMD [ARGS]`: run a host program confined, with no
//! image: the host read-only, the working directory writable, a private
//! /tmp, no network, no secrets, the default seccomp profile and a
//! Landlock profile that matches the mounts. Runs through the same
//! launcher as containers, with a plan of its own (`sandbox::hostplan`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::run::NetworkArg;
use crate::paths::Paths;
use crate::sandbox::caps::CapSet;
use crate::sandbox::confine::Confinement;
use crate::sandbox::hostplan::{self, HostPlanInput};
use crate::sandbox::idmap::{HostUser, IdMapMode};
use crate::sandbox::{self, landlock, seccomp, EtcFiles, LaunchSpec, Network, ProcessSpec, Rootfs};

#[derive(Debug, Args)]
#[command(override_usage = "burrow sandbox [OPTIONS] -- COMMAND [ARG...]")]
pub struct SandboxArgs {
    /// Let the command write DIR (and what is below it)
    #[arg(long, value_name = "DIR")]
    pub allow_write: Vec<PathBuf>,

    /// Let the command read DIR, even one of the hidden secrets (~/.ssh...)
    #[arg(long, value_name = "DIR")]
    pub allow_read: Vec<PathBuf>,

    /// Network: none (loopback only, the default) or host
    #[arg(long, value_enum, default_value_t = NetworkArg::None, value_name = "MODE")]
    pub network: NetworkArg,

    /// Landlock profile: default, npm-install, cargo-build, pip-install,
    /// untrusted-binary, or a file
    #[arg(long, value_name = "NAME|FILE", default_value = "default")]
    pub profile: String,

    /// Seccomp profile file, or unconfined [default: burrow's default profile]
    #[arg(long, value_name = "FILE|unconfined")]
    pub seccomp: Option<String>,

    /// The command and its arguments
    #[arg(
        value_name = "COMMAND [ARG...]",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 1..
    )]
    pub command: Vec<String>,
}

/// An existing dir, made absolute.
fn existing(p: &Path, flag: &str) -> anyhow::Result<PathBuf> {
    p.canonicalize().with_context(|| {
        format!(
            "{flag} {}",
            crate::text::escape_control(&p.display().to_string())
        )
    })
}

pub fn run(paths: &Paths, args: &SandboxArgs) -> anyhow::Result<i32> {
    let cwd = std::env::current_dir().context("the working directory")?;
    if cwd == Path::new("/") {
        // The working dir is made writable: here that would be everything.
        anyhow::bail!(
            "the working directory is /, which sandbox would make writable; cd to the \
             directory the command may write"
        );
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/".into());
    let mut input = HostPlanInput {
        home: home.clone(),
        cwd: cwd.clone(),
        ..Default::default()
    };
    for d in &args.allow_write {
        input.allow_write.push(existing(d, "--allow-write")?);
    }
    for d in &args.allow_read {
        input.allow_read.push(existing(d, "--allow-read")?);
    }
    if let Some(rt) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        if rt.is_dir() && !cwd.starts_with(&rt) {
            input.hide.push(rt);
        }
    }
    let confine = confinement(paths, args, &input)?;
    if let Some(w) = confine.landlock_warning() {
        eprintln!("burrow: {w}");
    }
    let plan = hostplan::build(&input);

    // The launcher mounts the host's / here before pivoting into it.
    let runtime = paths.ensure_runtime()?;
    let merged = runtime.join(format!("sandbox-{}", std::process::id()));
    std::fs::create_dir_all(&merged).with_context(|| format!("create {}", merged.display()))?;
    let user = HostUser::current();
    let tty = nix::unistd::isatty(0).unwrap_or(false) && nix::unistd::isatty(1).unwrap_or(false);
    let spec = LaunchSpec {
        rootfs: Rootfs {
            lower_dirs: vec![],
            upper: merged.clone(),
            work: merged.clone(),
            merged: merged.clone(),
            driver: Default::default(),
        },
        process: ProcessSpec {
            args: args.command.clone(),
            env: std::env::vars().map(|(k, v)| format!("{k}={v}")).collect(),
            cwd: cwd.to_string_lossy().into_owned(),
            uid: user.uid,
            gid: user.gid,
            additional_gids: vec![],
            tty,
            stdin: true,
        },
        hostname: nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "sandbox".into()),
        mounts: vec![],
        read_only: false,
        network: match args.network {
            NetworkArg::None => Network::None,
            NetworkArg::Host => Network::Host,
        },
        etc: EtcFiles {
            hosts: merged.clone(),
            hostname: merged.clone(),
            resolv_conf: merged.clone(),
        },
        id_map: IdMapMode::Single,
        host_user: user,
        init: true,
        remove_after: None,
        confinement: confine,
        plan: Some(plan),
        identity_map: true,
        cgroup: None,
        nproc_limit: None,
    };
    let result = sandbox::launch(&spec);
    let _ = std::fs::remove_dir(&merged);
    result.map(|e| e.code)
}

/// `name` as execve with a PATH search would find it, made absolute.
fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Path::new(name).canonicalize().ok();
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok())
}

/// No capabilities (the command runs as the user, not root), no_new_privs,
/// the seccomp profile, and the Landlock profile with the allowed dirs
/// granted and no longer excepted.
fn confinement(
    paths: &Paths,
    args: &SandboxArgs,
    input: &HostPlanInput,
) -> anyhow::Result<Confinement> {
    let caps = CapSet::empty();
    let source = match args.seccomp.as_deref() {
        None => Some(seccomp::Source::Default),
        Some(v) => seccomp::Source::from_security_opt(v),
    };
    let seccomp = match source {
        Some(s) => Some(seccomp::program(
            &s,
            &caps,
            seccomp::Options::default(),
            paths.ensure_root().ok(),
        )?),
        None => None,
    };
    let mut profile = landlock::Profile::load(&args.profile)?;
    let allowed: Vec<&PathBuf> = input.allow_read.iter().chain(&input.allow_write).collect();
    let home = input.home.to_string_lossy().into_owned();
    for rule in &mut profile.paths {
        rule.except.retain(|e| {
            let e = PathBuf::from(e.replace("$HOME", &home));
            !allowed
                .iter()
                .any(|a| **a == e || e.canonicalize().ok().as_ref() == Some(*a))
        });
    }
    // No network: TCP refused by Landlock too (ABI >= 4), not only by
    // the empty network namespace.
    if args.network == NetworkArg::None && profile.net.is_none() {
        profile.net = Some(landlock::Net::default());
    }
    for d in &input.allow_write {
        profile.allow(d, &["read", "write", "execute"]);
    }
    // The program itself, wherever it lives (a profile such as
    // untrusted-binary grants only the system dirs and the working dir).
    if let Some(program) = args.command.first().and_then(|c| find_program(c)) {
        profile.allow(&program, &["read", "execute"]);
    }
    for d in &input.allow_read {
        profile.allow(d, &["read", "execute"]);
    }
    Ok(Confinement {
        caps,
        no_new_privs: true,
        seccomp,
        fake_chown: false,
        landlock: Some(profile),
        masked_paths: true,
    })
}
