//! The command line: clap definitions and one handler file per verb.
//!
//! Only verbs that work are defined here, so `--help` never lists a
//! command that is not built yet.

mod archive;
mod completion;
mod containers;
mod create;
mod exec;
mod fuse_overlay;
mod history;
mod image;
mod image_source;
mod images;
mod info;
mod login;
mod logs;
mod pause;
mod ps;
mod pull;
mod run;
mod sandbox;
mod start;
mod top;
mod version;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::error::EXIT_BURROW;
use crate::paths::Paths;

/// Run Docker and OCI images as an ordinary user: no daemon, no root.
#[derive(Debug, Parser)]
#[command(
    name = "burrow",
    version,
    about = "Run Docker and OCI images as an ordinary user: no daemon, no root",
    long_about = None,
    disable_help_subcommand = true,
    propagate_version = true,
    args_override_self = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Storage root for images and containers [default: $XDG_DATA_HOME/burrow]
    #[arg(long, global = true, env = "BURROW_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// How much burrow says about what it does, on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogLevel::Warn, value_name = "LEVEL")]
    pub log_level: LogLevel,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

// Each subcommand's arguments are built only when it is the one run:
// building all of them took half a millisecond of every start.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Run a command in a new container (in the foreground, or detached with -d)
    Run(run::RunArgs),
    /// Create a container to start later
    Create(create::CreateArgs),
    /// Start a created or stopped container (detached; attached with -a)
    Start(start::StartArgs),
    /// Run a command in a running container
    Exec(exec::ExecArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// Show what a container wrote
    Logs(logs::LogsArgs),
    /// Stop running containers (stop signal, then SIGKILL)
    Stop(containers::StopArgs),
    /// Send a signal to running containers
    Kill(containers::KillArgs),
    /// Remove containers
    Rm(containers::RmArgs),
    /// Wait for containers to stop and print their exit codes
    Wait(containers::WaitArgs),
    /// Stop and start containers again
    Restart(containers::StopArgs),
    /// Freeze all processes of running containers (cgroup v2 freezer)
    Pause(pause::PauseArgs),
    /// Thaw paused containers
    Unpause(pause::PauseArgs),
    /// Rename a container
    Rename(containers::RenameArgs),
    /// Show a running container's processes
    Top(top::TopArgs),
    /// Show containers' CPU, memory, network and process counts
    Stats(top::StatsArgs),
    /// Manage containers
    Container(containers::ContainerArgs),
    /// Run a host program confined: host read-only, no network, no secrets
    Sandbox(sandbox::SandboxArgs),
    /// Show what this machine lets an unprivileged user do, and what to fix
    Info(info::InfoArgs),
    /// Show burrow's version and build
    Version(version::VersionArgs),
    /// Print a shell completion script
    Completion(completion::CompletionArgs),
    /// Internal: mount our FUSE overlay and serve it until unmounted
    #[command(name = "__fuse-overlay", hide = true)]
    FuseOverlay(fuse_overlay::FuseOverlayArgs),
    /// Pull an image from a registry
    Pull(pull::PullArgs),
    /// List images
    Images(images::ImagesArgs),
    /// Remove images
    Rmi(image::RmiArgs),
    /// Give an image another name
    Tag(image::TagArgs),
    /// Show the build steps of an image
    History(history::HistoryArgs),
    /// Write images to a tar archive (docker-archive and OCI layout in one)
    Save(archive::SaveArgs),
    /// Load images from a tar archive (docker-archive or OCI)
    Load(archive::LoadArgs),
    /// Make an image from a root file system tar
    Import(archive::ImportArgs),
    /// Log in to a registry (credentials go to ~/.docker/config.json)
    Login(login::LoginArgs),
    /// Remove a registry's saved credentials
    Logout(login::LogoutArgs),
    /// Manage images
    Image(image::ImageArgs),
    /// Internal: unpack a layer in a user namespace (run by burrow itself)
    #[command(name = "__unpack", hide = true)]
    HelperUnpack { blob: PathBuf, dest: PathBuf },
    /// Internal: remove a tree in a user namespace (run by burrow itself)
    #[command(name = "__rmtree", hide = true)]
    HelperRmtree { dir: PathBuf },
}

