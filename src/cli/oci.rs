//! `burrow oci ...` and the binary invoked as `burrow-runc`: runc's
//! command line over `crate::oci`.
//!
//! It has a parser of its own: runc's global `--root` is the state root,
//! not burrow's store, and engines put runc's globals before the verb.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use crate::oci::{defaults, ops, state::Store};

/// burrow as an OCI runtime (runc's command line)
#[derive(Debug, Parser)]
#[command(
    name = "burrow-runc",
    version,
    about = "burrow as an OCI runtime, with runc's command line",
    disable_help_subcommand = true,
    max_term_width = 100
)]
pub struct OciCli {
    /// State root [default: $XDG_RUNTIME_DIR/burrow-runc, else /run/burrow-runc (root) or /tmp/burrow-runc-UID]
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Also write errors to this file
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// text or json (one JSON object a line, as runc writes)
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    pub log_format: String,
    /// Accepted for runc's callers; burrow manages no cgroups
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc's callers
    #[arg(long, global = true)]
    pub debug: bool,
    /// Accepted for runc's callers, before the verb (burrow is always rootless)
    #[arg(long, value_name = "true|false|auto")]
    pub rootless: Option<String>,
    #[command(subcommand)]
    pub command: OciCommand,
}

#[derive(Debug, Subcommand)]
pub enum OciCommand {
    /// Create a container from a bundle; it waits for start
    Create(CreateArgs),
    /// Start a created container's process
    Start(IdArg),
    /// Create and start a container (in the foreground unless --detach)
    Run(RunArgs),
    /// Print a container's state as the runtime-spec's JSON
    State(IdArg),
    /// Send a signal to a container's init (SIGTERM unless given)
    Kill(KillArgs),
    /// Remove a container
    Delete(DeleteArgs),
    /// Run a process in a running container
    Exec(ExecArgs),
    /// List a container's processes
    Ps(PsArgs),
    /// Freeze a container (needs a delegated cgroup: not supported)
    Pause(IdArg),
    /// Thaw a container (needs a delegated cgroup: not supported)
    Resume(IdArg),
    /// Print the runtime-spec's features document
    Features,
    /// Write a default config.json
    Spec(SpecArgs),
    /// List containers
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct IdArg {
    pub id: String,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The bundle dir (with config.json)
    #[arg(long, short = 'b', default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Write the init's pid here
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// A unix socket to send the pty master to (process.terminal)
    #[arg(long, value_name = "SOCKET")]
    pub console_socket: Option<PathBuf>,
    /// Accepted for runc's callers (burrow always pivots)
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc's callers
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass on this many fds after stdio (only 0 is supported)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return once the process runs
    #[arg(long, short = 'd')]
    pub detach: bool,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal every process of the container
    #[arg(long, short = 'a')]
    pub all: bool,
    pub id: String,
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill a running container first
    #[arg(long, short = 'f')]
    pub force: bool,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// A process.json (runtime-spec's process); else ARGS and the flags
    #[arg(long, short = 'p', value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Give the process a pty (sent to --console-socket)
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Return once the process runs
    #[arg(long, short = 'd')]
    pub detach: bool,
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    #[arg(long, value_name = "SOCKET")]
    pub console_socket: Option<PathBuf>,
    /// Working dir in the container
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// NAME=VALUE to add to the container's environment
    #[arg(long, short = 'e', value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// UID[:GID]
    #[arg(long, short = 'u', value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Add a capability
    #[arg(long = "cap", short = 'c', value_name = "CAP")]
    pub caps: Vec<String>,
    #[arg(long)]
    pub no_new_privs: bool,
    /// Pass on this many fds after stdio (only 0 is supported)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    pub id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// table or json (the pids)
    #[arg(long, short = 'f', default_value = "table")]
    pub format: String,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// A user namespace mapping you to root, no cgroup
    #[arg(long)]
    pub rootless: bool,
    /// Where to write config.json
    #[arg(long, short = 'b', default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// table or json
    #[arg(long, short = 'f', default_value = "table")]
    pub format: String,
    /// Only the ids
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `burrow oci ARGS...`: the words after `oci`.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct OciArgs {
    /// runc's global options, a verb and its arguments (see 'burrow oci --help')
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct ExportBundleArgs {
    /// The image (pulled when not in the store)
    pub image: String,
    /// The bundle dir to make (new or empty)
    pub dir: PathBuf,
}

/// Whether this binary was invoked under a runc-shaped name.
pub fn invoked_as_runtime(arg0: &std::ffi::OsStr) -> bool {
    Path::new(arg0)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("burrow-runc"))
}

/// Parse and run runc-shaped `args` (after the program name); the exit
/// code.
pub fn main(name: &str, args: Vec<OsString>) -> i32 {
    let argv = std::iter::once(OsString::from(name)).chain(args);
    let cli = match OciCli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return 0;
            }
            let rendered = e.render().to_string();
            let line = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!(
                "burrow: {}",
                crate::text::escape_control(line.trim_start_matches("error: "))
            );
            return crate::error::EXIT_BURROW;
        }
    };
    let log = Log {
        path: cli.log.clone(),
        json: cli.log_format == "json",
    };
    if cli.systemd_cgroup {
        log.warn(
            "--systemd-cgroup: not supported (burrow's OCI runtime manages no cgroups); ignored",
        );
    }
    if let OciCommand::Create(CreateArgs { bundle, .. })
    | OciCommand::Run(RunArgs {
        create: CreateArgs { bundle, .. },
        ..
    }) = &cli.command
    {
        let path = crate::oci::bundle::load(bundle)
            .ok()
            .and_then(|b| b.spec.linux().as_ref()?.cgroups_path().clone());
        if let Some(p) = path {
            log.warn(&format!(
                "linux.cgroupsPath {}: not used (burrow's OCI runtime manages no cgroups; \
                 no limit was asked, as any would be refused)",
                p.display()
            ));
        }
    }
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let line = crate::error::one_line(&e);
            eprintln!("burrow: {line}");
            log.error(&line);
            crate::error::exit_code(&e)
        }
    }
}

