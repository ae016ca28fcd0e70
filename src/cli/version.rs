//! `burrow version`: the version, the platform, the kernel.

use clap::Args;
use serde::Serialize;

use super::Format;

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    pub format: Format,
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
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&info)?),
        Format::Text => {
            println!("burrow:");
            println!(" Version:        {}", info.version);
            println!(" OS/Arch:        {}/{}", info.os, info.arch);
            println!(" Kernel Version: {}", info.kernel_version);
        }
    }
    Ok(0)
}
