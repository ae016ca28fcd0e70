//! One task's emulated credentials and the kernel's rules for changing
//! them (kernel/sys.c), as plain data: no syscalls here, so every rule is
//! unit-tested. "Privileged" stands for CAP_SETUID/CAP_SETGID in the
//! effective set: the task still has its capabilities (it ran as root and
//! did not give up every root id without PR_SET_KEEPCAPS) and its
//! effective uid is 0, or it kept them on purpose (keep-caps, which
//! programs such as setpriv follow with capset to raise them again).

use nix::errno::Errno;

/// (uid_t)-1: "leave this one alone" for the set*id calls.
pub const KEEP: u32 = u32::MAX;
/// The kernel's limit on supplementary groups (NGROUPS_MAX).
pub const NGROUPS_MAX: usize = 65536;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creds {
    pub ruid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    pub rgid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    pub groups: Vec<u32>,
    /// The permitted capabilities are still there.
    pub permitted: bool,
    /// PR_SET_KEEPCAPS: giving up every root uid keeps them.
    pub keepcaps: bool,
}

/// A set*id call, its arguments already widened to 32 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Set {
    Uid(u32),
    Gid(u32),
    ReUid(u32, u32),
    ReGid(u32, u32),
    ResUid(u32, u32, u32),
    ResGid(u32, u32, u32),
    FsUid(u32),
    FsGid(u32),
    Groups(Vec<u32>),
}

/// The real, effective and saved ids and the fs id of one kind.
struct Ids<'a> {
    r: &'a mut u32,
    e: &'a mut u32,
    s: &'a mut u32,
    fs: &'a mut u32,
}

impl Creds {
    /// Every id `uid`/`gid`, with `groups` as supplementary groups.
    pub fn new(uid: u32, gid: u32, groups: Vec<u32>) -> Creds {
        Creds {
            ruid: uid,
            euid: uid,
            suid: uid,
            fsuid: uid,
            rgid: gid,
            egid: gid,
            sgid: gid,
            fsgid: gid,
            groups,
            permitted: uid == 0,
            keepcaps: false,
        }
    }

    /// CAP_SETUID/CAP_SETGID (and, as the emulation reads it,
    /// CAP_CHOWN and CAP_DAC_OVERRIDE) in the effective set.
    pub fn privileged(&self) -> bool {
        self.permitted && (self.euid == 0 || self.keepcaps)
    }

    fn any_root_uid(&self) -> bool {
        self.ruid == 0 || self.euid == 0 || self.suid == 0
    }

    /// execve: the saved ids take the effective ones, keep-caps is reset
    /// and the capabilities are those of a root or a non-root process
    /// (no setuid bits: no_new_privs, and the kernel's credential is
    /// root anyway).
    pub fn exec(&mut self) {
        (self.suid, self.fsuid) = (self.euid, self.euid);
        (self.sgid, self.fsgid) = (self.egid, self.egid);
        self.permitted = self.ruid == 0 || self.euid == 0;
        self.keepcaps = false;
    }

    /// Apply `call` as the kernel would. Returns the call's result: 0,
    /// or for setfsuid/setfsgid the previous fs id (they never fail).
    pub fn apply(&mut self, call: Set) -> Result<u32, Errno> {
        let had_root = self.any_root_uid();
        let r = self.apply_ids(call);
        // Giving up every root uid drops the capabilities (unless kept).
        if r.is_ok() && had_root && !self.any_root_uid() && !self.keepcaps {
            self.permitted = false;
        }
        r
    }

    fn apply_ids(&mut self, call: Set) -> Result<u32, Errno> {
        let p = self.privileged();
        match call {
            Set::Uid(u) => set_id(self.uids(), p, u),
            Set::Gid(g) => set_id(self.gids(), p, g),
            Set::ReUid(r, e) => set_re(self.uids(), p, r, e),
            Set::ReGid(r, e) => set_re(self.gids(), p, r, e),
            Set::ResUid(r, e, s) => set_res(self.uids(), p, r, e, s),
            Set::ResGid(r, e, s) => set_res(self.gids(), p, r, e, s),
            Set::FsUid(f) => Ok(set_fs(self.uids(), p, f)),
            Set::FsGid(f) => Ok(set_fs(self.gids(), p, f)),
            Set::Groups(list) => {
                if list.len() > NGROUPS_MAX {
                    return Err(Errno::EINVAL);
                }
                if !p {
                    return Err(Errno::EPERM);
                }
                if list.contains(&KEEP) {
                    return Err(Errno::EINVAL);
                }
                let mut list = list;
                // The kernel keeps them sorted; getgroups shows that order.
                list.sort_unstable();
                self.groups = list;
                Ok(0)
            }
        }
    }

