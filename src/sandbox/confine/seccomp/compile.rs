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
//!
//! The program starts with a dispatch on the caller's ABI: the native one
//! and the 32-bit compat one (i386 on x86_64, arm on aarch64) each get a
//! section with the same rules under their own call numbers.

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

    /// This arch's number for a syscall, None when it has no such call.
    pub fn number(self, name: &str) -> Option<i64> {
        lookup(self.table(), name)
    }

    /// The ABIs a process on this machine can call the kernel with: the
    /// native one, then the 32-bit compat one (as Docker's archMap).
    fn abis(self) -> &'static [Abi] {
        match self {
            Arch::X86_64 => &[
                Abi {
                    audit: AUDIT_ARCH_X86_64,
                    table: table::X86_64,
                },
                Abi {
                    audit: AUDIT_ARCH_I386,
                    table: table::I386,
                },
            ],
            Arch::Aarch64 => &[
                Abi {
                    audit: AUDIT_ARCH_AARCH64,
                    table: table::AARCH64,
                },
                Abi {
                    audit: AUDIT_ARCH_ARM,
                    table: table::ARM,
                },
            ],
            Arch::Riscv64 => &[Abi {
                audit: AUDIT_ARCH_RISCV64,
                table: table::RISCV64,
            }],
        }
    }
}

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
const AUDIT_ARCH_RISCV64: u32 = 0xC000_00F3;
const SECCOMP_DATA_ARCH: u32 = 4;
const BPF_JMP_JEQ_K: u16 = 0x15;

/// One system call ABI: the value seccomp_data.arch has for it and its
/// call numbers.
struct Abi {
    audit: u32,
    table: &'static [(&'static str, i64)],
}

fn lookup(t: &[(&str, i64)], name: &str) -> Option<i64> {
    t.binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| t[i].1)
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

/// Build the program: a dispatch on the caller's ABI, then per ABI a
/// section where `rules` are tried by action strictness (see the module
/// comment) and calls no rule matches get `default`. Includes/excludes
/// were resolved for the native arch; the compat ABI gets the same rules
/// (Docker's semantics), for the calls it has. Calls numbered above every
/// call an ABI knows get ENOSYS, so a libc newer than the profile falls
/// back to an older call instead of failing; other ABIs (x32) get
/// `default`.
pub fn compile(rules: &[Rule], default: Action, arch: Arch) -> Result<BpfProgram, CompileError> {
    build(rules, default, arch.abis(), true)
}

/// `compile` for the native ABI only and without the fast path (see
/// fastpath.rs): for the benchmark and for checking that the fast path
/// changes no verdict.
pub fn compile_linear(
    rules: &[Rule],
    default: Action,
    arch: Arch,
) -> Result<BpfProgram, CompileError> {
    build(rules, default, &arch.abis()[..1], false)
}

fn build(
    rules: &[Rule],
    default: Action,
    abis: &[Abi],
    fast: bool,
) -> Result<BpfProgram, CompileError> {
    let ret_default = stmt(BPF_RET_K, u32::from(to_seccompiler(default)));
    let sections = abis
        .iter()
        .map(|abi| section(rules, default, abi.table, fast))
        .collect::<Result<Vec<_>, _>>()?;
    // Dispatch: LD arch; per ABI (JEQ audit, next; JA section); RET default.
    let header = 2 + 2 * abis.len();
    let mut prog = vec![stmt(BPF_LD_W_ABS, SECCOMP_DATA_ARCH)];
    let mut start = header;
    for (abi, sec) in abis.iter().zip(&sections) {
        prog.push(jump(BPF_JMP_JEQ_K, abi.audit, 0, 1));
        let pos = prog.len();
        prog.push(stmt(BPF_JMP_JA, (start - pos - 1) as u32));
        start += sec.len();
    }
    prog.push(ret_default);
    for sec in sections {
        prog.extend(sec);
    }
    if prog.len() > 4096 {
        return Err(seccompiler::BackendError::FilterTooLarge(prog.len()).into());
    }
    Ok(prog)
}

