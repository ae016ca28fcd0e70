//! What a build prints (`--progress`). The executor reports typed events;
//! `plain` turns them into the classic builder's lines ("Step 2/5 : RUN
//! ...", " ---> Using cache", " ---> 3f2a..."), `tty` into a live view
//! (one spinner per running stage, one line per finished step). Stages
//! built at the same time stay readable: in plain mode the earliest
//! unfinished stage prints live and the others' lines are held until it
//! is done, so the log reads in Dockerfile order.

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::text::escape_control;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Tty,
    Quiet,
}

impl Mode {
    /// `--progress` and `-q` to a mode; `auto` is tty on a terminal.
    pub fn pick(progress: &str, quiet: bool) -> Mode {
        match (quiet, progress) {
            (true, _) => Mode::Quiet,
            (_, "plain") => Mode::Plain,
            (_, "tty") => Mode::Tty,
            _ if std::io::stdout().is_terminal() => Mode::Tty,
            _ => Mode::Plain,
        }
    }
}

/// One thing the executor did, in the order it did it.
pub enum Event<'a> {
    /// A step starts: its number, the total, the instruction as written.
    Step(usize, usize, &'a str),
    /// The step's image came from the cache.
    Cached,
    /// A RUN step's container.
    Running(&'a str),
    /// A RUN step's output.
    Output(&'a str),
    /// The step's (or FROM's) image id, short.
    Image(&'a str),
}

struct Held {
    /// Needed stages in Dockerfile order, and the one printing live.
    order: Vec<usize>,
    head: usize,
    lines: HashMap<usize, Vec<String>>,
    done: HashSet<usize>,
}

struct Live {
    multi: MultiProgress,
    bars: HashMap<usize, (ProgressBar, String, Instant, bool)>,
}

pub struct Printer {
    mode: Mode,
    held: Mutex<Held>,
    live: Mutex<Live>,
    names: Vec<String>,
}

impl Printer {
    /// `order`: the stages that will be built, in Dockerfile order;
    /// `names`: every stage's name for the live view.
    pub fn new(mode: Mode, order: Vec<usize>, names: Vec<String>) -> Printer {
        Printer {
            mode,
            held: Mutex::new(Held {
                order,
                head: 0,
                lines: HashMap::new(),
                done: HashSet::new(),
            }),
            live: Mutex::new(Live {
                multi: MultiProgress::new(),
                bars: HashMap::new(),
            }),
            names,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn event(&self, stage: usize, e: Event) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => {
                let text = match e {
                    Event::Step(n, t, s) => format!("Step {n}/{t} : {}", escape_control(s)),
                    Event::Cached => " ---> Using cache".to_string(),
                    Event::Running(c) => format!(" ---> Running in {c}"),
                    Event::Output(o) => o.trim_end_matches('\n').to_string(),
                    Event::Image(id) => format!(" ---> {id}"),
                };
                self.plain(stage, text);
            }
            Mode::Tty => self.tty(stage, e),
        }
    }

    fn plain(&self, stage: usize, text: String) {
        let mut h = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if h.order.get(h.head) == Some(&stage) {
            println!("{text}");
        } else {
            h.lines.entry(stage).or_default().push(text);
        }
    }

    fn tty(&self, stage: usize, e: Event) {
        let mut l = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let name = self.names.get(stage).cloned().unwrap_or_default();
        let Live { multi, bars } = &mut *l;
        let entry = bars.entry(stage).or_insert_with(|| {
            let b = multi.add(ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            (b, String::new(), Instant::now(), false)
        });
        match e {
            Event::Step(n, t, s) => {
                // The step before this one is finished: one line for it.
                Self::finish_step(multi, entry);
                entry.1 = format!("[{name} {n}/{t}] {}", escape_control(s));
                entry.2 = Instant::now();
                entry.3 = false;
                entry.0.set_message(short_line(&entry.1));
            }
            Event::Cached => entry.3 = true,
            Event::Output(o) => {
                if let Some(last) = o.lines().rev().find(|l| !l.trim().is_empty()) {
                    entry
                        .0
                        .set_message(format!("{} | {}", short_line(&entry.1), short_line(last)));
                }
            }
            Event::Running(_) | Event::Image(_) => {}
        }
    }

    fn finish_step(multi: &MultiProgress, entry: &mut (ProgressBar, String, Instant, bool)) {
        if entry.1.is_empty() {
            return;
        }
        let how = if entry.3 {
            "CACHED".to_string()
        } else {
            format!("{:.1}s", entry.2.elapsed().as_secs_f64())
        };
        let line = format!("{} {how}", entry.1);
        // Not a terminal after all (`--progress tty` into a pipe): the
        // bars are hidden, the finished steps still show.
        if multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = multi.println(line);
        }
        entry.1.clear();
    }

    /// A stage is done (built or failed): let the next one print.
    pub fn finish(&self, stage: usize) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Tty => {
                let mut l = self.live.lock().unwrap_or_else(|e| e.into_inner());
                let Live { multi, bars } = &mut *l;
                if let Some(mut entry) = bars.remove(&stage) {
                    Self::finish_step(multi, &mut entry);
                    entry.0.finish_and_clear();
                    multi.remove(&entry.0);
                }
            }
            Mode::Plain => {
                let mut h = self.held.lock().unwrap_or_else(|e| e.into_inner());
                h.done.insert(stage);
                while let Some(&cur) = h.order.get(h.head) {
                    if !h.done.contains(&cur) {
                        break;
                    }
                    h.head += 1;
                    if let Some(&next) = h.order.get(h.head) {
                        for line in h.lines.remove(&next).unwrap_or_default() {
                            println!("{line}");
                        }
                    }
                }
                std::io::stdout().flush().ok();
            }
        }
    }

    /// Print what is still held (after a failure stopped the build).
    pub fn flush(&self) {
        if self.mode == Mode::Plain {
            let mut h = self.held.lock().unwrap_or_else(|e| e.into_inner());
            let order = h.order.clone();
            for s in order {
                for line in h.lines.remove(&s).unwrap_or_default() {
                    println!("{line}");
                }
            }
        }
    }
}

/// A line cut to fit a terminal row.
fn short_line(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 70 {
        format!("{}...", s.chars().take(67).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_modes() {
        assert_eq!(Mode::pick("tty", true), Mode::Quiet);
        assert_eq!(Mode::pick("plain", false), Mode::Plain);
        assert_eq!(Mode::pick("tty", false), Mode::Tty);
    }

    #[test]
    fn short_lines_fit() {
        assert_eq!(short_line(&"x".repeat(100)).chars().count(), 70);
        assert_eq!(short_line(" a "), "a");
    }
}
