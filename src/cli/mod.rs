//! The command line: clap definitions and one handler file per verb.
//!
//! Only verbs that work are defined here, so `--help` never lists a
//! command that is not built yet.

mod archive;
mod build;
mod builder;
mod commit;
mod completion;
mod compose;
mod compose_verbs;
mod containers;
mod cp;
mod create;
mod examples;
mod exec;
mod format;
mod fuse_overlay;
mod history;
mod image;
mod images;
mod info;
mod inspect;
mod login;
mod logs;
mod network;
pub mod oci;
mod pause;
mod port;
mod ps;
mod pull;
mod push;
mod run;
mod sandbox;
mod start;
mod stats;
mod system;
mod top;
mod unshare;
mod version;
mod volume;

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
    ///
    /// Pulls the image when it is not in the store, makes a container from it (its own root, an
    /// overlay of the image's layers, in new user, mount, pid, network, uts and ipc namespaces, with
    /// Docker's default confinement) and runs the command in it: the image's own command when none is
    /// given. In the foreground, burrow returns the command's exit code; with -d it prints the
    /// container's id and a supervisor keeps the container, its log and its --restart policy.
    /// Containers get a network of their own by default (bridge: eth0, 10.0.2.100, reaching out
    /// through the host, DNS from the host's resolvers; the host itself only with --add-host
    /// NAME:host-gateway); --network none leaves only loopback, --network host shares the host's.
    #[command(after_long_help = examples::RUN)]
    Run(run::RunArgs),
    /// Create a container to start later
    ///
    /// Makes the container as run would (pulling the image when needed) and prints its id, without
    /// starting it; start runs it.
    #[command(after_long_help = examples::CREATE)]
    Create(create::CreateArgs),
    /// Start a created or stopped container (detached; attached with -a)
    ///
    /// Starts the container's command again in its kept root file system; with -a, prints its output
    /// and returns its exit code.
    #[command(after_long_help = examples::START)]
    Start(start::StartArgs),
    /// Run a command in a running container
    ///
    /// Runs the command in the container's namespaces, root and confinement, with its environment
    /// (plus -e) and as its user unless -u says otherwise. -it gives the command a terminal.
    #[command(after_long_help = examples::EXEC)]
    Exec(exec::ExecArgs),
    /// List containers
    ///
    /// Lists running containers; -a adds stopped ones. Filters (-f) and Go templates (--format) work
    /// as docker's.
    #[command(after_long_help = examples::PS)]
    Ps(ps::PsArgs),
    /// Show what a container wrote
    ///
    /// Prints what a detached container wrote to its standard output and error, kept in its log
    /// (rotated at 20MB x 5 unless --log-opt says otherwise). -f follows it, -n shows only the last
    /// lines.
    #[command(after_long_help = examples::LOGS)]
    Logs(logs::LogsArgs),
    /// Stop running containers (stop signal, then SIGKILL)
    ///
    /// Sends each container its stop signal (SIGTERM unless the image says otherwise), waits -t
    /// seconds, then kills it. A stopped container keeps its root file system until rm.
    #[command(after_long_help = examples::STOP)]
    Stop(containers::StopArgs),
    /// Send a signal to running containers
    Kill(containers::KillArgs),
    /// Remove containers
    ///
    /// Removes stopped containers with their root file system and log; -f stops a running one first.
    #[command(after_long_help = examples::RM)]
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
    /// List a container's published ports, or the host address of one
    ///
    /// Prints each published container port and the host address it is reachable at
    /// (80/tcp -> 0.0.0.0:8080); with PORT, only that port's host addresses.
    #[command(after_long_help = examples::PORT)]
    Port(port::PortArgs),
    /// Show containers' CPU, memory, network and block I/O, refreshed every second
    Stats(stats::StatsArgs),
    /// Show containers' and images' details as JSON, or through a Go template
    Inspect(inspect::InspectArgs),
    /// Manage containers
    Container(containers::ContainerArgs),
    /// Define and run multi-container applications (compose files)
    ///
    /// Reads compose.yaml (or docker-compose.yml, with their override files, or the -f files) as
    /// Docker Compose v2 does: up and down run the project, the other verbs act on its
    /// containers, config checks and prints its model.
    #[command(after_long_help = examples::COMPOSE)]
    Compose(compose::ComposeArgs),
    /// Run a host program confined: host read-only, no network, no secrets
    ///
    /// Runs a command from the host with the host's files read-only, the working directory writable,
    /// an empty home and /run, no network, a short list of environment variables, and seccomp and
    /// Landlock on. --allow-read and --allow-write open more paths, --env passes more variables.
    #[command(after_long_help = examples::SANDBOX)]
    Sandbox(sandbox::SandboxArgs),
    /// Run a host command in the containers' user namespace (remove files they chowned)
    Unshare(unshare::UnshareArgs),
    /// Show what this machine lets an unprivileged user do, and what to fix
    ///
    /// Probes, as you, what burrow needs (user namespaces, id maps, overlayfs, FUSE, seccomp,
    /// Landlock, cgroups) and says for each what works, what burrow does instead, and what an admin
    /// can change.
    #[command(after_long_help = examples::INFO)]
    Info(info::InfoArgs),
    /// Show burrow's version and build
    Version(version::VersionArgs),
    /// Print a shell completion script
    Completion(completion::CompletionArgs),
    /// Run as an OCI runtime, with runc's command line (podman, Slurm, containerd)
    ///
    /// runc's verbs over OCI bundles: create, start, run, state, kill, delete, exec, ps, features,
    /// spec. The same binary invoked as burrow-runc (a link) is this command. Containers are made by
    /// burrow's launcher and confinement; their state lives under --root (default
    /// $XDG_RUNTIME_DIR/burrow-runc).
    #[command(after_long_help = examples::OCI)]
    Oci(oci::OciArgs),
    /// Write an OCI bundle (rootfs, config.json) from an image, for Slurm or burrow oci
    ///
    /// Copies the image's merged files to DIR/rootfs (in the user namespace containers get, so
    /// owners are kept) and writes DIR/config.json: a rootless config with the image's command,
    /// environment, working dir and user, and the id maps burrow run uses. Pulls the image when it
    /// is not in the store. Remove the bundle with 'burrow unshare rm -rf DIR'.
    #[command(after_long_help = examples::EXPORT_BUNDLE)]
    ExportBundle(oci::ExportBundleArgs),
    /// Internal: mount our FUSE overlay and serve it until unmounted
    #[command(name = "__fuse-overlay", hide = true)]
    FuseOverlay(fuse_overlay::FuseOverlayArgs),
    /// Pull an image from a registry
    ///
    /// Fetches the image's manifest, config and layers into the store, checking every digest, and
    /// unpacks the layers. Registries on 127.0.0.0/8 are reached over plain HTTP; credentials come
    /// from burrow login or ~/.docker/config.json.
    #[command(after_long_help = examples::PULL)]
    Pull(pull::PullArgs),
    /// Push an image to a registry
    ///
    /// Uploads the image's layers, config and manifest to the registry its name names, with the
    /// credentials pull uses. Blobs the registry has are skipped, blobs it has in another repository
    /// are mounted from there, the rest upload a few at a time; the tag is set last.
    #[command(after_long_help = examples::PUSH)]
    Push(push::PushArgs),
    /// Search a registry for images
    ///
    /// REGISTRY/TERM lists the repositories of that registry's catalog whose name holds TERM; a bare
    /// TERM asks Docker Hub's search.
    #[command(after_long_help = examples::SEARCH)]
    Search(push::SearchArgs),
    /// List images
    ///
    /// Lists the images in the store, one line per tag; images without a tag show as <none>.
    #[command(after_long_help = examples::IMAGES)]
    Images(images::ImagesArgs),
    /// Remove images
    ///
    /// Untags the image and removes it with the layers no other image uses, unless a container still
    /// uses it (-f untags it all the same).
    #[command(after_long_help = examples::RMI)]
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
    /// Make an image of a container's changes
    ///
    /// Writes what the container changed (its files, with owners and modes as it sees them, and the
    /// names it removed) as a new layer over its image, with the command and environment it was run
    /// with and the -c changes in the config. With SOURCE_DATE_EPOCH set, equal changes give the
    /// same image id.
    #[command(after_long_help = examples::COMMIT)]
    Commit(commit::CommitArgs),
    /// Build an image from a Dockerfile
    ///
    /// Runs the Dockerfile's steps as Docker's classic builder does: each RUN in a container made
    /// by burrow's own launcher, each step an image, a step's result reused when its parent and
    /// inputs are the same ("Using cache"; --no-cache turns this off).
    #[command(after_long_help = examples::BUILD)]
    Build(build::BuildArgs),
    /// Manage the build cache (builder prune)
    #[command(after_long_help = examples::BUILDER)]
    Builder(builder::BuilderArgs),
    /// List the files a container added (A), changed (C) and deleted (D)
    Diff(commit::DiffArgs),
    /// Write a container's root file system as a tar archive
    Export(commit::ExportArgs),
    /// Copy files between a container and the host
    ///
    /// Copies CONTAINER:SRC_PATH to a host path or HOST_PATH into CONTAINER:DEST_PATH, running or
    /// stopped. - stands for a tar on standard input or output. Files copied in belong to the
    /// container's root unless -a keeps their owners.
    #[command(after_long_help = examples::CP)]
    Cp(cp::CpArgs),
    /// Log in to a registry (credentials go to ~/.docker/config.json)
    Login(login::LoginArgs),
    /// Remove a registry's saved credentials
    Logout(login::LogoutArgs),
    /// Manage images
    Image(image::ImageArgs),
    /// Manage volumes: named and anonymous data dirs that outlive containers
    ///
    /// Volumes live in the store (volumes/NAME/_data) and are mounted with -v NAME:/path or
    /// --mount type=volume. A new volume is filled from the image's files at that path on first use;
    /// a volume in use by a container cannot be removed.
    #[command(after_long_help = examples::VOLUME)]
    Volume(volume::VolumeArgs),
    /// Manage user networks: containers on one reach each other by name
    ///
    /// A user network is a bridge in a network namespace burrow keeps for you; its containers
    /// (run --network NAME) reach each other by container name, --network-alias and short id
    /// through a resolver on the network's gateway, and still reach out as on the default network.
    #[command(after_long_help = examples::NETWORK)]
    Network(network::NetworkArgs),
    /// Show disk usage (system df) and remove unused data (system prune)
    #[command(after_long_help = examples::SYSTEM)]
    System(system::SystemArgs),
    /// Internal: unpack a layer in a user namespace (run by burrow itself)
    #[command(name = "__unpack", hide = true)]
    HelperUnpack { blob: PathBuf, dest: PathBuf },
    /// Internal: remove a tree in a user namespace (run by burrow itself)
    #[command(name = "__rmtree", hide = true)]
    HelperRmtree { dir: PathBuf },
    /// Internal: read or write a container's files as it sees them (run by burrow itself)
    #[command(name = "__container-fs", hide = true)]
    HelperContainerFs { job: String },
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
    match Cli::try_parse_from(help_verb_as_flag(std::env::args_os().collect())) {
        Ok(cli) => Ok(cli),
        Err(err) => Err(report_usage_error(&err)),
    }
}

