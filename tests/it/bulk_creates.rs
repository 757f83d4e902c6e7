//! Bulk creates through users-import jobs, over HTTP against the emulator: thousands of users
//! in a handful of requests, one email request per imported user, refused records reported
//! with Auth0's message, users that appeared meanwhile found rather than duplicated, and a
//! kill during an import that the next run finishes without a duplicate user or email.

use std::collections::BTreeMap;

use serde_json::json;
use time::Duration;
use verifyctl::apply::OutcomeStatus;
use verifyctl::emulator::{OutboxKind, TenantState, Timings};
use verifyctl::plan::{Action, ActionKind, Operation};
use verifyctl::policy::DesiredState;
use verifyctl::tenant::types::CreateUserRequest;

use crate::support::{PolicyDir, TestTenant, desired};

fn tenant() -> TenantState {
    serde_json::from_value(json!({
        "domain": "bulk.test",
        // Imports need the connection enabled for an application (every one, by default).
        "clients": [{"client_id": "BulkApp000000000000000000000001", "name": "Bulk App", "app_type": "regular_web"}],
        "connections": [
            {"id": "con_StaffDb000000001", "name": "staff", "strategy": "auth0", "options": {"passwordPolicy": "good"}},
            {"id": "con_PartnersDb000001", "name": "partners", "strategy": "auth0", "options": {"passwordPolicy": "good"}},
        ],
    }))
    .expect("tenant")
}

/// `staff` users (trusted) and `partners` users (required, verification email).
fn policy_yaml(staff: usize, partners: usize) -> String {
    let mut yaml = String::from(
        "connections:\n  - name: staff\n    email_verification: trusted\n  - name: partners\n    email_verification: required\nusers:\n",
    );
    for i in 0..staff {
        yaml.push_str(&format!(
            "  - connection: staff\n    email: hire{i:05}@bulk.example\n    name: Hire {i}\n"
        ));
    }
    for i in 0..partners {
        yaml.push_str(&format!(
            "  - connection: partners\n    email: partner{i:03}@bulk.example\n"
        ));
    }
    yaml
}

