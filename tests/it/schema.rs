//! The checked-in policy schema is exactly what the code generates, and the example
//! policies point editors at it.

use verifyctl::policy::schema::{POLICY_SCHEMA_PATH, policy_schema_json};

use crate::support::{repo_root, stdout, verifyctl};

#[test]
fn checked_in_policy_schema_is_current() {
    let path = repo_root().join(POLICY_SCHEMA_PATH);
    let generated = policy_schema_json();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{POLICY_SCHEMA_PATH} is stale; regenerate it with `UPDATE_SCHEMAS=1 cargo test --test it schema`"
    );
}

#[test]
fn schema_command_prints_the_schema() {
    let output = verifyctl(&["schema"], &[], None);
    assert!(output.status.success());
    assert_eq!(stdout(&output), policy_schema_json());
}

#[test]
fn example_policies_carry_the_schema_modeline_and_validate() {
    let dir = repo_root().join("policies");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("policies/ exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "csv") {
            continue; // a user list (`users_file`), not a policy file
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/policy.schema.json\n"),
            "{} lacks the schema modeline",
            path.display()
        );
        count += 1;
    }
    assert!(count >= 3, "expected several example policy files");
    let output = verifyctl(&["validate", dir.to_str().expect("utf-8 path")], &[], None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
