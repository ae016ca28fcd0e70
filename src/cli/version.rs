//! `burrow version`: the version, the platform, the kernel.

use clap::Args;
use serde::Serialize;

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format: text (default), json, or a Go template ('{{.Version}}', '{{.Client.Version}}')
    #[arg(long, short = 'f', value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct VersionInfo {
    version: &'static str,
    os: &'static str,
    arch: &'static str,
    kernel_version: String,
}

pub fn run(args: &VersionArgs) -> anyhow::Result<i32> {
    let info = VersionInfo {
        version: env!("CARGO_PKG_VERSION"),
        os: "linux",
        arch: crate::sys::oci_arch(),
        kernel_version: crate::sys::kernel_release(),
    };
    match args.format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string_pretty(&info)?),
        Some(tpl) if tpl != "text" => {
            // Docker's scripts ask for {{.Client.Version}} or
            // {{.Server.Version}}; burrow has no server, so both are this
            // binary (as podman answers too).
            let mut v = serde_json::to_value(&info)?;
            v["Client"] = serde_json::to_value(&info)?;
            v["Server"] = serde_json::to_value(&info)?;
            print!("{}", super::format::objects(tpl, &[v])?);
        }
        _ => {
            println!("burrow:");
            println!(" Version:        {}", info.version);
            println!(" OS/Arch:        {}/{}", info.os, info.arch);
            println!(" Kernel Version: {}", info.kernel_version);
        }
    }
    Ok(0)
}
