//! A container's log: one JSON object per line, in the shape of Docker's
//! json-file driver (`{"log":"...","stream":"stdout","time":"..."}`).
//!
//! Each write is appended as whole lines at once, so the log stays readable
//! when the supervisor that writes it is killed at any point. Output that
//! does not end in a newline is written as a record of its own, without
//! the newline; readers join the pieces. With a size cap, the file rotates
//! to `NAME.1`, `NAME.2`, ... and the oldest is dropped.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    log: String,
    stream: Stream,
    time: String,
}

/// One piece of output as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub stream: Stream,
    pub time: SystemTime,
    pub text: String,
}

/// `--log-opt max-size=SIZE` and `max-file=N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_size: u64,
    pub max_files: u32,
}

/// Parse Docker's sizes: "100", "10k", "20m", "1g" (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    let lower = lower.trim_end_matches('b');
    let (num, mult) = match lower.char_indices().last() {
        Some((i, 'k')) => (&lower[..i], 1u64 << 10),
        Some((i, 'm')) => (&lower[..i], 1 << 20),
        Some((i, 'g')) => (&lower[..i], 1 << 30),
        _ => (lower, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("invalid size {s:?} (use e.g. 512k, 10m, 1g)"))
}

pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Option<Rotation>,
}

impl LogWriter {
    pub fn open(path: &Path, rotation: Option<Rotation>) -> io::Result<LogWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            rotation,
        })
    }

    /// Append what the container wrote on `stream`.
    pub fn write(&mut self, stream: Stream, data: &[u8], now: SystemTime) -> io::Result<()> {
        let time = humantime::format_rfc3339_nanos(now).to_string();
        let text = String::from_utf8_lossy(data);
        let mut buf = Vec::with_capacity(data.len() + 64);
        for piece in text.split_inclusive('\n') {
            let record = Record {
                log: piece.to_string(),
                stream,
                time: time.clone(),
            };
            let mut one = serde_json::to_vec(&record)?;
            one.push(b'\n');
            // Rotate between records, so no file grows past the cap by
            // more than one record however much came in one read.
            if let Some(r) = self.rotation {
                let pending = self.size + buf.len() as u64;
                if pending > 0 && pending + one.len() as u64 > r.max_size {
                    self.flush(&mut buf)?;
                    self.rotate(r)?;
                }
            }
            buf.extend_from_slice(&one);
        }
        self.flush(&mut buf)
    }

    /// One write call per batch of whole records: a reader or a crash
    /// never sees half a record from us.
    fn flush(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        if !buf.is_empty() {
            self.file.write_all(buf)?;
            self.size += buf.len() as u64;
            buf.clear();
        }
        Ok(())
    }

    fn rotate(&mut self, r: Rotation) -> io::Result<()> {
        let keep = r.max_files.max(1);
        if keep == 1 {
            // Only the live file is kept: start it again.
            self.file.set_len(0)?;
            self.file.seek(SeekFrom::Start(0))?;
        } else {
            for n in (1..keep - 1).rev() {
                let from = numbered(&self.path, n);
                if from.exists() {
                    fs::rename(&from, numbered(&self.path, n + 1))?;
                }
            }
            fs::rename(&self.path, numbered(&self.path, 1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// The rotated files oldest first, then the live one.
fn files_in_order(path: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<PathBuf> = (1..1000)
        .map(|n| numbered(path, n))
        .take_while(|p| p.exists())
        .collect();
    rotated.reverse();
    rotated.push(path.to_path_buf());
    rotated
}

fn parse_line(line: &str) -> Option<Entry> {
    let r: Record = serde_json::from_str(line).ok()?;
    Some(Entry {
        stream: r.stream,
        time: humantime::parse_rfc3339(&r.time).ok()?,
        text: r.log,
    })
}

/// Every entry, oldest first. A torn last line (the writer was killed in
/// the middle of the write) is skipped, not an error.
pub fn read_all(path: &Path) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for file in files_in_order(path) {
        let f = match File::open(&file) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in BufReader::new(f).lines() {
            if let Some(e) = parse_line(&line?) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// Keep entries at or after `since`, and of those the last `tail` lines
/// (a line ends with a newline; pieces of one line count once).
pub fn select(entries: Vec<Entry>, since: Option<SystemTime>, tail: Option<usize>) -> Vec<Entry> {
    let mut kept: Vec<Entry> = entries
        .into_iter()
        .filter(|e| since.is_none_or(|s| e.time >= s))
        .collect();
    if let Some(n) = tail {
        let mut lines = 0;
        let mut start = kept.len();
        while start > 0 {
            if kept[start - 1].text.ends_with('\n') {
                if lines == n {
                    break;
                }
                lines += 1;
            }
            start -= 1;
        }
        kept.drain(..start);
    }
    kept
}

/// `--since`: an RFC 3339 time, a Unix timestamp, or a duration ago ("10m").
pub fn parse_since(s: &str, now: SystemTime) -> Result<SystemTime, String> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(t);
    }
    if let Ok(secs) = s.parse::<f64>() {
        if secs >= 0.0 {
            return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
        }
    }
    humantime::parse_duration(s)
        .map(|d| now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH))
        .map_err(|_| format!("invalid --since {s:?} (use e.g. 2024-01-02T15:04:05Z, 10m, 1h)"))
}

/// Follows a live log: new entries as they are appended, across rotations.
pub struct Follower {
    path: PathBuf,
    reader: Option<BufReader<File>>,
    inode: u64,
    partial: String,
}

impl Follower {
    /// Start at the current end of the live file.
    pub fn at_end(path: &Path) -> io::Result<Follower> {
        let mut f = Follower {
            path: path.to_path_buf(),
            reader: None,
            inode: 0,
            partial: String::new(),
        };
        f.reopen(true)?;
        Ok(f)
    }

    fn reopen(&mut self, seek_end: bool) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        match File::open(&self.path) {
            Ok(mut file) => {
                self.inode = file.metadata()?.ino();
                if seek_end {
                    file.seek(SeekFrom::End(0))?;
                }
                self.reader = Some(BufReader::new(file));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.reader = None,
            Err(e) => return Err(e),
        }
        self.partial.clear();
        Ok(())
    }

    /// Entries appended since the last call (none when nothing is new).
    pub fn poll(&mut self) -> io::Result<Vec<Entry>> {
        use std::os::unix::fs::MetadataExt;
        let mut out = self.drain()?;
        // Rotated or recreated: finish the old file, then read the new one
        // from its start.
        let now_inode = fs::metadata(&self.path).map(|m| m.ino()).unwrap_or(0);
        if now_inode != self.inode {
            self.reopen(false)?;
            out.extend(self.drain()?);
        } else if let Some(r) = &mut self.reader {
            // Truncated in place (max-file=1): start over.
            let len = fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
            if r.stream_position()? > len {
                r.seek(SeekFrom::Start(0))?;
            }
        }
        Ok(out)
    }

    fn drain(&mut self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        let Some(r) = &mut self.reader else {
            return Ok(out);
        };
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                break;
            }
            self.partial.push_str(&line);
            if self.partial.ends_with('\n') {
                if let Some(e) = parse_line(self.partial.trim_end()) {
                    out.push(e);
                }
                self.partial.clear();
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn texts(entries: &[Entry]) -> String {
        entries.iter().map(|e| e.text.as_str()).collect()
    }

    #[test]
    fn streams_stay_apart_and_partial_lines_join() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let mut w = LogWriter::open(&path, None).unwrap();
        w.write(Stream::Stdout, b"one\ntw", t(1)).unwrap();
        w.write(Stream::Stderr, b"oops\n", t(2)).unwrap();
        w.write(Stream::Stdout, b"o\n", t(3)).unwrap();
        let all = read_all(&path).unwrap();
        let out: Vec<Entry> = all
            .iter()
            .filter(|e| e.stream == Stream::Stdout)
            .cloned()
            .collect();
        assert_eq!(texts(&out), "one\ntwo\n");
        let err: Vec<Entry> = all
            .iter()
            .filter(|e| e.stream == Stream::Stderr)
            .cloned()
            .collect();
        assert_eq!(texts(&err), "oops\n");
        assert_eq!(all[0].time, t(1));
    }

    #[test]
    fn a_torn_last_record_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let mut w = LogWriter::open(&path, None).unwrap();
        w.write(Stream::Stdout, b"kept\n", t(1)).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"log\":\"torn").unwrap();
        assert_eq!(texts(&read_all(&path).unwrap()), "kept\n");
    }

    #[test]
    fn rotation_caps_the_size_and_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let rot = Rotation {
            max_size: 200,
            max_files: 3,
        };
        let mut w = LogWriter::open(&path, Some(rot)).unwrap();
        for i in 0..50 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes(), t(i))
                .unwrap();
        }
        let total: u64 = files_in_order(&path)
            .iter()
            .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum();
        assert!(total <= 3 * 200, "{total}");
        assert!(!numbered(&path, 3).exists());
        let all = read_all(&path).unwrap();
        assert_eq!(all.last().unwrap().text, "line 49\n");
        let nums: Vec<u64> = all
            .iter()
            .map(|e| e.time.duration_since(t(0)).unwrap().as_secs())
            .collect();
        assert!(nums.windows(2).all(|w| w[0] + 1 == w[1]), "{nums:?}");
    }

    #[test]
    fn one_big_write_is_split_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let rot = Rotation {
            max_size: 200,
            max_files: 3,
        };
        let mut w = LogWriter::open(&path, Some(rot)).unwrap();
        let many: String = (0..100).map(|i| format!("big {i}\n")).collect();
        w.write(Stream::Stdout, many.as_bytes(), t(60)).unwrap();
        for p in files_in_order(&path) {
            assert!(fs::metadata(&p).unwrap().len() <= 200, "{}", p.display());
        }
        assert_eq!(read_all(&path).unwrap().last().unwrap().text, "big 99\n");
    }

    #[test]
    fn tail_counts_lines_not_pieces() {
        let e = |s: &str, n| Entry {
            stream: Stream::Stdout,
            time: t(n),
            text: s.into(),
        };
        let all = vec![e("a\n", 1), e("b", 2), e("b\n", 3), e("c\n", 4)];
        assert_eq!(texts(&select(all.clone(), None, Some(2))), "bb\nc\n");
        assert_eq!(texts(&select(all.clone(), None, Some(0))), "");
        assert_eq!(texts(&select(all.clone(), Some(t(3)), None)), "b\nc\n");
    }

    #[test]
    fn since_accepts_times_and_durations() {
        let now = t(10_000);
        assert_eq!(parse_since("10s", now).unwrap(), t(9_990));
        assert_eq!(parse_since("1970-01-01T00:00:05Z", now).unwrap(), t(5));
        assert_eq!(parse_since("42", now).unwrap(), t(42));
        assert!(parse_since("yesterday-ish", now).is_err());
    }

    #[test]
    fn sizes_parse_as_docker_does() {
        assert_eq!(parse_size("10k").unwrap(), 10240);
        assert_eq!(parse_size("2m").unwrap(), 2 << 20);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert!(parse_size("0").is_err());
        assert!(parse_size("ten").is_err());
    }

    #[test]
    fn follower_sees_appends_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let rot = Rotation {
            max_size: 120,
            max_files: 2,
        };
        let mut w = LogWriter::open(&path, Some(rot)).unwrap();
        w.write(Stream::Stdout, b"before\n", t(1)).unwrap();
        let mut f = Follower::at_end(&path).unwrap();
        assert!(f.poll().unwrap().is_empty());
        let mut seen = String::new();
        for i in 0..10 {
            w.write(Stream::Stdout, format!("after {i}\n").as_bytes(), t(2 + i))
                .unwrap();
            seen.push_str(&texts(&f.poll().unwrap()));
        }
        let want: String = (0..10).map(|i| format!("after {i}\n")).collect();
        assert_eq!(seen, want);
    }
}