fn requests(tenant: &TestTenant, method: &str, path: &str) -> usize {
    tenant
        .emulator
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

/// One user per (connection, email) and at most one email of each kind per user.
fn assert_no_duplicates(tenant: &TestTenant) {
    let state = tenant.emulator.snapshot();
    let mut users: BTreeMap<(String, String), usize> = BTreeMap::new();
    for user in &state.users {
        let connection = user
            .identities
            .first()
            .map(|i| i.connection.clone())
            .unwrap_or_default();
        *users
            .entry((connection, user.email.clone().unwrap_or_default()))
            .or_default() += 1;
    }
    assert!(
        users.values().all(|n| *n == 1),
        "duplicate users: {users:?}"
    );
    let mut emails: BTreeMap<(String, String), usize> = BTreeMap::new();
    for message in &state.outbox {
        *emails
            .entry((format!("{:?}", message.kind), message.to.clone()))
            .or_default() += 1;
    }
    assert!(
        emails.values().all(|n| *n == 1),
        "duplicate emails: {emails:?}"
    );
}

#[tokio::test]
async fn thousands_of_creates_take_a_handful_of_requests() {
    let tenant = TestTenant::start(tenant()).await;
    let desired = desired(&policy_yaml(3_000, 15));
    let plan = tenant.plan(&desired).await;
    assert_eq!(plan.actions.len(), 3_015);
    assert!(
        plan.actions
            .iter()
            .all(|a| matches!(a.operation, Operation::ImportUser { .. })),
        "every create is an import"
    );
    let first = &plan.actions[0];
    assert!(
        first.reason.contains("through users-import jobs"),
        "{}",
        first.reason
    );
    let before = tenant.emulator.requests().len();
    let report = tenant.apply(&plan).await;
    assert_eq!(
        report.failed(),
        0,
        "{:?}",
        report
            .outcomes
            .iter()
            .find(|o| o.status == OutcomeStatus::Failed)
    );
    let imports = requests(&tenant, "POST", "/api/v2/jobs/users-imports");
    assert!(
        (2..=3).contains(&imports),
        "{imports} import files for 3,015 users"
    );
    let jobs = requests(&tenant, "POST", "/api/v2/jobs/verification-email");
    assert_eq!(jobs, 15, "one request per verification email");
    let patches = tenant
        .emulator
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(patches, 0, "the imports carried the ledger: no later PATCH");
    let total = tenant.emulator.requests().len() - before;
    assert!(
        total <= 15 + 20,
        "{total} requests for 3,015 creates and 15 emails"
    );

    let state = tenant.emulator.snapshot();
    assert_eq!(state.users.len(), 3_015);
    let staff = state
        .users
        .iter()
        .find(|u| u.email.as_deref() == Some("hire00042@bulk.example"))
        .expect("imported");
    assert_eq!(
        staff.email_verified,
        Some(true),
        "trusted: imported verified"
    );
    assert_eq!(staff.other["name"], "Hire 42");
    let emails = tenant
        .emulator
        .outbox()
        .iter()
        .filter(|m| m.kind == OutboxKind::VerificationEmail)
        .count();
    assert_eq!(emails, 15);
    assert_no_duplicates(&tenant);
    let again = tenant.plan(&desired).await;
    assert!(again.is_empty(), "{again:#?}");
    assert!(
        again
            .warnings
            .iter()
            .all(|w| w.kind == verifyctl::plan::WarningKind::SignupSendsEmails),
        "no send left to settle: {:#?}",
        again.warnings
    );
}

#[tokio::test]
async fn refused_records_are_failed_actions_with_auth0s_message() {
    let tenant = TestTenant::start(tenant()).await;
    let mut plan = tenant.plan(&desired(&policy_yaml(12, 0))).await;
    // A record Auth0 refuses (hand-edited into the plan: the policy checks would stop it).
    if let Operation::ImportUser { user, .. } = &mut plan.actions[3].operation {
        user.email = "not an address".into();
    }
    let report = tenant.apply(&plan).await;
    let failed: Vec<_> = report
        .outcomes
        .iter()
        .filter(|o| o.status == OutcomeStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{:#?}", report.outcomes);
    assert!(
        failed[0]
            .detail
            .starts_with("the import refused the user: "),
        "{}",
        failed[0].detail
    );
    assert_eq!(report.succeeded(), 11);
    assert_eq!(tenant.emulator.snapshot().users.len(), 11);
}

#[tokio::test]
async fn a_user_created_since_the_plan_is_found_not_duplicated() {
    let tenant = TestTenant::start(tenant()).await;
    let desired = desired(&policy_yaml(0, 12));
    let plan = tenant.plan(&desired).await;
    // Someone creates one of them (already verified) before apply runs.
    tenant
        .client()
        .create_user(&CreateUserRequest {
            connection: "partners".into(),
            email: "partner005@bulk.example".into(),
            password: Some(verifyctl::secret::Secret::new("Some-Other-Passw0rd!")),
            email_verified: true,
            verify_email: false,
            profile: Default::default(),
        })
        .await
        .expect("created meanwhile");
    let report = tenant.apply(&plan).await;
    assert_eq!(report.failed(), 0, "{:#?}", report.outcomes);
    let outcome = report
        .outcomes
        .iter()
        .find(|o| o.target.email() == Some("partner005@bulk.example"))
        .expect("outcome");
    assert!(
        outcome.detail.contains("already existed"),
        "{}",
        outcome.detail
    );
    assert_no_duplicates(&tenant);
    assert_eq!(tenant.emulator.snapshot().users.len(), 12);
    assert!(tenant.plan(&desired).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_an_import_converges_without_duplicates() {
    let tenant = TestTenant::start(tenant()).await;
    // Imports take time: 20 users a second on the emulator's clock, which only moves when
    // the test says so.
    tenant.emulator.set_timings(Timings {
        import_users_per_second: Some(20.0),
        ..Timings::instant()
    });
    let yaml = policy_yaml(40, 20);
    let policies = PolicyDir::new(&[("p.yaml", yaml.as_str())]);
    let dir = policies.path().to_str().expect("utf-8").to_string();
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("verifyctl"));
    command
        .env_clear()
        .args(["apply", &dir, "--auto-approve", "--no-progress"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (key, value) in tenant.env() {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("verifyctl starts");
    // Kill it once its import jobs are uploaded and running.
    let started = std::time::Instant::now();
    while requests(&tenant, "POST", "/api/v2/jobs/users-imports") < 2 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no import started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    // The jobs finish without it.
    tenant.clock.advance(Duration::minutes(5));
    let desired: DesiredState = desired(&yaml);
    let next = tenant.plan(&desired).await;
    assert!(
        next.actions
            .iter()
            .all(|a| a.kind() == ActionKind::SendVerificationEmail),
        "only the emails the killed run never sent are left: {:#?}",
        next.actions.iter().map(Action::kind).collect::<Vec<_>>()
    );
    assert_eq!(next.actions.len(), 20);
    let report = tenant.apply(&next).await;
    assert_eq!(report.failed(), 0);
    tenant.clock.advance(Duration::minutes(5));
    assert!(tenant.plan(&desired).await.is_empty());
    assert_no_duplicates(&tenant);
    assert_eq!(tenant.emulator.snapshot().users.len(), 60);
}
