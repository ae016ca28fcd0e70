//! `burrow compose`: the clap definitions of its verbs and their
//! dispatch. `config` prints the model; `up` and `down` go to the
//! planner and executor in `compose::exec`; the verbs on running
//! services are in `compose_verbs`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::compose::{self, Options};

#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// Compose file (repeatable; later files merge over earlier ones; - reads stdin)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Vec<PathBuf>,

    /// Project name [default: COMPOSE_PROJECT_NAME, the file's name:, or the directory's name]
    #[arg(short = 'p', long, value_name = "NAME")]
    pub project_name: Option<String>,

    /// Project directory [default: the first compose file's directory]
    #[arg(long, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,

    /// Read variables from this file instead of .env (repeatable)
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,

    /// Enable services of this profile (repeatable) [env: COMPOSE_PROFILES]
    #[arg(long, value_name = "PROFILE")]
    pub profile: Vec<String>,

    #[command(subcommand)]
    pub command: ComposeCommand,
}

#[derive(Debug, Subcommand)]
pub enum ComposeCommand {
    /// Check the compose files and print the normalised model
    ///
    /// Loads the project as Compose does (override files, -f merges, .env, interpolation,
    /// anchors, extends, include, profiles), checks it against the compose specification and
    /// prints it in its long form, with every variable replaced.
    #[command(after_long_help = super::examples::COMPOSE_CONFIG)]
    Config(ConfigArgs),
    /// Create and start the services' containers
    ///
    /// Makes the project's volumes, builds missing images, then creates and starts each
    /// service's containers after those it depends on (started, healthy or completed, as
    /// depends_on says). A container whose configuration is unchanged is left as it is; a
    /// changed one is recreated. Without -d, prints the containers' output prefixed by their
    /// names until they all end; Ctrl-C stops them.
    #[command(after_long_help = super::examples::COMPOSE_UP)]
    Up(UpArgs),
    /// Stop and remove the project's containers (with -v its volumes, with --rmi its images)
    #[command(after_long_help = super::examples::COMPOSE_DOWN)]
    Down(DownArgs),
    /// List the project's containers
    #[command(after_long_help = super::examples::COMPOSE_PS)]
    Ps(super::compose_verbs::PsArgs),
    /// Print the services' output, each line prefixed by its container
    #[command(after_long_help = super::examples::COMPOSE_LOGS)]
    Logs(super::compose_verbs::LogsArgs),
    /// Stop the services' containers
    #[command(after_long_help = super::examples::COMPOSE_STOP)]
    Stop(super::compose_verbs::StopArgs),
    /// Start the services' existing containers
    #[command(after_long_help = super::examples::COMPOSE_START)]
    Start(super::compose_verbs::Services),
    /// Restart the services' containers
    #[command(after_long_help = super::examples::COMPOSE_RESTART)]
    Restart(super::compose_verbs::StopArgs),
    /// Send a signal to the services' containers
    #[command(after_long_help = super::examples::COMPOSE_KILL)]
    Kill(super::compose_verbs::KillArgs),
    /// Remove the services' stopped containers
    #[command(after_long_help = super::examples::COMPOSE_RM)]
    Rm(super::compose_verbs::RmArgs),
    /// Run a command in a service's running container
    #[command(after_long_help = super::examples::COMPOSE_EXEC)]
    Exec(super::compose_verbs::ExecArgs),
    /// Run a one-off command in a new container of a service
    #[command(after_long_help = super::examples::COMPOSE_RUN)]
    Run(super::compose_verbs::RunArgs),
    /// Show the processes of the services' containers
    #[command(after_long_help = super::examples::COMPOSE_TOP)]
    Top(super::compose_verbs::Services),
    /// Print the host address a service's port is published on
    #[command(after_long_help = super::examples::COMPOSE_PORT)]
    Port(super::compose_verbs::PortArgs),
    /// List the images the project's containers use
    #[command(after_long_help = super::examples::COMPOSE_IMAGES)]
    Images(super::compose_verbs::ImagesArgs),
    /// List the projects that have containers
    #[command(after_long_help = super::examples::COMPOSE_LS)]
    Ls(super::compose_verbs::LsArgs),
    /// Build the images of services that have a build section
    #[command(after_long_help = super::examples::COMPOSE_BUILD)]
    Build(super::compose_verbs::BuildArgs),
    /// Pull the images of services that name one
    #[command(after_long_help = super::examples::COMPOSE_PULL)]
    Pull(super::compose_verbs::PullArgs),
    /// Push the images of services that build one and name it
    #[command(after_long_help = super::examples::COMPOSE_PUSH)]
    Push(super::compose_verbs::PushArgs),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Run in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Build images before starting
    #[arg(long)]
    pub build: bool,
    /// Do not build images, even missing ones
    #[arg(long, conflicts_with = "build")]
    pub no_build: bool,
    /// Recreate containers even if their configuration has not changed
    #[arg(long)]
    pub force_recreate: bool,
    /// Keep existing containers even if their configuration changed
    #[arg(long, conflicts_with = "force_recreate")]
    pub no_recreate: bool,
    /// Do not start the services the named ones depend on
    #[arg(long)]
    pub no_deps: bool,
    /// Wait until the services run (and are healthy, where they have a check); implies -d
    #[arg(long)]
    pub wait: bool,
    /// Give up --wait after this many seconds
    #[arg(long, value_name = "SECONDS")]
    pub wait_timeout: Option<u64>,
    /// Create the containers, do not start them
    #[arg(long)]
    pub no_start: bool,
    /// Remove containers of services no longer in the files
    #[arg(long)]
    pub remove_orphans: bool,
    /// Run N containers of SERVICE (overrides deploy.replicas)
    #[arg(long, value_name = "SERVICE=N")]
    pub scale: Vec<String>,
    /// Seconds to wait for a container to stop before it is killed
    #[arg(short, long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Only these services (and what they depend on)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Rmi {
    /// Images built for services without an image: name
    Local,
    /// Every image the services use
    All,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Remove the project's named volumes and its containers' anonymous volumes
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove images too
    #[arg(long, value_enum, value_name = "TYPE")]
    pub rmi: Option<Rmi>,
    /// Remove containers of services no longer in the files
    #[arg(long)]
    pub remove_orphans: bool,
    /// Seconds to wait for a container to stop before it is killed
    #[arg(short, long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConfigFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = ConfigFormat::Yaml)]
    pub format: ConfigFormat,

