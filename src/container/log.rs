//! A container's log, in a compact framed format of our own: Docker's
//! json-file shape (a JSON object and a timestamp per line) turned 2 MiB of
//! newlines into 149 MB. Here each chunk the container wrote is one record
//! with one timestamp, its bytes kept as they came:
//!
//! ```text
//! file   = MAGIC record*
//! record = kind:u8 len:u32le nanos:u64le payload[len] len:u32le
//! ```
//!
//! The length repeated after the payload lets `logs -n` walk the newest
//! file backwards, so it reads only what it prints. Each write appends whole
//! records in one call; a record torn by a full disk or a crash is cut off
//! when the writer reopens the file, and skipped by readers.
//!
//! Rotation is always on (Docker's `local` driver defaults: 20 MiB x 5):
//! the live file is renamed to `NAME.1`, `NAME.2`, ... and the oldest
//! dropped. Files from older burrows (JSON lines) are still read.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The first bytes of every log file in this format.
const MAGIC: &[u8; 8] = b"burrowL1";
/// kind, length, time.
const HEAD: usize = 1 + 4 + 8;
/// The length again.
const TAIL: usize = 4;
/// A record's payload at most (the supervisor reads 32 KiB at a time).
const MAX_PAYLOAD: usize = 64 * 1024;

/// One piece of output as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub stream: Stream,
    pub time: SystemTime,
    pub text: Vec<u8>,
}

impl Entry {
    fn ends_line(&self) -> bool {
        self.text.last() == Some(&b'\n')
    }

    /// The entry cut after each newline (a line's pieces keep the time).
    fn lines(self) -> impl DoubleEndedIterator<Item = Entry> {
        let Entry { stream, time, text } = self;
        let mut pieces = Vec::new();
        let mut start = 0;
        for (i, b) in text.iter().enumerate() {
            if *b == b'\n' {
                pieces.push(text[start..=i].to_vec());
                start = i + 1;
            }
        }
        if start < text.len() {
            pieces.push(text[start..].to_vec());
        }
        pieces
            .into_iter()
            .map(move |text| Entry { stream, time, text })
    }
}

/// `--log-opt max-size=SIZE` and `max-file=N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_size: u64,
    pub max_files: u32,
}

impl Rotation {
    /// Docker's `local` driver: 20 MiB per file, 5 files.
    pub const DEFAULT: Rotation = Rotation {
        max_size: 20 << 20,
        max_files: 5,
    };

    /// The record's options, each defaulted on its own.
    pub fn from_opts(max_size: Option<u64>, max_files: Option<u32>) -> Rotation {
        Rotation {
            max_size: max_size.unwrap_or(Self::DEFAULT.max_size),
            max_files: max_files.unwrap_or(Self::DEFAULT.max_files),
        }
    }
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

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn encode(buf: &mut Vec<u8>, stream: Stream, time: u64, payload: &[u8]) {
    let len = payload.len() as u32;
    buf.push(match stream {
        Stream::Stdout => 1,
        Stream::Stderr => 2,
    });
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&time.to_le_bytes());
    buf.extend_from_slice(payload);
    buf.extend_from_slice(&len.to_le_bytes());
}

/// A record's header: its stream, payload length and time.
fn decode_head(h: &[u8; HEAD]) -> Option<(Stream, usize, SystemTime)> {
    let stream = match h[0] {
        1 => Stream::Stdout,
        2 => Stream::Stderr,
        _ => return None,
    };
    let len = u32::from_le_bytes(h[1..5].try_into().ok()?) as usize;
    let ns = u64::from_le_bytes(h[5..13].try_into().ok()?);
    (len <= MAX_PAYLOAD).then(|| {
        (
            stream,
            len,
            SystemTime::UNIX_EPOCH + Duration::from_nanos(ns),
        )
    })
}

pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
}

