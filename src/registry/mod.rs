//! A small Distribution (OCI/Docker registry v2) client: manifests and
//! blobs over HTTP(S), with anonymous, bearer-token and basic auth.
//!
//! Hand-written on blocking `ureq`: pulls run on scoped threads that are
//! joined before `pull` returns, so the caller can still unshare a user
//! namespace afterwards (a tokio runtime would leave threads behind).

pub mod auth;
pub mod manifest;

use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};

use crate::reference::Reference;
use auth::{Challenge, Credentials};

/// The largest manifest we read; real ones are a few KiB.
const MAX_MANIFEST: u64 = 4 << 20;

#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// `--tls-verify=false`: reach the registry over plain HTTP.
    pub insecure: bool,
}

/// A client for one repository of one registry.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    repository: String,
    registry: String,
    creds: Option<Credentials>,
    /// The Authorization header that worked last, shared by all threads.
    authorization: Mutex<Option<String>>,
}

/// A blob body and the length the registry announced.
pub struct BlobStream {
    pub reader: Box<dyn Read + Send>,
    pub length: Option<u64>,
}

impl Client {
    pub fn new(reference: &Reference, opts: &ClientOptions) -> anyhow::Result<Client> {
        let plain =
            opts.insecure || reference.is_loopback() || config_insecure(&reference.registry);
        let scheme = if plain { "http" } else { "https" };
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(Duration::from_secs(120))
            .user_agent(concat!("burrow/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent,
            base: format!("{scheme}://{}/v2/", reference.api_host()),
            repository: reference.repository.clone(),
            registry: reference.registry.clone(),
            creds: auth::lookup(&reference.registry),
            authorization: Mutex::new(None),
        })
    }