    /// Only check the files; print nothing
    #[arg(short, long)]
    pub quiet: bool,

    /// Print the services' names, one a line
    #[arg(long)]
    pub services: bool,

    /// Print the volumes' names, one a line
    #[arg(long)]
    pub volumes: bool,
}

impl ComposeArgs {
    /// Whether the verb may start container processes (and so runs out
    /// of their reach, as `run` does).
    pub fn starts_containers(&self) -> bool {
        matches!(
            self.command,
            ComposeCommand::Up(_)
                | ComposeCommand::Start(_)
                | ComposeCommand::Restart(_)
                | ComposeCommand::Run(_)
                | ComposeCommand::Exec(_)
        )
    }
}

pub fn run(paths: &crate::paths::Paths, a: &ComposeArgs) -> anyhow::Result<i32> {
    let opts = Options {
        files: a.file.clone(),
        project_name: a.project_name.clone(),
        project_directory: a.project_directory.clone(),
        env_files: a.env_file.clone(),
        profiles: a.profile.clone(),
    };
    use super::compose_verbs as v;
    if let ComposeCommand::Config(c) = &a.command {
        return config(&opts, c);
    }
    // `ls` needs no compose file.
    if let ComposeCommand::Ls(l) = &a.command {
        return v::ls(paths, l);
    }
    let project = load(&opts)?;
    match &a.command {
        ComposeCommand::Config(_) | ComposeCommand::Ls(_) => unreachable!("handled above"),
        ComposeCommand::Up(u) => up(paths, &project, u),
        ComposeCommand::Down(d) => compose::exec::down(
            paths,
            &project,
            &compose::exec::DownOptions {
                volumes: d.volumes,
                rmi: d.rmi.map(|r| match r {
                    Rmi::Local => "local".to_string(),
                    Rmi::All => "all".to_string(),
                }),
                remove_orphans: d.remove_orphans,
                timeout: d.timeout,
            },
        ),
        ComposeCommand::Ps(x) => v::ps(paths, &project, x),
        ComposeCommand::Logs(x) => v::logs(paths, &project, x),
        ComposeCommand::Stop(x) => v::stop(paths, &project, x),
        ComposeCommand::Start(x) => v::start(paths, &project, x),
        ComposeCommand::Restart(x) => v::restart(paths, &project, x),
        ComposeCommand::Kill(x) => v::kill(paths, &project, x),
        ComposeCommand::Rm(x) => v::rm(paths, &project, x),
        ComposeCommand::Exec(x) => v::exec(paths, &project, x),
        ComposeCommand::Run(x) => v::run(paths, &project, x),
        ComposeCommand::Top(x) => v::top(paths, &project, x),
        ComposeCommand::Port(x) => v::port(paths, &project, x),
        ComposeCommand::Images(x) => v::images(paths, &project, x),
        ComposeCommand::Build(x) => v::build(paths, &project, x),
        ComposeCommand::Pull(x) => v::pull(paths, &project, x),
        ComposeCommand::Push(x) => v::push(paths, &project, x),
    }
}