/// `--log` and `--log-format`: errors go there too (conmon reads the last
/// line of a JSON log for the engine's message).
struct Log {
    path: Option<PathBuf>,
    json: bool,
}

impl Log {
    fn error(&self, msg: &str) {
        self.write("error", msg);
    }

    /// A note for the log file only: engines copy a runtime's stderr into
    /// the job's output (Slurm) or treat it as a failure.
    fn warn(&self, msg: &str) {
        self.write("warning", msg);
    }

    fn write(&self, level: &str, msg: &str) {
        let Some(p) = &self.path else { return };
        let line = if self.json {
            serde_json::json!({
                "level": level,
                "msg": msg,
                "time": crate::oci::state::now_rfc3339(),
            })
            .to_string()
        } else {
            format!("burrow: {level}: {msg}")
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

fn dispatch(cli: OciCli) -> anyhow::Result<i32> {
    if !matches!(cli.log_format.as_str(), "text" | "json") {
        bail!("--log-format {:?}: use text or json", cli.log_format);
    }
    if matches!(
        cli.command,
        OciCommand::Create(_) | OciCommand::Run(_) | OciCommand::Exec(_)
    ) {
        // As for burrow run (CVE-2019-5736, `crate::exe`).
        crate::exe::run_out_of_reach();
    }
    let store = Store::new(cli.root.clone());
    match cli.command {
        OciCommand::Create(a) => {
            check_preserve(a.preserve_fds)?;
            ops::create(&store, &create_opts(&a))?;
            Ok(0)
        }
        OciCommand::Run(a) => {
            check_preserve(a.create.preserve_fds)?;
            ops::run(&store, &create_opts(&a.create), a.detach)
        }
        OciCommand::Start(a) => ops::start(&store, &a.id).map(|()| 0),
        OciCommand::State(a) => {
            let st = ops::state(&store, &a.id)?;
            println!("{}", serde_json::to_string_pretty(&st)?);
            Ok(0)
        }
        OciCommand::Kill(a) => {
            let sig = ops::parse_signal(&a.signal)?;
            ops::kill_container(&store, &a.id, sig, a.all).map(|()| 0)
        }
        OciCommand::Delete(a) => ops::delete(&store, &a.id, a.force).map(|()| 0),
        OciCommand::Exec(a) => exec(&store, a),
        OciCommand::Ps(a) => ps(&store, &a),
        OciCommand::Pause(a) | OciCommand::Resume(a) => {
            store.load(&a.id)?;
            bail!(
                "container {}: pause and resume need a delegated cgroup v2 freezer, which \
                 burrow's OCI runtime does not manage",
                a.id
            )
        }
        OciCommand::Features => {
            println!("{}", serde_json::to_string_pretty(&defaults::features())?);
            Ok(0)
        }
        OciCommand::Spec(a) => {
            let path = a.bundle.join("config.json");
            if path.exists() {
                bail!("{} exists: remove it first", path.display());
            }
            let text = serde_json::to_string_pretty(&defaults::spec(a.rootless))?;
            std::fs::write(&path, text + "\n")
                .with_context(|| format!("write {}", path.display()))?;
            Ok(0)
        }
        OciCommand::List(a) => list(&store, &a),
    }
}

fn check_preserve(n: u32) -> anyhow::Result<()> {
    if n > 0 {
        bail!("--preserve-fds {n}: not supported by burrow");
    }
    Ok(())
}

fn create_opts(a: &CreateArgs) -> ops::CreateOpts<'_> {
    ops::CreateOpts {
        id: &a.id,
        bundle: &a.bundle,
        pid_file: a.pid_file.as_deref(),
        console_socket: a.console_socket.as_deref(),
    }
}

fn exec(store: &Store, a: ExecArgs) -> anyhow::Result<i32> {
    check_preserve(a.preserve_fds)?;
    let process = match &a.process {
        Some(f) => {
            let text = std::fs::read(f).with_context(|| format!("read {}", f.display()))?;
            serde_json::from_slice(&text).with_context(|| format!("parse {}", f.display()))?
        }
        None => process_from_flags(store, &a)?,
    };
    ops::exec(
        store,
        ops::ExecOpts {
            id: &a.id,
            process: Some(process),
            console_socket: a.console_socket.as_deref(),
            pid_file: a.pid_file.as_deref(),
            detach: a.detach,
        },
    )
}

/// runc's exec without --process: the container's process with ARGS and
/// the flags over it.
fn process_from_flags(store: &Store, a: &ExecArgs) -> anyhow::Result<oci_spec::runtime::Process> {
    if a.args.is_empty() {
        bail!("exec: no command given (ARGS or --process)");
    }
    let r = store.load(&a.id)?;
    let b = crate::oci::bundle::load(&r.bundle)?;
    let mut p = b
        .spec
        .process()
        .clone()
        .context("process: missing in config.json")?;
    p.set_args(Some(a.args.clone()));
    p.set_terminal(Some(a.tty));
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(a.env.iter().cloned());
    p.set_env(Some(env));
    if let Some(c) = &a.cwd {
        p.set_cwd(c.into());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let user = p.user_mut();
        user.set_uid(
            uid.parse()
                .with_context(|| format!("--user {u}: not numeric"))?,
        );
        if let Some(g) = gid {
            user.set_gid(
                g.parse()
                    .with_context(|| format!("--user {u}: not numeric"))?,
            );
        }
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !a.caps.is_empty() {
        let mut c = p.capabilities().clone().unwrap_or_default();
        for name in &a.caps {
            let cap: oci_spec::runtime::Capability =
                serde_json::from_value(serde_json::Value::String(name.to_ascii_uppercase()))
                    .with_context(|| format!("--cap {name}: unknown"))?;
            for set in [
                c.bounding().clone(),
                c.permitted().clone(),
                c.effective().clone(),
            ]
            .iter()
            .enumerate()
            {
                let mut s = set.1.clone().unwrap_or_default();
                s.insert(cap);
                match set.0 {
                    0 => c.set_bounding(Some(s)),
                    1 => c.set_permitted(Some(s)),
                    _ => c.set_effective(Some(s)),
                };
            }
        }
        p.set_capabilities(Some(c));
    }
    Ok(p)
}

fn ps(store: &Store, a: &PsArgs) -> anyhow::Result<i32> {
    let r = store.load(&a.id)?;
    if store.status(&r) == crate::oci::state::Status::Stopped {
        bail!("container {} is not running", a.id);
    }
    let pids = crate::oci::state::pids_in_container(r.pid);
    match a.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => {
            println!("{:>8}  CMD", "PID");
            for p in pids {
                let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                let cmd: Vec<String> = cmd
                    .split(|b| *b == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| crate::text::escape_control(&String::from_utf8_lossy(s)))
                    .collect();
                println!("{p:>8}  {}", cmd.join(" "));
            }
        }
        f => bail!("--format {f:?}: use table or json"),
    }
    Ok(0)
}

fn list(store: &Store, a: &ListArgs) -> anyhow::Result<i32> {
    let mut rows = Vec::new();
    for id in store.ids() {
        if let Ok(r) = store.load(&id) {
            let st = store.status(&r);
            rows.push(crate::oci::state::state_json(&r, st));
        }
    }
    if a.quiet {
        for r in &rows {
            println!("{}", r["id"].as_str().unwrap_or_default());
        }
    } else if a.format == "json" {
        println!("{}", serde_json::to_string(&rows)?);
    } else {
        println!("{:<24} {:>8} {:<10} BUNDLE", "ID", "PID", "STATUS");
        for r in &rows {
            println!(
                "{:<24} {:>8} {:<10} {}",
                r["id"].as_str().unwrap_or_default(),
                r["pid"],
                r["status"].as_str().unwrap_or_default(),
                r["bundle"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn runc_shaped_command_line_parses() {
        OciCli::command().debug_assert();
        let p = |v: &[&str]| OciCli::try_parse_from(v.iter().copied());
        let c = p(&[
            "burrow-runc",
            "--root",
            "/r",
            "--log-format",
            "json",
            "--systemd-cgroup",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "--console-socket",
            "/s",
            "x",
        ])
        .unwrap();
        assert_eq!(c.root.as_deref(), Some(Path::new("/r")));
        assert!(matches!(c.command, OciCommand::Create(ref a) if a.id == "x"));
        let c = p(&["burrow-runc", "--rootless=true", "spec", "--rootless"]).unwrap();
        assert!(matches!(
            c.command,
            OciCommand::Spec(SpecArgs { rootless: true, .. })
        ));
        let c = p(&[
            "burrow-runc",
            "exec",
            "--detach",
            "--pid-file",
            "/p",
            "x",
            "ls",
            "-l",
        ])
        .unwrap();
        assert!(matches!(c.command, OciCommand::Exec(ref a) if a.args == ["ls", "-l"]));
        let c = p(&["burrow-runc", "kill", "--all", "x", "KILL"]).unwrap();
        assert!(matches!(c.command, OciCommand::Kill(ref a) if a.all && a.signal == "KILL"));
        assert!(invoked_as_runtime(std::ffi::OsStr::new(
            "/usr/local/bin/burrow-runc"
        )));
        assert!(!invoked_as_runtime(std::ffi::OsStr::new("burrow")));
    }
}
