//! The caller's side of a launch: blocks the signals it forwards, forks
//! the supervisor (`supervisor`) in the prepared user namespace, then
//! relays the container's streams (`relay`) or waits for its start
//! (detached).

use anyhow::Context;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::unistd::{ForkResult, Pid};

use super::channel::{self, Channel, Msg, UnexpectedMessage};
use super::detach::{Monitor, Started};
use super::mounts::plan::{self, MountPlan, PlanInput};
use super::{relay, streams, Exit, LaunchSpec};
use crate::error::EXIT_BURROW;
use crate::proc::Reap;
use crate::sys;
use crate::userns::{self, idmap, Mapping, PreparedUserNs};

/// Run the container in the foreground and return how it ended. Its
/// stdout and stderr are the caller's (or a pty relayed by the caller).
///
/// Must be called while this process has a single thread.
pub fn launch(spec: &LaunchSpec) -> anyhow::Result<Exit> {
    launch_noting(spec, None, &mut |_| {})
}

/// `launch`, calling `on_started` with the init's pid once the command
/// runs (so later commands can find it: `exec`, `top`).
pub fn launch_noting(
    spec: &LaunchSpec,
    ahead: Option<PreparedUserNs>,
    on_started: &mut dyn FnMut(i32),
) -> anyhow::Result<Exit> {
    let mut built = None;
    let plan = given_or_built(spec, &mut built)?;
    tracing::debug!("mount plan: {:#?}", plan.ops);
    // Blocked here, read from a signalfd in the relay loop.
    let forwarded = relay::forwarded_signals();
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), Some(&mut old))
        .context("block signals")?;
    let result = run_stages(spec, plan, ahead, &forwarded, on_started);
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    result
}

/// The plan the spec brings (`sandbox`), else the container's own.
fn given_or_built<'a>(
    spec: &'a LaunchSpec,
    built: &'a mut Option<MountPlan>,
) -> anyhow::Result<&'a MountPlan> {
    match &spec.plan {
        Some(p) => Ok(p),
        None => Ok(built.insert(plan_for(spec)?)),
    }
}

/// The container's mount plan, from its spec.
pub(super) fn plan_for(spec: &LaunchSpec) -> anyhow::Result<MountPlan> {
    Ok(plan::build(&PlanInput {
        rootfs: &spec.rootfs,
        mounts: &spec.mounts,
        read_only: spec.read_only,
        network: spec.network.clone(),
        etc: &spec.etc,
        cwd: &spec.process.cwd,
        sub_ids: matches!(spec.id_map, idmap::IdMapMode::SubIds { .. }),
        throwaway: spec.remove_after.is_some(),
        masked_paths: spec.confinement.masked_paths,
    })?)
}

fn run_stages(
    spec: &LaunchSpec,
    plan: &MountPlan,
    ahead: Option<PreparedUserNs>,
    forwarded: &SigSet,
    on_started: &mut dyn FnMut(i32),
) -> anyhow::Result<Exit> {
    // The container gets pipes for our terminals (a pty with -t).
    let (ends, mut streams) = match spec.process.tty {
        true => (None, streams::Streams::none()),
        false => {
            let (ends, streams) = streams::for_terminals(spec.process.stdin)?;
            (Some(ends), streams)
        }
    };
    let (ours, supervisor_pid) = fork_supervisor(spec, plan, ahead, ends, None)?;
    let mut reap = Reap(Some(supervisor_pid));
    let outcome = relay::run(
        &ours,
        supervisor_pid,
        &spec.process,
        forwarded,
        &mut streams,
        on_started,
    );
    if outcome.is_ok() {
        // It told us the end as its last act: not waiting for its exit
        // (the namespaces' teardown) saves a start its tail. It dies with
        // us (parent-death signal); init reaps it.
        reap.0 = None;
    } else {
        reap.wait();
    }
    outcome
}