/// Load the project and say its warnings once.
fn load(opts: &Options) -> anyhow::Result<compose::Project> {
    let project = compose::load(opts)?;
    for w in &project.warnings {
        eprintln!("burrow: warning: {}", crate::text::escape_control(w));
    }
    Ok(project)
}

fn up(paths: &crate::paths::Paths, project: &compose::Project, u: &UpArgs) -> anyhow::Result<i32> {
    let mut scale = std::collections::BTreeMap::new();
    for s in &u.scale {
        let (svc, n) = s
            .split_once('=')
            .and_then(|(a, b)| Some((a, b.parse::<u32>().ok()?)))
            .ok_or_else(|| anyhow::anyhow!("invalid --scale {s:?}: SERVICE=N"))?;
        scale.insert(svc.to_string(), n);
    }
    compose::exec::up(
        paths,
        project,
        &compose::exec::UpOptions {
            detach: u.detach || u.wait,
            build: u.build,
            no_build: u.no_build,
            force_recreate: u.force_recreate,
            no_recreate: u.no_recreate,
            no_deps: u.no_deps,
            wait: u.wait,
            wait_timeout: u.wait_timeout.map(std::time::Duration::from_secs),
            no_start: u.no_start,
            remove_orphans: u.remove_orphans,
            scale,
            services: u.services.clone(),
            timeout: u.timeout,
        },
    )
}

fn config(opts: &Options, c: &ConfigArgs) -> anyhow::Result<i32> {
    let project = load(opts)?;
    if c.quiet {
        return Ok(0);
    }
    let names = |section: &str| -> Vec<String> {
        project.model[section]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let out = if c.services {
        lines(&names("services"))
    } else if c.volumes {
        lines(&names("volumes"))
    } else {
        match c.format {
            ConfigFormat::Yaml => compose::yaml::emit(&project.model),
            ConfigFormat::Json => serde_json::to_string_pretty(&project.model)? + "\n",
        }
    };
    print!("{out}");
    Ok(0)
}

fn lines(v: &[String]) -> String {
    v.iter().map(|s| format!("{s}\n")).collect()
}
