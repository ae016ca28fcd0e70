//! Capability sets inside the user namespace: Docker's default set,
//! `--cap-add`/`--cap-drop` (with `ALL`), `--privileged`, and applying the
//! result to the container init just before exec.
//!
//! These are capabilities over the container's own namespaces only; the
//! owner of the user namespace is an ordinary host user, so even "all"
//! grants nothing on the host.

use std::collections::{BTreeSet, HashSet};
use std::str::FromStr;

use caps::{CapSet as Kind, Capability};

/// Docker's default capability set (moby oci/caps/defaults.go): what a
/// process needs to behave like root over its own files and processes,
/// and nothing that reaches the kernel's global state.
pub const DOCKER_DEFAULT: &[Capability] = &[
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CapError {
    #[error("unknown capability {0:?} (see capabilities(7); CAP_ prefix optional)")]
    Unknown(String),
    #[error("cannot {step} {cap}: {msg}")]
    Apply {
        step: &'static str,
        cap: String,
        msg: String,
    },
}

/// A capability name, with or without `CAP_`, any case.
pub fn parse_cap(name: &str) -> Result<Capability, CapError> {
    Capability::from_str(&caps::to_canonical(name.trim()))
        .map_err(|_| CapError::Unknown(name.to_string()))
}

/// The capabilities a container process keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapSet {
    caps: HashSet<Capability>,
}

impl CapSet {
    /// Docker's default set.
    pub fn docker_default() -> Self {
        CapSet {
            caps: DOCKER_DEFAULT.iter().copied().collect(),
        }
    }

    /// Every capability this library knows (`--privileged`).
    pub fn all() -> Self {
        CapSet {
            caps: caps::all().into_iter().collect(),
        }
    }

    pub fn empty() -> Self {
        CapSet {
            caps: HashSet::new(),
        }
    }

    /// Docker's order: start from the default (or all when privileged),
    /// drop `drops`, then add `adds`; `ALL` in either means every cap, so
    /// `--cap-drop ALL --cap-add NET_RAW` keeps exactly NET_RAW.
    pub fn from_flags<A: AsRef<str>, D: AsRef<str>>(
        privileged: bool,
        adds: &[A],
        drops: &[D],
    ) -> Result<Self, CapError> {
        let mut set = if privileged {
            Self::all()
        } else {
            Self::docker_default()
        };
        for d in drops {
            if d.as_ref().eq_ignore_ascii_case("ALL") {
                set.caps.clear();
            } else {
                set.caps.remove(&parse_cap(d.as_ref())?);
            }
        }
        for a in adds {
            if a.as_ref().eq_ignore_ascii_case("ALL") {
                set.caps.extend(caps::all());
            } else {
                set.caps.insert(parse_cap(a.as_ref())?);
            }
        }
        Ok(set)
    }

    pub fn contains(&self, cap: Capability) -> bool {
        self.caps.contains(&cap)
    }

    /// The capabilities, in kernel number order.
    pub fn iter(&self) -> impl Iterator<Item = Capability> {
        let mut v: Vec<Capability> = self.caps.iter().copied().collect();
        v.sort_by_key(|c| c.index());
        v.into_iter()
    }

    /// Names with the `CAP_` prefix, sorted: what seccomp's
    /// `includes.caps` is checked against.
    pub fn names(&self) -> BTreeSet<String> {
        self.caps.iter().map(|c| c.to_string()).collect()
    }
}

