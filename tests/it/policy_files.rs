//! Reading a policy directory: every entry that looks like a policy file and cannot be read
//! is a located error, never skipped (a skipped file would drop its policies silently and
//! let plan/apply go ahead without them). Unix-only where the file types are.

use std::path::Path;

use verifyctl::policy::{Diagnostics, load_dir};

use crate::support::{PolicyDir, stderr, stdout, verifyctl};

const GOOD: &str = "connections:\n  - name: partner-db\n    email_verification: required\n";

fn problems(dir: &Path) -> Vec<String> {
    let errors: Diagnostics = load_dir(dir).expect_err("the directory must not load");
    errors
        .items
        .iter()
        .map(|d| {
            let file = d.origin.to_string();
            let name = file.rsplit('/').next().unwrap_or_default().to_string();
            format!("{name} {}", d.message)
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn dangling_and_looping_symbolic_links_are_errors() {
    let policies = PolicyDir::new(&[("good.yaml", GOOD)]);
    let dir = policies.path();
    std::os::unix::fs::symlink("missing.yaml", dir.join("gone.yaml")).unwrap();
    std::os::unix::fs::symlink("loop-b.yaml", dir.join("loop-a.yaml")).unwrap();
    std::os::unix::fs::symlink("loop-a.yaml", dir.join("loop-b.yaml")).unwrap();
    std::os::unix::fs::symlink("self.yml", dir.join("self.yml")).unwrap();
    assert_eq!(
        problems(dir),
        [
            "gone.yaml this is a symbolic link to `missing.yaml`, which does not exist",
            "loop-a.yaml this is a symbolic link to `loop-b.yaml` that loops back on itself",
            "loop-b.yaml this is a symbolic link to `loop-a.yaml` that loops back on itself",
            "self.yml this is a symbolic link to `self.yml` that loops back on itself",
        ]
    );
}

#[cfg(unix)]
#[test]
fn fifos_devices_and_directories_are_refused_without_being_read() {
    let policies = PolicyDir::new(&[("good.yaml", GOOD)]);
    let dir = policies.path();
    // Opening a FIFO for reading would block until a writer comes: the type is checked first.
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("pipe.yaml"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.yaml")).unwrap();
    std::fs::create_dir(dir.join("folder.yaml")).unwrap();
    assert_eq!(
        problems(dir),
        [
            "folder.yaml this is a directory, not a regular file",
            "pipe.yaml this is a named pipe (FIFO), not a regular file",
            "zero.yaml this is a symbolic link to `/dev/zero`, which is a character device, not a regular file",
        ]
    );
}

#[test]
fn files_over_the_size_limit_are_refused_unread() {
    let policies = PolicyDir::new(&[("good.yaml", GOOD)]);
    let big = std::fs::File::create(policies.path().join("big.yaml")).unwrap();
    // Sparse: no disk is used, and the loader must not read it.
    big.set_len(33 * 1024 * 1024).unwrap();
    assert_eq!(
        problems(policies.path()),
        ["big.yaml this file is 33.0 MiB; policy files over 32 MiB are refused"]
    );
}

#[test]
fn encodings_other_than_utf8_are_located_errors_and_a_utf8_bom_is_fine() {
    let policies = PolicyDir::new(&[("good.yaml", GOOD)]);
    let dir = policies.path();
    std::fs::write(
        dir.join("bom.yaml"),
        format!("\u{feff}{GOOD}").replace("partner-db", "bom-db"),
    )
    .unwrap();
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("users: []\n".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    std::fs::write(dir.join("utf16.yaml"), utf16).unwrap();
    let no_bom: Vec<u8> = "users: []\n"
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    std::fs::write(dir.join("utf16be.yaml"), no_bom).unwrap();
    std::fs::write(
        dir.join("latin1.yaml"),
        b"users:\n  - connection: partner-db\n    email: jos\xE9@corp.example\n",
    )
    .unwrap();
    let errors = load_dir(dir).unwrap_err();
    let found: Vec<String> = errors
        .items
        .iter()
        .map(|d| {
            let origin = d.origin.to_string();
            format!("{} {}", origin.rsplit('/').next().unwrap(), d.message)
        })
        .collect();
    assert_eq!(
        found,
        [
            "latin1.yaml:3:15 the file is not valid UTF-8: byte 0xE9 (at byte offset 48) is not part of a UTF-8 character",
            "utf16.yaml the file is UTF-16; save it as UTF-8",
            "utf16be.yaml the file is UTF-16; save it as UTF-8",
        ]
    );
    // The snippet shows the line, the bad byte as a replacement character.
    let rendered = errors.render_human();
    assert!(
        rendered.contains("3 |     email: jos\u{FFFD}@corp.example\n  |               ^\n"),
        "{rendered}"
    );
    assert!(rendered.contains("Latin-1"), "{rendered}");
}

#[test]
fn read_problems_and_policy_problems_are_reported_together() {
    let policies = PolicyDir::new(&[
        (
            "a.yaml",
            "connections:\n  - name: x\n    email_verification: sometimes\n",
        ),
        ("b.yaml", "users: []\n"),
    ]);
    std::fs::create_dir(policies.path().join("c.yaml")).unwrap();
    let dir = policies.path().to_str().unwrap();
    let output = verifyctl(&["validate", dir], &[], None);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    let text = stderr(&output);
    assert!(text.contains("a.yaml:3:25"), "{text}");
    assert!(text.contains("c.yaml\n"), "{text}");
    assert!(text.contains("found 2 problems"), "{text}");
}

#[cfg(unix)]
#[test]
fn editor_lock_files_are_not_policy_files() {
    // Emacs keeps `.#name` as a dangling symbolic link while a file is being edited.
    let policies = PolicyDir::new(&[("good.yaml", GOOD)]);
    std::os::unix::fs::symlink("user@host.1234", policies.path().join(".#good.yaml")).unwrap();
    let state = load_dir(policies.path()).expect("loads");
    assert_eq!(state.files.len(), 1);
}

#[test]
fn a_file_given_as_the_policy_directory_is_explained() {
    let policies = PolicyDir::new(&[("good.yaml", GOOD)]);
    let file = policies.path().join("good.yaml");
    let errors = load_dir(&file).unwrap_err();
    assert_eq!(
        errors.items[0].message,
        "cannot read the policy directory: it is not a directory"
    );
}
