//! Ctrl-C (SIGINT) and SIGTERM while burrow writes into the store (pull,
//! load, import): stop, remove what was half-written, exit 128+signal.
//!
//! The handler only records the signal. The copy loops check it between
//! reads. A read blocked on the network is woken by a signal (no
//! SA_RESTART): a watchdog thread, alive for the length of `during`,
//! sends SIGINT again to every thread inside `blocking` (the kernel
//! delivers the user's to one thread only), and SIGALRM to one whose
//! deadline passed (a download that sent nothing for a whole rate window,
//! registry/limits.rs).
//! The error then unwinds as any other: temp files are dropped, temp layer
//! dirs removed, and `during` turns it into the exit code.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::pthread::{pthread_kill, pthread_self, Pthread};
use nix::sys::signal::{SigAction, Signal};

/// The first signal caught, 0 while none.
static CAUGHT: AtomicI32 = AtomicI32::new(0);
/// Nesting of `during` (a pull inside `run`): the outermost installs.
static DEPTH: AtomicUsize = AtomicUsize::new(0);
/// The actions to restore, kept by the outermost `during`.
static SAVED: Mutex<Vec<(Signal, SigAction)>> = Mutex::new(Vec::new());
/// Threads inside a blocking read, with the time they must be done by.
static READERS: Mutex<Vec<(Pthread, Option<Instant>)>> = Mutex::new(Vec::new());

const SIGNALS: [Signal; 2] = [Signal::SIGINT, Signal::SIGTERM];
/// Wakes a read whose deadline passed; its handler does nothing.
const WAKE: Signal = Signal::SIGALRM;
/// How often the watchdog looks.
const TICK: Duration = Duration::from_millis(20);

extern "C" fn on_signal(sig: libc::c_int) {
    let _ = CAUGHT.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
}

extern "C" fn on_wake(_: libc::c_int) {}

/// Run `work` with SIGINT and SIGTERM caught. When one came, the result
/// is the error "interrupted" with exit code 128+signal, whatever `work`
/// returned (its cleanup has run by then).
pub fn during<T>(work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let outermost = DEPTH.fetch_add(1, Ordering::SeqCst) == 0;
    if outermost {
        let mut saved = SAVED.lock().unwrap_or_else(|e| e.into_inner());
        let handlers: [(Signal, extern "C" fn(libc::c_int)); 3] = [
            (SIGNALS[0], on_signal),
            (SIGNALS[1], on_signal),
            (WAKE, on_wake),
        ];
        for (sig, handler) in handlers {
            match crate::sys::catch_signal(sig, handler) {
                Ok(old) => saved.push((sig, old)),
                Err(e) => tracing::debug!("cannot catch {sig}: {e}"),
            }
        }
    }
    let result = if outermost {
        // Scoped: joined before we return, so a pull leaves no thread.
        let threads_before = thread_count();
        let done = AtomicBool::new(false);
        let result = std::thread::scope(|s| {
            let dog = s.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    std::thread::park_timeout(TICK);
                    poke_readers();
                }
            });
            // Stops the watchdog however `work` ends, a panic included.
            let _stop = Stop(&done, dog.thread());
            work()
        });
        wait_for_threads(threads_before);
        result
    } else {
        work()
    };
    if DEPTH.fetch_sub(1, Ordering::SeqCst) == 1 {
        let mut saved = SAVED.lock().unwrap_or_else(|e| e.into_inner());
        for (sig, old) in saved.drain(..) {
            let _ = crate::sys::restore_signal(sig, &old);
        }
    }
    match CAUGHT.load(Ordering::SeqCst) {
        0 => result,
        sig => Err(crate::error::Coded::new(128 + sig, "interrupted").into()),
    }
}

/// How many threads this process has now.
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// A joined thread stays in the thread group until the kernel releases
/// it, a moment after the join returns; a caller that unshares a user
/// namespace next (as `run` may) would get EINVAL for a threaded process.
/// So wait, briefly and boundedly, until only `n` threads are left.
fn wait_for_threads(n: usize) {
    for _ in 0..500 {
        if thread_count() <= n {
            return;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Tells the watchdog to end, when dropped.
struct Stop<'a>(&'a AtomicBool, &'a std::thread::Thread);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
        self.1.unpark();
    }
}

/// Whether SIGINT or SIGTERM came during `during`.
pub fn requested() -> bool {
    CAUGHT.load(Ordering::SeqCst) != 0
}

/// The error a copy loop stops with. Not `ErrorKind::Interrupted`, which
/// std's loops (io::copy, read_exact) would simply retry.
pub fn error() -> io::Error {
    io::Error::other("interrupted")
}

/// `Err(error())` once a signal came.
pub fn check() -> io::Result<()> {
    if requested() {
        return Err(error());
    }
    Ok(())
}

/// Run a read that may block for long (network), so that a signal wakes
/// it: the thread is listed for the watchdog while inside.
pub fn blocking<T, E: From<io::Error>>(read: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    blocking_until(None, read)
}

/// `blocking`, and a read still blocked `within` from now is woken and
/// fails with `ErrorKind::TimedOut`. Only under `during`, whose watchdog
/// wakes it; elsewhere the deadline is checked once the read ends.
pub fn blocking_until<T, E: From<io::Error>>(
    within: Option<Duration>,
    read: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    check()?;
    let me = pthread_self();
    let deadline = within.map(|w| Instant::now() + w);
    READERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((me, deadline));
    let result = read();
    let mut readers = READERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = readers.iter().position(|(t, _)| *t == me) {
        readers.swap_remove(i);
    }
    drop(readers);
    check()?;
    if let (Some(w), Some(d)) = (within, deadline) {
        if Instant::now() >= d && result.is_err() {
            let msg = format!("no answer within {}s", w.as_secs());
            return Err(io::Error::new(io::ErrorKind::TimedOut, msg).into());
        }
    }
    result
}

/// Wake the threads inside `blocking` that must stop: all of them once a
/// signal came, else those past their deadline. Called every tick, since a
/// thread about to block may miss one. The list's lock keeps each thread
/// alive meanwhile (it must take it to leave).
fn poke_readers() {
    let interrupted = requested();
    let now = Instant::now();
    let readers = READERS.lock().unwrap_or_else(|e| e.into_inner());
    for (t, deadline) in readers.iter() {
        if interrupted {
            let _ = pthread_kill(*t, Signal::SIGINT);
        } else if deadline.is_some_and(|d| now >= d) {
            let _ = pthread_kill(*t, WAKE);
        }
    }
}

/// A reader (an archive on stdin, a file) whose loop stops once a signal
/// came.
pub struct Checked<R>(pub R);

impl<R: io::Read> io::Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        check()?;
        match self.0.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted && requested() => Err(error()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_read_blocked_past_its_deadline_is_woken() {
        let (mut quiet, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let started = Instant::now();
        let result = during(|| {
            let mut buf = [0u8; 1];
            let r = blocking_until(Some(Duration::from_millis(100)), || quiet.read(&mut buf));
            Ok(r)
        })
        .unwrap();
        let err = result.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // This thread is listed no more (other tests may read meanwhile).
        let me = pthread_self();
        assert!(!READERS.lock().unwrap().iter().any(|(t, _)| *t == me));
    }
}
