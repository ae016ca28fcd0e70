//! Adaptive polling of the FUSE device.
//!
//! Each request costs two wakeups: the kernel wakes a serving thread, and
//! the reply wakes the caller. In a VM, waking an idle CPU is a VM exit,
//! and that is over a third of a round trip (measured here: a getxattr
//! through the mount takes 16 µs with a sleeping server, 10 µs with one
//! polling thread, 14 µs with a sleeping thread beside it, as here). So
//! while requests come densely, the thread that reads
//! the mount's own fd reads it non-blocking in a loop (fuser retries on
//! EAGAIN) instead of sleeping. The other serving threads (cloned fds)
//! block as before and take what arrives while the polling thread is busy.
//!
//! Polling starts after a `WINDOW` with at least `DENSE` requests and ends
//! after one with fewer, so it costs at most a window of one CPU after a
//! burst, and a trickle of requests (a process making a file now and
//! then) never turns it on. A one-CPU machine never polls.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// The span over which the request rate is judged.
const WINDOW: Duration = Duration::from_millis(2);

/// Requests in a `WINDOW` that make polling worth a CPU: one per 60 µs,
/// when the wakeups saved (about 6 µs each) are a tenth of the time. (A
/// request ticks `Activity` once or a few times; close enough.)
const DENSE: u64 = 32;

/// A count of requests served, bumped by the file system's operations.
#[derive(Clone, Default)]
pub struct Activity(Arc<AtomicU64>);

impl Activity {
    pub fn tick(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The thread that switches polling on and off; stopped on drop.
#[derive(Debug)]
pub struct Poller {
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Poller {
    fn drop(&mut self) {
        // Closing the pipe's write end wakes the thread's poll(2).
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Start switching `dev` (a duplicate of the fd one serving thread reads)
/// between polling and blocking, by `activity`. None on a one-CPU machine,
/// where polling would only take the CPU from the caller it waits for, and
/// with BURROW_FUSE_POLL=0 (a shared machine's user may rather not spend a
/// CPU for speed; the tests measure the server's own cost with it).
pub fn start(dev: File, activity: Activity) -> std::io::Result<Option<Poller>> {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2
        || std::env::var_os("BURROW_FUSE_POLL").is_some_and(|v| v == "0")
    {
        return Ok(None);
    }
    let (stop_rx, stop_tx) = nix::unistd::pipe()?;
    let thread = std::thread::Builder::new()
        .name("fuse-poll".into())
        .spawn(move || govern(&dev, &stop_rx, &activity))?;
    Ok(Some(Poller {
        stop: Some(stop_tx),
        thread: Some(thread),
    }))
}

fn set_nonblocking(dev: &File, on: bool) -> nix::Result<()> {
    let mut flags = OFlag::from_bits_truncate(fcntl(dev.as_raw_fd(), FcntlArg::F_GETFL)?);
    flags.set(OFlag::O_NONBLOCK, on);
    fcntl(dev.as_raw_fd(), FcntlArg::F_SETFL(flags)).map(|_| ())
}

fn govern(dev: &File, stop: &OwnedFd, activity: &Activity) {
    let mut polling = false;
    loop {
        if !polling {
            // Wait for a request (or the end of the mount: POLLERR).
            let mut fds = [
                PollFd::new(dev.as_fd(), PollFlags::POLLIN),
                PollFd::new(stop.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            }
            let ready = |f: &PollFd| f.revents().unwrap_or(PollFlags::empty());
            if !ready(&fds[1]).is_empty() || !ready(&fds[0]).contains(PollFlags::POLLIN) {
                return;
            }
        }
        // Judge the rate over one window, then poll or block by it.
        let before = activity.count();
        let mut fds = [PollFd::new(stop.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(WINDOW.as_millis() as u16)).unwrap_or(0) != 0 {
            let _ = set_nonblocking(dev, false);
            return;
        }
        let dense = activity.count() - before >= DENSE;
        if dense != polling {
            if set_nonblocking(dev, dense).is_err() {
                return;
            }
            polling = dense;
        }
    }
}
