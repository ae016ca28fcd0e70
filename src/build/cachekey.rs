//! Cache keys of build steps, by Docker's rules, as pure functions of what
//! the step sees. A key chains its parent's, so a miss makes every later
//! step miss. RUN: the command (and its heredocs), the shell, the
//! environment, and the build args in scope (Docker passes them to RUN as
//! variables, so changing one misses at the first RUN after its ARG), the
//! mounts and network. COPY/ADD: the options and the content and metadata
//! of every source file, never their times: `FileMeta` has no time field.
//! Other steps: their text after expansion.
//!
//! Every field goes in length-prefixed, so no two different inputs can
//! produce the same byte stream.

use sha2::{Digest, Sha256};

use super::dockerfile::instruction::{CommandLine, Network};

/// `sha256:<hex>`.
pub type Key = String;

/// Feeds tagged, length-prefixed fields into a hash.
struct Fields(Sha256);

impl Fields {
    fn new(kind: &str, parent: &str) -> Fields {
        let mut f = Fields(Sha256::new());
        f.str("burrow-build-cache-v1");
        f.str(kind);
        f.str(parent);
        f
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.update((b.len() as u64).to_le_bytes());
        self.0.update(b);
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }
    fn list(&mut self, v: &[String]) -> &mut Self {
        self.0.update((v.len() as u64).to_le_bytes());
        v.iter().for_each(|s| {
            self.str(s);
        });
        self
    }
    fn pairs(&mut self, v: &[(String, String)]) -> &mut Self {
        self.0.update((v.len() as u64).to_le_bytes());
        for (k, val) in v {
            self.str(k).str(val);
        }
        self
    }
    fn finish(self) -> Key {
        format!("sha256:{}", hex::encode(self.0.finalize()))
    }
}

/// What a RUN step sees.
#[derive(Debug, Clone)]
pub struct RunInput<'a> {
    pub command: &'a CommandLine,
    /// The stage's SHELL (used by the shell form).
    pub shell: &'a [String],
    /// The environment from ENV, in order.
    pub env: &'a [(String, String)],
    /// Build args in scope with their values (declared and given or
    /// defaulted), in declaration order.
    pub args: &'a [(String, String)],
    /// `--mount` specs after expansion.
    pub mounts: &'a [String],
    pub network: Network,
}

pub fn run_key(parent: &str, r: &RunInput) -> Key {
    let mut f = Fields::new("RUN", parent);
    f.list(&r.command.args)
        .str(if r.command.shell_form {
            "shell"
        } else {
            "exec"
        })
        .list(r.shell)
        .pairs(r.env)
        .pairs(r.args)
        .list(r.mounts)
        .str(match r.network {
            Network::Default => "default",
            Network::None => "none",
            Network::Host => "host",
        });
    f.0.update((r.command.files.len() as u64).to_le_bytes());
    for h in &r.command.files {
        f.str(&h.name)
            .str(&h.fd.to_string())
            .str(&h.expand.to_string())
            .str(&h.text());
    }
    f.finish()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One source file as COPY/ADD's key sees it: no times, on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Relative to the source root, `/`-separated.
    pub path: String,
    pub kind: FileKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// `sha256:<hex>` of a regular file's bytes; empty for others.
    pub content: String,
    /// A symlink's target.
    pub link: String,
}

/// The digest of a set of source files, independent of the order given.
pub fn content_key(files: &[FileMeta]) -> Key {
    let mut sorted: Vec<&FileMeta> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut f = Fields::new("CONTENT", "");
    f.0.update((sorted.len() as u64).to_le_bytes());
    for m in sorted {
        let kind = match m.kind {
            FileKind::File => "f",
            FileKind::Dir => "d",
            FileKind::Symlink => "l",
            FileKind::Other => "o",
        };
        f.str(&m.path)
            .str(kind)
            .str(&format!("{:o}:{}:{}:{}", m.mode, m.uid, m.gid, m.size))
            .str(&m.content)
            .str(&m.link);
    }
    f.finish()
}

/// What a COPY or ADD step sees: its options (as written after
/// expansion: `--chown`, `--chmod`, `--link`, `--parents`, excludes, the
/// destination...) and one content key per source.
#[derive(Debug, Clone)]
pub struct CopyInput<'a> {
    /// `COPY` or `ADD`.
    pub instruction: &'a str,
    pub options: &'a [(String, String)],
    pub dest: &'a str,
    /// `content_key` of each source, or a stage's result key for
    /// `--from`, or a URL's checksum for ADD; in source order.
    pub sources: &'a [Key],
}

