//! A fast path in front of the per-action chains. seccompiler tests
//! syscall numbers one after another, so a call late in the list walks
//! hundreds of instructions. Calls that are allowed without conditions
//! (most of them) are instead found by a binary search over runs of
//! consecutive numbers: about 15 instructions for any call.
//!
//! Linux 5.11 and later cache such constant verdicts per call number and
//! skip the filter for them altogether, so there this changes nothing
//! (tests/bench/seccomp.rs shows it); it is for the older kernels of
//! shared machines (RHEL 8's 4.18, Ubuntu 20.04's 5.4).
//!
//! The fragment expects the syscall number in the accumulator; on a hit it
//! returns the allow action, on a miss it falls through to the instruction
//! after it (the full chains).

use std::collections::BTreeSet;

use seccompiler::sock_filter;

const JA: u16 = 0x05;
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;
/// Marks a "miss" jump until the fragment's length is known.
const MISS: u32 = u32::MAX;
/// Ranges per leaf: small enough for 8-bit jump offsets.
const LEAF: usize = 4;

/// Consecutive numbers folded into inclusive ranges.
pub fn ranges(nrs: &BTreeSet<u32>) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &n in nrs {
        match out.last_mut() {
            Some((_, hi)) if *hi + 1 == n => *hi = n,
            _ => out.push((n, n)),
        }
    }
    out
}

/// The fragment for `ranges` (sorted, disjoint); `allow` is the return
/// value of a hit.
pub fn build(ranges: &[(u32, u32)], allow: u32) -> Vec<sock_filter> {
    if ranges.is_empty() {
        return vec![];
    }
    let mut prog = node(ranges, allow);
    let len = prog.len();
    for (pos, ins) in prog.iter_mut().enumerate() {
        if ins.code == JA && ins.k == MISS {
            ins.k = (len - pos - 1) as u32;
        }
    }
    prog
}

fn ins(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

fn node(ranges: &[(u32, u32)], allow: u32) -> Vec<sock_filter> {
    if ranges.len() <= LEAF {
        return leaf(ranges, allow);
    }
    // nr >= pivot: right half, else left half (which follows the JA).
    let mid = ranges.len() / 2;
    let left = node(&ranges[..mid], allow);
    let right = node(&ranges[mid..], allow);
    let mut out = Vec::with_capacity(left.len() + right.len() + 2);
    out.push(ins(JGE_K, ranges[mid].0, 0, 1));
    out.push(ins(JA, left.len() as u32, 0, 0));
    out.extend(left);
    out.extend(right);
    out
}

/// Pairs of (nr > hi: next pair; nr >= lo: allow, else miss).
fn leaf(ranges: &[(u32, u32)], allow: u32) -> Vec<sock_filter> {
    let k = ranges.len();
    let miss = 2 * k; // index of the miss jump; allow return follows it
    let mut out = Vec::with_capacity(2 * k + 2);
    for (i, &(lo, hi)) in ranges.iter().enumerate() {
        let (gt, ge) = (2 * i, 2 * i + 1);
        let to_next = if i + 1 < k { 1 } else { miss - gt - 1 };
        out.push(ins(JGT_K, hi, to_next as u8, 0));
        out.push(ins(
            JGE_K,
            lo,
            (miss + 1 - ge - 1) as u8,
            (miss - ge - 1) as u8,
        ));
    }
    out.push(ins(JA, MISS, 0, 0));
    out.push(ins(RET_K, allow, 0, 0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(prog: &[sock_filter], nr: u32) -> Option<u32> {
        let mut pc = 0usize;
        while pc < prog.len() {
            let i = &prog[pc];
            match i.code {
                JA => pc += i.k as usize,
                JGT_K | JGE_K => {
                    let t = if i.code == JGT_K { nr > i.k } else { nr >= i.k };
                    pc += if t { i.jt } else { i.jf } as usize;
                }
                RET_K => return Some(i.k),
                c => panic!("opcode {c:#x}"),
            }
            pc += 1;
        }
        None // fell through: a miss
    }

    #[test]
    fn folds_runs() {
        let s: BTreeSet<u32> = [0, 1, 2, 5, 7, 8].into_iter().collect();
        assert_eq!(ranges(&s), [(0, 2), (5, 5), (7, 8)]);
    }

    #[test]
    fn finds_exactly_the_members() {
        for n in [1usize, 3, 4, 5, 9, 17, 60] {
            // Every third number, in runs of two: many ranges, gaps between.
            let set: BTreeSet<u32> = (0..n as u32 * 3).filter(|x| x % 3 != 2).collect();
            let prog = build(&ranges(&set), 0x7fff_0000);
            for nr in 0..(n as u32 * 3 + 5) {
                let want = set.contains(&nr).then_some(0x7fff_0000);
                assert_eq!(run(&prog, nr), want, "n={n} nr={nr}");
            }
        }
        assert!(build(&[], 1).is_empty());
    }
}