/// `burrow help VERB...` is `burrow VERB... --help`, as in Docker (clap's
/// own help subcommand would also put a `help` page among the man pages).
fn help_verb_as_flag(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    // The verb is the first word that is neither a global option nor the
    // value of one.
    let mut i = 1;
    while let Some(a) = args.get(i).and_then(|a| a.to_str()) {
        if a == "--root" || a == "--log-level" {
            i += 2;
        } else if a.starts_with('-') {
            i += 1;
        } else {
            break;
        }
    }
    if args.get(i).is_some_and(|a| a == "help") {
        args.remove(i);
        args.push("--help".into());
    }
    args
}

fn report_usage_error(err: &clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // clap's own rendering is the help text itself.
            let _ = err.print();
            0
        }
        // Bare `burrow` or `burrow image`: the help, on stdout, as Docker
        // prints its usage and exits 0.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            print!("{}", err.render());
            0
        }
        // The same after a global option (`burrow --root DIR`).
        ErrorKind::MissingSubcommand => {
            let mut cmd = command();
            for verb in command_path(err).split_whitespace().skip(1) {
                match cmd.find_subcommand(verb) {
                    Some(sub) => cmd = sub.clone(),
                    None => break,
                }
            }
            let _ = cmd.print_help();
            0
        }
        _ => {
            eprintln!(
                "burrow: {} (see '{} --help')",
                usage_error_line(err),
                command_path(err)
            );
            EXIT_BURROW
        }
    }
}

