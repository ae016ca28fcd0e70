//! `burrow sandbox -- CMD [ARGS]`: run a host program confined, with no
//! image: the host read-only, the working directory writable, a private
//! /tmp, an empty private home with only the allowed dirs in it, no host
//! sockets, no network, an environment allow-list, the default seccomp
//! profile and a Landlock profile that matches the mounts. Runs through
//! the same launcher as containers, with a plan of its own
//! (`sandbox::hostplan`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::paths::Paths;
use crate::sandbox::confine::caps::CapSet;
use crate::sandbox::confine::Confinement;
use crate::sandbox::confine::{landlock, seccomp};
use crate::sandbox::mounts::hostplan::{self, HostPlanInput};
use crate::sandbox::{self, EtcFiles, LaunchSpec, Network, ProcessSpec, Rootfs};
use crate::text::escape_control;
use crate::userns::idmap::{HostUser, IdMapMode};

/// `--network` of a sandbox: no bridge (nothing writes its /etc files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NetworkArg {
    /// Only a loopback interface
    None,
    /// The host's network
    Host,
}

#[derive(Debug, Args)]
#[command(
    override_usage = "burrow sandbox [OPTIONS] -- COMMAND [ARG...]",
    after_help = "The home directory (from the password database, and $HOME if it differs) is \
                  an empty private dir: tools that need something from it must be given it, \
                  e.g. --allow-read ~/.cargo --allow-read ~/.rustup, or --allow-write ~/.npm. \
                  /run and /var/run are empty too, so no host socket (session bus, ssh-agent, \
                  docker.sock) is reachable. The working directory may not be the home \
                  directory, above it, a dir of it whose files run later (~/.config, ~/.ssh, \
                  ~/bin, ~/.local/bin) or hold shell startup files, unless --allow-write names \
                  it.\n\nThe environment passed in: PATH HOME USER LOGNAME SHELL TERM COLORTERM \
                  NO_COLOR LANG LANGUAGE LC_* TZ COLUMNS LINES EDITOR VISUAL PAGER, and PWD; \
                  anything else (tokens such as GITHUB_TOKEN) only with --env NAME."
)]
pub struct SandboxArgs {
    /// Let the command write PATH (and what is below it); inside the home,
    /// the real PATH is mounted into the empty private home
    #[arg(long, value_name = "PATH")]
    pub allow_write: Vec<PathBuf>,

    /// Let the command read PATH (and what is below it), e.g. ~/.cargo or
    /// ~/.gitconfig: nothing of the home is readable unless named
    #[arg(long, value_name = "PATH")]
    pub allow_read: Vec<PathBuf>,

    /// Pass the host's variable NAME, or set NAME to VALUE (only an
    /// allow-list of the host's environment is passed by default)
    #[arg(short, long = "env", value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,

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

/// The host's variables passed to the command without `--env`: what
/// programs need to find themselves, talk to the terminal and format
/// text. Tokens and keys (GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY, SSH_AUTH_SOCK)
/// are not; nor is TMPDIR (the sandbox has its own /tmp) or
/// XDG_RUNTIME_DIR (hidden).
const ENV_PASSED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "LANG",
    "LANGUAGE",
    "TZ",
    "COLUMNS",
    "LINES",
    "EDITOR",
    "VISUAL",
    "PAGER",
];

