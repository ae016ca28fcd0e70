//! Helpers for unit tests only.

/// Say why a test cannot run on this machine; the caller then returns.
/// With BURROW_TEST_STRICT=1 (tests/run sets it) the skip is a failure
/// instead, as it is for the end-to-end tests (tests/e2e/common): a test
/// that returned early checked nothing, and CI must not count it as a pass.
#[track_caller]
pub fn skip(why: &str) {
    if std::env::var_os("BURROW_TEST_STRICT").is_some_and(|v| v == "1") {
        panic!("cannot run in strict mode: {why}");
    }
    eprintln!("skip: {why}");
}

/// Whether this kernel runs i386 code (IA32 emulation); if not, the
/// caller's test is skipped (`skip`) and it returns.
#[cfg(target_arch = "x86_64")]
#[track_caller]
pub fn runs_i386() -> bool {
    let getpid = || {
        let _ = crate::sys::int80(20, 0, 0, 0);
        Ok(())
    };
    let runs = crate::sys::in_child(getpid).is_ok();
    if !runs {
        skip("this kernel runs no i386 code (no IA32 emulation)");
    }
    runs
}
