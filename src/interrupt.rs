//! Ctrl-C (SIGINT) and SIGTERM while burrow writes into the store (pull,
//! load, import): stop, remove what was half-written, exit 128+signal.
//!
//! The handler only records the signal. The copy loops check it between
//! reads; a read blocked on the network is woken by the signal (no
//! SA_RESTART), and `poke_readers` sends it again to the threads that are
//! inside such a read, since the kernel delivers it to one thread only.
//! The error then unwinds as any other: temp files are dropped, temp layer
//! dirs removed, and `during` turns it into the exit code.

use std::io;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Mutex;

use nix::sys::pthread::{pthread_kill, pthread_self, Pthread};
use nix::sys::signal::{SigAction, Signal};

/// The first signal caught, 0 while none.
static CAUGHT: AtomicI32 = AtomicI32::new(0);
/// Nesting of `during` (a pull inside `run`): the outermost installs.
static DEPTH: AtomicUsize = AtomicUsize::new(0);
/// The actions to restore, kept by the outermost `during`.
static SAVED: Mutex<Vec<(Signal, SigAction)>> = Mutex::new(Vec::new());
/// Threads inside a blocking read, to wake when a signal came.
static READERS: Mutex<Vec<Pthread>> = Mutex::new(Vec::new());

const SIGNALS: [Signal; 2] = [Signal::SIGINT, Signal::SIGTERM];

extern "C" fn on_signal(sig: libc::c_int) {
    let _ = CAUGHT.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
}

/// Run `work` with SIGINT and SIGTERM caught. When one came, the result
/// is the error "interrupted" with exit code 128+signal, whatever `work`
/// returned (its cleanup has run by then).
pub fn during<T>(work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    if DEPTH.fetch_add(1, Ordering::SeqCst) == 0 {
        let mut saved = SAVED.lock().unwrap_or_else(|e| e.into_inner());
        for sig in SIGNALS {
            match crate::sys::catch_signal(sig, on_signal) {
                Ok(old) => saved.push((sig, old)),
                Err(e) => tracing::debug!("cannot catch {sig}: {e}"),
            }
        }
    }
    let result = work();
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
/// it: the thread is listed for `poke_readers` while inside.
pub fn blocking<T, E: From<io::Error>>(read: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    check()?;
    let me = pthread_self();
    READERS.lock().unwrap_or_else(|e| e.into_inner()).push(me);
    let result = read();
    let mut readers = READERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = readers.iter().position(|t| *t == me) {
        readers.swap_remove(i);
    }
    drop(readers);
    check()?;
    result
}

/// Once a signal came, send it again to every thread inside `blocking`
/// (call it every few milliseconds until they are done: a thread about to
/// block may miss one). The list's lock keeps each thread alive meanwhile.
pub fn poke_readers() {
    if !requested() {
        return;
    }
    let readers = READERS.lock().unwrap_or_else(|e| e.into_inner());
    for t in readers.iter() {
        let _ = pthread_kill(*t, Signal::SIGINT);
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