/// Output formats shared by the listing and inspecting verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// The clap command, for man pages and completions.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    cmd.build();
    cmd
}

/// Parse the process arguments. Help and version print and return `Err(0)`;
/// a usage error prints one line and returns `Err(125)` as Docker does.
pub fn parse() -> Result<Cli, i32> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(err) => Err(report_usage_error(&err)),
    }
}

fn report_usage_error(err: &clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // clap's own rendering is the help text itself.
            let _ = err.print();
            if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                EXIT_BURROW
            } else {
                0
            }
        }
        _ => {
            eprintln!("burrow: {} (see 'burrow --help')", usage_error_line(err));
            EXIT_BURROW
        }
    }
}

/// The first line of clap's message, without its "error: " prefix.
fn usage_error_line(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    crate::text::escape_control(first.trim_start_matches("error: ").trim())
}

/// Run the parsed command; `Ok` carries the exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    init_logging(cli.log_level);
    // Commands that start container processes run from a read-only mount
    // (or a sealed copy) of the binary, out of the containers' reach
    // (CVE-2019-5736, `sandbox::exe`).
    if matches!(
        cli.command,
        Command::Run(_)
            | Command::Start(_)
            | Command::Exec(_)
            | Command::Restart(_)
            | Command::Sandbox(_)
    ) {
        crate::sandbox::exe::run_out_of_reach();
    }
    let paths = Paths::new(cli.root.clone());
    match cli.command {
        Command::Run(args) => run::run(&paths, &args),
        Command::Create(args) => create::run(&paths, &args),
        Command::Start(args) => start::run(&paths, &args),
        Command::Exec(args) => exec::run(&paths, &args),
        Command::Ps(args) => ps::run(&paths, &args),
        Command::Logs(args) => logs::run(&paths, &args),
        Command::Stop(args) => containers::stop(&paths, &args),
        Command::Kill(args) => containers::kill(&paths, &args),
        Command::Rm(args) => containers::rm(&paths, &args),
        Command::Wait(args) => containers::wait(&paths, &args),
        Command::Restart(args) => containers::restart(&paths, &args),
        Command::Pause(args) => pause::pause(&paths, &args),
        Command::Unpause(args) => pause::unpause(&paths, &args),
        Command::Rename(args) => containers::rename(&paths, &args),
        Command::Top(args) => top::top(&paths, &args),
        Command::Stats(args) => top::stats(&paths, &args),
        Command::Container(args) => containers::group(&paths, &args),
        Command::Sandbox(args) => sandbox::run(&paths, &args),
        Command::Info(args) => info::run(&paths, &args),
        Command::Version(args) => version::run(&args),
        Command::Completion(args) => completion::run(&args),
        Command::FuseOverlay(args) => fuse_overlay::run(args),
        Command::Pull(args) => pull::run(&paths, &args),
        Command::Images(args) => images::run(&paths, &args),
        Command::Rmi(args) => image::rmi(&paths, &args),
        Command::Tag(args) => image::tag(&paths, &args),
        Command::History(args) => history::run(&paths, &args),
        Command::Save(args) => archive::save(&paths, &args),
        Command::Load(args) => archive::load(&paths, &args),
        Command::Import(args) => archive::import(&paths, &args),
        Command::Login(args) => login::login(&args),
        Command::Logout(args) => login::logout(&args),
        Command::Image(args) => image::run_group(&paths, &args),
        Command::HelperUnpack { blob, dest } => {
            crate::image::helper_main("__unpack", &[blob, dest])
        }
        Command::HelperRmtree { dir } => crate::image::helper_main("__rmtree", &[dir]),
    }
}

fn init_logging(level: LogLevel) {
    let filter = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definitions_are_consistent() {
        command().debug_assert();
    }

    #[test]
    fn unknown_flag_is_one_line() {
        let err = Cli::try_parse_from(["burrow", "info", "--bogus"]).unwrap_err();
        let line = usage_error_line(&err);
        assert!(line.contains("--bogus"), "{line}");
        assert!(!line.contains('\n'));
    }
}