/// The command's environment: the allow-listed host variables (and
/// LC_*), then `--env` entries, HOME when the host has none, and PWD.
fn environment(
    host: impl Iterator<Item = (String, String)>,
    extra: &[String],
    home: &Path,
    cwd: &Path,
) -> Vec<String> {
    let host: Vec<(String, String)> = host.collect();
    let mut env: Vec<String> = host
        .iter()
        .filter(|(k, _)| ENV_PASSED.contains(&k.as_str()) || k.starts_with("LC_"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let lookup = |n: &str| host.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let extra = crate::container::spec::resolve_from_caller(extra, lookup);
    fn set(env: &mut Vec<String>, entry: String) {
        let name = entry.split('=').next().unwrap_or_default().to_string();
        env.retain(|e| e.split('=').next() != Some(name.as_str()));
        env.push(entry);
    }
    for e in extra {
        set(&mut env, e);
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        set(&mut env, format!("HOME={}", home.display()));
    }
    set(&mut env, format!("PWD={}", cwd.display()));
    env
}

/// A variable whose name and value are text (`std::env::vars` would panic
/// on one that is not).
fn utf8((k, v): (std::ffi::OsString, std::ffi::OsString)) -> Option<(String, String)> {
    Some((k.into_string().ok()?, v.into_string().ok()?))
}

/// An existing path, made absolute and canonical.
fn existing(p: &Path, flag: &str) -> anyhow::Result<PathBuf> {
    p.canonicalize()
        .with_context(|| format!("{flag} {}", escape_control(&p.display().to_string())))
}

/// The symlinks met when following `p` itself (not its parent dirs), as
/// (link, what it points to), so that the emptied home can have them again.
fn links_to(p: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    let mut cur = p.to_path_buf();
    // As many as the kernel follows.
    for _ in 0..40 {
        let Ok(to) = std::fs::read_link(&cur) else {
            break;
        };
        let next = cur.parent().map_or_else(|| to.clone(), |d| d.join(&to));
        out.push((cur, to));
        cur = next;
    }
    out
}

/// The user's home dirs: from the password database (a program cannot
/// steer that one), and `$HOME` too when it names another dir. Canonical,
/// existing ones only, not `/`. The first is the command's HOME when it
/// has none.
fn homes() -> anyhow::Result<(PathBuf, Vec<PathBuf>)> {
    let uid = nix::unistd::getuid();
    let passwd = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.dir)
        .filter(|d| d.is_absolute());
    let env = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute());
    let Some(first) = passwd.clone().or_else(|| env.clone()) else {
        anyhow::bail!(
            "cannot tell your home directory (no password database entry for uid {uid} and \
             HOME is unset), so sandbox cannot hide it"
        );
    };
    let mut all: Vec<PathBuf> = Vec::new();
    for h in passwd.into_iter().chain(env) {
        // `/` as a home (some service accounts) cannot be emptied.
        if let Some(c) = h.canonicalize().ok().filter(|c| c.parent().is_some()) {
            if !all.contains(&c) {
                all.push(c);
            }
        }
    }
    Ok((first, all))
}

/// The dirs under an emptied home that the Landlock profile grants
/// (npm-install's ~/.npm, cargo-build's ~/.cargo/registry): mounted back,
/// writable when the profile lets them be written.
fn profile_dirs(
    profile: &landlock::Profile,
    vars: &landlock::Vars,
    homes: &[PathBuf],
    input: &mut HostPlanInput,
) {
    for rule in &profile.paths {
        let Ok(p) = vars.expand(&rule.path).canonicalize() else {
            continue;
        };
        if !homes.iter().any(|h| p.starts_with(h) && p != *h) {
            continue;
        }
        let writes = rule.access.iter().any(|a| a == "write" || a == "all");
        let list = if writes {
            &mut input.allow_write
        } else {
            &mut input.allow_read
        };
        if !list.contains(&p) {
            list.push(p);
        }
    }
}

