//! Bad policy files: every problem of every file is reported with file:line:col, and
//! nothing is sent to the tenant.

use std::sync::Arc;

use verifyctl::policy::{PolicySource, load_sources};

use crate::support::{PolicyDir, TestTenant, stderr, stdout, verifyctl};

fn source(file: &str, text: &str) -> PolicySource {
    PolicySource {
        file: Arc::from(file),
        text: Arc::from(text),
    }
}

const TENANT: &str = "domain: t.example\nconnections:\n  - {id: con_AAAAAAAAAAAAAAAA, name: partners, strategy: auth0}\n";

fn broken_policies() -> PolicyDir {
    PolicyDir::new(&[
        (
            "a.yaml",
            "connections:\n  - name: partners\n    email_verification: required\n  - name: staff\n    email_verification: trusted\n    sign_up: disabled\n  - name: vendors\n    email_verification: requird\n",
        ),
        (
            "b.yaml",
            "users:\n  - connection: partners\n    email: alice@partner.example\n  - connection: partners\n    email: ALICE@partner.example\n  - connection: staf\n    email: bob@corp.example\n  - connection: staff\n    email: not-an-address\n",
        ),
        (
            "c.yaml",
            "users:\n  - connection: staff\n    email: [unclosed\n",
        ),
    ])
}

#[tokio::test]
async fn every_problem_is_located_and_no_request_is_made() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    let policies = broken_policies();
    let dir = policies.path().to_str().expect("utf-8").to_string();
    let output = tokio::task::spawn_blocking({
        let env = tenant.env();
        move || verifyctl(&["plan", &dir], &env, None)
    })
    .await
    .expect("join");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    let text = stderr(&output).replace(&policies.path().display().to_string(), "POLICIES");
    insta::assert_snapshot!("policy_errors_human", text);
    assert!(
        tenant.emulator.requests().is_empty(),
        "bad policies must not reach the tenant: {:?}",
        tenant.emulator.requests()
    );
}

#[test]
fn validate_reports_the_same_problems_offline() {
    let policies = broken_policies();
    let dir = policies.path().to_str().expect("utf-8");
    let output = verifyctl(&["validate", dir], &[], None);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    for expected in [
        "a.yaml:6:5",
        "unknown field `sign_up`",
        "a.yaml:8:25",
        "unknown variant `requird`",
        "b.yaml:5:12",
        "listed twice",
        "b.yaml:6:17",
        "did you mean `staff`?",
        "b.yaml:9:12",
        "invalid email address `not-an-address`",
        "c.yaml:",
        "found 6 problems",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}

#[test]
fn a_missing_policy_directory_is_explained() {
    let output = verifyctl(&["validate", "/nonexistent/policies"], &[], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot read the policy directory"));
}

#[test]
fn thousands_of_problems_on_one_line_give_bounded_output() {
    // One long line with a problem per item: each snippet shows a window of the line, and
    // after 50 problems the file's rest is summarised.
    let items = vec!["0"; 3_000].join(", ");
    let text = format!("users: [{items}]\n");
    let errors = load_sources(vec![source("wide.yaml", &text)]).unwrap_err();
    assert_eq!(errors.len(), 3_000);
    let rendered = errors.render_human();
    assert!(
        rendered.len() < 40_000,
        "{} bytes of diagnostics for a {}-byte file",
        rendered.len(),
        text.len()
    );
    assert!(
        rendered.contains("… and 2950 more problems in wide.yaml"),
        "{rendered}"
    );
    assert!(
        rendered.ends_with("found 3000 problems in the policies; nothing was sent to the tenant\n")
    );
    assert!(errors.render_github().lines().count() <= 51);
}
