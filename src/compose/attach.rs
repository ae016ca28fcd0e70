//! Several containers' logs as one stream, each line prefixed with its
//! container (`web-1  | `), coloured per service on a terminal, as
//! Compose prints them; followed until every container ended, or until
//! Ctrl-C, which (for an attached `up`) stops them.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context;

use super::labels::service_of;
use super::Project;
use crate::container::log::{self, Entry, Follower};
use crate::container::record::{self, Record};
use crate::container::state::State;
use crate::container::supervisor::log_path;
use crate::paths::Paths;

/// Compose's colours, in its order, one per service.
const COLOURS: [&str; 10] = [
    "36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1",
];

/// How one container's lines are prefixed.
pub struct Prefixer {
    prefixes: BTreeMap<String, String>,
    /// A line cut between two log entries, per container.
    partial: BTreeMap<String, Vec<u8>>,
    timestamps: bool,
}

/// The name a container goes by in the prefix: without `<project>-`.
pub fn short_name(project: &str, r: &Record) -> String {
    r.name
        .strip_prefix(&format!("{project}-"))
        .unwrap_or(&r.name)
        .to_string()
}

impl Prefixer {
    pub fn new(project: &str, recs: &[Record], colour: bool, timestamps: bool) -> Prefixer {
        let named: Vec<(String, String, String)> = recs
            .iter()
            .map(|r| {
                (
                    r.id.clone(),
                    short_name(project, r),
                    service_of(r).to_string(),
                )
            })
            .collect();
        Prefixer::of(&named, colour, timestamps)
    }

    /// From (id, name, service) triples.
    fn of(named: &[(String, String, String)], colour: bool, timestamps: bool) -> Prefixer {
        let width = named
            .iter()
            .map(|(_, n, _)| crate::text::escape_control(n).chars().count())
            .max()
            .unwrap_or(0);
        let mut by_service = BTreeMap::new();
        for (_, _, s) in named {
            let n = by_service.len();
            by_service
                .entry(s.as_str())
                .or_insert(COLOURS[n % COLOURS.len()]);
        }
        let prefixes = named
            .iter()
            .map(|(id, name, service)| {
                let name = crate::text::escape_control(name);
                let plain = format!("{name:<width$} | ");
                let p = if colour {
                    format!("\x1b[{}m{plain}\x1b[0m", by_service[service.as_str()])
                } else {
                    plain
                };
                (id.clone(), p)
            })
            .collect();
        Prefixer {
            prefixes,
            partial: BTreeMap::new(),
            timestamps,
        }
    }

    /// Print `e`, from container `id`: whole lines, each prefixed.
    pub fn print(&mut self, id: &str, e: &Entry, out: &mut impl Write) -> std::io::Result<()> {
        let prefix = self.prefixes.get(id).cloned().unwrap_or_default();
        let buf = self.partial.entry(id.to_string()).or_default();
        buf.extend_from_slice(&e.text);
        while let Some(i) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            out.write_all(prefix.as_bytes())?;
            if self.timestamps {
                let t = humantime::format_rfc3339_nanos(e.time);
                write!(out, "{t} ")?;
            }
            out.write_all(&line)?;
        }
        Ok(())
    }

    /// Lines left without their newline, at the end.
    pub fn flush(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        for (id, rest) in std::mem::take(&mut self.partial) {
            if !rest.is_empty() {
                let prefix = self.prefixes.get(&id).cloned().unwrap_or_default();
                out.write_all(prefix.as_bytes())?;
                out.write_all(&rest)?;
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    }
}

/// `logs` options.
#[derive(Debug, Default, Clone)]
pub struct LogOptions {
    pub follow: bool,
    pub tail: Option<usize>,
    pub timestamps: bool,
    pub since: Option<SystemTime>,
    pub no_colour: bool,
    pub no_prefix: bool,
}

/// Print the logs of `recs` merged in time order; with `follow`, keep
/// printing until they all ended (or Ctrl-C).
pub fn logs(root: &Path, project: &str, recs: &[Record], o: &LogOptions) -> anyhow::Result<i32> {
    let colour = !o.no_colour && std::io::stdout().is_terminal();
    let mut p = Prefixer::new(project, recs, colour, o.timestamps);
    if o.no_prefix {
        p.prefixes.clear();
    }
    let mut followers = Vec::new();
    if o.follow {
        for r in recs {
            let path = log_path(&record::container_dir(root, &r.id));
            followers.push((r.clone(), Follower::at_end(&path).context("open the log")?));
        }
    }
    let mut all: Vec<(SystemTime, usize, String, Entry)> = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        let path = log_path(&record::container_dir(root, &r.id));
        let entries = match o.tail {
            Some(n) => log::tail(&path, o.since, n).unwrap_or_default(),
            None => {
                let mut v = Vec::new();
                let _ = log::for_each(&path, o.since, |e| v.push(e.clone()));
                v
            }
        };
        all.extend(entries.into_iter().map(|e| (e.time, i, r.id.clone(), e)));
    }
    all.sort_by_key(|(t, i, _, _)| (*t, *i));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (_, _, id, e) in &all {
        p.print(id, e, &mut out)?;
    }
    out.flush()?;
    drop(out);
    if o.follow {
        follow(root, &mut p, followers, || false)?;
    }
    p.flush(&mut std::io::stdout().lock())?;
    Ok(0)
}

