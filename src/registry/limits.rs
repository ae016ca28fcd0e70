//! What a registry may make a pull do: how much it may send for a
//! manifest, a config or a token, and how slowly.
//!
//! Sizes: containers/image's limits (internal/iolimits): 4 MiB for a
//! manifest (Docker's registry refuses larger ones too), 4 MiB for a
//! config, 1 MiB for a token answer. A descriptor that declares more is
//! refused before anything is fetched.
//!
//! Pace: a minimum transfer rate, as curl's --speed-limit/--speed-time,
//! rather than one overall deadline, which would either cut off a big
//! layer on a slow link or let a trickle run for hours. Every window of
//! `window` seconds must bring `min_rate * window` bytes, and a read that
//! waits a whole window fails (interrupt.rs's watchdog wakes it). And the
//! whole request, headers included (no reader of ours sees them), must be
//! done within one window plus the time its expected size (the declared
//! size of a blob, the cap of a manifest or token) takes at the minimum
//! rate: a deadline ureq enforces.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

pub const MAX_MANIFEST: u64 = 4 << 20;
pub const MAX_CONFIG: u64 = 4 << 20;
pub const MAX_TOKEN: u64 = 1 << 20;
/// Room for the status line and headers in a request's deadline.
const HEADROOM: u64 = 64 << 10;

pub const MIN_RATE_ENV: &str = "BURROW_PULL_MIN_RATE";
pub const WINDOW_ENV: &str = "BURROW_PULL_RATE_WINDOW";

/// The minimum pace of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Bytes per second, averaged over `window`; 0 turns the check off.
    pub min_rate: u64,
    pub window: Duration,
}

impl Default for Pace {
    /// 1 KiB/s over a minute: a link that moves less than 60 KiB in a
    /// minute is stalled, not slow.
    fn default() -> Pace {
        Pace {
            min_rate: 1024,
            window: Duration::from_secs(60),
        }
    }
}

impl Pace {
    /// The default, or BURROW_PULL_MIN_RATE (bytes/s, 0 for no limit)
    /// and BURROW_PULL_RATE_WINDOW (seconds).
    pub fn from_env() -> anyhow::Result<Pace> {
        let mut pace = Pace::default();
        if let Ok(v) = std::env::var(MIN_RATE_ENV) {
            pace.min_rate = v
                .trim()
                .parse()
                .with_context(|| format!("{MIN_RATE_ENV}={v:?}: give bytes per second"))?;
        }
        if let Ok(v) = std::env::var(WINDOW_ENV) {
            let secs: u64 = v
                .trim()
                .parse()
                .with_context(|| format!("{WINDOW_ENV}={v:?}: give seconds"))?;
            if secs == 0 {
                bail!("{WINDOW_ENV} must be at least 1 second");
            }
            pace.window = Duration::from_secs(secs);
        }
        Ok(pace)
    }

    /// The deadline of a whole request whose body is `size` bytes.
    pub fn deadline(&self, size: u64) -> Option<Duration> {
        if self.min_rate == 0 {
            return None;
        }
        let secs = size.saturating_add(HEADROOM) / self.min_rate;
        Some(self.window.saturating_add(Duration::from_secs(secs)))
    }
}

/// A response body that fails when it comes slower than the pace, or
/// when burrow is interrupted.
pub struct Paced<R> {
    inner: R,
    pace: Pace,
    window_start: Instant,
    window_bytes: u64,
}

impl<R> Paced<R> {
    pub fn new(inner: R, pace: Pace) -> Paced<R> {
        Paced {
            inner,
            pace,
            window_start: Instant::now(),
            window_bytes: 0,
        }
    }

    fn too_slow(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the registry sent {} bytes in {}s, slower than the minimum {} bytes/s (set {MIN_RATE_ENV} to allow slower links)",
                self.window_bytes,
                self.window_start.elapsed().as_secs(),
                self.pace.min_rate
            ),
        )
    }
}

impl<R> Paced<R> {
    fn stalled(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the registry sent nothing for {}s (set {MIN_RATE_ENV} to allow slower links)",
                self.pace.window.as_secs()
            ),
        )
    }
}

impl<R: Read> Read for Paced<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A read that waits a whole window is woken and fails.
        let within = (self.pace.min_rate > 0).then_some(self.pace.window);
        let n = crate::interrupt::blocking_until(within, || self.inner.read(buf)).map_err(|e| {
            match e.kind() {
                // The socket's read timeout is one window.
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock if self.pace.min_rate > 0 => {
                    self.stalled()
                }
                _ => e,
            }
        })?;
        self.window_bytes += n as u64;
        let elapsed = self.window_start.elapsed();
        if self.pace.min_rate > 0 && elapsed >= self.pace.window {
            let want = u128::from(self.pace.min_rate) * elapsed.as_millis() / 1000;
            if u128::from(self.window_bytes) < want {
                return Err(self.too_slow());
            }
            self.window_start = Instant::now();
            self.window_bytes = 0;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives one byte per read, sleeping `gap` first.
    struct Trickle(Duration);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            std::thread::sleep(self.0);
            buf[0] = b'x';
            Ok(1)
        }
    }

    #[test]
    fn a_trickle_fails_after_one_window() {
        let pace = Pace {
            min_rate: 100,
            window: Duration::from_millis(300),
        };
        let started = Instant::now();
        let mut r = Paced::new(Trickle(Duration::from_millis(20)), pace);
        let err = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert!(err.to_string().contains("slower than"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_fast_reader_passes_and_zero_means_no_limit() {
        let pace = Pace {
            min_rate: 10,
            window: Duration::from_millis(50),
        };
        let data = vec![7u8; 100_000];
        let mut r = Paced::new(&data[..], pace);
        assert_eq!(io::copy(&mut r, &mut io::sink()).unwrap(), 100_000);
        let off = Pace {
            min_rate: 0,
            ..pace
        };
        assert_eq!(off.deadline(1 << 30), None);
        let mut r = Paced::new(Trickle(Duration::from_millis(60)).take(3), off);
        assert_eq!(io::copy(&mut r, &mut io::sink()).unwrap(), 3);
    }

    #[test]
    fn the_deadline_grows_with_the_size() {
        let pace = Pace::default();
        assert_eq!(pace.deadline(0), Some(Duration::from_secs(60 + 64)));
        assert_eq!(
            pace.deadline(MAX_MANIFEST),
            Some(Duration::from_secs(60 + 4096 + 64))
        );
    }
}
