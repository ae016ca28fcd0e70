//! `burrow exec`: run a command in a running container.

use clap::Args;

use crate::container::exec::{exec, ExecRequest};
use crate::paths::Paths;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep stdin attached
    #[arg(short, long)]
    pub interactive: bool,

    /// Run in the background
    #[arg(short, long)]
    pub detach: bool,

    /// Give the command a pseudo-terminal
    #[arg(short, long)]
    pub tty: bool,

    /// Set an environment variable (NAME=VALUE, or NAME to pass yours on)
    #[arg(short, long = "env", value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,

    /// User to run as: name or uid, optionally :group or :gid
    #[arg(short, long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// Working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// The container: name, id or unique id prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// The command and its arguments
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

pub fn run(paths: &Paths, a: &ExecArgs) -> anyhow::Result<i32> {
    if !a.detach {
        super::run::refuse_tty_without_terminal(a.interactive, a.tty)?;
    }
    exec(
        paths,
        &ExecRequest {
            container: a.container.clone(),
            args: a.command.clone(),
            interactive: a.interactive,
            tty: a.tty,
            detach: a.detach,
            env: a.env.clone(),
            user: a.user.clone(),
            workdir: a.workdir.clone(),
        },
    )
}
