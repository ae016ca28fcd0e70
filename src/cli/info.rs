//! `burrow info`: what this machine allows, line by line, with what to do
//! about each "no". The first thing a lab user runs.

use clap::Args;

use crate::paths::Paths;
use crate::probe::{self, Check, Report};

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format: text (default), json, or a Go template ('{{.rootfsDriver.driver}}')
    #[arg(long, short = 'f', value_name = "FORMAT")]
    pub format: Option<String>,
}

pub fn run(paths: &Paths, args: &InfoArgs) -> anyhow::Result<i32> {
    paths.ensure_root()?;
    let report = probe::collect(paths);
    match args.format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string_pretty(&report)?),
        None | Some("text") => print!("{}", render(&report)),
        Some(tpl) => {
            let v = serde_json::to_value(&report)?;
            print!("{}", super::format::objects(tpl, &[v])?);
        }
    }
    Ok(0)
}

fn line(out: &mut String, label: &str, check: &Check) {
    let mark = match (check.ok, &check.hint) {
        (true, None) => "",
        (true, Some(_)) => "warning: ",
        (false, _) => "",
    };
    out.push_str(&format!(" {label:<18} {mark}{}\n", check.value));
    if let Some(hint) = &check.hint {
        out.push_str(&format!(" {:<18} -> {hint}\n", ""));
    }
}

fn render(r: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "burrow {} on Linux {}, as {} (uid {}, gid {})\n",
        env!("CARGO_PKG_VERSION"),
        r.kernel,
        r.user.name,
        r.user.uid,
        r.user.gid
    ));
    line(&mut out, "User namespaces:", &r.user_namespaces);
    line(&mut out, "Id mapping:", &r.id_map.check);
    line(&mut out, "Kernel overlay:", &r.overlay);
    line(&mut out, "FUSE:", &r.fuse);
    line(&mut out, "TUN device:", &r.tun);
    line(&mut out, "Ping:", &r.ping);
    line(&mut out, "IPv6:", &r.ipv6);
    line(&mut out, "Seccomp:", &r.seccomp);
    line(&mut out, "Landlock:", &r.landlock.check);
    line(&mut out, "Cgroups:", &r.cgroups);
    line(&mut out, "Storage root:", &r.storage.check);
    line(&mut out, "Runtime dir:", &r.runtime.check);
    line(&mut out, "Rootfs driver:", &r.rootfs_driver.check);
    crate::text::escape_control(&out).replace("\\x0a", "\n")
}
