//! Image references, parsed the way Docker does:
//! `alpine` is `docker.io/library/alpine:latest`, `host:port/repo:tag`,
//! `repo@sha256:<hex>`, `repo:tag@sha256:<hex>`.

use std::fmt;

/// Docker Hub's name in references; its API lives at [`DOCKER_HUB_API`].
pub const DOCKER_HUB: &str = "docker.io";
/// The host that serves Docker Hub's registry API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
const DEFAULT_TAG: &str = "latest";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid reference {0:?}: it is empty")]
    Empty(String),
    #[error("invalid reference {0:?}: repository names must be lowercase")]
    Uppercase(String),
    #[error("invalid reference {0:?}: bad repository name component {1:?} (use a-z, 0-9 and . _ - separators)")]
    Component(String, String),
    #[error("invalid reference {0:?}: bad tag {1:?} (up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -)")]
    Tag(String, String),
    #[error("invalid reference {0:?}: bad digest {1:?} (expected sha256: and 64 hex digits)")]
    Digest(String, String),
    #[error("invalid reference {0:?}: bad registry host {1:?}")]
    Host(String, String),
    #[error("invalid reference {0:?}: name is longer than 255 characters")]
    TooLong(String),
}

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry as written in references (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Repository path (`library/alpine`).
    pub repository: String,
    /// Tag; `None` only when a digest was given without a tag.
    pub tag: Option<String>,
    /// `sha256:<hex>` when pinned.
    pub digest: Option<String>,
}

