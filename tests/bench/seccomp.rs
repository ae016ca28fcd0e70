//! Seccomp costs: compiling the default profile against loading it from
//! the cache (start latency), and a syscall-heavy loop with and without
//! the filter installed (run time).
//!
//!     cargo bench --bench seccomp
//!
//! Prints one line per figure; the loop runs in forked children so the
//! filter never reaches this process.

use std::time::{Duration, Instant};

use burrow::sandbox::confine::caps::CapSet;
use burrow::sandbox::confine::seccomp::{self, cache, Arch, Options, Source, DEFAULT_PROFILE};

/// Time per call of `f`: the best of 5 rounds of `n` calls.
fn per_iter(n: u32, f: impl Fn()) -> Duration {
    f(); // warm up
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed() / n
        })
        .min()
        .unwrap()
}

/// ns per call of `call` over `n` calls, measured in a forked child,
/// optionally under `prog`; the child reports through a pipe.
fn syscall_loop(n: u64, prog: Option<&seccomp::BpfProgram>, call: fn()) -> f64 {
    let (r, w) = nix::unistd::pipe().unwrap();
    let prog = prog.cloned();
    burrow::sys::in_child(move || {
        if let Some(p) = &prog {
            nix::sys::prctl::set_no_new_privs().unwrap();
            seccomp::install(p, true).unwrap();
        }
        let t = Instant::now();
        for _ in 0..n {
            call();
        }
        let ns = t.elapsed().as_nanos() as f64 / n as f64;
        nix::unistd::write(&w, &ns.to_ne_bytes()).unwrap();
        Ok(())
    })
    .unwrap();
    let mut b = [0u8; 8];
    nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&r), &mut b).unwrap();
    f64::from_ne_bytes(b)
}

fn main() {
    let Some(arch) = Arch::native() else {
        println!("skip: no seccomp filters for {}", std::env::consts::ARCH);
        return;
    };
    let caps = CapSet::docker_default();
    let opts = Options::default();
    let bytes = DEFAULT_PROFILE.as_bytes();
    let prog = seccomp::compile_profile(bytes, "default.json", &caps, opts).unwrap();
    println!("default profile: {} BPF instructions", prog.len());

    let compile = per_iter(100, || {
        seccomp::compile_profile(bytes, "default.json", &caps, opts).unwrap();
    });
    let key = per_iter(200, || {
        cache::key(bytes, &caps, arch, (6, 1), opts);
    });
    let root = tempfile::tempdir().unwrap();
    let cached = per_iter(200, || {
        seccomp::program(&Source::Default, &caps, opts, Some(root.path())).unwrap();
    });
    println!("compile default profile:        {compile:?}");
    println!("cache key (sha256 of inputs):   {key:?}");
    println!("program() from cache (key+read): {cached:?}");
    // What compiling at build time would cost at start: decoding bytes
    // embedded in the binary.
    let blob = seccomp::compile::to_bytes(&prog);
    let embedded = per_iter(1000, || {
        std::hint::black_box(seccomp::compile::from_bytes(&blob));
    });
    println!("decode an embedded program:     {embedded:?}");

    let target = seccomp::Target {
        caps: caps.names(),
        arch: arch.go_name().into(),
        kernel: (6, 1),
    };
    let p = seccomp::Profile::parse(bytes, "default.json").unwrap();
    let linear = seccomp::compile::compile_linear(&p.resolve(&target), p.default(), arch).unwrap();
    println!(
        "linear program (no fast path): {} instructions",
        linear.len()
    );

    // getpid (39 on x86_64): early in the number order; dup3 (292): late,
    // near the worst case of a linear search. Both are allowed whatever
    // their arguments, which Linux >= 5.11 caches (the filter does not
    // run). ioctl has an argument rule (TIOCSTI), so the filter runs on
    // every call.
    let getpid: fn() = || {
        std::hint::black_box(nix::unistd::getpid());
    };
    let ioctl: fn() = || {
        std::hint::black_box(nix::unistd::isatty(2).ok());
    };
    let dup3: fn() = || {
        let _ = std::hint::black_box(nix::unistd::dup3(2, 200, nix::fcntl::OFlag::O_CLOEXEC));
    };
    // The machine is shared: take the best of several interleaved rounds.
    let n = 1_000_000;
    for (name, call) in [("getpid", getpid), ("dup3", dup3), ("ioctl", ioctl)] {
        let (mut bare, mut fast, mut slow) = (f64::MAX, f64::MAX, f64::MAX);
        for _ in 0..7 {
            bare = bare.min(syscall_loop(n, None, call));
            fast = fast.min(syscall_loop(n, Some(&prog), call));
            slow = slow.min(syscall_loop(n, Some(&linear), call));
        }
        println!(
            "{name:7} no filter {bare:6.1} ns/call | default filter {fast:6.1} | without fast path {slow:6.1}"
        );
    }
}
