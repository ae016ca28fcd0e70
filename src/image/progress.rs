//! What a pull tells the user: progress bars on a terminal (one per layer,
//! bytes and rate), plain lines otherwise, nothing when quiet. `burrow pull`
//! reports on stdout as docker does; a pull inside `run` on stderr, so the
//! container's own output stays clean.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::blobs::short;

pub trait Progress: Sync {
    /// A whole line about the pull ("Pulling from ...", "Digest: ...").
    fn status(&self, line: &str);
    fn layer_begin(&self, digest: &str, size: u64);
    fn layer_bytes(&self, digest: &str, n: u64);
    /// The layer's last word: "Already exists", "Pull complete".
    fn layer_end(&self, digest: &str, status: &str);
    /// A passing word about a layer ("Extracting").
    fn layer_note(&self, _digest: &str, _note: &str) {}
    /// A warning, on stderr, without breaking the bars.
    fn warn(&self, line: &str) {
        tracing::warn!("{line}");
    }
}

/// Where progress goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Output {
    #[default]
    Stderr,
    Stdout,
}

impl Output {
    fn write_line(self, line: &str) {
        let _ = match self {
            Output::Stderr => writeln!(std::io::stderr(), "{line}"),
            Output::Stdout => writeln!(std::io::stdout(), "{line}"),
        };
    }

    fn is_terminal(self) -> bool {
        match self {
            Output::Stderr => std::io::stderr().is_terminal(),
            Output::Stdout => std::io::stdout().is_terminal(),
        }
    }
}

/// The reporter for a pull: quiet, bars on a terminal, else lines.
pub fn for_terminal(quiet: bool, output: Output) -> Box<dyn Progress> {
    if quiet {
        Box::new(Quiet)
    } else if output.is_terminal() {
        Box::new(Bars::new(output))
    } else {
        Box::new(Lines(output))
    }
}

pub struct Quiet;

impl Progress for Quiet {
    fn status(&self, _: &str) {}
    fn layer_begin(&self, _: &str, _: u64) {}
    fn layer_bytes(&self, _: &str, _: u64) {}
    fn layer_end(&self, _: &str, _: &str) {}
    /// -q asks for the name alone: a warning about the pull is only logged.
    fn warn(&self, line: &str) {
        tracing::info!("{line}");
    }
}

/// Docker's non-terminal output: one line per event.
pub struct Lines(pub Output);

impl Progress for Lines {
    fn status(&self, line: &str) {
        self.0.write_line(line);
    }
    fn layer_begin(&self, _: &str, _: u64) {}
    fn layer_bytes(&self, _: &str, _: u64) {}
    fn layer_end(&self, digest: &str, status: &str) {
        self.0.write_line(&format!("{}: {status}", short(digest)));
    }
}

pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn new(output: Output) -> Bars {
        let target = match output {
            Output::Stderr => ProgressDrawTarget::stderr(),
            Output::Stdout => ProgressDrawTarget::stdout(),
        };
        Bars {
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn bar(&self, digest: &str) -> Option<ProgressBar> {
        self.bars.lock().ok()?.get(digest).cloned()
    }
}

impl Progress for Bars {
    fn status(&self, line: &str) {
        let _ = self.multi.println(line);
    }
    fn layer_begin(&self, digest: &str, size: u64) {
        let bar = self.multi.add(ProgressBar::new(size));
        let style = ProgressStyle::with_template(
            "{prefix}: {bar:30} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(short(digest).to_string());
        if let Ok(mut b) = self.bars.lock() {
            b.insert(digest.to_string(), bar);
        }
    }
    fn layer_bytes(&self, digest: &str, n: u64) {
        if let Some(b) = self.bar(digest) {
            b.inc(n);
        }
    }
    fn layer_note(&self, digest: &str, note: &str) {
        if let Some(b) = self.bar(digest) {
            b.set_message(note.to_string());
        }
    }
    fn warn(&self, line: &str) {
        self.multi.suspend(|| tracing::warn!("{line}"));
    }
    fn layer_end(&self, digest: &str, status: &str) {
        match self.bar(digest) {
            Some(b) => {
                b.set_style(
                    ProgressStyle::with_template("{prefix}: {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.finish_with_message(status.to_string());
            }
            None => {
                let _ = self.multi.println(format!("{}: {status}", short(digest)));
            }
        }
    }
}
