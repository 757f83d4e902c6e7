//! Defects found by trying verifyctl as a new user would, each with the test that failed
//! before its fix: apply with nothing to do in a script, the hint for a saved plan, a
//! mistyped `--user`, saved plans and ports, proxies and loopback, and `emulator --save`
//! under SIGTERM, the checks apply makes before its first write, and the login gate first.

use std::io::{BufRead, BufReader};

use crate::support::{
    PolicyDir, TestTenant, copy_example_tenant, example_policies, now_env, repo_root, stderr,
    stdout, verifyctl, verifyctl_async,
};

#[test]
fn apply_with_nothing_to_change_succeeds_without_a_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tenant = copy_example_tenant(dir.path());
    let converged = verifyctl(
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
    assert_eq!(converged.status.code(), Some(0), "{}", stderr(&converged));
    // No terminal, no --auto-approve, nothing to do: nothing to confirm either.
    let again = verifyctl(
        &["apply", &example_policies(), "--tenant-file", &tenant],
        &now_env(),
        None,
    );
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(stdout(&again).contains("No changes."), "{}", stdout(&again));
}

#[test]
fn the_hint_for_an_unconfirmed_saved_plan_keeps_the_plan() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tenant = copy_example_tenant(dir.path());
    let plan = dir.path().join("p.json");
    let plan = plan.to_str().expect("utf-8");
    let saved = verifyctl(
        &[
            "plan",
            &example_policies(),
            "--tenant-file",
            &tenant,
            "--out",
            plan,
        ],
        &now_env(),
        None,
    );
    assert_eq!(saved.status.code(), Some(0), "{}", stderr(&saved));
    let refused = verifyctl(
        &[
            "apply",
            &example_policies(),
            "--tenant-file",
            &tenant,
            "--plan",
            plan,
        ],
        &now_env(),
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
            &example_policies(),
            "--tenant-file",
            "examples/tenant.yaml",
            "--user",
            "alice@northwind.exmaple",
        ],
        &now_env(),
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
    let saved = verifyctl_async(
        args(&["plan", &example_policies(), "--out", &plan]),
        first.env(),
    )
    .await;
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
        args(&[
            "apply",
            &example_policies(),
            "--plan",
            &plan,
            "--auto-approve",
        ]),
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
    let mut env = now_env();
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
        &[
            "plan",
            &example_policies(),
            "--tenant-file",
            "examples/tenant.yaml",
        ],
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

/// A tenant with one unverified user already there, for the preflight cases.
const GATED_TENANT: &str = r"
domain: gated.test
connections:
  - id: con_PartnersDb000001
    name: partners
    strategy: auth0
    options: {disable_signup: true}
users:
  - user_id: auth0|existing0000000000000001
    email: old@partner.example
    email_verified: false
    identities:
      - {connection: partners, user_id: existing0000000000000001, provider: auth0, isSocial: false}
    created_at: '2026-09-02T09:00:00.000Z'
";

/// Two users to create, one existing user to email, and a login Action that re-sends.
const GATED_POLICY: &str = "connections:
  - name: partners
    email_verification: required
    block_unverified_login: true
    resend_on_login: true
    resend: { after: 1d, max: 2 }
users:
  - connection: partners
    email: new1@partner.example
  - connection: partners
    email: new2@partner.example
";

fn apply_args(dir: &str) -> Vec<String> {
    ["apply", dir, "--auto-approve"]
        .iter()
        .map(|s| (*s).to_string())
        .collect()
}

