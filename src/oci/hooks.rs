//! The config's hooks, run by the runtime with the container's state on
//! their stdin (runtime-spec "Lifecycle"), each within its timeout.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use oci_spec::runtime::{Hook, Spec};

/// Which hooks.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    Prestart,
    CreateRuntime,
    Poststart,
    Poststop,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Prestart => "prestart",
            Stage::CreateRuntime => "createRuntime",
            Stage::Poststart => "poststart",
            Stage::Poststop => "poststop",
        }
    }
}

#[allow(deprecated)] // prestart: deprecated in the spec, still called by engines
fn hooks(spec: &Spec, stage: Stage) -> Vec<Hook> {
    let Some(h) = spec.hooks() else {
        return Vec::new();
    };
    let list = match stage {
        Stage::Prestart => h.prestart(),
        Stage::CreateRuntime => h.create_runtime(),
        Stage::Poststart => h.poststart(),
        Stage::Poststop => h.poststop(),
    };
    list.clone().unwrap_or_default()
}

/// Run `stage`'s hooks in order; the first failure is the error.
pub fn run(spec: &Spec, stage: Stage, state: &serde_json::Value) -> anyhow::Result<()> {
    let state = serde_json::to_vec(state)?;
    for (i, h) in hooks(spec, stage).iter().enumerate() {
        run_one(h, &state).with_context(|| {
            format!(
                "hooks.{}[{i}] {}",
                stage.name(),
                crate::text::escape_control(&h.path().display().to_string())
            )
        })?;
    }
    Ok(())
}

fn run_one(h: &Hook, state: &[u8]) -> anyhow::Result<()> {
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(h.path());
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().context("start")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is no failure.
        let _ = stdin.write_all(state);
    }
    let deadline = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        if let Some(status) = child.try_wait().context("wait")? {
            if !status.success() {
                bail!("failed ({status})");
            }
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("timed out after {}s", h.timeout().unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
