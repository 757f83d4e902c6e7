//! Defects found by trying verifyctl as a new user would, each with the test that failed
//! before its fix: apply with nothing to do in a script, the hint for a saved plan, a
//! mistyped `--user`, saved plans and ports, proxies and loopback, and `emulator --save`
//! under SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::support::{
    NOW_TEXT, PolicyDir, TestTenant, repo_root, stderr, stdout, verifyctl, verifyctl_async,
};

fn now() -> Vec<(&'static str, String)> {
    vec![("VERIFYCTL_NOW", NOW_TEXT.to_string())]
}

fn example_tenant(dir: &Path) -> String {
    let target = dir.join("tenant.yaml");
    std::fs::copy(repo_root().join("examples/tenant.yaml"), &target).expect("copy example");
    target.to_str().expect("utf-8").to_string()
}

fn policies() -> String {
    repo_root()
        .join("policies")
        .to_str()
        .expect("utf-8")
        .to_string()
}

#[test]
fn apply_with_nothing_to_change_succeeds_without_a_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tenant = example_tenant(dir.path());
    let converged = verifyctl(
        &[
            "apply",
            &policies(),
            "--tenant-file",
            &tenant,
            "--auto-approve",
        ],
        &now(),
        None,
    );
    assert_eq!(converged.status.code(), Some(0), "{}", stderr(&converged));
    // No terminal, no --auto-approve, nothing to do: nothing to confirm either.
    let again = verifyctl(
        &["apply", &policies(), "--tenant-file", &tenant],
        &now(),
        None,
    );
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(stdout(&again).contains("No changes."), "{}", stdout(&again));
}

#[test]
fn the_hint_for_an_unconfirmed_saved_plan_keeps_the_plan() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tenant = example_tenant(dir.path());
    let plan = dir.path().join("p.json");
    let plan = plan.to_str().expect("utf-8");
    let saved = verifyctl(
        &["plan", &policies(), "--tenant-file", &tenant, "--out", plan],
        &now(),
        None,
    );
    assert_eq!(saved.status.code(), Some(0), "{}", stderr(&saved));
    let refused = verifyctl(
        &[
            "apply",
            &policies(),
            "--tenant-file",
            &tenant,
            "--plan",
            plan,
        ],
        &now(),
        None,
    );
    assert_eq!(refused.status.code(), Some(1));
    let text = stderr(&refused);
    assert!(
        text.contains(&format!("`verifyctl apply --plan {plan} --auto-approve`")),
        "{text}"
    );
}

#[test]
fn a_user_no_policy_lists_is_an_error_not_a_clean_tenant() {
    let output = verifyctl(
        &[
            "plan",
            &policies(),
            "--tenant-file",
            "examples/tenant.yaml",
            "--user",
            "alice@northwind.exmaple",
        ],
        &now(),
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let text = stderr(&output);
    assert!(
        text.contains("--user names `alice@northwind.exmaple`")
            && text.contains("did you mean `alice@northwind.example`?"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_refused_by_another_tenant_on_another_port() {
    let yaml = std::fs::read_to_string(repo_root().join("examples/tenant.yaml")).expect("read");
    let first = TestTenant::from_yaml(&yaml).await;
    let second = TestTenant::from_yaml(&yaml).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir
        .path()
        .join("p.json")
        .to_str()
        .expect("utf-8")
        .to_string();
    let args = |list: &[&str]| list.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    let saved = verifyctl_async(args(&["plan", &policies(), "--out", &plan]), first.env()).await;
    assert_eq!(saved.status.code(), Some(0), "{}", stderr(&saved));
    let port = first
        .base_url()
        .rsplit(':')
        .next()
        .expect("port")
        .to_string();
    assert!(
        stdout(&saved).contains(&format!("verifyctl plan for 127.0.0.1:{port}")),
        "the header names the port: {}",
        stdout(&saved)
    );
    let refused = verifyctl_async(
        args(&["apply", &policies(), "--plan", &plan, "--auto-approve"]),
        second.env(),
    )
    .await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("it is for another tenant"),
        "{}",
        stderr(&refused)
    );
    assert!(second.emulator.outbox().is_empty(), "nothing was sent");
}

#[test]
fn loopback_traffic_never_goes_through_a_proxy() {
    let mut env = now();
    // Nothing listens there: any request through it would fail.
    for variable in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        env.push((variable, "http://127.0.0.1:9".to_string()));
    }
    let output = verifyctl(
        &["plan", &policies(), "--tenant-file", "examples/tenant.yaml"],
        &env,
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("verifyctl plan for tenant file"));
}

#[cfg(unix)]
#[test]
fn emulator_save_writes_the_tenant_back_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("tenant.yaml");
    std::fs::write(
        &file,
        "domain: save.test\nclients:\n  - {client_id: SaveClient000000000000000000001, name: Tool, client_secret: tool-secret, grants: [read:users, create:users]}\nconnections:\n  - {id: con_SaveDb0000000001, name: db, strategy: auth0}\n",
    )
    .expect("write tenant");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("verifyctl"))
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--save",
            "--tenant-file",
        ])
        .arg(&file)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("emulator starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let url = loop {
        let line = lines.next().expect("a line").expect("text");
        if let Some(url) = line.strip_prefix("verifyctl emulator listening on ") {
            break url.trim().to_string();
        }
    };
    // Create a user, so the saved file differs.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = verifyctl::tenant::ManagementClient::new(
            verifyctl::tenant::TenantTarget::parse(&url).expect("target"),
            verifyctl::tenant::Credentials::ClientCredentials {
                client_id: "SaveClient000000000000000000001".into(),
                client_secret: verifyctl::secret::Secret::new("tool-secret"),
            },
        )
        .expect("client");
        client
            .create_user(&verifyctl::tenant::types::CreateUserRequest {
                connection: "db".into(),
                email: "kept@save.example".into(),
                password: Some(verifyctl::secret::Secret::new("Some-Strong-Passw0rd!")),
                email_verified: false,
                verify_email: false,
                profile: Default::default(),
            })
            .await
            .expect("created");
    });
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("exits");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(status.success(), "{status:?} {rest:?}");
    let saved = std::fs::read_to_string(&file).expect("read back");
    assert!(saved.contains("kept@save.example"), "{saved}");
    let _ = PolicyDir::new(&[]);
}