    /// Fetch a manifest by tag or digest: the body and its content type.
    pub fn manifest(&self, reference: &str) -> anyhow::Result<(Vec<u8>, String)> {
        let url = format!("{}{}/manifests/{reference}", self.base, self.repository);
        let resp = self.get(&url, Some(manifest::ACCEPT), What::Manifest)?;
        let content_type = resp.content_type().to_string();
        let mut body = Vec::new();
        resp.into_reader()
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut body)
            .with_context(|| format!("read manifest {reference}"))?;
        if body.len() as u64 > MAX_MANIFEST {
            bail!("manifest {reference} is larger than {MAX_MANIFEST} bytes");
        }
        Ok((body, content_type))
    }

    /// Open a blob for streaming. The caller checks size and digest.
    pub fn blob(&self, digest: &str) -> anyhow::Result<BlobStream> {
        let url = format!("{}{}/blobs/{digest}", self.base, self.repository);
        let resp = self.get(&url, None, What::Blob)?;
        let length = resp
            .header("Content-Length")
            .and_then(|l| l.parse::<u64>().ok());
        Ok(BlobStream {
            reader: Box::new(resp.into_reader()),
            length,
        })
    }

    /// GET with auth: try with what worked last; on 401, answer the
    /// challenge once and retry.
    fn get(&self, url: &str, accept: Option<&str>, what: What) -> anyhow::Result<ureq::Response> {
        let known = self.authorization.lock().ok().and_then(|a| a.clone());
        match self.send(url, accept, known.as_deref()) {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(401, resp)) => {
                let header = resp.header("WWW-Authenticate").unwrap_or("").to_string();
                let authz = self.answer(&header)?;
                if let Ok(mut a) = self.authorization.lock() {
                    *a = Some(authz.clone());
                }
                match self.send(url, accept, Some(&authz)) {
                    Ok(r) => Ok(r),
                    Err(e) => Err(self.explain(e, what)),
                }
            }
            Err(e) => Err(self.explain(e, what)),
        }
    }

    #[allow(clippy::result_large_err)] // ureq's own error type, used at once
    fn send(
        &self,
        url: &str,
        accept: Option<&str>,
        authz: Option<&str>,
    ) -> Result<ureq::Response, ureq::Error> {
        let mut req = self.agent.get(url);
        if let Some(a) = accept {
            req = req.set("Accept", a);
        }
        if let Some(a) = authz {
            req = req.set("Authorization", a);
        }
        req.call()
    }

    /// The Authorization header for a challenge: basic credentials, or a
    /// bearer token from the realm (anonymous when we have no credentials).
    fn answer(&self, header: &str) -> anyhow::Result<String> {
        match auth::parse_challenge(header) {
            Some(Challenge::Basic) => match &self.creds {
                Some(c) => Ok(c.basic_header()),
                None => bail!(
                    "{} asks for a login and no credentials were found (in {})",
                    self.registry,
                    auth_files_hint()
                ),
            },
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let scope = scope.unwrap_or_else(|| format!("repository:{}:pull", self.repository));
                let token = self.token(&realm, service.as_deref(), &scope)?;
                Ok(format!("Bearer {token}"))
            }
            None => bail!(
                "{} answered 401 with an authentication scheme burrow does not know: {header:?}",
                self.registry
            ),
        }
    }

    fn token(&self, realm: &str, service: Option<&str>, scope: &str) -> anyhow::Result<String> {
        if !realm.starts_with("https://") && !realm.starts_with("http://") {
            bail!("{} sent a bad token realm {realm:?}", self.registry);
        }
        let mut req = self.agent.get(realm).query("scope", scope);
        if let Some(s) = service {
            req = req.query("service", s);
        }
        if let Some(c) = &self.creds {
            req = req.set("Authorization", &c.basic_header());
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code @ (401 | 403), _)) => bail!(
                "{} refused a token (HTTP {code}); check the credentials in {}",
                self.registry,
                auth_files_hint()
            ),
            Err(e) => return Err(anyhow!(e)).context(format!("get a token from {realm}")),
        };
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let mut body = String::new();
        resp.into_reader()
            .take(1 << 20)
            .read_to_string(&mut body)
            .context("read token")?;
        let t: Token = serde_json::from_str(&body).context("token answer is not JSON")?;
        t.token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| anyhow!("token answer from {realm} has no token"))
    }

    /// One line for a failed request, with what to do where we can tell.
    fn explain(&self, err: ureq::Error, what: What) -> anyhow::Error {
        let repo = format!("{}/{}", self.registry, self.repository);
        match err {
            ureq::Error::Status(404, _) => match what {
                What::Manifest => anyhow!("{repo}: manifest unknown (is the name or tag right?)"),
                What::Blob => anyhow!("{repo}: blob unknown to the registry"),
            },
            ureq::Error::Status(code @ (401 | 403), _) => anyhow!(
                "{repo}: access denied (HTTP {code}); the repository may not exist or may need a login ({})",
                auth_files_hint()
            ),
            ureq::Error::Status(429, _) => {
                anyhow!("{}: too many requests (HTTP 429); wait and retry", self.registry)
            }
            ureq::Error::Status(code, _) => {
                anyhow!("{}: registry error (HTTP {code})", self.registry)
            }
            ureq::Error::Transport(t) => {
                let hint = if self.base.starts_with("https") {
                    " (if it serves plain HTTP, use --tls-verify=false)"
                } else {
                    ""
                };
                anyhow!("cannot reach {}: {t}{hint}", self.registry)
            }
        }
    }
}

#[derive(Clone, Copy)]
enum What {
    Manifest,
    Blob,
}

fn auth_files_hint() -> String {
    auth::auth_files()
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Registries listed as insecure (plain HTTP) in
/// `$XDG_CONFIG_HOME/burrow/registries.json`: `{"insecure": ["host:port"]}`.
fn config_insecure(registry: &str) -> bool {
    #[derive(serde::Deserialize, Default)]
    struct Conf {
        #[serde(default)]
        insecure: Vec<String>,
    }
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".config")));
    let Some(file) = dir.map(|d| d.join("burrow/registries.json")) else {
        return false;
    };
    let Ok(text) = std::fs::read_to_string(&file) else {
        return false;
    };
    match serde_json::from_str::<Conf>(&text) {
        Ok(c) => c.insecure.iter().any(|r| r == registry),
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", file.display());
            false
        }
    }
}
