//! The unprivileged users the tests run burrow as. tests/setup/install.sh
//! makes them: burrow-sub has a subuid/subgid range, burrow-nosub has none.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    /// Has a subuid/subgid range: multi-id mode through newuidmap.
    Sub,
    /// Has no range (like many LDAP accounts): single-id mode.
    NoSub,
}

fn is_root() -> bool {
    // SAFETY-free: read our own uid from /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn lookup(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&name))
            .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
    })
}

impl User {
    pub fn name(self) -> &'static str {
        match self {
            User::Sub => "burrow-sub",
            User::NoSub => "burrow-nosub",
        }
    }

    pub fn ids(self) -> (u32, u32) {
        lookup(self.name()).expect("test user exists")
    }

    /// Can this machine run burrow as this user?
    pub fn available(self) -> Result<(), String> {
        if !is_root() {
            return Err(format!(
                "the tests must run as root to switch to the test user {}",
                self.name()
            ));
        }
        if lookup(self.name()).is_none() {
            return Err(format!(
                "no test user {} (run tests/setup/install.sh as root)",
                self.name()
            ));
        }
        if super::fixtures_root().is_none() {
            return Err("fixtures are not built (run tests/setup/install.sh as root)".into());
        }
        Ok(())
    }

    /// A command that runs `program` as this user, with no supplementary
    /// groups (setpriv from util-linux; no PAM session, like a batch job).
    pub fn command(self, program: impl AsRef<OsStr>) -> Command {
        let (uid, gid) = self.ids();
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--clear-groups")
            .arg("--")
            .arg(program);
        cmd
    }

    pub fn chown(self, path: &Path) {
        let (uid, gid) = self.ids();
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }
}