/// Print what `followers` add until every container ended or `stop`
/// says so.
fn follow(
    root: &Path,
    p: &mut Prefixer,
    mut followers: Vec<(Record, Follower)>,
    mut stop: impl FnMut() -> bool,
) -> anyhow::Result<bool> {
    loop {
        let mut any_live = false;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for (r, f) in &mut followers {
            // Read after looking at the state, so the last words of a
            // container that just ended are printed.
            let live = record::find(root, &r.id).is_ok_and(|x| State::of(&x).is_live());
            any_live |= live;
            for e in f.poll().context("read the log")? {
                p.print(&r.id, &e, &mut out)?;
            }
        }
        out.flush()?;
        drop(out);
        if stop() {
            return Ok(true);
        }
        if !any_live {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An attached `up`: print the containers' output from their start until
/// they all ended; Ctrl-C stops them (each with its grace period).
/// `stop`: what Ctrl-C does to them (the caller knows their grace periods).
pub fn follow_until_done(
    paths: &Paths,
    project: &Project,
    recs: &[Record],
    stop: &dyn Fn(&[Record]),
) -> anyhow::Result<i32> {
    let root = paths.root().to_path_buf();
    let colour = std::io::stdout().is_terminal();
    let mut p = Prefixer::new(&project.name, recs, colour, false);
    let mut followers = Vec::new();
    {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for r in recs {
            let path = log_path(&record::container_dir(&root, &r.id));
            let f = Follower::at_end(&path).context("open the log")?;
            for e in log::read_all(&path).unwrap_or_default() {
                p.print(&r.id, &e, &mut out)?;
            }
            followers.push((r.clone(), f));
        }
    }
    // Ctrl-C ends an attached `up` with 130, as Compose, after the stop.
    let done = crate::interrupt::during(|| {
        let interrupted = follow(&root, &mut p, followers, crate::interrupt::requested)?;
        if interrupted {
            eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            stop(recs);
        }
        p.flush(&mut std::io::stdout().lock())?;
        Ok(0)
    });
    match done {
        Err(e) if crate::interrupt::requested() => Ok(crate::error::exit_code(&e)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::log::Stream;

    #[test]
    fn lines_are_prefixed_and_pieces_joined() {
        let t = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        let mut p = Prefixer::of(
            &[t("a", "web-1", "web"), t("b", "database-1", "database")],
            false,
            false,
        );
        let e = |t: &str| Entry {
            stream: Stream::Stdout,
            time: SystemTime::UNIX_EPOCH,
            text: t.as_bytes().to_vec(),
        };
        let mut out = Vec::new();
        p.print("a", &e("one\ntw"), &mut out).unwrap();
        p.print("a", &e("o\n"), &mut out).unwrap();
        p.print("b", &e("x"), &mut out).unwrap();
        p.flush(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "web-1      | one\nweb-1      | two\ndatabase-1 | x\n"
        );
    }
}