    fn uids(&mut self) -> Ids<'_> {
        Ids {
            r: &mut self.ruid,
            e: &mut self.euid,
            s: &mut self.suid,
            fs: &mut self.fsuid,
        }
    }

    fn gids(&mut self) -> Ids<'_> {
        Ids {
            r: &mut self.rgid,
            e: &mut self.egid,
            s: &mut self.sgid,
            fs: &mut self.fsgid,
        }
    }
}

/// setuid/setgid: privileged sets all four, else only the effective (and
/// fs) id, to the real or saved one.
fn set_id(ids: Ids<'_>, privileged: bool, id: u32) -> Result<u32, Errno> {
    if id == KEEP {
        return Err(Errno::EINVAL);
    }
    if privileged {
        (*ids.r, *ids.s) = (id, id);
    } else if id != *ids.r && id != *ids.s {
        return Err(Errno::EPERM);
    }
    (*ids.e, *ids.fs) = (id, id);
    Ok(0)
}

/// setreuid/setregid.
fn set_re(ids: Ids<'_>, privileged: bool, r: u32, e: u32) -> Result<u32, Errno> {
    let (or, oe, os) = (*ids.r, *ids.e, *ids.s);
    if r != KEEP && !privileged && r != or && r != oe {
        return Err(Errno::EPERM);
    }
    if e != KEEP && !privileged && e != or && e != oe && e != os {
        return Err(Errno::EPERM);
    }
    let nr = if r != KEEP { r } else { or };
    let ne = if e != KEEP { e } else { oe };
    // The saved id follows the effective one when the real one is set or
    // the effective one moves away from the (old) real one.
    if r != KEEP || (e != KEEP && e != or) {
        *ids.s = ne;
    }
    (*ids.r, *ids.e, *ids.fs) = (nr, ne, ne);
    Ok(0)
}

/// setresuid/setresgid: unprivileged, each new id must be one of the
/// three old ones.
fn set_res(ids: Ids<'_>, privileged: bool, r: u32, e: u32, s: u32) -> Result<u32, Errno> {
    let old = [*ids.r, *ids.e, *ids.s];
    for id in [r, e, s] {
        if id != KEEP && !privileged && !old.contains(&id) {
            return Err(Errno::EPERM);
        }
    }
    let pick = |new: u32, old: u32| if new != KEEP { new } else { old };
    (*ids.r, *ids.e, *ids.s) = (pick(r, old[0]), pick(e, old[1]), pick(s, old[2]));
    *ids.fs = *ids.e;
    Ok(0)
}

