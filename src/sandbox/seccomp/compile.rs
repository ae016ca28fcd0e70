//! Resolved rules -> one classic-BPF program, built with seccompiler.
//!
//! seccompiler gives one filter one "match" action. Profiles have several
//! (ALLOW for most calls, ERRNO(ENOSYS) for clone3, ERRNO(0) for the faked
//! chown family...), so we build one seccompiler filter per action and
//! chain them: each group's "no match" return is rewritten into a jump to
//! the next group, and the last group's into the default action. Groups
//! run from the most restrictive action to the least, so when two entries
//! match one call the stricter wins, as the kernel does between stacked
//! filters.

use std::collections::BTreeMap;

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use super::profile::{Action, Cmp, Rule};
use super::table;

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA
const BPF_JMP_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
const SECCOMP_DATA_NR: u32 = 0;
/// The "no match" return of a group, rewritten after the build. A TRACE
/// with this data is never produced by a profile (checked below).
const SENTINEL: SeccompAction = SeccompAction::Trace(0xB5E1);
const ENOSYS: u32 = libc::ENOSYS as u32;

/// An architecture burrow can build filters for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
    Riscv64,
}

impl Arch {
    /// The machine this binary runs on.
    pub fn native() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            "riscv64" => Some(Arch::Riscv64),
            _ => None,
        }
    }

    /// Go/OCI name, as `includes.arches` spells it.
    pub fn go_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
            Arch::Riscv64 => "riscv64",
        }
    }

    fn table(self) -> &'static [(&'static str, i64)] {
        match self {
            Arch::X86_64 => table::X86_64,
            Arch::Aarch64 => table::AARCH64,
            Arch::Riscv64 => table::RISCV64,
        }
    }

    fn target(self) -> TargetArch {
        match self {
            Arch::X86_64 => TargetArch::x86_64,
            Arch::Aarch64 => TargetArch::aarch64,
            Arch::Riscv64 => TargetArch::riscv64,
        }
    }

    /// This arch's number for a syscall, None when it has no such call.
    pub fn number(self, name: &str) -> Option<i64> {
        let t = self.table();
        t.binary_search_by(|(n, _)| n.cmp(&name))
            .ok()
            .map(|i| t[i].1)
    }

    fn max_number(self) -> i64 {
        self.table().iter().map(|(_, n)| *n).max().unwrap_or(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("seccomp: {0}")]
    Backend(#[from] seccompiler::BackendError),
    #[error("seccomp: action TRACE with data {0:#x} is reserved by burrow")]
    Reserved(u32),
}

fn to_seccompiler(a: Action) -> SeccompAction {
    match a {
        Action::Allow => SeccompAction::Allow,
        Action::Errno(e) => SeccompAction::Errno(e),
        Action::KillThread => SeccompAction::KillThread,
        Action::KillProcess => SeccompAction::KillProcess,
        Action::Trap => SeccompAction::Trap,
        Action::Trace(d) => SeccompAction::Trace(d),
        Action::Log => SeccompAction::Log,
    }
}

fn condition(c: &super::profile::Cond) -> Result<SeccompCondition, CompileError> {
    // libseccomp compares whole 64-bit registers; so do we.
    let q = SeccompCmpArgLen::Qword;
    let (op, v) = match c.cmp {
        Cmp::Ne(v) => (SeccompCmpOp::Ne, v),
        Cmp::Lt(v) => (SeccompCmpOp::Lt, v),
        Cmp::Le(v) => (SeccompCmpOp::Le, v),
        Cmp::Eq(v) => (SeccompCmpOp::Eq, v),
        Cmp::Ge(v) => (SeccompCmpOp::Ge, v),
        Cmp::Gt(v) => (SeccompCmpOp::Gt, v),
        Cmp::MaskedEq { mask, value } => (SeccompCmpOp::MaskedEq(mask), value),
    };
    Ok(SeccompCondition::new(c.index, q, op, v)?)
}

/// Rules of one action, keyed by syscall number; `None` = unconditional.
type Group = BTreeMap<i64, Option<Vec<SeccompRule>>>;

/// Build the program. `rules` are tried by action strictness (see the
/// module comment); calls no rule matches get `default`. Calls numbered
/// above every call this arch knows get ENOSYS, so a libc newer than
/// the profile falls back to an older call instead of failing.
pub fn compile(rules: &[Rule], default: Action, arch: Arch) -> Result<BpfProgram, CompileError> {
    build(rules, default, arch, true)
}

/// `compile` without the fast path (see fastpath.rs): for the benchmark
/// and for checking that the fast path changes no verdict.
pub fn compile_linear(
    rules: &[Rule],
    default: Action,
    arch: Arch,
) -> Result<BpfProgram, CompileError> {
    build(rules, default, arch, false)
}

fn build(
    rules: &[Rule],
    default: Action,
    arch: Arch,
    fast: bool,
) -> Result<BpfProgram, CompileError> {
    let sentinel = u32::from(SENTINEL);
    let mut groups: BTreeMap<Action, Group> = BTreeMap::new();
    for r in rules {
        if u32::from(to_seccompiler(r.action)) == sentinel {
            return Err(CompileError::Reserved(0xB5E1));
        }
        // A rule whose action is the default still matters: it can
        // override a laxer rule for the same call (ioctl TIOCSTI).
        let Some(nr) = arch.number(&r.name) else {
            continue; // a call this arch does not have
        };
        let slot = groups
            .entry(r.action)
            .or_default()
            .entry(nr)
            .or_insert(Some(vec![]));
        match (slot.as_mut(), r.conds.is_empty()) {
            (_, true) => *slot = None,
            (None, false) => {} // already unconditional
            (Some(v), false) => {
                let conds = r.conds.iter().map(condition).collect::<Result<_, _>>()?;
                v.push(SeccompRule::new(conds)?);
            }
        }
    }

    let prefix = arch_prefix(arch, default)?;
    let mut prog = prefix;
    // Unknown-new calls: ENOSYS (see above). Cheap: two instructions.
    prog.push(stmt(BPF_LD_W_ABS, SECCOMP_DATA_NR));
    prog.push(jump(BPF_JMP_JGE_K, (arch.max_number() + 1) as u32, 0, 1));
    prog.push(stmt(BPF_RET_K, u32::from(SeccompAction::Errno(ENOSYS))));
    if fast && default != Action::Allow {
        // Unconditionally allowed calls that no other action names.
        let mut quick = std::collections::BTreeSet::new();
        if let Some(allowed) = groups.get(&Action::Allow) {
            for (nr, rules) in allowed {
                let elsewhere = groups
                    .iter()
                    .any(|(a, g)| *a != Action::Allow && g.contains_key(nr));
                if rules.is_none() && !elsewhere {
                    quick.insert(*nr as u32);
                }
            }
        }
        let allow = u32::from(SeccompAction::Allow);
        prog.extend(super::fastpath::build(
            &super::fastpath::ranges(&quick),
            allow,
        ));
    }

    let n = groups.len();
    for (i, (action, group)) in groups.into_iter().enumerate() {
        let rules: BTreeMap<i64, Vec<SeccompRule>> = group
            .into_iter()
            .map(|(nr, r)| (nr, r.unwrap_or_default()))
            .collect();
        let filter = SeccompFilter::new(rules, SENTINEL, to_seccompiler(action), arch.target())?;
        let body: BpfProgram = filter.try_into()?;
        let mut body = body[prefix_len(arch)?..].to_vec();
        let last = i + 1 == n;
        let len = body.len();
        for (pos, ins) in body.iter_mut().enumerate() {
            if ins.code == BPF_RET_K && ins.k == sentinel {
                *ins = if last {
                    stmt(BPF_RET_K, u32::from(to_seccompiler(default)))
                } else {
                    // Forward to the first instruction of the next group.
                    stmt(BPF_JMP_JA, (len - pos - 1) as u32)
                };
            }
        }
        prog.extend(body);
    }
    if n == 0 {
        prog.push(stmt(BPF_RET_K, u32::from(to_seccompiler(default))));
    }
    if prog.len() > 4096 {
        return Err(seccompiler::BackendError::FilterTooLarge(prog.len()).into());
    }
    Ok(prog)
}

/// seccompiler's arch check, with its KILL_PROCESS for a foreign ABI (a
/// 32-bit binary on a 64-bit kernel) turned into the default action: such
/// calls are refused like any unlisted call, without killing the process.
fn arch_prefix(arch: Arch, default: Action) -> Result<BpfProgram, CompileError> {
    let mut p = empty_filter(arch)?;
    p.truncate(prefix_len(arch)?);
    for ins in p.iter_mut() {
        if ins.code == BPF_RET_K {
            ins.k = u32::from(to_seccompiler(default));
        }
    }
    Ok(p)
}

fn empty_filter(arch: Arch) -> Result<BpfProgram, CompileError> {
    let f = SeccompFilter::new(
        BTreeMap::new(),
        SENTINEL,
        SeccompAction::Allow,
        arch.target(),
    )?;
    Ok(f.try_into()?)
}

/// Length of seccompiler's arch-check prologue: an empty filter is the
/// prologue and one return.
fn prefix_len(arch: Arch) -> Result<usize, CompileError> {
    Ok(empty_filter(arch)?.len() - 1)
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The program as bytes (struct sock_filter, native endian), for the cache.
pub fn to_bytes(prog: &[sock_filter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prog.len() * 8);
    for i in prog {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
    out
}

/// The inverse of `to_bytes`; None when the length is not whole.
pub fn from_bytes(b: &[u8]) -> Option<BpfProgram> {
    if b.is_empty() || b.len() % 8 != 0 {
        return None;
    }
    Some(
        b.chunks_exact(8)
            .map(|c| sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::profile::Cond;
    use super::*;

    /// A tiny BPF interpreter for seccomp programs: enough to check what a
    /// compiled program returns for a given call, without installing it.
    pub fn run(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u32; 16];
        data[0] = nr;
        data[1] = arch;
        for (i, a) in args.iter().enumerate() {
            data[4 + 2 * i] = *a as u32; // little endian: low word first
            data[5 + 2 * i] = (*a >> 32) as u32;
        }
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = &prog[pc];
            match i.code {
                0x20 => acc = data[(i.k / 4) as usize],
                0x54 => acc &= i.k, // ALU AND K
                0x05 => pc += i.k as usize,
                0x15 | 0x25 | 0x35 | 0x45 => {
                    let t = match i.code {
                        0x15 => acc == i.k,
                        0x25 => acc > i.k,
                        0x35 => acc >= i.k,
                        _ => acc & i.k != 0,
                    };
                    pc += if t { i.jt } else { i.jf } as usize;
                }
                0x06 => return i.k,
                c => panic!("opcode {c:#x} not handled"),
            }
            pc += 1;
        }
    }

    const AUDIT_X86_64: u32 = 0xC000_003E;

    fn rule(name: &str, action: Action, conds: Vec<Cond>) -> Rule {
        Rule {
            name: name.into(),
            action,
            conds,
        }
    }

    #[test]
    fn several_actions_in_one_program() {
        let a = Arch::X86_64;
        let rules = vec![
            rule("read", Action::Allow, vec![]),
            rule("clone3", Action::Errno(38), vec![]),
            rule("chown", Action::Allow, vec![]),
            rule("chown", Action::Errno(0), vec![]),
            rule(
                "socket",
                Action::Allow,
                vec![Cond {
                    index: 0,
                    cmp: Cmp::Eq(2),
                }],
            ),
            rule(
                "ioctl",
                Action::Errno(1),
                vec![Cond {
                    index: 1,
                    cmp: Cmp::MaskedEq {
                        mask: 0xffff_ffff,
                        value: 0x5412,
                    },
                }],
            ),
            rule("ioctl", Action::Allow, vec![]),
            rule("arm_fadvise64_64", Action::Allow, vec![]),
        ];
        let p = compile(&rules, Action::Errno(1), a).unwrap();
        let nr = |n| a.number(n).unwrap() as u32;
        let ret = |n, args| run(&p, AUDIT_X86_64, nr(n), args);
        let allow = 0x7fff_0000;
        let errno = |e: u32| 0x0005_0000 | e;
        assert_eq!(ret("read", [0; 6]), allow);
        assert_eq!(ret("clone3", [0; 6]), errno(38));
        assert_eq!(ret("chown", [0; 6]), errno(0), "stricter action wins");
        assert_eq!(ret("socket", [2, 0, 0, 0, 0, 0]), allow);
        assert_eq!(ret("socket", [40, 0, 0, 0, 0, 0]), errno(1));
        assert_eq!(ret("socket", [2 | 1 << 32, 0, 0, 0, 0, 0]), errno(1));
        assert_eq!(ret("ioctl", [1, 0x5412, 0, 0, 0, 0]), errno(1));
        assert_eq!(ret("ioctl", [1, 0xdead_0000_5412, 0, 0, 0, 0]), errno(1));
        assert_eq!(ret("ioctl", [1, 0x5401, 0, 0, 0, 0]), allow);
        assert_eq!(ret("write", [0; 6]), errno(1));
        assert_eq!(
            run(&p, AUDIT_X86_64, 999, [0; 6]),
            errno(38),
            "new call: ENOSYS"
        );
        // A 32-bit ABI call: refused, not killed.
        assert_eq!(run(&p, 0x4000_0003, 20, [0; 6]), errno(1));
    }

    /// The fast path changes no verdict: every call number, a few
    /// argument patterns, both ABIs, with the real default profile.
    #[test]
    fn fast_path_agrees_with_linear_chains() {
        use crate::sandbox::caps::CapSet;
        use crate::sandbox::seccomp::{Profile, Target, DEFAULT_PROFILE};
        let p = Profile::parse(DEFAULT_PROFILE.as_bytes(), "default.json").unwrap();
        for caps in [CapSet::docker_default(), CapSet::all()] {
            let t = Target {
                caps: caps.names(),
                arch: "amd64".into(),
                kernel: (6, 1),
            };
            let mut rules = p.resolve(&t);
            rules.push(rule("chown", Action::Errno(0), vec![]));
            let fast = compile(&rules, p.default(), Arch::X86_64).unwrap();
            let linear = compile_linear(&rules, p.default(), Arch::X86_64).unwrap();
            assert!(fast.len() > linear.len());
            let argsets = [
                [0u64; 6],
                [2, 1, 0, 0, 0, 0],
                [38, 0x5412, 0, 0, 0, 0],
                [0x7e02_0000, 0, 0, 0, 0, 0],
            ];
            for nr in 0..600 {
                for args in argsets {
                    for audit in [AUDIT_X86_64, 0x4000_0003] {
                        assert_eq!(
                            run(&fast, audit, nr, args),
                            run(&linear, audit, nr, args),
                            "nr {nr} args {args:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn empty_rule_list_is_default_only() {
        let p = compile(&[], Action::Errno(1), Arch::X86_64).unwrap();
        assert_eq!(run(&p, AUDIT_X86_64, 0, [0; 6]), 0x0005_0001);
    }

    #[test]
    fn bytes_round_trip() {
        let p = compile(
            &[rule("read", Action::Allow, vec![])],
            Action::Errno(1),
            Arch::X86_64,
        )
        .unwrap();
        assert_eq!(from_bytes(&to_bytes(&p)).unwrap(), p);
        assert!(from_bytes(&[1, 2, 3]).is_none());
    }

    #[test]
    fn table_agrees_with_libc() {
        let Some(a) = Arch::native() else { return };
        let checks: &[(&str, libc::c_long)] = &[
            ("read", libc::SYS_read),
            ("openat", libc::SYS_openat),
            ("keyctl", libc::SYS_keyctl),
            ("bpf", libc::SYS_bpf),
            ("clone3", libc::SYS_clone3),
            ("fchownat", libc::SYS_fchownat),
            ("landlock_restrict_self", libc::SYS_landlock_restrict_self),
            ("mseal", libc::SYS_mseal),
        ];
        for (n, v) in checks {
            #[allow(clippy::unnecessary_cast)] // c_long is i32 on 32-bit hosts
            let v = *v as i64;
            assert_eq!(a.number(n), Some(v), "{n}");
        }
    }
}