/// Bumped when the layers COPY/ADD make change for the same inputs, so
/// caches made before do not hand out the old layers (2: the base's dirs
/// keep their owner and mode; ADDed archives keep owners; --from merges
/// the stage's layers).
const COPY_LAYOUT: &str = "copy-layout-2";

pub fn copy_key(parent: &str, c: &CopyInput) -> Key {
    let mut f = Fields::new(c.instruction, parent);
    f.str(COPY_LAYOUT)
        .pairs(c.options)
        .str(c.dest)
        .list(c.sources);
    f.finish()
}

/// A step that only changes the image config (ENV, LABEL, WORKDIR, USER,
/// EXPOSE, CMD...): its instruction text after expansion.
pub fn config_key(parent: &str, text: &str) -> Key {
    let mut f = Fields::new("CONFIG", parent);
    f.str(text);
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &str) -> CommandLine {
        CommandLine {
            args: vec![s.to_string()],
            shell_form: true,
            files: Vec::new(),
        }
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn run(parent: &str, c: &str, env: &[(&str, &str)], args: &[(&str, &str)]) -> Key {
        let (c, env, args) = (cmd(c), pairs(env), pairs(args));
        let shell = vec!["/bin/sh".to_string(), "-c".to_string()];
        run_key(
            parent,
            &RunInput {
                command: &c,
                shell: &shell,
                env: &env,
                args: &args,
                mounts: &[],
                network: Network::Default,
            },
        )
    }

    #[test]
    fn run_keys_follow_what_the_step_sees() {
        let base = run("p", "make", &[("A", "1")], &[("V", "1")]);
        assert_eq!(base, run("p", "make", &[("A", "1")], &[("V", "1")]));
        assert!(base.starts_with("sha256:") && base.len() == 7 + 64);
        assert_ne!(
            base,
            run("q", "make", &[("A", "1")], &[("V", "1")]),
            "parent"
        );
        assert_ne!(
            base,
            run("p", "make ", &[("A", "1")], &[("V", "1")]),
            "command"
        );
        assert_ne!(base, run("p", "make", &[("A", "2")], &[("V", "1")]), "env");
        assert_ne!(
            base,
            run("p", "make", &[("A", "1")], &[("V", "2")]),
            "build arg"
        );
        // Field boundaries matter: ("AB","") is not ("A","B").
        assert_ne!(
            run("p", "x", &[("AB", "")], &[]),
            run("p", "x", &[("A", "B")], &[])
        );
    }

    fn file(path: &str, content: &str, mode: u32) -> FileMeta {
        FileMeta {
            path: path.into(),
            kind: FileKind::File,
            mode,
            uid: 0,
            gid: 0,
            size: 3,
            content: content.into(),
            link: String::new(),
        }
    }

    #[test]
    fn content_keys_see_content_and_metadata_in_any_order() {
        let a = [file("a", "sha256:1", 0o644), file("b", "sha256:2", 0o644)];
        let b = [file("b", "sha256:2", 0o644), file("a", "sha256:1", 0o644)];
        assert_eq!(content_key(&a), content_key(&b));
        let changed = [file("a", "sha256:9", 0o644), file("b", "sha256:2", 0o644)];
        assert_ne!(content_key(&a), content_key(&changed));
        let chmod = [file("a", "sha256:1", 0o755), file("b", "sha256:2", 0o644)];
        assert_ne!(content_key(&a), content_key(&chmod));
    }

    #[test]
    fn copy_keys_see_options_destination_and_sources() {
        let src = [content_key(&[file("a", "sha256:1", 0o644)])];
        let opts = pairs(&[("chown", "1:1")]);
        let k = |parent: &str, dest: &str, opts: &[(String, String)]| {
            copy_key(
                parent,
                &CopyInput {
                    instruction: "COPY",
                    options: opts,
                    dest,
                    sources: &src,
                },
            )
        };
        let base = k("p", "/app/", &opts);
        assert_eq!(base, k("p", "/app/", &opts));
        assert_ne!(base, k("p", "/srv/", &opts));
        assert_ne!(base, k("p", "/app/", &pairs(&[("chown", "2:2")])));
        assert_ne!(base, config_key("p", "COPY /app/"));
    }
}