impl Reference {
    /// Parse a reference; a missing tag and digest means `latest`.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ReferenceError::Empty(input.to_string()));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                if !is_digest(d) {
                    return Err(ReferenceError::Digest(input.into(), d.into()));
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag follows the last ':' after the last '/', so "host:5000/repo" has none.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let t = &rest[last_slash + i + 1..];
                if !is_tag(t) {
                    return Err(ReferenceError::Tag(input.into(), t.into()));
                }
                (&rest[..last_slash + i], Some(t.to_string()))
            }
            None => (rest, None),
        };
        if name.len() > 255 {
            return Err(ReferenceError::TooLong(input.into()));
        }
        let (registry, repository) = split_domain(name);
        if let Some(h) = &registry {
            if !is_host(h) {
                return Err(ReferenceError::Host(input.into(), h.clone()));
            }
        }
        if repository.is_empty() {
            return Err(ReferenceError::Empty(input.to_string()));
        }
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(input.into()));
        }
        for comp in repository.split('/') {
            if !is_component(comp) {
                return Err(ReferenceError::Component(input.into(), comp.into()));
            }
        }
        let registry = match registry.as_deref() {
            None | Some("index.docker.io") | Some("registry-1.docker.io") => DOCKER_HUB.to_string(),
            Some(r) => r.to_string(),
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        let tag = match (&tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            _ => tag,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository` (`docker.io/library/alpine`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag or digest to ask the registry for.
    pub fn manifest_ref(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
    }

    /// `name:tag` when tagged (the form stored in image records).
    pub fn tagged(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.name()))
    }

    /// The host and port that serve the registry API.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// Docker's rule: plain HTTP is fine for loopback registries.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.registry)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Whether `host[:port]` names this machine (localhost, 127.0.0.0/8, ::1).
pub fn is_loopback_host(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.split(':').next().unwrap_or("")
    };
    if host == "localhost" || host == "::1" {
        return true;
    }
    host.parse::<std::net::Ipv4Addr>()
        .map(|a| a.is_loopback())
        .unwrap_or(false)
}

/// Docker's rule: the first component is a registry when it has a '.' or a
/// ':' or is `localhost` (or has an uppercase letter, which repos cannot).
fn split_domain(name: &str) -> (Option<String>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first.to_string()), rest)
        }
        _ => (None, name),
    }
}

fn is_host(h: &str) -> bool {
    let (host, port) = if let Some(rest) = h.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip6, port)) => {
                if ip6.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                ("x", port.strip_prefix(':'))
            }
            None => return false,
        }
    } else {
        match h.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (h, None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    port_ok && host_ok
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or any number of "-".
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[\w][\w.-]{0,127}`
fn is_tag(t: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-';
    !t.is_empty()
        && t.len() <= 128
        && t.chars().all(ok)
        && !t.starts_with('.')
        && !t.starts_with('-')
}

/// `sha256:` and 64 lowercase hex digits (the only algorithm we accept).
pub fn is_digest(d: &str) -> bool {
    digest_hex(d).is_ok()
}

/// A digest that is not `sha256:` and 64 lowercase hex digits. Shown
/// escaped and cut short: it comes from a registry, an archive or a record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadDigest {
    #[error("unsupported digest algorithm in {0:?} (only sha256 is supported)")]
    Algorithm(String),
    #[error("malformed digest {0:?} (expected sha256: and 64 lowercase hex digits)")]
    Malformed(String),
}

/// The hex part of a digest, checked: `sha256:` and exactly 64 lowercase
/// hex digits. Every digest or id that becomes a file name in the store
/// (`blobs/sha256/<hex>`, `layers/<hex>`) goes through here, so a hostile
/// `sha256:..` or `sha256:../x` can never name a path.
pub fn digest_hex(d: &str) -> Result<&str, BadDigest> {
    let shown = || {
        let cut: String = d.chars().take(80).collect();
        crate::text::escape_control(&cut)
    };
    let Some((algo, hex)) = d.split_once(':') else {
        return Err(BadDigest::Malformed(shown()));
    };
    if algo != "sha256" {
        let known = ["sha384", "sha512", "blake3"].contains(&algo);
        return Err(if known {
            BadDigest::Algorithm(shown())
        } else {
            BadDigest::Malformed(shown())
        });
    }
    let lower_hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    if hex.len() != 64 || !hex.bytes().all(lower_hex) {
        return Err(BadDigest::Malformed(shown()));
    }
    Ok(hex)
}

/// The hex part of a digest for display and id-prefix matching only,
/// never for a path (that is [`digest_hex`]).
pub fn shown_hex(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap_or(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn p(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn short_names_are_docker_hub_library() {
        let r = p("alpine");
        assert_eq!(r.to_string(), "docker.io/library/alpine:latest");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(p("user/app:1.0").to_string(), "docker.io/user/app:1.0");
        assert_eq!(
            p("index.docker.io/library/alpine").to_string(),
            "docker.io/library/alpine:latest"
        );
    }

    #[test]
    fn host_port_and_tag() {
        let r = p("127.0.0.1:5000/fixtures/busybox:v1");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "fixtures/busybox");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert!(r.is_loopback());
        let r = p("localhost:5000/x");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert!(r.is_loopback());
        let r = p("ghcr.io/o/r");
        assert_eq!(r.registry, "ghcr.io");
        assert!(!r.is_loopback());
        assert_eq!(p("[::1]:5000/a:b").registry, "[::1]:5000");
    }

    #[test]
    fn digests() {
        let r = p(&format!("alpine@{D}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.manifest_ref(), D);
        let r = p(&format!("quay.io/a/b:3@{D}"));
        assert_eq!(r.tag.as_deref(), Some("3"));
        assert_eq!(r.manifest_ref(), D);
        assert_eq!(r.to_string(), format!("quay.io/a/b:3@{D}"));
    }

    #[test]
    fn malformed_references_say_why() {
        let cases = [
            ("", "empty"),
            ("Alpine", "lowercase"),
            ("alpine:", "bad tag"),
            ("alpine:-x", "bad tag"),
            ("alpine@sha256:abc", "bad digest"),
            ("alpine@md5:0123", "bad digest"),
            ("a//b", "component"),
            ("a/-b", "component"),
            ("a..b/c", "registry host"),
            ("host:port/x", "registry host"),
            ("/alpine", "component"),
        ];
        for (input, want) in cases {
            let err = Reference::parse(input).expect_err(input).to_string();
            assert!(err.contains(want), "{input:?}: {err}");
        }
    }

    #[test]
    fn only_sha256_and_64_lowercase_hex_name_a_path() {
        assert_eq!(digest_hex(D).unwrap(), &D[7..]);
        for bad in [
            "sha256:..",
            "sha256:../x",
            "sha256:",
            "",
            "..",
            "sha256",
            &D[7..],
            &format!("sha256:{}", "A".repeat(64)),
            &format!("sha256:{}", "g".repeat(64)),
            &format!("sha256:{}/", "a".repeat(63)),
            &format!("sha256:{}0", &D[7..]),
            &format!("SHA256:{}", &D[7..]),
        ] {
            assert!(
                matches!(digest_hex(bad), Err(BadDigest::Malformed(_))),
                "{bad:?}"
            );
        }
        let e = digest_hex(&format!("sha512:{}", "a".repeat(128))).unwrap_err();
        assert!(e.to_string().contains("only sha256"), "{e}");
        // Hostile text is escaped and cut in the message.
        let e = digest_hex(&format!("sha256:\x1b[2J{}", "x".repeat(500))).unwrap_err();
        assert!(
            !e.to_string().contains('\x1b') && e.to_string().len() < 200,
            "{e}"
        );
    }

    #[test]
    fn component_separators() {
        assert!(is_component("a_b__c-d---e.f"));
        assert!(!is_component("a___b"));
        assert!(!is_component("a..b"));
        assert!(!is_component("a-"));
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.3.4.5:80"));
        assert!(is_loopback_host("localhost"));
        assert!(!is_loopback_host("128.0.0.1:5000"));
        assert!(!is_loopback_host("localhost.example.com"));
    }

    /// Docker's limit: a name of 255 characters is fine, one more is not
    /// (the tag does not count).
    #[test]
    fn names_of_up_to_255_characters() {
        let name = format!("example.com/{}", "a".repeat(243));
        assert_eq!(name.len(), 255);
        let r = Reference::parse(&format!("{name}:v1")).unwrap();
        assert_eq!(r.name(), name);
        let e = Reference::parse(&format!("{name}a:v1")).unwrap_err();
        assert!(matches!(e, ReferenceError::TooLong(_)), "{e}");
    }

    /// The first component is a registry when it is `localhost` or has a
    /// port, even without a dot.
    #[test]
    fn localhost_and_ported_hosts_are_registries() {
        let r = Reference::parse("localhost/foo").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost", "foo")
        );
        let r = Reference::parse("myregistry:5000/foo").unwrap();
        assert_eq!(r.registry, "myregistry:5000");
        assert_eq!(r.repository, "foo");
    }

    /// Host labels are letters, digits and inner '-': nothing else.
    #[test]
    fn host_labels_take_only_letters_digits_and_dashes() {
        let r = Reference::parse("my-reg.example.com/foo").unwrap();
        assert_eq!(r.registry, "my-reg.example.com");
        for bad in [
            "my_reg.example.com/foo",
            "my reg.example.com/foo",
            "-reg.example.com/foo",
        ] {
            let e = Reference::parse(bad).unwrap_err();
            assert!(matches!(e, ReferenceError::Host(..)), "{bad}: {e}");
        }
    }

    /// A tag is letters, digits, '_', '.' and '-' only.
    #[test]
    fn tags_take_no_other_characters() {
        assert!(is_tag("v1.2_rc-3"));
        for bad in ["v1+x", "v1!", "v 1", "v1~"] {
            assert!(!is_tag(bad), "{bad}");
            let e = Reference::parse(&format!("alpine:{bad}")).unwrap_err();
            assert!(matches!(e, ReferenceError::Tag(..)), "{bad}: {e}");
        }
    }
}