/// setfsuid/setfsgid: always return the old fs id; change it when allowed.
fn set_fs(ids: Ids<'_>, privileged: bool, f: u32) -> u32 {
    let old = *ids.fs;
    let known = [*ids.r, *ids.e, *ids.s, old].contains(&f);
    if f != KEEP && (privileged || known) {
        *ids.fs = f;
    }
    old
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Creds {
        Creds::new(0, 0, vec![])
    }

    #[test]
    fn apt_drops_to_apt_for_good() {
        // apt's DropPrivileges: setgroups, setresgid, setresuid, then it
        // checks that the way back to root is closed.
        let mut c = root();
        c.apply(Set::Groups(vec![65534])).unwrap();
        c.apply(Set::ResGid(65534, 65534, 65534)).unwrap();
        c.apply(Set::ResUid(42, 42, 42)).unwrap();
        assert_eq!((c.ruid, c.euid, c.suid, c.fsuid), (42, 42, 42, 42));
        assert_eq!((c.rgid, c.egid, c.sgid), (65534, 65534, 65534));
        assert_eq!(c.groups, [65534]);
        assert_eq!(c.apply(Set::Gid(0)), Err(Errno::EPERM));
        assert_eq!(c.apply(Set::Uid(0)), Err(Errno::EPERM));
        assert_eq!(c.apply(Set::ReUid(KEEP, 0)), Err(Errno::EPERM));
        assert_eq!(c.apply(Set::Groups(vec![])), Err(Errno::EPERM));
        assert_eq!(c.euid, 42);
    }

    #[test]
    fn seteuid_keeps_the_way_back_through_the_saved_id() {
        // seteuid(42) is setresuid(-1, 42, -1) in glibc.
        let mut c = root();
        c.apply(Set::ResUid(KEEP, 42, KEEP)).unwrap();
        assert_eq!((c.ruid, c.euid, c.suid), (0, 42, 0));
        // Unprivileged now, but 0 is the real and saved id.
        c.apply(Set::Uid(0)).unwrap();
        assert_eq!((c.ruid, c.euid, c.suid), (0, 0, 0));
        // setreuid(-1, 42) from root: euid != ruid, so suid follows.
        c.apply(Set::ReUid(KEEP, 42)).unwrap();
        assert_eq!((c.ruid, c.euid, c.suid), (0, 42, 42));
        assert_eq!(c.apply(Set::ResUid(7, KEEP, KEEP)), Err(Errno::EPERM));
    }

    #[test]
    fn setuid_as_root_sets_all_and_unprivileged_only_the_effective() {
        let mut c = root();
        c.apply(Set::Uid(1000)).unwrap();
        assert_eq!((c.ruid, c.euid, c.suid, c.fsuid), (1000, 1000, 1000, 1000));
        assert_eq!(c.apply(Set::Uid(KEEP)), Err(Errno::EINVAL));
        let mut c = Creds::new(5, 5, vec![]);
        c.suid = 6;
        c.apply(Set::Uid(6)).unwrap();
        assert_eq!((c.ruid, c.euid, c.suid), (5, 6, 6));
        assert_eq!(c.apply(Set::Uid(7)), Err(Errno::EPERM));
    }

    #[test]
    fn gids_need_an_effective_root_uid() {
        let mut c = root();
        c.apply(Set::Gid(50)).unwrap();
        assert_eq!((c.rgid, c.egid, c.sgid, c.fsgid), (50, 50, 50, 50));
        c.apply(Set::ReGid(60, 70)).unwrap();
        assert_eq!((c.rgid, c.egid, c.sgid), (60, 70, 70));
        c.apply(Set::Uid(1)).unwrap();
        assert_eq!(c.apply(Set::Gid(0)), Err(Errno::EPERM));
        c.apply(Set::Gid(60)).unwrap();
        assert_eq!(c.egid, 60);
    }

    #[test]
    fn fs_ids_return_the_old_one_and_never_fail() {
        let mut c = Creds::new(5, 5, vec![]);
        assert_eq!(c.apply(Set::FsUid(9)), Ok(5));
        assert_eq!(c.fsuid, 5, "9 is none of the task's ids");
        assert_eq!(c.apply(Set::FsUid(KEEP)), Ok(5));
        let mut c = root();
        assert_eq!(c.apply(Set::FsUid(9)), Ok(0));
        assert_eq!(c.apply(Set::FsGid(8)), Ok(0));
        assert_eq!((c.fsuid, c.fsgid, c.euid), (9, 8, 0));
        // A later setresuid resets the fs id to the effective one.
        c.apply(Set::ResUid(KEEP, KEEP, KEEP)).unwrap();
        assert_eq!(c.fsuid, 0);
    }

    #[test]
    fn keepcaps_keeps_the_right_to_switch_until_exec() {
        // setpriv --reuid=1000 --regid=1000: keep-caps, uid first, gid after.
        let mut c = root();
        c.keepcaps = true;
        c.apply(Set::ResUid(1000, 1000, 1000)).unwrap();
        c.apply(Set::ResGid(1000, 1000, 1000)).unwrap();
        assert_eq!((c.euid, c.egid), (1000, 1000));
        // The command it runs has no capabilities left.
        c.exec();
        assert!(!c.keepcaps);
        assert_eq!(c.apply(Set::Uid(0)), Err(Errno::EPERM));
        // Without keep-caps the same order fails at the gid.
        let mut c = root();
        c.apply(Set::ResUid(1000, 1000, 1000)).unwrap();
        assert_eq!(c.apply(Set::ResGid(1000, 1000, 1000)), Err(Errno::EPERM));
    }

    #[test]
    fn a_dropped_effective_uid_cannot_change_gids_until_it_returns() {
        let mut c = root();
        c.apply(Set::ResUid(KEEP, 42, KEEP)).unwrap();
        assert_eq!(c.apply(Set::Gid(5)), Err(Errno::EPERM));
        c.apply(Set::ResUid(KEEP, 0, KEEP)).unwrap();
        c.apply(Set::Gid(5)).unwrap();
        // exec: saved ids follow the effective ones.
        c.apply(Set::ResUid(KEEP, 42, KEEP)).unwrap();
        c.exec();
        assert_eq!((c.ruid, c.euid, c.suid), (0, 42, 42));
        assert!(c.permitted, "the real uid is still 0");
    }

    #[test]
    fn groups_are_sorted_and_bounded() {
        let mut c = root();
        c.apply(Set::Groups(vec![30, 10, 20])).unwrap();
        assert_eq!(c.groups, [10, 20, 30]);
        let many = vec![1; NGROUPS_MAX + 1];
        assert_eq!(c.apply(Set::Groups(many)), Err(Errno::EINVAL));
        assert_eq!(c.apply(Set::Groups(vec![KEEP])), Err(Errno::EINVAL));
    }
}
