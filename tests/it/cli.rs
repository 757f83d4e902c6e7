//! The binary end to end on tenant files: the README's main command, apply writing the
//! tenant file back, confirmation rules and exit codes.

use crate::support::{
    copy_example_tenant, example_policies, now_env, repo_root, stderr, stdout, verifyctl,
};

#[test]
fn the_readme_command_plans_the_example_tenant() {
    let output = verifyctl(
        &[
            "plan",
            &example_policies(),
            "--tenant-file",
            "examples/tenant.yaml",
        ],
        &now_env(),
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output).replace(&repo_root().display().to_string(), "REPO");
    insta::assert_snapshot!("example_plan", text);
}

#[test]
fn apply_writes_the_tenant_file_back_and_then_nothing_is_left_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tenant = copy_example_tenant(dir.path());
    let before = std::fs::read_to_string(&tenant).expect("read");

    let first = verifyctl(
        &[
            "apply",
            &example_policies(),
            "--tenant-file",
            &tenant,
            "--auto-approve",
        ],
        &now_env(),
        None,
    );
    assert!(
        first.status.success(),
        "{}\n{}",
        stdout(&first),
        stderr(&first)
    );
    assert!(
        stdout(&first).contains("Apply complete"),
        "{}",
        stdout(&first)
    );
    // Without a terminal, progress is plain lines on stderr; data stays on stdout.
    assert!(
        stderr(&first).contains("apply: 23/23 actions done (0 failed)"),
        "{}",
        stderr(&first)
    );
    assert!(!stdout(&first).contains("actions done"));
    let after = std::fs::read_to_string(&tenant).expect("read");
    assert_ne!(before, after);
    let state: serde_json::Value =
        serde_saphyr::from_str(&after).expect("tenant file stays valid YAML");
    let outbox = state["outbox"].as_array().expect("outbox written").len();
    assert!(outbox > 0);
    // Nothing but the tenant file itself in the directory: the write was a rename.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["tenant.yaml"]);

    let plan = verifyctl(
        &[
            "plan",
            &example_policies(),
            "--tenant-file",
            &tenant,
            "--detailed-exitcode",
        ],
        &now_env(),
        None,
    );
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
    assert!(stdout(&plan).contains("No changes."));

    let before_second = std::fs::read_to_string(&tenant).expect("read");
    let second = verifyctl(
        &[
            "apply",
            &example_policies(),
            "--tenant-file",
            &tenant,
            "--auto-approve",
        ],
        &now_env(),
        None,
    );
    assert!(second.status.success());
    assert_eq!(
        std::fs::read_to_string(&tenant).expect("read"),
        before_second,
        "an apply that changes nothing leaves the tenant file byte for byte"
    );
    let state: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&tenant).expect("read")).expect("yaml");
    assert_eq!(
        state["outbox"].as_array().map(Vec::len),
        Some(outbox),
        "second apply sent email"
    );
}

#[test]
fn apply_without_a_terminal_needs_auto_approve_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tenant = copy_example_tenant(dir.path());
    let before = std::fs::read_to_string(&tenant).expect("read");
    let output = verifyctl(
        &["apply", &example_policies(), "--tenant-file", &tenant],
        &now_env(),
        Some("yes\n"),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("--auto-approve"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read_to_string(&tenant).expect("read"), before);
}

#[test]
fn detailed_exitcode_distinguishes_changes_no_changes_and_errors() {
    let changes = verifyctl(
        &[
            "plan",
            &example_policies(),
            "--tenant-file",
            "examples/tenant.yaml",
            "--detailed-exitcode",
        ],
        &now_env(),
        None,
    );
    assert_eq!(changes.status.code(), Some(2));
    let without_flag = verifyctl(
        &[
            "plan",
            &example_policies(),
            "--tenant-file",
            "examples/tenant.yaml",
        ],
        &now_env(),
        None,
    );
    assert_eq!(without_flag.status.code(), Some(0));
    let error = verifyctl(
        &[
            "plan",
            &example_policies(),
            "--tenant-file",
            "does-not-exist.yaml",
            "--detailed-exitcode",
        ],
        &now_env(),
        None,
    );
    assert_eq!(error.status.code(), Some(1));
    assert!(
        stderr(&error).contains("does-not-exist.yaml"),
        "{}",
        stderr(&error)
    );
}