/// Fork the supervisor; with a monitor it detaches and stays as the
/// container's monitor. `stdio`: pipes that become its (and so the
/// container's) stdio; `ahead`: the user namespace begun while the
/// container was made (`run`). Returns our end of its channel and its pid.
fn fork_supervisor(
    spec: &LaunchSpec,
    plan: &MountPlan,
    ahead: Option<PreparedUserNs>,
    stdio: Option<streams::ChildEnds>,
    monitor: Option<&mut dyn Monitor>,
) -> anyhow::Result<(Channel, Pid)> {
    let mapping = if spec.identity_map {
        Mapping::Identity
    } else {
        Mapping::Root(spec.id_map.clone())
    };
    // Another container's namespace (`--network container:`, it owns that
    // network namespace) or, on user networks, the keeper's, shared
    // (net::user::keeper).
    let joined = match (&spec.join, &spec.user_nets) {
        (Some(peer), _) => Some(peer.user.try_clone().context("duplicate an fd")?),
        (None, Some(u)) => Some(u.userns.try_clone().context("dup the keeper's namespace")?),
        (None, None) => None,
    };
    let userns = match joined {
        Some(fd) => {
            drop(ahead);
            userns::UserNs::joined(fd)
        }
        None => userns::for_launch(&mapping, &spec.host_user, ahead)?,
    };
    let (ours, theirs) = channel::pair()?;
    let supervisor_pid = match sys::fork().context("fork the supervisor")? {
        ForkResult::Child => {
            drop(ours);
            if let Some(Err(e)) = stdio.map(streams::ChildEnds::attach) {
                // Never go on with the caller's terminal as stdio.
                let _ = theirs.send(&Msg::SetupFailed {
                    message: format!("{e:#}"),
                });
                sys::exit_now(EXIT_BURROW)
            }
            super::supervisor::run(spec, plan, &userns, theirs, monitor)
        }
        ForkResult::Parent { child } => child,
    };
    drop(theirs);
    // The host ports are the supervisor's now: a caller that outlives it
    // (a foreground run) must not keep them bound.
    spec.ports.close();
    Ok((ours, supervisor_pid))
}

/// Start the container with its supervisor detached (own session, stdio
/// on /dev/null, the container's output handed to `monitor`). Returns
/// once the command runs; the supervisor lives on until it ends.
///
/// Must be called while this process has a single thread.
pub fn launch_detached(
    spec: &LaunchSpec,
    ahead: Option<PreparedUserNs>,
    monitor: &mut dyn Monitor,
) -> anyhow::Result<Started> {
    let mut built = None;
    let plan = given_or_built(spec, &mut built)?;
    let (ours, supervisor_pid) = fork_supervisor(spec, plan, ahead, None, Some(monitor))?;
    let mut reap = Reap(Some(supervisor_pid));
    match wait_started(&ours)? {
        StartReply::Started(init) => {
            // It lives on: never kill or wait for it from here.
            reap.0 = None;
            Ok(Started {
                supervisor: supervisor_pid.as_raw(),
                init,
            })
        }
        StartReply::Ended(e) => {
            reap.wait();
            Err(e)
        }
    }
}

/// How a detached start ended.
enum StartReply {
    /// The command runs; the init's pid.
    Started(i32),
    /// The supervisor ended without starting it: the first failure it
    /// reported, or that it died.
    Ended(anyhow::Error),
}

/// Wait for the supervisor's `Started`, keeping the first failure it
/// reports before it ends. An error: the channel failed, or a message the
/// supervisor never sends here came.
fn wait_started(chan: &Channel) -> anyhow::Result<StartReply> {
    let mut failure = None;
    loop {
        let msg = match chan.recv()? {
            Some((msg, _)) => msg,
            None => {
                return Ok(StartReply::Ended(match failure {
                    Some(f) => anyhow::Error::from(f),
                    None => anyhow::anyhow!("the supervisor died before the container started"),
                }))
            }
        };
        match msg {
            Msg::Started { pid } => return Ok(StartReply::Started(pid)),
            Msg::ExecFailed { .. } | Msg::SetupFailed { .. } => {
                failure = failure.or(msg.failure());
            }
            // Its end after a failure: the failure is the answer.
            Msg::Exited { .. } => {}
            Msg::Pty
            | Msg::Mounted
            | Msg::IdsListener
            | Msg::Root
            | Msg::MapIds
            | Msg::IdsMapped
            | Msg::Created => {
                return Err(UnexpectedMessage {
                    waiting_for: "the container's start",
                    msg,
                }
                .into())
            }
        }
    }
}
