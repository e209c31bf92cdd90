//! Every caption input has a size limit: `verify` and `generate --caption-file` on a file, on
//! standard input and on an endless device stop at 1 MiB with an error that names the limit.
//!
//! The children run under a 4 GiB address-space limit, so a regression fails here with an
//! out-of-memory error instead of taking the machine's memory.

use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

use ideogram4::caption::input::MAX_CAPTION_BYTES;

const ADDRESS_SPACE_LIMIT: libc::rlim_t = 4 << 30;

fn command(args: &[&str], stdin: Stdio) -> Command {
    let home = std::env::temp_dir().join(format!("ideogram4-caption-limit-{}", std::process::id()));
    let mut c = Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"));
    c.args(args)
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("IDEOGRAM4_MODEL")
        .stdin(stdin);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: ADDRESS_SPACE_LIMIT,
                rlim_max: ADDRESS_SPACE_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c
}

fn run(args: &[&str], stdin: Stdio) -> Output {
    command(args, stdin).output().expect("run ideogram4-tui")
}

fn zero() -> Stdio {
    Stdio::from(std::fs::File::open("/dev/zero").expect("open /dev/zero"))
}

fn big_file() -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    // Valid JSON whitespace, so only the size can be the complaint.
    std::fs::write(f.path(), vec![b' '; MAX_CAPTION_BYTES as usize + 1]).unwrap();
    f
}

fn assert_limit_error(out: &Output, stream: &[u8]) {
    let text = String::from_utf8_lossy(stream);
    assert!(
        text.contains("larger than 1 MiB, the limit for a caption"),
        "status {:?}, output: {text}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn verify_refuses_an_endless_device() {
    let out = run(&["verify", "/dev/zero"], Stdio::null());
    assert_eq!(out.status.code(), Some(2));
    assert_limit_error(&out, &out.stdout);
}

#[test]
fn verify_refuses_endless_standard_input() {
    let out = run(&["verify", "-"], zero());
    assert_eq!(out.status.code(), Some(2));
    assert_limit_error(&out, &out.stdout);
}

#[test]
fn verify_refuses_a_file_one_byte_over_the_limit() {
    let f = big_file();
    let out = run(&["verify", f.path().to_str().unwrap()], Stdio::null());
    assert_eq!(out.status.code(), Some(2));
    assert_limit_error(&out, &out.stdout);
}

#[test]
fn generate_refuses_an_endless_caption_file_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("x.png");
    for (file, stdin) in [("/dev/zero", Stdio::null()), ("-", zero())] {
        let out = run(
            &[
                "generate",
                "--model",
                "demo",
                "--caption-file",
                file,
                "--out",
                target.to_str().unwrap(),
            ],
            stdin,
        );
        assert!(!out.status.success(), "{file}");
        assert_limit_error(&out, &out.stderr);
        assert!(!target.exists());
    }
}