/// Issue 11 item 1: the run used to create users and send emails, then fail at the Action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_action_secrets_stop_apply_before_the_first_write() {
    let tenant = TestTenant::from_yaml(GATED_TENANT).await;
    let policies = PolicyDir::new(&[("p.yaml", GATED_POLICY)]);
    let dir = policies.path().to_str().expect("utf-8").to_string();
    let refused = verifyctl_async(apply_args(&dir), tenant.env()).await;
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    let text = stderr(&refused);
    assert!(
        text.contains("apply cannot start; nothing was changed")
            && text.contains(
                "VERIFYCTL_ACTION_CLIENT_ID and VERIFYCTL_ACTION_CLIENT_SECRET are not set"
            )
            && text.contains("hint: create a machine-to-machine application"),
        "{text}"
    );
    let state = tenant.emulator.snapshot();
    assert_eq!(state.users.len(), 1, "no user was created");
    assert!(tenant.emulator.outbox().is_empty(), "no email was sent");
    assert!(
        state
            .action_by_name("verifyctl-email-verification")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_scopes_the_plan_needs_stops_apply_before_the_first_write() {
    let tenant = TestTenant::from_yaml(GATED_TENANT).await;
    // Enough to plan (reads) and to email, not to create users or deploy the Action.
    tenant.emulator.add_client_credentials(
        "LimitedClient000000000000000001",
        "limited-secret",
        &[
            "read:users",
            "update:users",
            "read:connections",
            "read:clients",
            "read:actions",
            "read:logs",
        ],
    );
    let policies = PolicyDir::new(&[("p.yaml", GATED_POLICY)]);
    let dir = policies.path().to_str().expect("utf-8").to_string();
    let mut env: Vec<(&'static str, String)> = tenant
        .env()
        .into_iter()
        .filter(|(name, _)| !name.starts_with("AUTH0_CLIENT"))
        .collect();
    env.push(("AUTH0_CLIENT_ID", "LimitedClient000000000000000001".into()));
    env.push(("AUTH0_CLIENT_SECRET", "limited-secret".into()));
    env.push((
        "VERIFYCTL_ACTION_CLIENT_ID",
        "ActionClient0000000000000000001".into(),
    ));
    env.push(("VERIFYCTL_ACTION_CLIENT_SECRET", "action-secret".into()));
    let refused = verifyctl_async(apply_args(&dir), env).await;
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    let text = stderr(&refused);
    assert!(
        text.contains("the token lacks scopes this plan needs: create:actions (for 1 deploy_login_action); create:users (for 2 create_user); update:actions (for 1 deploy_login_action)"),
        "{text}"
    );
    assert!(
        text.contains("hint: grant create:actions, create:users, update:actions "),
        "{text}"
    );
    assert_eq!(tenant.emulator.snapshot().users.len(), 1);
    assert!(tenant.emulator.outbox().is_empty());
}

/// When the login gate fails, nothing that lets someone new log in starts: the users it
/// protects are not created; the existing user is still emailed.
#[tokio::test]
async fn a_failed_login_gate_holds_back_the_users_it_protects() {
    use verifyctl::apply::OutcomeStatus;
    use verifyctl::plan::ActionKind;
    let tenant = TestTenant::from_yaml(GATED_TENANT).await;
    let policy = crate::support::desired(&GATED_POLICY.replace(
        "    resend_on_login: true\n    resend: { after: 1d, max: 2 }\n",
        "",
    ));
    tenant.emulator.set_action_builds_fail(true);
    let plan = tenant.plan(&policy).await;
    assert_eq!(
        plan.actions[0].kind(),
        ActionKind::CreateUser,
        "the plan lists users first; apply still runs the gate first"
    );
    let report = tenant.apply(&plan).await;
    let of_kind = |kind: ActionKind| -> Vec<_> {
        report.outcomes.iter().filter(|o| o.kind == kind).collect()
    };
    assert_eq!(
        of_kind(ActionKind::DeployLoginAction)[0].status,
        OutcomeStatus::Failed
    );
    let creates = of_kind(ActionKind::CreateUser);
    assert_eq!(creates.len(), 2);
    for create in creates {
        assert_eq!(create.status, OutcomeStatus::Failed);
        assert!(
            create.detail.contains("the login Action failed above"),
            "{}",
            create.detail
        );
    }
    assert_eq!(
        of_kind(ActionKind::SendVerificationEmail)[0].status,
        OutcomeStatus::Succeeded,
        "an existing user is no easier to log in as for getting an email"
    );
    assert_eq!(tenant.emulator.snapshot().users.len(), 1, "nobody new");
    // Once the Action builds, the next run creates them.
    tenant.emulator.set_action_builds_fail(false);
    let retry = tenant.plan(&policy).await;
    let report = tenant.apply(&retry).await;
    assert_eq!(report.failed(), 0);
    assert_eq!(tenant.emulator.snapshot().users.len(), 3);
}
