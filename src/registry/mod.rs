//! A small Distribution (OCI/Docker registry v2) client: manifests and
//! blobs over HTTP(S), with anonymous, bearer-token and basic auth.
//!
//! Hand-written on blocking `ureq`: pulls run on scoped threads that are
//! joined before `pull` returns, so the caller can still unshare a user
//! namespace afterwards (a tokio runtime would leave threads behind).

pub mod auth;
pub mod config;
pub mod limits;
pub mod manifest;
pub mod push;

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};

use crate::reference::Reference;
use auth::{Challenge, Credentials};
use limits::{Pace, Paced, MAX_MANIFEST, MAX_TOKEN};

#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// `--tls-verify=false`: reach the registry over plain HTTP.
    pub insecure: bool,
    /// The user's registries.json.
    pub conf: config::RegistriesConf,
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
    /// The warning about a token realm elsewhere was given.
    warned_realm: AtomicBool,
    /// How slowly the registry may send.
    pace: Pace,
}

/// A blob body and the length the registry announced.
pub struct BlobStream {
    pub reader: Box<dyn Read + Send>,
    pub length: Option<u64>,
}

impl Client {
    pub fn new(reference: &Reference, opts: &ClientOptions) -> anyhow::Result<Client> {
        let plain =
            opts.insecure || reference.is_loopback() || opts.conf.is_insecure(&reference.registry);
        let scheme = if plain { "http" } else { "https" };
        let pace = Pace::from_env()?;
        // A read that waits a whole window has seen less than the pace.
        let read_timeout = match pace.min_rate {
            0 => Duration::from_secs(120),
            _ => pace.window,
        };
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(read_timeout)
            .user_agent(concat!("burrow/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent,
            base: format!("{scheme}://{}/v2/", reference.api_host()),
            repository: reference.repository.clone(),
            registry: reference.registry.clone(),
            creds: auth::lookup(&reference.registry),
            authorization: Mutex::new(None),
            warned_realm: AtomicBool::new(false),
            pace,
        })
    }

    /// A registry-wide client for `login`, with the credentials to check.
    pub fn for_login(
        registry: &str,
        creds: Credentials,
        opts: &ClientOptions,
    ) -> anyhow::Result<Client> {
        let reference = Reference {
            registry: registry.to_string(),
            repository: String::new(),
            tag: None,
            digest: None,
        };
        let mut c = Client::new(&reference, opts)?;
        c.creds = Some(creds);
        Ok(c)
    }

