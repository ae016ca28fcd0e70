//! `burrow compose`: the compose model. For now `config`, which loads,
//! checks and prints it; the verbs that run services come with user
//! networks.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::compose::{self, Options};

#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// Compose file (repeatable; later files merge over earlier ones; - reads stdin)
    #[arg(short = 'f', long = "file", value_name = "FILE", global = true)]
    pub file: Vec<PathBuf>,

    /// Project name [default: COMPOSE_PROJECT_NAME, the file's name:, or the directory's name]
    #[arg(short = 'p', long, value_name = "NAME", global = true)]
    pub project_name: Option<String>,

    /// Project directory [default: the first compose file's directory]
    #[arg(long, value_name = "DIR", global = true)]
    pub project_directory: Option<PathBuf>,

    /// Read variables from this file instead of .env (repeatable)
    #[arg(long, value_name = "FILE", global = true)]
    pub env_file: Vec<PathBuf>,

    /// Enable services of this profile (repeatable) [env: COMPOSE_PROFILES]
    #[arg(long, value_name = "PROFILE", global = true)]
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

pub fn run(a: &ComposeArgs) -> anyhow::Result<i32> {
    let opts = Options {
        files: a.file.clone(),
        project_name: a.project_name.clone(),
        project_directory: a.project_directory.clone(),
        env_files: a.env_file.clone(),
        profiles: a.profile.clone(),
    };
    match &a.command {
        ComposeCommand::Config(c) => config(&opts, c),
    }
}

fn config(opts: &Options, c: &ConfigArgs) -> anyhow::Result<i32> {
    let project = compose::load(opts)?;
    for w in &project.warnings {
        eprintln!("burrow: warning: {}", crate::text::escape_control(w));
    }
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