impl LogWriter {
    pub fn open(path: &Path, rotation: Rotation) -> io::Result<LogWriter> {
        let file = open_append(path)?;
        let len = file.metadata()?.len();
        let mut w = LogWriter {
            path: path.to_path_buf(),
            file,
            size: len,
            rotation,
        };
        if len == 0 {
            w.file.write_all(MAGIC)?;
            w.size = MAGIC.len() as u64;
        } else if !has_magic(&w.file)? {
            // An older burrow's JSON lines: they become the newest rotated file.
            w.rotate()?;
        } else {
            // Cut a record torn by a crash, or what follows would be lost
            // to readers (a forward scan: the end could be forged by bytes
            // the container wrote, a backward check could be fooled).
            let mut r = Forward::new(BufReader::new(File::open(path)?))?;
            while r.next()?.is_some() {}
            if r.pos < len {
                w.file.set_len(r.pos)?;
                w.size = r.pos;
            }
        }
        Ok(w)
    }

    /// Append what the container wrote on `stream`: one record, or several
    /// when the data is larger than a record or than the room left in the
    /// file before it rotates.
    pub fn write(&mut self, stream: Stream, data: &[u8], now: SystemTime) -> io::Result<()> {
        let time = nanos(now);
        let mut buf = Vec::with_capacity(data.len().min(MAX_PAYLOAD) + HEAD + TAIL);
        let mut rest = data;
        while !rest.is_empty() {
            let used = self.size + buf.len() as u64;
            let fresh = used <= MAGIC.len() as u64;
            let room = self
                .rotation
                .max_size
                .saturating_sub(used + (HEAD + TAIL) as u64);
            let mut n = rest.len().min(MAX_PAYLOAD);
            if n as u64 > room {
                if !fresh {
                    self.flush(&mut buf)?;
                    self.rotate()?;
                    continue;
                }
                // A max-size smaller than the data: cut it, at a line end
                // where there is one.
                n = (room as usize).max(1);
            }
            if n < rest.len() {
                if let Some(i) = rest[..n].iter().rposition(|b| *b == b'\n') {
                    n = i + 1;
                }
            }
            encode(&mut buf, stream, time, &rest[..n]);
            rest = &rest[n..];
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

    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.rotation.max_files.max(1);
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
            self.file = open_append(&self.path)?;
        }
        self.file.write_all(MAGIC)?;
        self.size = MAGIC.len() as u64;
        Ok(())
    }
}