/// One ABI's part of the program; starts by loading the call number and
/// ends in returns only.
fn section(
    rules: &[Rule],
    default: Action,
    table: &[(&str, i64)],
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
        let Some(nr) = lookup(table, &r.name) else {
            continue; // a call this ABI does not have
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

    // Unknown-new calls: ENOSYS (see above). Cheap: two instructions.
    let max = table.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let mut prog = vec![
        stmt(BPF_LD_W_ABS, SECCOMP_DATA_NR),
        jump(BPF_JMP_JGE_K, (max + 1) as u32, 0, 1),
        stmt(BPF_RET_K, u32::from(SeccompAction::Errno(ENOSYS))),
    ];
    if fast && default != Action::Allow {
        // Unconditionally allowed calls that no other action names: found
        // by the fast path, so the chains need not list them.
        let mut quick = std::collections::BTreeSet::new();
        if let Some(allowed) = groups.get(&Action::Allow) {
            for (nr, rules) in allowed {
                let elsewhere = groups
                    .iter()
                    .any(|(a, g)| *a != Action::Allow && g.contains_key(nr));
                if rules.is_none() && !elsewhere {
                    quick.insert(*nr);
                }
            }
        }
        if let Some(allowed) = groups.get_mut(&Action::Allow) {
            allowed.retain(|nr, _| !quick.contains(nr));
            if allowed.is_empty() {
                groups.remove(&Action::Allow);
            }
        }
        let quick: std::collections::BTreeSet<u32> = quick.iter().map(|n| *n as u32).collect();
        let allow = u32::from(SeccompAction::Allow);
        prog.extend(super::fastpath::build(
            &super::fastpath::ranges(&quick),
            allow,
        ));
    }

    let n = groups.len();
    let skip = prefix_len()?;
    for (i, (action, group)) in groups.into_iter().enumerate() {
        let rules: BTreeMap<i64, Vec<SeccompRule>> = group
            .into_iter()
            .map(|(nr, r)| (nr, r.unwrap_or_default()))
            .collect();
        // The target only shapes seccompiler's arch check, cut off here.
        let filter =
            SeccompFilter::new(rules, SENTINEL, to_seccompiler(action), TargetArch::x86_64)?;
        let body: BpfProgram = filter.try_into()?;
        let mut body = body[skip..].to_vec();
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
    Ok(prog)
}

/// Length of seccompiler's arch-check prologue: an empty filter is the
/// prologue and one return.
fn prefix_len() -> Result<usize, CompileError> {
    let f = SeccompFilter::new(
        BTreeMap::new(),
        SENTINEL,
        SeccompAction::Allow,
        TargetArch::x86_64,
    )?;
    let p: BpfProgram = f.try_into()?;
    Ok(p.len() - 1)
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

    const AUDIT_X86_64: u32 = AUDIT_ARCH_X86_64;
    const AUDIT_I386: u32 = AUDIT_ARCH_I386;

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
        // x32 calls (the 0x40000000 bit) and unknown ABIs: not killed.
        assert_eq!(run(&p, AUDIT_X86_64, 0x4000_0000, [0; 6]), errno(38));
        assert_eq!(run(&p, 0x1234, 0, [0; 6]), errno(1));
        // The i386 ABI gets the same rules under its own numbers.
        let i386 = |n: &str| lookup(table::I386, n).unwrap() as u32;
        let ret32 = |n, args| run(&p, AUDIT_I386, i386(n), args);
        assert_eq!(ret32("read", [0; 6]), allow);
        assert_eq!(ret32("chown", [0; 6]), errno(0));
        assert_eq!(ret32("clone3", [0; 6]), errno(38));
        assert_eq!(ret32("socket", [2, 0, 0, 0, 0, 0]), allow);
        assert_eq!(ret32("socket", [40, 0, 0, 0, 0, 0]), errno(1));
        assert_eq!(ret32("ioctl", [1, 0x5412, 0, 0, 0, 0]), errno(1));
        assert_eq!(ret32("getpid", [0; 6]), errno(1), "not in the rules");
    }

    /// The fast path changes no verdict: every call number, a few
    /// argument patterns, every ABI the filter dispatches on (x86_64, its
    /// i386 compat ABI, x32 numbers, an unknown arch), with the real
    /// default profile.
    #[test]
    fn fast_path_agrees_with_linear_chains() {
        use crate::sandbox::confine::caps::CapSet;
        use crate::sandbox::confine::seccomp::{Profile, Target, DEFAULT_PROFILE};
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
            // Per ABI, its section without the fast path (both in one
            // program would pass the kernel's 4096-instruction limit).
            let abis = Arch::X86_64.abis();
            let native = build(&rules, p.default(), &abis[..1], false).unwrap();
            let compat = build(&rules, p.default(), &abis[1..], false).unwrap();
            // Both ABIs, and still shorter than the native linear chains.
            assert!(
                fast.len() < native.len(),
                "{} vs {}",
                fast.len(),
                native.len()
            );
            let argsets = [
                [0u64; 6],
                [2, 1, 0, 0, 0, 0],
                [38, 0x5412, 0, 0, 0, 0],
                [0x7e02_0000, 0, 0, 0, 0, 0],
            ];
            for (audit, linear) in [
                (AUDIT_X86_64, &native),
                (AUDIT_I386, &compat),
                (0x1234, &native),
            ] {
                for nr in (0..600).chain((0..600).map(|n| n | 0x4000_0000)) {
                    for args in argsets {
                        assert_eq!(
                            run(&fast, audit, nr, args),
                            run(linear, audit, nr, args),
                            "arch {audit:#x} nr {nr:#x} args {args:?}"
                        );
                    }
                }
            }
            // The i386 section is really there: a call it has is allowed.
            let read32 = lookup(table::I386, "read").unwrap() as u32;
            assert_eq!(run(&fast, AUDIT_I386, read32, [0; 6]), 0x7fff_0000);
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
        let Some(a) = Arch::native() else {
            return crate::testkit::skip(&format!(
                "no syscall table for {}",
                std::env::consts::ARCH
            ));
        };
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
