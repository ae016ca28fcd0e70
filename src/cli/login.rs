//! `burrow login` / `logout`: registry credentials in docker's config file
//! (`~/.docker/config.json`), where docker and podman also look.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context};
use clap::Args;

use crate::registry::auth::{self, Credentials};
use crate::registry::{Client, ClientOptions};
use crate::text::escape_control;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Registry (default: Docker Hub)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,

    /// User name
    #[arg(long, short = 'u')]
    pub username: Option<String>,

    /// Password (visible to other users in the process list; prefer --password-stdin)
    #[arg(long, short = 'p')]
    pub password: Option<String>,

    /// Read the password from standard input
    #[arg(long)]
    pub password_stdin: bool,

    /// Require HTTPS with verified certificates; false allows plain HTTP
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: bool,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry (default: Docker Hub)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

fn registry_of(server: Option<&str>) -> String {
    auth::normalise_key(server.unwrap_or("docker.io"))
}

pub fn login(args: &LoginArgs) -> anyhow::Result<i32> {
    let registry = registry_of(args.server.as_deref());
    let username = match &args.username {
        Some(u) => u.clone(),
        None => prompt("Username: ", true)?,
    };
    let password = match (&args.password, args.password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => p.clone(),
        (None, true) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("read the password")?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => prompt("Password: ", false)?,
    };
    if username.is_empty() || password.is_empty() {
        bail!("a user name and a password are needed");
    }
    let creds = Credentials { username, password };
    let opts = ClientOptions {
        insecure: !args.tls_verify,
        conf: crate::registry::config::RegistriesConf::load()?,
    };
    Client::for_login(&registry, creds.clone(), &opts)?.check_login()?;
    let path = auth::save(&registry, &creds)?;
    eprintln!(
        "Credentials saved in {}",
        escape_control(&path.display().to_string())
    );
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(args: &LogoutArgs) -> anyhow::Result<i32> {
    let registry = registry_of(args.server.as_deref());
    let changed = auth::remove(&registry)?;
    if changed.is_empty() {
        bail!("not logged in to {}", escape_control(&registry));
    }
    println!(
        "Removing login credentials for {}",
        escape_control(&registry)
    );
    Ok(0)
}

/// Ask on the terminal; the password without echo.
fn prompt(label: &str, echo: bool) -> anyhow::Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "no terminal to ask for the {}; use -u and --password-stdin",
            label.trim_end_matches(": ").to_lowercase()
        );
    }
    eprint!("{label}");
    std::io::stderr().flush().ok();
    let saved = if echo {
        None
    } else {
        let old = tcgetattr(&stdin).context("read terminal settings")?;
        let mut quiet = old.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("turn off echo")?;
        Some(old)
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(old) = saved {
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &old);
        eprintln!();
    }
    read.context("read from the terminal")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
