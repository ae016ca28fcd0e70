//! ADD of a URL: the file downloaded (never extracted, as Docker does for
//! remote files), named after the URL's last path segment, checked
//! against `--checksum=sha256:<hex>` when given. The step's cache key is
//! the downloaded content, as the classic builder keys it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::error::Coded;
use crate::text::escape_control;

pub fn is_url(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

/// A git source (`ADD https://host/repo.git`, `git@...`; see git.rs).
pub fn is_git(src: &str) -> bool {
    src.starts_with("git@")
        || src.starts_with("git://")
        || (is_url(src) && src.split(['?', '#']).next().unwrap_or("").ends_with(".git"))
}

/// The file's name: the URL path's last segment.
pub fn file_name(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.split(['?', '#']).next()?;
    let (_, path) = path.split_once('/')?;
    let last = path.rsplit('/').next()?;
    (!last.is_empty() && last != "." && last != "..").then(|| last.to_string())
}

fn fail(url: &str, msg: impl std::fmt::Display) -> anyhow::Error {
    Coded::new(1, format!("ADD {}: {msg}", escape_control(url))).into()
}

/// Download `url` into `dir`; the file's path. A `checksum` other than
/// the content's is an error and leaves no file.
pub fn download(url: &str, dir: &Path, checksum: Option<&str>) -> anyhow::Result<PathBuf> {
    let want = match checksum {
        None => None,
        Some(c) => match c.split_once(':') {
            Some(("sha256", hex))
                if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Some(hex.to_ascii_lowercase())
            }
            _ => {
                return Err(fail(
                    url,
                    format!(
                        "invalid --checksum {:?} (sha256:<64 hex digits>)",
                        escape_control(c)
                    ),
                ))
            }
        },
    };
    let name =
        file_name(url).ok_or_else(|| fail(url, "cannot determine a file name from the URL"))?;
    let resp = ureq::get(url)
        .timeout(std::time::Duration::from_secs(600))
        .call()
        .map_err(|e| match e {
            ureq::Error::Status(code, _) => fail(url, format!("HTTP status {code}")),
            e => fail(url, e),
        })?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).context("make a temp file")?;
    let mut hasher = Sha256::new();
    let mut body = resp.into_reader();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = body.read(&mut buf).map_err(|e| fail(url, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n]).context("write the download")?;
    }
    let got = hex::encode(hasher.finalize());
    if let Some(want) = want {
        if want != got {
            return Err(fail(
                url,
                format!("checksum mismatch: expected sha256:{want}, got sha256:{got}"),
            ));
        }
    }
    let sub = tempfile::Builder::new().tempdir_in(dir)?.keep();
    let path = sub.join(&name);
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_urls() {
        assert_eq!(
            file_name("http://127.0.0.1:8/a/b/file.tar.gz?x=1").as_deref(),
            Some("file.tar.gz")
        );
        assert_eq!(file_name("https://host/").as_deref(), None);
        assert_eq!(file_name("https://host").as_deref(), None);
        assert!(is_git("https://github.com/a/b.git"));
        assert!(is_git("git@github.com:a/b"));
        assert!(!is_git("https://h/b.tar"));
    }
}