/// Make the calling thread hold exactly `set`: bounding reduced to it,
/// effective and permitted set to it, inheritable and ambient cleared.
/// Call in the container init, after the mounts (which need
/// CAP_SYS_ADMIN) and before exec. Capabilities the running kernel does
/// not know are skipped.
pub fn apply(set: &CapSet) -> Result<(), CapError> {
    let supported = caps::runtime::thread_all_supported();
    let keep: caps::CapsHashSet = set.iter().filter(|c| supported.contains(c)).collect();
    let fail = |step: &'static str, cap: String| {
        move |e: caps::errors::CapsError| CapError::Apply {
            step,
            cap,
            msg: e.to_string(),
        }
    };
    // Bounding first: dropping from it needs CAP_SETPCAP in the effective
    // set, which the next steps may remove.
    for c in supported.iter().filter(|c| !keep.contains(c)) {
        caps::drop(None, Kind::Bounding, *c)
            .map_err(fail("drop from bounding set", c.to_string()))?;
    }
    // Inheritable and ambient empty, as Docker since CVE-2022-24769: a
    // file with inheritable file caps must not gain them on exec.
    caps::clear(None, Kind::Ambient).map_err(fail("clear", "ambient set".into()))?;
    caps::clear(None, Kind::Inheritable).map_err(fail("clear", "inheritable set".into()))?;
    // Effective must shrink before permitted (it must stay a subset).
    caps::set(None, Kind::Effective, &keep).map_err(fail("set", "effective set".into()))?;
    caps::set(None, Kind::Permitted, &keep).map_err(fail("set", "permitted set".into()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_and_without_prefix() {
        assert_eq!(parse_cap("NET_ADMIN"), Ok(Capability::CAP_NET_ADMIN));
        assert_eq!(parse_cap("cap_net_admin"), Ok(Capability::CAP_NET_ADMIN));
        assert_eq!(parse_cap("CAP_SYS_ADMIN"), Ok(Capability::CAP_SYS_ADMIN));
        let e = parse_cap("FLY").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown capability \"FLY\" (see capabilities(7); CAP_ prefix optional)"
        );
    }

    #[test]
    fn default_is_dockers_fourteen() {
        let d = CapSet::docker_default();
        assert_eq!(d.iter().count(), 14);
        assert!(d.contains(Capability::CAP_CHOWN));
        assert!(!d.contains(Capability::CAP_SYS_ADMIN));
        assert!(!d.contains(Capability::CAP_NET_ADMIN));
    }

    #[test]
    fn add_drop_all() {
        let s = CapSet::from_flags(false, &["NET_ADMIN"], &["chown"]).unwrap();
        assert!(s.contains(Capability::CAP_NET_ADMIN));
        assert!(!s.contains(Capability::CAP_CHOWN));
        let s = CapSet::from_flags(false, &["NET_RAW"], &["ALL"]).unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), [Capability::CAP_NET_RAW]);
        let s = CapSet::from_flags::<&str, &str>(false, &["all"], &[]).unwrap();
        assert_eq!(s, CapSet::all());
        let s = CapSet::from_flags::<&str, &str>(true, &[], &[]).unwrap();
        assert!(s.contains(Capability::CAP_SYS_ADMIN));
        let s = CapSet::from_flags::<&str, &str>(true, &[], &["SYS_ADMIN"]).unwrap();
        assert!(!s.contains(Capability::CAP_SYS_ADMIN));
        assert!(CapSet::from_flags::<&str, &str>(false, &["BOGUS"], &[]).is_err());
        assert!(CapSet::from_flags::<&str, &str>(false, &[], &["BOGUS"]).is_err());
    }

    #[test]
    fn names_have_prefix() {
        let n = CapSet::from_flags(false, &["SYS_ADMIN"], &["ALL"])
            .unwrap()
            .names();
        assert_eq!(n.into_iter().collect::<Vec<_>>(), ["CAP_SYS_ADMIN"]);
    }

    #[test]
    fn apply_in_child_leaves_exactly_the_set() {
        let want = CapSet::from_flags(false, &["CHOWN"], &["ALL"]).unwrap();
        crate::sys::in_child(|| {
            let f = |s: &str| crate::sys::ChildFailure::new(s, nix::errno::Errno::EINVAL);
            // Without CAP_SETPCAP (not root), take a user namespace of our
            // own, as the container init has: the forked child has one
            // thread, so unshare works there.
            let setpcap = caps::has_cap(None, Kind::Effective, Capability::CAP_SETPCAP);
            if !setpcap.unwrap_or(false) {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
                    .map_err(|e| crate::sys::ChildFailure::new("unshare", e))?;
            }
            let had_chown =
                caps::has_cap(None, Kind::Permitted, Capability::CAP_CHOWN).unwrap_or(false);
            apply(&want).map_err(|e| f(&e.to_string()))?;
            let eff = caps::read(None, Kind::Effective).map_err(|_| f("read"))?;
            let bound = caps::read(None, Kind::Bounding).map_err(|_| f("read"))?;
            let amb = caps::read(None, Kind::Ambient).map_err(|_| f("read"))?;
            let expect_eff: caps::CapsHashSet = if had_chown {
                [Capability::CAP_CHOWN].into_iter().collect()
            } else {
                caps::CapsHashSet::new()
            };
            if eff != expect_eff {
                return Err(f(&format!("effective is {eff:?}")));
            }
            if bound.iter().any(|c| *c != Capability::CAP_CHOWN) {
                return Err(f(&format!("bounding is {bound:?}")));
            }
            if !amb.is_empty() {
                return Err(f("ambient not empty"));
            }
            let inh = caps::read(None, Kind::Inheritable).map_err(|_| f("read"))?;
            if !inh.is_empty() {
                return Err(f("inheritable not empty"));
            }
            Ok(())
        })
        .unwrap();
    }
}