    /// Check the credentials: `/v2/` must answer 200 once we log in.
    pub fn check_login(&self) -> anyhow::Result<()> {
        let url = self.base.clone();
        let header = match self.send(&url, None, None, 0) {
            Ok(_) => return Ok(()),
            Err(ureq::Error::Status(401, resp)) => {
                resp.header("WWW-Authenticate").unwrap_or("").to_string()
            }
            Err(e) => return Err(self.explain(e, What::Manifest)),
        };
        let authz = self.answer(&header)?;
        match self.send(&url, None, Some(&authz), 0) {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(401 | 403, _)) => {
                bail!(
                    "{}: login refused (wrong username or password?)",
                    self.registry
                )
            }
            Err(e) => Err(self.explain(e, What::Manifest)),
        }
    }

    /// Fetch a manifest by tag or digest: the body and its content type.
    pub fn manifest(&self, reference: &str) -> anyhow::Result<(Vec<u8>, String)> {
        let url = format!("{}{}/manifests/{reference}", self.base, self.repository);
        let resp = self.get(&url, Some(manifest::ACCEPT), What::Manifest, MAX_MANIFEST)?;
        let content_type = resp.content_type().to_string();
        let mut body = Vec::new();
        Paced::new(resp.into_reader(), self.pace)
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut body)
            .with_context(|| format!("read manifest {reference}"))?;
        if body.len() as u64 > MAX_MANIFEST {
            bail!("manifest {reference} is larger than {MAX_MANIFEST} bytes");
        }
        Ok((body, content_type))
    }

    /// Open a blob of `size` bytes (as its descriptor says) for
    /// streaming, paced. The caller checks size and digest.
    pub fn blob(&self, digest: &str, size: u64) -> anyhow::Result<BlobStream> {
        let url = format!("{}{}/blobs/{digest}", self.base, self.repository);
        let resp = self.get(&url, None, What::Blob, size)?;
        let length = resp
            .header("Content-Length")
            .and_then(|l| l.parse::<u64>().ok());
        Ok(BlobStream {
            reader: Box::new(Paced::new(resp.into_reader(), self.pace)),
            length,
        })
    }

    /// GET with auth: try with what worked last; on 401, answer the
    /// challenge once and retry.
    fn get(
        &self,
        url: &str,
        accept: Option<&str>,
        what: What,
        size: u64,
    ) -> anyhow::Result<ureq::Response> {
        let known = self.authorization.lock().ok().and_then(|a| a.clone());
        match self.send(url, accept, known.as_deref(), size) {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(401, resp)) => {
                let header = resp.header("WWW-Authenticate").unwrap_or("").to_string();
                let authz = self.answer(&header)?;
                if let Ok(mut a) = self.authorization.lock() {
                    *a = Some(authz.clone());
                }
                match self.send(url, accept, Some(&authz), size) {
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
        size: u64,
    ) -> Result<ureq::Response, ureq::Error> {
        let mut req = self.agent.get(url);
        if let Some(a) = accept {
            req = req.set("Accept", a);
        }
        if let Some(a) = authz {
            req = req.set("Authorization", a);
        }
        // The whole request, headers included, must average the minimum
        // rate over the `size` bytes it is to bring (limits.rs).
        if let Some(d) = self.pace.deadline(size) {
            req = req.timeout(d);
        }
        crate::interrupt::blocking(|| req.call())
    }

    /// The Authorization header for a challenge: basic credentials, or a
    /// bearer token from the realm (anonymous when we have no credentials).
    fn answer(&self, header: &str) -> anyhow::Result<String> {
        self.answer_for(header, "pull")
    }

    /// The same, asking for `actions` ("pull", "pull,push") on our
    /// repository when the challenge names no scope.
    fn answer_for(&self, header: &str, actions: &str) -> anyhow::Result<String> {
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
                let scope = scope
                    .or_else(|| {
                        (!self.repository.is_empty())
                            .then(|| format!("repository:{}:{actions}", self.repository))
                    })
                    .unwrap_or_default();
                let token = self.token(&realm, service.as_deref(), &scope)?;
                Ok(format!("Bearer {token}"))
            }
            None if header.trim().is_empty() => bail!(
                "{}/{}: access denied (HTTP 401, and no way to log in was offered)",
                self.registry,
                self.repository
            ),
            None => bail!(
                "{} answered 401 with an authentication scheme burrow does not know: {header:?}",
                self.registry
            ),
        }
    }

    #[allow(clippy::result_large_err)] // ureq's own error type, used at once
    fn token(&self, realm: &str, service: Option<&str>, scope: &str) -> anyhow::Result<String> {
        if !realm.starts_with("https://") && !realm.starts_with("http://") {
            bail!("{} sent a bad token realm {realm:?}", self.registry);
        }
        let mut req = self.agent.get(realm);
        if !scope.is_empty() {
            req = req.query("scope", scope);
        }
        if let Some(s) = service {
            req = req.query("service", s);
        }
        // The user's password goes only where it is safe (auth.rs); a
        // realm elsewhere over plain http gets an anonymous request.
        let creds = match &self.creds {
            Some(c) if auth::may_send_credentials(realm, &self.base) => Some(c),
            Some(_) => {
                if !self.warned_realm.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "not sending the credentials for {} to the token server {}: it is another host over plain http; asking for an anonymous token",
                        self.registry,
                        crate::text::escape_control(realm)
                    );
                }
                None
            }
            None => None,
        };
        if let Some(c) = creds {
            req = req.set("Authorization", &c.basic_header());
        }
        if let Some(d) = self.pace.deadline(MAX_TOKEN) {
            req = req.timeout(d);
        }
        let resp = match crate::interrupt::blocking(|| req.call()) {
            Ok(r) => r,
            Err(ureq::Error::Status(401 | 403, _)) if self.repository.is_empty() => {
                bail!("{}: login refused (wrong username or password?)", self.registry)
            }
            Err(ureq::Error::Status(code @ (401 | 403), _)) if creds.is_some() => bail!(
                "{} refused a token (HTTP {code}); check the credentials in {}",
                self.registry,
                auth_files_hint()
            ),
            Err(ureq::Error::Status(code @ (401 | 403), _)) => bail!(
                "{} refused a token (HTTP {code}) without a login; if {} is private, add credentials to {}",
                self.registry,
                self.repository,
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
        Paced::new(resp.into_reader(), self.pace)
            .take(MAX_TOKEN)
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
            ureq::Error::Transport(t) if timed_out(&t) => anyhow!(
                "{}: the registry answered too slowly (less than {} bytes/s; set {} to allow slower links)",
                self.registry,
                self.pace.min_rate,
                limits::MIN_RATE_ENV
            ),
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

/// Whether a transport error is a timeout (ureq nests the io::Error).
fn timed_out(t: &ureq::Transport) -> bool {
    let mut source = std::error::Error::source(t);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                return true;
            }
        }
        source = e.source();
    }
    false
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