/// The mount plan's input from the flags and the host: the allowed paths
/// (and the symlinks they were named by), the checked working dir, and
/// what to hide besides the homes.
fn plan_input(
    paths: &Paths,
    args: &SandboxArgs,
    cwd: &Path,
    homes: &[PathBuf],
) -> anyhow::Result<HostPlanInput> {
    let mut input = HostPlanInput {
        homes: homes.to_vec(),
        cwd: cwd.to_path_buf(),
        ..Default::default()
    };
    for d in &args.allow_write {
        input.allow_write.push(existing(d, "--allow-write")?);
        input.links.extend(links_to(&cwd.join(d)));
    }
    for d in &args.allow_read {
        input.allow_read.push(existing(d, "--allow-read")?);
        input.links.extend(links_to(&cwd.join(d)));
    }
    // The working dir is made writable: never a home, whose startup
    // files run later outside the sandbox, unless named explicitly.
    if let Some(why) = hostplan::refuse_cwd(cwd, homes, &input.allow_write) {
        let d = escape_control(&cwd.display().to_string());
        anyhow::bail!(
            "the working directory {d} cannot be made writable: {why}; cd into a project \
             directory, or name it with --allow-write {d} to allow it"
        );
    }
    // burrow's own store (other containers' records and environment) and
    // runtime dirs, wherever they are; they may be made only later.
    let xdg_runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    for p in [
        Some(paths.root().to_path_buf()),
        Some(paths.runtime().to_path_buf()),
        xdg_runtime,
    ]
    .into_iter()
    .flatten()
    .filter(|p| p.is_absolute())
    {
        input.hide.push(p.canonicalize().unwrap_or(p));
    }
    // With the host's network, its resolver config, which /run may hold
    // (systemd-resolved's stub-resolv.conf).
    if args.network == NetworkArg::Host {
        if let Ok(r) = Path::new("/etc/resolv.conf").canonicalize() {
            if hostplan::SOCKET_DIRS.iter().any(|d| r.starts_with(d)) {
                input.allow_read.push(r);
            }
        }
    }
    Ok(input)
}

pub fn run(paths: &Paths, args: &SandboxArgs) -> anyhow::Result<i32> {
    let cwd = std::env::current_dir().context("the working directory")?;
    let (home, homes) = homes()?;
    let mut input = plan_input(paths, args, &cwd, &homes)?;
    if let Some(bad) = args
        .env
        .iter()
        .find(|e| e.split('=').next().unwrap_or("").is_empty())
    {
        anyhow::bail!(
            "--env {}: no variable name (NAME or NAME=VALUE)",
            escape_control(bad)
        );
    }
    let env = environment(std::env::vars_os().filter_map(utf8), &args.env, &home, &cwd);
    // Landlock's $HOME: the command's HOME when it is an emptied home,
    // never `/` or a dir the sandbox shows (a "$HOME" rule would grant it).
    let program_home = env
        .iter()
        .find_map(|e| e.strip_prefix("HOME="))
        .map(PathBuf::from);
    let ll_home = program_home
        .into_iter()
        .chain([home])
        .filter_map(|h| h.canonicalize().ok())
        .find(|h| homes.contains(h))
        .unwrap_or_else(|| "/nonexistent".into());
    let vars = landlock::Vars {
        home: ll_home,
        cwd: cwd.clone(),
        tmpdir: "/tmp".into(),
    };
    let confine = confinement(paths, args, &mut input, &vars)?;
    if let Some(w) = confine.landlock_warning() {
        warn_once(paths, &w);
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
            env,
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
        join: None,
        links: Vec::new(),
        host_loopback: false,
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
        ports: Default::default(),
        user_nets: None,
    };
    let result = sandbox::launch(&spec);
    let _ = std::fs::remove_dir(&merged);
    result.map(|e| e.code)
}

/// Say what Landlock cannot enforce on this kernel once per store and
/// kernel (the text names the ABI); later, only at `--log-level info`.
fn warn_once(paths: &Paths, warning: &str) {
    let marker = paths.root().join("landlock-warning");
    if std::fs::read_to_string(&marker).is_ok_and(|s| s == warning) {
        tracing::info!("{warning}");
        return;
    }
    eprintln!("burrow: {warning} (said once; --log-level info says it every time)");
    if paths.ensure_root().is_ok() {
        let _ = std::fs::write(&marker, warning);
    }
}

/// `name` as execve with a PATH search would find it (absolute, not
/// canonical: it may be a symlink).
fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return std::path::absolute(name).ok().filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .and_then(|p| std::path::absolute(p).ok())
}

