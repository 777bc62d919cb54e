//! Helpers shared by the integration tests that run the `txqlab` binary.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The binary under test: `TXQLAB_BIN` (another build, e.g. the code before a fix) or this one.
pub fn bin() -> String {
    std::env::var("TXQLAB_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_txqlab").to_string())
}

/// Runs the binary with `args`, `stdin` as its input; waits for it.
pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    run_command(Command::new(bin()).args(args), stdin)
}

/// Runs `cmd` with `stdin` as its input and its output captured; waits for it.
pub fn run_command(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // The child may stop reading early (an error): a broken pipe is fine.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().unwrap()
}

/// Its standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes `text` to a file `name` in a directory of this test process (`tag` keeps test files apart); returns its
/// path.
pub fn tmp(tag: &str, name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("txqlab-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A test that cannot run here says why and passes, except under `CI=true`, where `.ci/run` has installed what it
/// needs and runs as root: a skip there would be a check reported as made that was not.
pub fn skip(why: &str) {
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "cannot run under CI: {why}"
    );
    eprintln!("skipped: {why}");
}

/// Whether this process is root and has every one of `tools`; says why a test is skipped when not ([`skip`]).
pub fn root_with(tools: &[&str]) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let found = tools.iter().all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !(root && found) {
        skip(&format!("needs root and {}", tools.join(", ")));
    }
    root && found
}
