//! `burrow pull`: fetch an image into the store.

use clap::Args;

use crate::image::{self, PullOptions};
use crate::paths::Paths;

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Image to pull (name[:tag] or name@sha256:digest)
    #[arg(value_name = "NAME")]
    pub image: String,

    /// Print only the image name, no progress
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Platform to pick from a multi-platform image (os/arch[/variant])
    #[arg(long, value_name = "PLATFORM", env = "DOCKER_DEFAULT_PLATFORM")]
    pub platform: Option<String>,

    /// Require HTTPS with verified certificates; false allows plain HTTP
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: bool,
}

pub fn run(paths: &Paths, args: &PullArgs) -> anyhow::Result<i32> {
    let opts = PullOptions {
        platform: args.platform.clone(),
        insecure: !args.tls_verify,
        quiet: args.quiet,
    };
    let reference = crate::reference::Reference::parse(&args.image)?;
    image::pull(paths, &args.image, &opts)?;
    println!("{reference}");
    Ok(0)
}