fn has_magic(file: &File) -> io::Result<bool> {
    let mut m = [0u8; MAGIC.len()];
    match file.read_exact_at(&mut m, 0) {
        Ok(()) => Ok(&m == MAGIC),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
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

/// Fills `buf`; false when the input ended first.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// Records from the start of a framed file.
struct Forward<R> {
    r: R,
    /// Where the next record starts.
    pos: u64,
}

impl<R: Read> Forward<R> {
    /// After the magic (the caller checked it is there).
    fn new(mut r: R) -> io::Result<Forward<R>> {
        let mut m = [0u8; MAGIC.len()];
        read_full(&mut r, &mut m)?;
        Ok(Forward {
            r,
            pos: MAGIC.len() as u64,
        })
    }

    /// The next whole record; None at the end or at a torn one.
    fn next(&mut self) -> io::Result<Option<Entry>> {
        let mut h = [0u8; HEAD];
        if !read_full(&mut self.r, &mut h)? {
            return Ok(None);
        }
        let Some((stream, len, time)) = decode_head(&h) else {
            return Ok(None);
        };
        let mut text = vec![0u8; len + TAIL];
        if !read_full(&mut self.r, &mut text)? || text[len..] != (len as u32).to_le_bytes() {
            return Ok(None);
        }
        text.truncate(len);
        self.pos += (HEAD + len + TAIL) as u64;
        Ok(Some(Entry { stream, time, text }))
    }
}

/// The record that ends at `end` and where it starts; None when the bytes
/// there are not one.
fn record_before(file: &File, end: u64) -> io::Result<Option<(u64, Entry)>> {
    let first = MAGIC.len() as u64;
    if end < first + (HEAD + TAIL) as u64 {
        return Ok(None);
    }
    let mut t = [0u8; TAIL];
    file.read_exact_at(&mut t, end - TAIL as u64)?;
    let len = u64::from(u32::from_le_bytes(t));
    let Some(start) = end
        .checked_sub(len + (HEAD + TAIL) as u64)
        .filter(|s| *s >= first)
    else {
        return Ok(None);
    };
    let mut h = [0u8; HEAD];
    file.read_exact_at(&mut h, start)?;
    let Some((stream, l, time)) = decode_head(&h).filter(|(_, l, _)| *l as u64 == len) else {
        return Ok(None);
    };
    let mut text = vec![0u8; l];
    file.read_exact_at(&mut text, start + HEAD as u64)?;
    Ok(Some((start, Entry { stream, time, text })))
}

/// A line of an older burrow's json-file log.
#[derive(Deserialize)]
struct JsonRecord {
    log: String,
    stream: Stream,
    time: String,
}

fn parse_json_line(line: &str) -> Option<Entry> {
    let r: JsonRecord = serde_json::from_str(line).ok()?;
    Some(Entry {
        stream: r.stream,
        time: humantime::parse_rfc3339(&r.time).ok()?,
        text: r.log.into_bytes(),
    })
}

/// A log file opened for reading, and whether it is in our format (else
/// JSON lines); None when it does not exist.
fn open_read(p: &Path) -> io::Result<Option<(File, bool)>> {
    match File::open(p) {
        Ok(f) => {
            let framed = has_magic(&f)? || f.metadata()?.len() == 0;
            Ok(Some((f, framed)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every record of one file, oldest first. Torn records are skipped.
fn each_in_file(p: &Path, f: &mut dyn FnMut(Entry)) -> io::Result<()> {
    let Some((file, framed)) = open_read(p)? else {
        return Ok(());
    };
    if framed {
        let mut r = Forward::new(BufReader::new(file))?;
        while let Some(e) = r.next()? {
            f(e);
        }
    } else {
        for line in BufReader::new(file).split(b'\n') {
            if let Some(e) = parse_json_line(&String::from_utf8_lossy(&line?)) {
                f(e);
            }
        }
    }
    Ok(())
}

fn after(e: &Entry, since: Option<SystemTime>) -> bool {
    since.is_none_or(|s| e.time >= s)
}

/// Every entry at or after `since`, oldest first, handed to `f` one at a
/// time (a log of any size is read in little memory).
pub fn for_each(
    path: &Path,
    since: Option<SystemTime>,
    mut f: impl FnMut(&Entry),
) -> io::Result<()> {
    for file in files_in_order(path) {
        each_in_file(&file, &mut |e| {
            if after(&e, since) {
                f(&e)
            }
        })?;
    }
    Ok(())
}

/// Every entry, oldest first (for tests and small logs).
pub fn read_all(path: &Path) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for_each(path, None, |e| out.push(e.clone()))?;
    Ok(out)
}

/// The records of one file, newest first, until `f` says stop (returns
/// false); whether it did. Our format is read backwards from the end; an
/// older JSON file is read forwards, keeping only its last `keep` lines.
fn each_backward(p: &Path, keep: usize, f: &mut dyn FnMut(Entry) -> bool) -> io::Result<bool> {
    let Some((file, framed)) = open_read(p)? else {
        return Ok(false);
    };
    if !framed {
        let mut last = Tail::new(keep);
        each_in_file(p, &mut |e| last.push(e))?;
        return Ok(last.pieces.into_iter().rev().any(|e| !f(e)));
    }
    let mut end = file.metadata()?.len();
    if record_before(&file, end)?.is_none() {
        // A torn end (the writer was killed mid-write): from the last
        // whole record.
        let mut r = Forward::new(BufReader::new(File::open(p)?))?;
        while r.next()?.is_some() {}
        end = r.pos;
    }
    while let Some((start, e)) = record_before(&file, end)? {
        if !f(e) {
            return Ok(true);
        }
        end = start;
    }
    Ok(false)
}

/// The last `n` lines of a forward stream of entries (a line ends with a
/// newline; pieces of one line count once; an unfinished last line comes
/// along).
struct Tail {
    n: usize,
    pieces: VecDeque<Entry>,
    lines: usize,
}

impl Tail {
    fn new(n: usize) -> Tail {
        Tail {
            n,
            pieces: VecDeque::new(),
            lines: 0,
        }
    }

    fn push(&mut self, e: Entry) {
        for piece in e.lines() {
            self.lines += usize::from(piece.ends_line());
            self.pieces.push_back(piece);
            while self.lines > self.n {
                if self.pieces.pop_front().is_some_and(|p| p.ends_line()) {
                    self.lines -= 1;
                }
            }
        }
    }
}

/// The last `n` lines at or after `since`, read from the end of the newest
/// file backwards: the memory and time it takes follow what is printed,
/// not the size of the log.
pub fn tail(path: &Path, since: Option<SystemTime>, n: usize) -> io::Result<Vec<Entry>> {
    let mut kept = Vec::new();
    let mut lines = 0;
    let mut files = files_in_order(path);
    files.reverse();
    for p in files {
        let stopped = each_backward(&p, n + 1, &mut |e| {
            if !after(&e, since) {
                return true;
            }
            for piece in e.lines().rev() {
                if piece.ends_line() {
                    if lines == n {
                        return false;
                    }
                    lines += 1;
                }
                kept.push(piece);
            }
            true
        })?;
        if stopped {
            break;
        }
    }
    kept.reverse();
    Ok(kept)
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
    file: Option<File>,
    inode: u64,
    /// Bytes read but not yet a whole record.
    buf: Vec<u8>,
    /// Reading from the start of a file: its magic comes first.
    at_start: bool,
}

impl Follower {
    /// Start at the current end of the live file.
    pub fn at_end(path: &Path) -> io::Result<Follower> {
        let mut f = Follower {
            path: path.to_path_buf(),
            file: None,
            inode: 0,
            buf: Vec::new(),
            at_start: false,
        };
        f.reopen(true)?;
        Ok(f)
    }

    fn reopen(&mut self, seek_end: bool) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        self.buf.clear();
        self.at_start = true;
        match File::open(&self.path) {
            Ok(mut file) => {
                self.inode = file.metadata()?.ino();
                if seek_end {
                    self.at_start = file.seek(SeekFrom::End(0))? == 0;
                }
                self.file = Some(file);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.file = None,
            Err(e) => return Err(e),
        }
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
        } else if let Some(f) = &mut self.file {
            // Truncated in place (max-file=1): start over.
            let len = fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
            if f.stream_position()? > len {
                f.seek(SeekFrom::Start(0))?;
                self.buf.clear();
                self.at_start = true;
            }
        }
        Ok(out)
    }

    fn drain(&mut self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        let Some(f) = &mut self.file else {
            return Ok(out);
        };
        f.read_to_end(&mut self.buf)?;
        let mut at = 0;
        if self.at_start {
            if self.buf.len() < MAGIC.len() {
                return Ok(out);
            }
            // Not ours (an older burrow's live file): nothing to follow.
            if &self.buf[..MAGIC.len()] != MAGIC {
                self.buf.clear();
                return Ok(out);
            }
            self.at_start = false;
            at = MAGIC.len();
        }
        while let Some(h) = self.buf.get(at..at + HEAD) {
            let Some((stream, len, time)) = <&[u8; HEAD]>::try_from(h).ok().and_then(decode_head)
            else {
                // Garbage: drop it rather than read it as records.
                at = self.buf.len();
                break;
            };
            let Some(text) = self.buf.get(at + HEAD..at + HEAD + len) else {
                break;
            };
            if self.buf.len() < at + HEAD + len + TAIL {
                break;
            }
            out.push(Entry {
                stream,
                time,
                text: text.to_vec(),
            });
            at += HEAD + len + TAIL;
        }
        self.buf.drain(..at);
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
        entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.text).into_owned())
            .collect()
    }

    fn big(max_size: u64, max_files: u32) -> Rotation {
        Rotation {
            max_size,
            max_files,
        }
    }

    fn disk(path: &Path) -> Vec<u64> {
        files_in_order(path)
            .iter()
            .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .collect()
    }

    #[test]
    fn streams_stay_apart_and_partial_lines_join() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = LogWriter::open(&path, Rotation::DEFAULT).unwrap();
        w.write(Stream::Stdout, b"one\ntw", t(1)).unwrap();
        w.write(Stream::Stderr, b"oops\n", t(2)).unwrap();
        w.write(Stream::Stdout, b"o\n", t(3)).unwrap();
        let all = read_all(&path).unwrap();
        let of = |s| -> Vec<Entry> { all.iter().filter(|e| e.stream == s).cloned().collect() };
        assert_eq!(texts(&of(Stream::Stdout)), "one\ntwo\n");
        assert_eq!(texts(&of(Stream::Stderr)), "oops\n");
        assert_eq!(all[0].time, t(1));
    }

    #[test]
    fn newlines_cost_a_byte_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = LogWriter::open(&path, Rotation::DEFAULT).unwrap();
        let chunk = vec![b'\n'; 32 * 1024];
        for i in 0..64 {
            w.write(Stream::Stdout, &chunk, t(i)).unwrap();
        }
        let size: u64 = disk(&path).iter().sum();
        // 2 MiB of output, 64 records of 17 bytes, the magic.
        assert_eq!(size, (2 << 20) + 64 * 17 + 8);
    }

    #[test]
    fn a_torn_last_record_is_skipped_and_cut_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = LogWriter::open(&path, Rotation::DEFAULT).unwrap();
        w.write(Stream::Stdout, b"kept\n", t(1)).unwrap();
        drop(w);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[1, 200, 0, 0, 0, 7]).unwrap();
        assert_eq!(texts(&read_all(&path).unwrap()), "kept\n");
        assert_eq!(texts(&tail(&path, None, 5).unwrap()), "kept\n");
        let mut w = LogWriter::open(&path, Rotation::DEFAULT).unwrap();
        w.write(Stream::Stdout, b"after\n", t(2)).unwrap();
        assert_eq!(texts(&read_all(&path).unwrap()), "kept\nafter\n");
        assert_eq!(texts(&tail(&path, None, 1).unwrap()), "after\n");
    }

    #[test]
    fn rotation_caps_the_size_and_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = LogWriter::open(&path, big(200, 3)).unwrap();
        for i in 0..50 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes(), t(i))
                .unwrap();
        }
        let sizes = disk(&path);
        assert_eq!(sizes.len(), 3, "{sizes:?}");
        assert!(sizes.iter().all(|s| *s <= 200), "{sizes:?}");
        let all = read_all(&path).unwrap();
        assert_eq!(all.last().unwrap().text, b"line 49\n");
        let nums: Vec<u64> = all
            .iter()
            .map(|e| e.time.duration_since(t(0)).unwrap().as_secs())
            .collect();
        assert!(nums.windows(2).all(|w| w[0] + 1 == w[1]), "{nums:?}");
    }

    #[test]
    fn one_big_write_is_split_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = LogWriter::open(&path, big(200, 3)).unwrap();
        let many: String = (0..100).map(|i| format!("big {i}\n")).collect();
        w.write(Stream::Stdout, many.as_bytes(), t(60)).unwrap();
        assert!(disk(&path).iter().all(|s| *s <= 200), "{:?}", disk(&path));
        assert!(texts(&read_all(&path).unwrap()).ends_with("big 98\nbig 99\n"));
        // A line longer than a whole file still comes back whole.
        let long = vec![b'x'; 1000];
        w.write(Stream::Stdout, &long, t(61)).unwrap();
        w.write(Stream::Stdout, b"\n", t(62)).unwrap();
        assert!(disk(&path).iter().all(|s| *s <= 200), "{:?}", disk(&path));
        let last = tail(&path, None, 1).unwrap();
        // Three files of 175 bytes of text at most: the line's end.
        let text = texts(&last);
        assert_eq!(text.len(), 2 * 175 + (1000 - 5 * 175) + 1, "{text}");
        assert!(text.trim_end_matches('\n').bytes().all(|b| b == b'x'));
    }

    #[test]
    fn max_file_one_truncates_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = LogWriter::open(&path, big(100, 1)).unwrap();
        for i in 0..20 {
            w.write(Stream::Stdout, format!("l{i}\n").as_bytes(), t(i))
                .unwrap();
        }
        assert_eq!(disk(&path).len(), 1);
        assert!(disk(&path)[0] <= 100);
        assert_eq!(texts(&tail(&path, None, 1).unwrap()), "l19\n");
    }

    #[test]
    fn tail_reads_back_across_files_and_counts_lines_not_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = LogWriter::open(&path, big(120, 4)).unwrap();
        w.write(Stream::Stdout, b"a\n", t(1)).unwrap();
        w.write(Stream::Stdout, b"b", t(2)).unwrap();
        w.write(Stream::Stderr, b"b\nc\nd", t(3)).unwrap();
        for i in 0..6 {
            w.write(Stream::Stdout, format!("n{i}\n").as_bytes(), t(4 + i))
                .unwrap();
        }
        assert!(disk(&path).len() > 1, "{:?}", disk(&path));
        let all = read_all(&path).unwrap();
        for n in 0..12 {
            let mut want = Tail::new(n);
            all.iter().for_each(|e| want.push(e.clone()));
            let want: Vec<Entry> = want.pieces.into_iter().collect();
            assert_eq!(tail(&path, None, n).unwrap(), want, "-n {n}");
        }
        assert_eq!(texts(&tail(&path, None, 2).unwrap()), "n4\nn5\n");
        assert_eq!(
            texts(&tail(&path, None, 8).unwrap()),
            "bb\nc\ndn0\nn1\nn2\nn3\nn4\nn5\n"
        );
        assert_eq!(texts(&tail(&path, Some(t(8)), 100).unwrap()), "n4\nn5\n");
        // The unfinished last line comes along with -n 0.
        w.write(Stream::Stdout, b"half", t(20)).unwrap();
        assert_eq!(texts(&tail(&path, None, 0).unwrap()), "half");
    }

    #[test]
    fn an_older_json_log_is_read_and_rotated_away() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        fs::write(
            &path,
            "{\"log\":\"old 1\\n\",\"stream\":\"stdout\",\"time\":\"1970-01-01T00:00:01Z\"}\n\
             {\"log\":\"old 2\\n\",\"stream\":\"stderr\",\"time\":\"1970-01-01T00:00:02Z\"}\n",
        )
        .unwrap();
        assert_eq!(texts(&tail(&path, None, 1).unwrap()), "old 2\n");
        let mut w = LogWriter::open(&path, Rotation::DEFAULT).unwrap();
        w.write(Stream::Stdout, b"new\n", t(3)).unwrap();
        assert!(numbered(&path, 1).exists());
        assert_eq!(texts(&read_all(&path).unwrap()), "old 1\nold 2\nnew\n");
        assert_eq!(texts(&tail(&path, None, 2).unwrap()), "old 2\nnew\n");
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
        let path = dir.path().join("log");
        let mut w = LogWriter::open(&path, big(60, 2)).unwrap();
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

    #[test]
    fn follower_of_a_log_not_yet_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut f = Follower::at_end(&path).unwrap();
        assert!(f.poll().unwrap().is_empty());
        let mut w = LogWriter::open(&path, Rotation::DEFAULT).unwrap();
        w.write(Stream::Stderr, b"first\n", t(1)).unwrap();
        let got = f.poll().unwrap();
        assert_eq!(texts(&got), "first\n");
        assert_eq!(got[0].stream, Stream::Stderr);
    }
}
