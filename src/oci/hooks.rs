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
        run_one(h, &state).with_context(|| context(stage, i, h))?;
    }
    Ok(())
}

/// Run `stage`'s hooks in order, each failure a warning on stderr: for
/// poststart and poststop, whose failures "MUST" leave the remaining
/// hooks and the lifecycle going (runtime-spec). Returns the warnings.
pub fn run_warning(spec: &Spec, stage: Stage, state: &serde_json::Value) -> Vec<String> {
    let Ok(state) = serde_json::to_vec(state) else {
        return Vec::new();
    };
    let mut warnings = Vec::new();
    for (i, h) in hooks(spec, stage).iter().enumerate() {
        if let Err(e) = run_one(h, &state).with_context(|| context(stage, i, h)) {
            let w = format!("burrow: warning: {e:#}");
            eprintln!("{w}");
            warnings.push(w);
        }
    }
    warnings
}

fn context(stage: Stage, i: usize, h: &Hook) -> String {
    format!(
        "hooks.{}[{i}] {}",
        stage.name(),
        crate::text::escape_control(&h.path().display().to_string())
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_poststart_hook_leaves_the_next_one_running() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "hooks": {
                "poststart": [
                    {"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]},
                    {"path": "/bin/sh", "args": ["sh", "-c", format!("echo second > {}", out.display())]}
                ]
            }
        }))
        .unwrap();
        let warnings = run_warning(&spec, Stage::Poststart, &serde_json::json!({}));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("hooks.poststart[0]"), "{warnings:?}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "second\n");
        // `run` (create's stages) stops at the first failure.
        std::fs::remove_file(&out).unwrap();
        assert!(run(&spec, Stage::Poststart, &serde_json::json!({})).is_err());
        assert!(!out.exists());
    }
}
