//! `burrow build -`: the context as a tar (plain or gzip) on standard
//! input, unpacked into a private temp dir that lives as long as the
//! build; a stdin that is not a tar is the Dockerfile itself with an empty
//! context, as `docker build - < Dockerfile` reads it.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::error::Coded;

/// What came on standard input.
pub enum StdinContext {
    /// A tar, unpacked here.
    Tar(tempfile::TempDir),
    /// A Dockerfile, in an empty context dir.
    Dockerfile(tempfile::TempDir, String),
}

impl StdinContext {
    pub fn dir(&self) -> &Path {
        match self {
            StdinContext::Tar(d) | StdinContext::Dockerfile(d, _) => d.path(),
        }
    }
}

/// Read standard input as a build context, under `tmp_root`.
pub fn from_stdin(tmp_root: &Path) -> anyhow::Result<StdinContext> {
    std::fs::create_dir_all(tmp_root).with_context(|| format!("create {}", tmp_root.display()))?;
    let dir = tempfile::Builder::new()
        .prefix(&crate::fsutil::tmp_prefix())
        .tempdir_in(tmp_root)
        .context("make a dir for the context")?;
    // Spooled to a file: the kind is known from the first bytes, and a
    // tar is read once more to unpack.
    let mut spool = tempfile::tempfile_in(tmp_root).context("make a temp file")?;
    std::io::copy(&mut std::io::stdin().lock(), &mut spool)
        .context("read the context from standard input")?;
    spool.flush()?;
    spool.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; 512];
    let n = read_full(&mut spool, &mut head)?;
    spool.seek(SeekFrom::Start(0))?;
    let gz = n >= 2 && head[..2] == [0x1f, 0x8b];
    let tar = n >= 262 && &head[257..262] == b"ustar";
    if !gz && !tar {
        let mut text = String::new();
        spool.read_to_string(&mut text).map_err(|_| {
            Coded::new(
                1,
                "standard input is neither a tar nor a Dockerfile (not text)",
            )
        })?;
        return Ok(StdinContext::Dockerfile(dir, text));
    }
    let input: Box<dyn Read> = match gz {
        true => Box::new(flate2::read::GzDecoder::new(spool)),
        false => Box::new(spool),
    };
    let mut a = tar::Archive::new(input);
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(false);
    a.set_unpack_xattrs(false);
    // tar's unpack keeps every entry inside `dir` (no `..`, no writes
    // through links it made).
    a.unpack(dir.path()).map_err(|e| {
        Coded::new(
            1,
            format!("unpack the context tar from standard input: {e}"),
        )
    })?;
    Ok(StdinContext::Tar(dir))
}

fn read_full(f: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The Dockerfile inside an unpacked tar context (`-f` names it there).
pub fn dockerfile_in(dir: &Path, name: Option<&str>) -> PathBuf {
    dir.join(name.unwrap_or("Dockerfile").trim_start_matches('/'))
}