/// One line from clap's message, without its "error: " prefix; for a
/// missing argument, the argument's name (clap puts it on a line of its
/// own, under "the following required arguments were not provided:").
fn usage_error_line(err: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() == ErrorKind::MissingRequiredArgument {
        let missing = match err.get(ContextKind::InvalidArg) {
            Some(ContextValue::Strings(names)) => names.join(", "),
            Some(ContextValue::String(name)) => name.clone(),
            _ => "an argument".into(),
        };
        return crate::text::escape_control(&format!(
            "\"{}\" requires {missing}",
            command_path(err)
        ));
    }
    let rendered = err.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    crate::text::escape_control(first.trim_start_matches("error: ").trim())
}

/// clap's usage line for the command in error, without "Usage: ".
fn usage(err: &clap::Error) -> Option<String> {
    match err.get(clap::error::ContextKind::Usage) {
        Some(clap::error::ContextValue::StyledStr(u)) => {
            let u = u.to_string();
            Some(u.trim().trim_start_matches("Usage:").trim().to_string())
        }
        _ => None,
    }
}

/// "burrow rm" for an error in `burrow rm`'s arguments: the usage line's
/// leading words (the verbs), before its options and arguments.
fn command_path(err: &clap::Error) -> String {
    let usage = usage(err).unwrap_or_default();
    let words: Vec<&str> = usage
        .split_whitespace()
        .take_while(|w| {
            w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
        .collect();
    if words.is_empty() {
        "burrow".into()
    } else {
        words.join(" ")
    }
}

/// Run the parsed command; `Ok` carries the exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    init_logging(cli.log_level);
    // Commands that start container processes run from a read-only mount
    // (or a sealed copy) of the binary, out of the containers' reach
    // (CVE-2019-5736, `crate::exe`).
    if matches!(
        cli.command,
        Command::Run(_)
            | Command::Start(_)
            | Command::Exec(_)
            | Command::Restart(_)
            | Command::Sandbox(_)
    ) || matches!(&cli.command, Command::Compose(c) if c.starts_containers())
    {
        crate::exe::run_out_of_reach();
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
        Command::Port(args) => port::run(&paths, &args),
        Command::Stats(args) => stats::stats(&paths, &args),
        Command::Inspect(args) => inspect::run(&paths, &args),
        Command::Container(args) => containers::group(&paths, &args),
        Command::Compose(args) => compose::run(&paths, &args),
        Command::Sandbox(args) => sandbox::run(&paths, &args),
        Command::Unshare(args) => unshare::run(&args),
        Command::Oci(args) => Ok(oci::main("burrow oci", args.args)),
        Command::ExportBundle(args) => {
            crate::oci::export::export(&paths, &args.image, &args.dir).map(|()| 0)
        }
        Command::Info(args) => info::run(&paths, &args),
        Command::Version(args) => version::run(&args),
        Command::Completion(args) => completion::run(&args),
        Command::FuseOverlay(args) => fuse_overlay::run(args),
        Command::Pull(args) => pull::run(&paths, &args),
        Command::Images(args) => images::run(&paths, &args),
        Command::Rmi(args) => image::rmi(&paths, &args),
        Command::Volume(args) => volume::run_group(&paths, &args),
        Command::Network(args) => network::run_group(&paths, &args),
        Command::System(args) => system::run_group(&paths, &args),
        Command::Tag(args) => image::tag(&paths, &args),
        Command::History(args) => history::run(&paths, &args),
        Command::Save(args) => archive::save(&paths, &args),
        Command::Load(args) => archive::load(&paths, &args),
        Command::Import(args) => archive::import(&paths, &args),
        Command::Push(args) => push::push(&paths, &args),
        Command::Search(args) => push::search(&args),
        Command::Commit(args) => commit::commit(&paths, &args),
        Command::Build(args) => build::build(&paths, &args),
        Command::Builder(args) => builder::run_group(&paths, &args),
        Command::Diff(args) => commit::diff(&paths, &args),
        Command::Export(args) => commit::export(&paths, &args),
        Command::Cp(args) => cp::run(&paths, &args),
        Command::Login(args) => login::login(&args),
        Command::Logout(args) => login::logout(&args),
        Command::Image(args) => image::run_group(&paths, &args),
        Command::HelperUnpack { blob, dest } => {
            crate::image::helper_main("__unpack", &[blob, dest])
        }
        Command::HelperRmtree { dir } => crate::image::helper_main("__rmtree", &[dir]),
        Command::HelperContainerFs { job } => crate::container::files::helper_main(&job),
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
    fn missing_argument_is_named_on_one_line() {
        let err = Cli::try_parse_from(["burrow", "rm"]).unwrap_err();
        let line = usage_error_line(&err);
        assert!(
            line.starts_with("\"burrow rm\" requires <CONTAINER>..."),
            "{line}"
        );
        assert!(!line.contains('\n'));
        assert_eq!(command_path(&err), "burrow rm");
    }

    #[test]
    fn help_verb_becomes_the_help_flag() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            help_verb_as_flag(args(&["burrow", "--root", "/r", "help", "image", "ls"])),
            args(&["burrow", "--root", "/r", "image", "ls", "--help"])
        );
        assert_eq!(
            help_verb_as_flag(args(&["burrow", "ps", "help"])),
            args(&["burrow", "ps", "help"])
        );
    }

    #[test]
    fn unknown_flag_is_one_line() {
        let err = Cli::try_parse_from(["burrow", "info", "--bogus"]).unwrap_err();
        let line = usage_error_line(&err);
        assert!(line.contains("--bogus"), "{line}");
        assert!(!line.contains('\n'));
    }
}