#[test]
fn json_plans_are_versioned_documents() {
    let output = verifyctl(
        &[
            "plan",
            &example_policies(),
            "--tenant-file",
            "examples/tenant.yaml",
            "--format",
            "json",
        ],
        &now_env(),
        None,
    );
    assert!(output.status.success());
    let document: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("valid JSON");
    assert_eq!(document["format_version"], "1");
    let total = document["summary"]["total"].as_u64().expect("total");
    assert_eq!(
        document["actions"].as_array().map(Vec::len),
        Some(total as usize)
    );
    for action in document["actions"].as_array().expect("actions") {
        for key in ["kind", "target", "reason", "changes", "calls"] {
            assert!(action.get(key).is_some(), "action lacks {key}: {action}");
        }
    }
}

#[test]
fn without_a_tenant_the_error_says_how_to_give_one() {
    let output = verifyctl(&["plan", &example_policies()], &[], None);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("no tenant given"), "{text}");
    assert!(text.contains("AUTH0_DOMAIN"), "{text}");
    assert!(text.contains("--tenant-file"), "{text}");
}

#[test]
fn action_render_prints_the_code_apply_deploys() {
    let output = verifyctl(
        &[
            "action",
            "render",
            &example_policies(),
            "--tenant-file",
            "examples/tenant.yaml",
        ],
        &now_env(),
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let code = stdout(&output);
    assert!(code.starts_with("/**\n * verifyctl: email verification at login."));
    assert!(code.contains("exports.onExecutePostLogin = async (event, api) =>"));
    assert!(
        code.contains("\"Pp7dQ2mXv9LrT4wK8sN1yB6cH3jF5gZa\": \"Partner Portal\""),
        "the application name is resolved through the tenant"
    );
    // The plan deploys exactly this code.
    let plan = verifyctl(
        &[
            "plan",
            &example_policies(),
            "--tenant-file",
            "examples/tenant.yaml",
            "--format",
            "json",
        ],
        &now_env(),
        None,
    );
    let document: serde_json::Value = serde_json::from_str(&stdout(&plan)).expect("json");
    let deploy = document["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|a| a["kind"] == "deploy_login_action")
        .expect("a deploy action");
    let planned = deploy["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["field"] == "code")
        .expect("a code change");
    assert_eq!(planned["after"].as_str(), Some(code.as_str()));
}

#[test]
fn action_render_works_offline_unless_names_need_the_tenant() {
    let by_id = crate::support::PolicyDir::new(&[(
        "p.yaml",
        "connections:\n  - name: partners\n    email_verification: required\n    block_unverified_login: true\napplications:\n  - client_id: abc123\n    email_verification: required\n",
    )]);
    let output = verifyctl(
        &["action", "render", by_id.path().to_str().expect("utf-8")],
        &[],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("\"abc123\": \"abc123\""));

    let by_name = crate::support::PolicyDir::new(&[(
        "p.yaml",
        "applications:\n  - name: Partner Portal\n    email_verification: required\n",
    )]);
    let output = verifyctl(
        &["action", "render", by_name.path().to_str().expect("utf-8")],
        &[],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("client ids only the tenant knows"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_readme_shows_the_action_generated_for_the_example() {
    let output = verifyctl(
        &[
            "action",
            "render",
            &example_policies(),
            "--tenant-file",
            "examples/tenant.yaml",
        ],
        &now_env(),
        None,
    );
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README");
    assert!(
        readme.contains(&format!("```js\n{}```", stdout(&output))),
        "README.md shows an outdated login Action; paste the output of `verifyctl action render policies --tenant-file examples/tenant.yaml`"
    );
}

/// `verifyctl emulator` with fault flags: a child process serving a tenant file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_command_serves_a_tenant_file_with_limits_and_faults() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("tenant.yaml");
    std::fs::write(
        &file,
        "domain: cli.test\nclients:\n  - {client_id: CliClient0000000000000000000001, name: Tool, client_secret: tool-secret, grants: [read:users, read:connections]}\nconnections:\n  - {id: con_CliDb00000000001, name: db, strategy: auth0}\n",
    )
    .expect("write tenant");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("verifyctl"))
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--tenant-file",
            file.to_str().expect("utf-8"),
            "--rate-limit",
            "5",
            "--burst",
            "7",
            "--fail-rate",
            "1",
            "--fault-route",
            "GET /api/v2/users-by-email",
            "--seed",
            "3",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("emulator starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    stderr.read_line(&mut first).expect("banner");
    // Keep draining stderr: the emulator writes more lines, and a closed pipe would kill it.
    let drained = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        rest
    });
    let base = first
        .trim()
        .rsplit(' ')
        .next()
        .expect("listening on URL")
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");

    let http = reqwest::Client::new();
    let token = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "CliClient0000000000000000000001"),
            ("client_secret", "tool-secret"),
            ("audience", "https://cli.test/api/v2/"),
        ])
        .send()
        .await;
    let token: serde_json::Value = match token {
        Ok(response) => response.json().await.expect("token JSON"),
        Err(error) => {
            let status = child.try_wait();
            let _ = child.kill();
            panic!(
                "token request: {error}; emulator status {status:?}; its stderr: {}",
                drained.join().unwrap_or_default()
            );
        }
    };
    let bearer = token["access_token"].as_str().expect("a token").to_string();
    let connections = http
        .get(format!("{base}/api/v2/connections"))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("connections");
    assert_eq!(connections.status(), 200);
    assert_eq!(connections.headers()["x-ratelimit-limit"], "7");
    let faulty = http
        .get(format!("{base}/api/v2/users-by-email?email=a%40b.example"))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("users-by-email");
    assert!(
        [500, 502, 503].contains(&faulty.status().as_u16()),
        "{}",
        faulty.status()
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn bad_pacing_flags_are_refused_before_any_work() {
    for (flag, value, expected) in [
        ("--max-rps", "0", "positive number of requests per second"),
        ("--rate-share", "1.5", "share between 0 (exclusive) and 1"),
    ] {
        let output = verifyctl(
            &[
                "plan",
                &example_policies(),
                "--tenant-file",
                "examples/tenant.yaml",
                flag,
                value,
            ],
            &[],
            None,
        );
        assert_eq!(
            output.status.code(),
            Some(1),
            "a usage error is an error, not \"changes\""
        );
        assert!(stderr(&output).contains(expected), "{}", stderr(&output));
        assert_eq!(stdout(&output), "");
    }
    let quiet = verifyctl(
        &[
            "apply",
            &example_policies(),
            "--tenant-file",
            "examples/tenant.yaml",
            "--auto-approve",
            "--no-progress",
            "--plan",
            "x.json",
            "--connection",
            "a",
        ],
        &[],
        None,
    );
    assert_eq!(quiet.status.code(), Some(1), "--plan cannot be targeted");
    assert!(
        stderr(&quiet).contains("cannot be used with"),
        "{}",
        stderr(&quiet)
    );
}

/// `VERIFYCTL_LOG=debug 2>file`: plain text (no ANSI colour off a terminal), one line per
/// Management API request with method, path, status, attempt and duration, email addresses
/// in queries masked, no library noise.
#[test]
fn debug_logs_are_one_plain_line_per_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tenant = dir.path().join("tenant.yaml");
    std::fs::copy(repo_root().join("examples/tenant.yaml"), &tenant).expect("copy");
    let output = verifyctl(
        &[
            "plan",
            repo_root().join("policies").to_str().expect("utf-8"),
            "--tenant-file",
            tenant.to_str().expect("utf-8"),
            "--user",
            "alice@northwind.example",
        ],
        &[
            ("VERIFYCTL_LOG", "debug".to_string()),
            ("VERIFYCTL_NOW", crate::support::NOW_TEXT.to_string()),
        ],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let log = stderr(&output);
    assert!(
        !log.contains('\u{1b}'),
        "no ANSI escapes off a terminal:\n{log}"
    );
    let requests: Vec<&str> = log.lines().filter(|l| l.contains(" DEBUG ")).collect();
    assert!(
        requests
            .iter()
            .any(|l| l.contains("GET /api/v2/connections?take=100 -> 200 (attempt 1, ")),
        "{log}"
    );
    let by_email = requests
        .iter()
        .find(|l| l.contains("/api/v2/users-by-email"))
        .expect("the --user lookup is logged");
    assert!(
        by_email.contains("email=a***@northwind.example"),
        "{by_email}"
    );
    assert!(!log.contains("alice@"), "addresses are masked in logs");
    assert!(
        !log.to_lowercase().contains("hyper") && !log.contains("reqwest"),
        "no library noise at a bare `debug`:\n{log}"
    );
}