/// No capabilities (the command runs as the user, not root), no_new_privs,
/// the seccomp profile, and the Landlock profile with the allowed dirs
/// granted and no longer excepted. The dirs under the home that the
/// profile grants, and the program itself, join the plan's binds.
fn confinement(
    paths: &Paths,
    args: &SandboxArgs,
    input: &mut HostPlanInput,
    vars: &landlock::Vars,
) -> anyhow::Result<Confinement> {
    let caps = CapSet::empty();
    let seccomp = seccomp::Source::from_option(args.seccomp.as_deref())
        .map(|s| {
            let cache = paths.ensure_root().ok();
            seccomp::program(&s, &caps, seccomp::Options::default(), cache)
        })
        .transpose()?;
    let mut profile = landlock::Profile::load(&args.profile)?;
    let homes = input.homes.clone();
    profile_dirs(&profile, vars, &homes, input);
    let allowed: Vec<&PathBuf> = input.allow_read.iter().chain(&input.allow_write).collect();
    for rule in &mut profile.paths {
        rule.except.retain(|e| {
            let e = vars.expand(e);
            !allowed
                .iter()
                .any(|a| **a == e || e.canonicalize().ok().as_ref() == Some(*a))
        });
        // Expanded here, with the home chosen above, not from the
        // command's HOME in the init.
        let text = |p: &str| vars.expand(p).to_string_lossy().into_owned();
        rule.path = text(&rule.path);
        rule.except = rule.except.iter().map(|e| text(e)).collect();
    }
    // No Landlock TCP rule for `--network none`: the empty network
    // namespace is the wall, and its errors (ENETUNREACH, a refused
    // connection on loopback, a failed DNS lookup) make tools give up at
    // once, where Landlock's EACCES had wget retrying for minutes.
    for d in &input.allow_write {
        profile.allow(d, &["read", "write", "execute"]);
    }
    // The program itself, wherever it lives (a profile such as
    // untrusted-binary grants only the system dirs and the working dir);
    // in the emptied home, mounted in.
    if let Some(found) = args.command.first().and_then(|c| find_program(c)) {
        if let Ok(program) = found.canonicalize() {
            profile.allow(&program, &["read", "execute"]);
            if homes
                .iter()
                .any(|h| program.starts_with(h) || found.starts_with(h))
                && !input.allow_read.contains(&program)
            {
                input.allow_read.push(program);
                input.links.extend(links_to(&found));
            }
        }
    }
    for d in &input.allow_read {
        profile.allow(d, &["read", "execute"]);
    }
    Ok(Confinement {
        caps,
        no_new_privs: true,
        seccomp,
        fake_chown: false,
        emulate_ids: false,
        notify_bind: false,
        landlock: Some(profile),
        masked_paths: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_is_an_allow_list_plus_env_flags() {
        let host = [
            ("PATH", "/usr/bin"),
            ("GITHUB_TOKEN", "t"),
            ("AWS_SECRET_ACCESS_KEY", "k"),
            ("SSH_AUTH_SOCK", "/run/user/1/agent"),
            ("TMPDIR", "/var/tmp/x"),
            ("LC_ALL", "C"),
            ("TERM", "xterm"),
            ("PWD", "/elsewhere"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let env = |extra: &[&str]| {
            let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            environment(
                host.clone().into_iter(),
                &extra,
                Path::new("/home/me"),
                Path::new("/home/me/p"),
            )
        };
        assert_eq!(
            env(&[]),
            [
                "PATH=/usr/bin",
                "LC_ALL=C",
                "TERM=xterm",
                "HOME=/home/me",
                "PWD=/home/me/p"
            ]
        );
        let e = env(&["GITHUB_TOKEN", "TERM=dumb", "NOT_SET", "HOME=/h"]);
        assert!(e.contains(&"GITHUB_TOKEN=t".to_string()), "{e:?}");
        assert!(e.contains(&"TERM=dumb".to_string()), "{e:?}");
        assert!(!e.iter().any(|v| v.starts_with("TERM=xterm")), "{e:?}");
        assert!(!e.iter().any(|v| v.starts_with("NOT_SET")), "{e:?}");
        assert!(!e.iter().any(|v| v.starts_with("AWS_")), "{e:?}");
        assert!(e.contains(&"HOME=/h".to_string()), "{e:?}");
    }
}
