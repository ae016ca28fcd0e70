//! The process that runs a container's health checks. The detached
//! supervisor forks it once the command runs; it waits the interval,
//! runs the check inside the container as `exec` does (joining the
//! init's namespaces, under the container's confinement), notes the
//! result in `health.json`, and ends with the container (the supervisor
//! kills it, and the parent-death signal covers a killed supervisor).

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use super::health::{self, Health, HealthConfig, LimitedOutput, Outcome};
use super::record::{self, ProcRef};
use crate::sandbox::{Confinement, ProcessSpec};
use crate::sys;
use crate::userns::idmap::IdMapMode;

/// What a check needs, gathered by the caller before the supervisor forks
/// (inside the container's user namespace the host user is not known).
#[derive(Debug, Clone)]
pub struct ProbeSetup {
    pub root: PathBuf,
    pub id: String,
    pub config: HealthConfig,
    /// The container's process, whose args the check replaces.
    pub process: ProcessSpec,
    pub id_map: IdMapMode,
    pub confinement: Confinement,
    /// As `Record::bypass_netns`: a check may not connect such sockets.
    pub bypass_netns: Option<u64>,
}

/// The running checker; killed (and reaped) when dropped or stopped.
pub struct Checker {
    pid: Pid,
}

impl Checker {
    /// Fork the checker for the container whose init is `init`. None when
    /// the container has no check, or the fork failed (the container runs
    /// on without checks then; its health stays "starting").
    pub fn spawn(setup: &ProbeSetup, init: i32) -> Option<Checker> {
        let command = setup.config.command()?;
        match sys::fork().ok()? {
            ForkResult::Parent { child } => Some(Checker { pid: child }),
            ForkResult::Child => {
                let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
                // The supervisor's signal mask (its signalfd's) and fds
                // (the caller's channel, the log, the output pipes) are not
                // ours to keep.
                let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
                let _ = sys::close_from(3);
                run_checks(setup, command, init);
                sys::exit_now(0)
            }
        }
    }
}

/// Dropped: the checker and any check it runs are killed, and reaped.
impl Drop for Checker {
    fn drop(&mut self) {
        kill_tree(self.pid);
        let _ = waitpid(self.pid, None);
    }
}

/// The loop: wait, check, note; until the container ends.
fn run_checks(setup: &ProbeSetup, command: Vec<String>, init: i32) {
    let dir = record::container_dir(&setup.root, &setup.id);
    let Some(init_ref) = ProcRef::of(init) else {
        return;
    };
    let started = Instant::now();
    let mut state = Health::restarted(health::read(&dir));
    let _ = health::write(&dir, &state);
    let mut process = setup.process.clone();
    process.args = command;
    process.tty = false;
    process.stdin = false;
    loop {
        std::thread::sleep(setup.config.next_interval(started.elapsed(), state.status));
        if !init_ref.alive() {
            return;
        }
        let since_start = started.elapsed();
        let result = probe(setup, &process, init);
        // A check cut short by the container's end says nothing of it.
        if !init_ref.alive() {
            return;
        }
        state.note(result, since_start, &setup.config);
        let _ = health::write(&dir, &state);
    }
}

/// One check: its exit code and output, or -1 and Docker's words when it
/// ran past the timeout (it is killed then).
fn probe(setup: &ProbeSetup, process: &ProcessSpec, init: i32) -> Outcome {
    let begin = SystemTime::now();
    let timeout = setup.config.timeout();
    let (exit_code, output) = match run_once(setup, process, init, timeout) {
        Ok(Some(done)) => done,
        Ok(None) => (
            -1,
            format!(
                "Health check exceeded timeout ({})",
                health::go_duration(timeout)
            ),
        ),
        Err(e) => (-1, format!("burrow: health check: {e:#}")),
    };
    Outcome {
        start: health::timestamp(begin),
        end: health::timestamp(SystemTime::now()),
        exit_code,
        output,
    }
}

/// Run the check in a child that enters the container with its stdout
/// and stderr on one pipe; `None` when the timeout came first.
fn run_once(
    setup: &ProbeSetup,
    process: &ProcessSpec,
    init: i32,
    timeout: Duration,
) -> anyhow::Result<Option<(i32, String)>> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let child = match sys::fork()? {
        ForkResult::Child => {
            drop(r);
            let code = match attach_output(&w) {
                Ok(()) => match crate::sandbox::enter(
                    init,
                    process,
                    &setup.id_map,
                    &setup.confinement,
                    false,
                    setup.bypass_netns,
                ) {
                    Ok(code) => code,
                    Err(e) => {
                        eprintln!("burrow: {e:#}");
                        crate::error::exit_code(&e)
                    }
                },
                Err(_) => crate::error::EXIT_BURROW,
            };
            sys::exit_now(code)
        }
        ForkResult::Parent { child } => child,
    };
    drop(w);
    let deadline = Instant::now() + timeout;
    let mut out = LimitedOutput::default();
    let mut reader = std::fs::File::from(r);
    let _ = nix::fcntl::fcntl(
        reader.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    let mut buf = [0u8; 4096];
    let mut open = true;
    loop {
        if let Some(code) = reaped(child)? {
            drain(&mut reader, &mut out, &mut buf);
            return Ok(Some((code, out.finish())));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            kill_tree(child);
            let _ = waitpid(child, None);
            return Ok(None);
        }
        // Short naps: the command may end while something it started
        // keeps the pipe open.
        let nap = left.min(Duration::from_millis(50));
        if open {
            let ms = u16::try_from(nap.as_millis().max(1)).unwrap_or(50);
            let mut fds = [nix::poll::PollFd::new(
                reader.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
            open = drain(&mut reader, &mut out, &mut buf);
        } else {
            std::thread::sleep(nap);
        }
    }
}

/// Read what is there; false at the pipe's end.
fn drain(reader: &mut std::fs::File, out: &mut LimitedOutput, buf: &mut [u8]) -> bool {
    loop {
        match reader.read(buf) {
            Ok(0) => return false,
            Ok(n) => out.push(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

/// In the check's child: stdin from /dev/null, stdout and stderr to the pipe.
fn attach_output(w: &OwnedFd) -> anyhow::Result<()> {
    let null = std::fs::File::open("/dev/null")?;
    nix::unistd::dup2(null.as_raw_fd(), 0)?;
    nix::unistd::dup2(w.as_raw_fd(), 1)?;
    nix::unistd::dup2(w.as_raw_fd(), 2)?;
    Ok(())
}

/// Its exit code (128 + signal) once `pid` ended.
fn reaped(pid: Pid) -> anyhow::Result<Option<i32>> {
    Ok(match waitpid(pid, Some(WaitPidFlag::WNOHANG))? {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    })
}

/// SIGKILL `pid` and every process below it: the check's command runs in
/// the container's pid namespace, several forks down, in a session of its
/// own, and may ignore gentler signals. Each is stopped before its
/// children are listed, so none forks past us or is reparented first.
fn kill_tree(pid: Pid) {
    let mut tree = vec![pid.as_raw()];
    let mut i = 0;
    while i < tree.len() {
        let _ = kill(Pid::from_raw(tree[i]), Signal::SIGSTOP);
        tree.extend(crate::proc::children_of(tree[i]));
        i += 1;
    }
    for p in tree.iter().rev() {
        let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
    }
}
