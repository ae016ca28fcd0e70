//! Registry credentials and the WWW-Authenticate challenge.
//!
//! Credentials come from the files docker and podman write:
//! `~/.docker/config.json` and `$XDG_RUNTIME_DIR/containers/auth.json`
//! (podman's wins, as podman reads it first).

use std::collections::HashMap;
use std::path::PathBuf;

use base64::Engine;

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

// Never print a password, even in debug logs.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// The files searched, most preferred first.
pub fn auth_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(p));
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        files.push(PathBuf::from(d).join("containers/auth.json"));
    }
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        files.push(PathBuf::from(d).join("config.json"));
    } else if let Some(h) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        files.push(PathBuf::from(h).join(".docker/config.json"));
    }
    files
}

/// Credentials for `registry` (as written in references, `docker.io` for
/// Docker Hub) from the first file that has an entry for it.
pub fn lookup(registry: &str) -> Option<Credentials> {
    auth_files().into_iter().find_map(|f| {
        let text = std::fs::read_to_string(&f).ok()?;
        match find_in(&text, registry) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("ignoring {}: {e}", f.display());
                None
            }
        }
    })
}

#[derive(serde::Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

#[derive(serde::Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The entry of an auth file for `registry`. Keys may be bare hosts or
/// URLs (`https://index.docker.io/v1/` is Docker Hub's).
pub fn find_in(text: &str, registry: &str) -> anyhow::Result<Option<Credentials>> {
    let file: AuthFile = serde_json::from_str(text)?;
    let wanted = normalise_key(registry);
    for (key, entry) in &file.auths {
        if normalise_key(key) != wanted {
            continue;
        }
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|e| anyhow::anyhow!("bad base64 in auth for {key}: {e}"))?;
            let raw = String::from_utf8(raw)?;
            let (u, p) = raw
                .split_once(':')
                .ok_or_else(|| anyhow::anyhow!("auth for {key} is not user:password"))?;
            return Ok(Some(Credentials {
                username: u.into(),
                password: p.into(),
            }));
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Some(Credentials {
                username: u.clone(),
                password: p.clone(),
            }));
        }
    }
    Ok(None)
}

/// The registry a key or a `burrow login` argument names (`docker.io` for
/// Docker Hub, else `host[:port]`).
pub fn normalise_key(key: &str) -> String {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

/// Docker's config file, where `login` writes.
pub fn docker_config() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// Save credentials for `registry` in docker's config file (keeping all
/// else in it), replacing the file atomically, mode 0600.
pub fn save(registry: &str, creds: &Credentials) -> anyhow::Result<PathBuf> {
    let path =
        docker_config().ok_or_else(|| anyhow::anyhow!("HOME is not set; set DOCKER_CONFIG"))?;
    let key = if registry == "docker.io" {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    };
    let raw = format!("{}:{}", creds.username, creds.password);
    let auth = base64::engine::general_purpose::STANDARD.encode(raw);
    edit(&path, |v| {
        let obj = v
            .as_object_mut()
            .ok_or_else(|| anyhow::anyhow!("it is not a JSON object"))?;
        let auths = obj.entry("auths").or_insert_with(|| serde_json::json!({}));
        let auths = auths
            .as_object_mut()
            .ok_or_else(|| anyhow::anyhow!("its auths is not an object"))?;
        auths.retain(|k, _| normalise_key(k) != registry);
        auths.insert(key.clone(), serde_json::json!({ "auth": auth }));
        Ok(())
    })?;
    Ok(path)
}

/// Remove the credentials for `registry` from every file that has them.
pub fn remove(registry: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    for path in auth_files() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if find_in(&text, registry).ok().flatten().is_none() {
            continue;
        }
        edit(&path, |v| {
            if let Some(auths) = v.get_mut("auths").and_then(|a| a.as_object_mut()) {
                auths.retain(|k, _| normalise_key(k) != registry);
            }
            Ok(())
        })?;
        changed.push(path);
    }
    Ok(changed)
}

