//! The upload side of the Distribution API: does the registry have a
//! blob (HEAD), mount it from another repository, upload it (one PUT, or
//! PATCH chunks when the registry asks for them), put a manifest.
//! Requests carry the same auth as pulls, asking for `pull,push`.

use std::io::Read;

use anyhow::{anyhow, bail, Context};

use super::{Client, What};

/// How a blob got there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The registry had it.
    Exists,
    /// Mounted from another repository of the same registry.
    Mounted,
    Pushed,
}

/// Chunks for registries that refuse a monolithic PUT.
const CHUNK: usize = 16 << 20;

impl Client {
    /// A request with auth: what worked last, else the challenge answered
    /// once. `body` makes the body afresh for each try.
    #[allow(clippy::result_large_err)] // ureq's own error type, used at once
    fn call(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &mut dyn FnMut() -> anyhow::Result<Option<Box<dyn Read + Send>>>,
    ) -> Result<ureq::Response, anyhow::Error> {
        let send = |authz: Option<&str>,
                    body: Option<Box<dyn Read + Send>>|
         -> Result<ureq::Response, ureq::Error> {
            let mut req = self.agent.request(method, url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(a) = authz {
                req = req.set("Authorization", a);
            }
            crate::interrupt::blocking(|| match body {
                Some(b) => req.send(b),
                None => req.call(),
            })
        };
        let known = self.authorization.lock().ok().and_then(|a| a.clone());
        match send(known.as_deref(), body()?) {
            Err(ureq::Error::Status(401, resp)) => {
                let header = resp.header("WWW-Authenticate").unwrap_or("").to_string();
                let authz = self.answer_for(&header, "pull,push")?;
                if let Ok(mut a) = self.authorization.lock() {
                    *a = Some(authz.clone());
                }
                send(Some(&authz), body()?).map_err(|e| self.explain_push(e))
            }
            other => other.map_err(|e| self.explain_push(e)),
        }
    }

    fn explain_push(&self, e: ureq::Error) -> anyhow::Error {
        match e {
            ureq::Error::Status(code, resp) if code != 401 && code != 403 && code != 404 => {
                let body = resp.into_string().unwrap_or_default();
                let msg = registry_message(&body).unwrap_or_else(|| format!("HTTP {code}"));
                anyhow!("{}: {msg}", self.registry)
            }
            e => self.explain(e, What::Blob),
        }
    }

    fn url(&self, rest: &str) -> String {
        format!("{}{}/{rest}", self.base, self.repository)
    }

    /// Whether the registry has the blob in our repository.
    pub fn has_blob(&self, digest: &str) -> anyhow::Result<bool> {
        match self.call(
            "HEAD",
            &self.url(&format!("blobs/{digest}")),
            &[],
            &mut || Ok(None),
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.to_string().contains("blob unknown") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Upload the blob `open` reads (`size` bytes), mounting it from
    /// `from` (a repository of this registry) when the registry lets us.
    pub fn put_blob(
        &self,
        digest: &str,
        size: u64,
        from: Option<&str>,
        open: &dyn Fn() -> anyhow::Result<Box<dyn Read + Send>>,
    ) -> anyhow::Result<Sent> {
        let start = match from {
            Some(repo) => self.url(&format!("blobs/uploads/?mount={digest}&from={repo}")),
            None => self.url("blobs/uploads/"),
        };
        let resp = self.call(
            "POST",
            &start,
            &[("Content-Length", "0".into())],
            &mut || Ok(Some(Box::new(std::io::empty()))),
        )?;
        if resp.status() == 201 && from.is_some() {
            return Ok(Sent::Mounted);
        }
        let location = self.location(&resp)?;
        let with_digest = |loc: &str| {
            let sep = if loc.contains('?') { '&' } else { '?' };
            format!("{loc}{sep}digest={digest}")
        };
        // One PUT with the whole blob.
        let put = self.call(
            "PUT",
            &with_digest(&location),
            &[
                ("Content-Type", "application/octet-stream".into()),
                ("Content-Length", size.to_string()),
            ],
            &mut || open().map(Some),
        );
        match put {
            Ok(_) => Ok(Sent::Pushed),
            // A registry that wants chunks says so with 416 or 400.
            Err(e) if size as usize > CHUNK => {
                tracing::debug!("monolithic upload refused ({e:#}); sending chunks");
                self.chunked(digest, size, open)
            }
            Err(e) => Err(e),
        }
    }

    fn chunked(
        &self,
        digest: &str,
        size: u64,
        open: &dyn Fn() -> anyhow::Result<Box<dyn Read + Send>>,
    ) -> anyhow::Result<Sent> {
        let resp = self.call(
            "POST",
            &self.url("blobs/uploads/"),
            &[("Content-Length", "0".into())],
            &mut || Ok(Some(Box::new(std::io::empty()))),
        )?;
        let mut location = self.location(&resp)?;
        let mut reader = open()?;
        let mut offset = 0u64;
        let mut buf = vec![0u8; CHUNK];
        while offset < size {
            let mut n = 0;
            while n < buf.len() {
                let got = reader.read(&mut buf[n..]).context("read the blob")?;
                if got == 0 {
                    break;
                }
                n += got;
            }
            if n == 0 {
                bail!("the blob ended after {offset} of {size} bytes");
            }
            let chunk = buf[..n].to_vec();
            let resp = self.call(
                "PATCH",
                &location,
                &[
                    ("Content-Type", "application/octet-stream".into()),
                    ("Content-Length", n.to_string()),
                    (
                        "Content-Range",
                        format!("{offset}-{}", offset + n as u64 - 1),
                    ),
                ],
                &mut || Ok(Some(Box::new(std::io::Cursor::new(chunk.clone())))),
            )?;
            location = self.location(&resp)?;
            offset += n as u64;
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        self.call(
            "PUT",
            &format!("{location}{sep}digest={digest}"),
            &[("Content-Length", "0".into())],
            &mut || Ok(Some(Box::new(std::io::empty()))),
        )?;
        Ok(Sent::Pushed)
    }

    /// The upload URL a registry answered with (relative or absolute).
    fn location(&self, resp: &ureq::Response) -> anyhow::Result<String> {
        let loc = resp
            .header("Location")
            .with_context(|| format!("{}: an upload answer without a Location", self.registry))?;
        if loc.starts_with("http://") || loc.starts_with("https://") {
            return Ok(loc.to_string());
        }
        // "/v2/..." on our host.
        let host_end = self.base.find("/v2/").unwrap_or(self.base.len());
        Ok(format!("{}{loc}", &self.base[..host_end]))
    }

    /// Put a manifest under `tag`; returns the digest the registry names.
    pub fn put_manifest(&self, tag: &str, media_type: &str, body: &[u8]) -> anyhow::Result<()> {
        let body = body.to_vec();
        self.call(
            "PUT",
            &self.url(&format!("manifests/{tag}")),
            &[("Content-Type", media_type.to_string())],
            &mut || Ok(Some(Box::new(std::io::Cursor::new(body.clone())))),
        )?;
        Ok(())
    }

    /// `/v2/_catalog`: the repositories the registry lists (up to `n`).
    pub fn catalog(&self, n: usize) -> anyhow::Result<Vec<String>> {
        let url = format!("{}_catalog?n={n}", self.base);
        let resp = self.call("GET", &url, &[], &mut || Ok(None))?;
        #[derive(serde::Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Vec<String>,
        }
        let mut body = String::new();
        resp.into_reader()
            .take(super::limits::MAX_MANIFEST)
            .read_to_string(&mut body)
            .context("read the catalog")?;
        let c: Catalog = serde_json::from_str(&body)
            .with_context(|| format!("{}: the catalog is not JSON", self.registry))?;
        Ok(c.repositories)
    }
}

/// The first message of a registry's JSON error body.
fn registry_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let e = v["errors"].get(0)?;
    let code = e["code"].as_str().unwrap_or("");
    let msg = e["message"].as_str().unwrap_or("");
    Some(
        format!("{} {}", code.to_lowercase().replace('_', " "), msg)
            .trim()
            .to_string(),
    )
}