fn edit(
    path: &std::path::Path,
    change: impl FnOnce(&mut serde_json::Value) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut v: serde_json::Value = match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .with_context(|| format!("{} is not valid JSON", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    change(&mut v).with_context(|| format!("update {}", path.display()))?;
    // tempfile makes the file 0600: credentials stay private.
    let mut tmp = tempfile::Builder::new()
        .prefix(".burrow-")
        .tempfile_in(dir)?;
    tmp.write_all(&serde_json::to_vec_pretty(&v)?)?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parse `Bearer realm="...",service="...",scope="..."` or `Basic realm=...`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    Some(Challenge::Bearer {
        realm: params.get("realm")?.clone(),
        service: params.get("service").cloned(),
        scope: params.get("scope").cloned(),
    })
}

/// key=value or key="quoted, value" pairs separated by commas.
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    out
}

/// `host[:port]` of an http(s) URL, lowercased, without any `user@`.
fn authority(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = &rest[..end];
    let host = auth.rsplit('@').next().unwrap_or(auth);
    Some(host.to_ascii_lowercase())
}

/// Whether the user's credentials may go to a bearer token `realm`
/// (the rule containers/image follows): over https to any host, or over
/// plain http only to the registry itself, which the user reaches over
/// http on purpose (loopback, `insecure` in registries.json,
/// `--tls-verify=false`). `registry_base` is the registry's API URL.
pub fn may_send_credentials(realm: &str, registry_base: &str) -> bool {
    if realm.starts_with("https://") {
        return true;
    }
    realm.starts_with("http://")
        && registry_base.starts_with("http://")
        && authority(realm).is_some()
        && authority(realm) == authority(registry_base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_to_https_realms_or_the_plain_http_registry_itself() {
        let reg = "http://127.0.0.1:5000/v2/";
        assert!(may_send_credentials(
            "https://auth.docker.io/token",
            "https://registry-1.docker.io/v2/"
        ));
        assert!(may_send_credentials("https://other.example/token", reg));
        assert!(may_send_credentials("http://127.0.0.1:5000/token?x=1", reg));
        assert!(!may_send_credentials("http://127.0.0.2:5000/token", reg));
        assert!(!may_send_credentials("http://127.0.0.1:5001/token", reg));
        assert!(!may_send_credentials(
            "http://127.0.0.1:5000@evil.example/token",
            reg
        ));
        assert!(!may_send_credentials(
            "http://127.0.0.1:5000.evil.example/",
            reg
        ));
        // Plain http is never fine for a registry reached over https.
        let tls = "https://registry.example/v2/";
        assert!(!may_send_credentials("http://registry.example/token", tls));
        assert!(!may_send_credentials("ftp://registry.example/token", tls));
    }

    #[test]
    fn parses_docker_hub_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull".into()),
            }
        );
        assert_eq!(
            parse_challenge("Basic realm=\"Registry\""),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn finds_credentials_by_url_or_host() {
        // "u:p" base64-encoded.
        let text = r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},
            "127.0.0.1:5000":{"username":"a","password":"b"}}}"#;
        let hub = find_in(text, "docker.io").unwrap().unwrap();
        assert_eq!((hub.username.as_str(), hub.password.as_str()), ("u", "p"));
        let local = find_in(text, "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(local.username, "a");
        assert!(find_in(text, "ghcr.io").unwrap().is_none());
    }

    /// `save` and `remove` find their files through the environment
    /// (DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR). Changing it
    /// here would reach every test running on other threads, so the work
    /// runs in a child: this test binary again, running only
    /// `save_and_remove_in_this_process` with its own environment.
    #[test]
    fn save_and_remove_keep_the_rest_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "--ignored", "--test-threads=1", "--nocapture"])
            .arg("registry::auth::tests::save_and_remove_in_this_process")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env("DOCKER_CONFIG", dir.path().join("docker"))
            .env("BURROW_AUTH_TEST_DIR", dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}{err}");
        // The filter matched the test: the child ran it, and it passed.
        assert!(text.contains("1 passed"), "{text}");
    }

    #[test]
    #[ignore = "run by save_and_remove_keep_the_rest_of_the_file in a child process"]
    fn save_and_remove_in_this_process() {
        use std::os::unix::fs::PermissionsExt;
        let dir = PathBuf::from(std::env::var_os("BURROW_AUTH_TEST_DIR").unwrap());
        let config = dir.join("docker/config.json");
        std::fs::create_dir(dir.join("docker")).unwrap();
        std::fs::write(
            &config,
            r#"{"auths":{"a.io":{"auth":"dTpw"}},"credsStore":"x"}"#,
        )
        .unwrap();
        // A second file that also has docker.io: remove must clean both.
        let podman = dir.join("auth.json");
        std::fs::write(
            &podman,
            r#"{"auths":{"docker.io":{"auth":"dTpw"},"b.io":{"auth":"dTpw"}}}"#,
        )
        .unwrap();
        std::env::set_var("REGISTRY_AUTH_FILE", &podman);
        let c = Credentials {
            username: "me".into(),
            password: "pw".into(),
        };
        assert_eq!(save("docker.io", &c).unwrap(), config);
        let text = std::fs::read_to_string(&config).unwrap();
        assert_eq!(find_in(&text, "docker.io").unwrap(), Some(c.clone()));
        assert!(find_in(&text, "a.io").unwrap().is_some());
        assert!(text.contains("credsStore"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(v["auths"]["https://index.docker.io/v1/"].is_object());
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&config), 0o600);
        // The first file searched wins a lookup: REGISTRY_AUTH_FILE's u:p.
        assert_eq!(lookup("docker.io").unwrap().username, "u");

        let mut changed = remove("docker.io").unwrap();
        changed.sort();
        let mut want = vec![config.clone(), podman.clone()];
        want.sort();
        assert_eq!(changed, want);
        for (p, kept) in [(&config, "a.io"), (&podman, "b.io")] {
            let text = std::fs::read_to_string(p).unwrap();
            assert_eq!(find_in(&text, "docker.io").unwrap(), None, "{text}");
            assert!(find_in(&text, kept).unwrap().is_some(), "{text}");
            assert_eq!(mode(p), 0o600);
        }
        let text = std::fs::read_to_string(&config).unwrap();
        assert!(text.contains("credsStore"), "{text}");
        assert!(lookup("docker.io").is_none());
        // Nothing left to remove: no file is touched.
        assert_eq!(remove("docker.io").unwrap(), Vec::<PathBuf>::new());
    }

    #[test]
    fn debug_hides_the_password() {
        let c = Credentials {
            username: "me".into(),
            password: "secret".into(),
        };
        assert!(!format!("{c:?}").contains("secret"));
        assert_eq!(c.basic_header(), "Basic bWU6c2VjcmV0");
    }
}
