//! Apply under faults, throttling and interruption: it converges (in one run, or the next
//! plan shows exactly the remainder), never creates a user twice and never sends a user a
//! second email.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use verifyctl::apply::{ApplyOptions, ApplyReport, Cancellation, OutcomeStatus, apply_plan};
use verifyctl::emulator::{
    EmulatorConfig, Fault, FaultConfig, OutboxKind, RateLimit, RouteFilter, TenantState, Trigger,
};
use verifyctl::plan::{ActionKind, Plan};
use verifyctl::policy::DesiredState;

use crate::support::{TestTenant, desired};

/// 40 unverified partners, 10 unverified staff, plus the policy's 30 listed new users.
fn busy_tenant() -> TenantState {
    let mut users = Vec::new();
    for (connection, count, offset) in [("partners", 40, 0), ("staff", 10, 100)] {
        for i in 0..count {
            let id = format!("{:024x}", offset + i);
            users.push(json!({
                "user_id": format!("auth0|{id}"),
                "email": format!("{connection}{i:03}@busy.example"),
                "email_verified": false,
                "identities": [{"connection": connection, "user_id": id, "provider": "auth0", "isSocial": false}],
                "created_at": "2026-10-01T00:00:00.000Z",
                "updated_at": "2026-10-01T00:00:00.000Z",
            }));
        }
    }
    serde_json::from_value(json!({
        "domain": "busy.test",
        "clients": [{"client_id": "PortalClient00000000000000000001", "name": "Partner Portal", "app_type": "regular_web"}],
        "connections": [
            {"id": "con_PartnersDb000001", "name": "partners", "strategy": "auth0", "options": {"passwordPolicy": "good"}},
            {"id": "con_StaffDb000000001", "name": "staff", "strategy": "auth0", "options": {"passwordPolicy": "good"}},
        ],
        "users": users,
    }))
    .expect("tenant")
}

fn busy_policy() -> DesiredState {
    let mut yaml = String::from(
        "connections:\n  - name: partners\n    email_verification: required\n    verification_client: Partner Portal\n    resend: { after: 72h, max: 3 }\n  - name: staff\n    email_verification: trusted\nusers:\n",
    );
    for i in 0..10 {
        yaml.push_str(&format!(
            "  - connection: partners\n    email: new{i:02}@busy.example\n    name: New {i}\n"
        ));
        yaml.push_str(&format!(
            "  - connection: partners\n    email: reset{i:02}@busy.example\n    onboarding: password-reset\n"
        ));
        yaml.push_str(&format!(
            "  - connection: staff\n    email: hire{i:02}@busy.example\n"
        ));
    }
    desired(&yaml)
}

/// About one request in five fails: 500/502/503 answers (nothing done) and connections
/// dropped after the request was applied (the client never hears back).
fn twenty_percent_faults() -> FaultConfig {
    FaultConfig::none()
        .with(
            RouteFilter::All,
            Fault::ServerError {
                status: 500,
                when: Trigger::Probability(0.06),
            },
        )
        .with(
            RouteFilter::All,
            Fault::ServerError {
                status: 502,
                when: Trigger::Probability(0.04),
            },
        )
        .with(
            RouteFilter::All,
            Fault::ServerError {
                status: 503,
                when: Trigger::Probability(0.04),
            },
        )
        .with(
            RouteFilter::All,
            Fault::DropAfterApply {
                when: Trigger::Probability(0.07),
            },
        )
}

async fn apply(tenant: &TestTenant, plan: &Plan, options: &ApplyOptions) -> ApplyReport {
    apply_plan(
        &tenant.client(),
        plan,
        &tenant.clock,
        options,
        &mut |_, _, _| {},
    )
    .await
}

/// Every (connection, email) has one user, and nobody got two emails of one kind.
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
    let duplicated: Vec<_> = users.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "duplicate users: {duplicated:?}");
    let mut emails: BTreeMap<(String, bool), usize> = BTreeMap::new();
    for message in tenant.emulator.outbox() {
        *emails
            .entry((
                message.to.clone(),
                message.kind == OutboxKind::VerificationEmail,
            ))
            .or_default() += 1;
    }
    let repeated: Vec<_> = emails.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "a user got a second email: {repeated:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_converges_under_twenty_percent_faults_without_duplicates() {
    let tenant = TestTenant::start_with(
        busy_tenant(),
        EmulatorConfig {
            faults: twenty_percent_faults(),
            ..EmulatorConfig::default()
        },
    )
    .await;
    let policy = busy_policy();
    let plan = tenant.plan(&policy).await;
    assert_eq!(plan.actions.len(), 80, "{:#?}", plan.actions.len());
    let report = apply(&tenant, &plan, &ApplyOptions::default()).await;
    assert!(
        report.requests.retries > 0,
        "faults were injected and retried"
    );
    let dropped = tenant
        .emulator
        .requests()
        .iter()
        .filter(|r| r.dropped)
        .count();
    assert!(dropped > 0, "some answers were lost");
    assert_no_duplicates(&tenant);

    // What could not be settled in that run is exactly what the next plan shows: sends
    // whose answer was lost are recorded (never re-sent), anything that failed is retried.
    tenant.emulator.set_faults(FaultConfig::none());
    let remainder = tenant.plan(&policy).await;
    let failed = report.failed();
    assert!(
        remainder.actions.len() <= failed + dropped,
        "remainder {} > failed {failed} + dropped {dropped}",
        remainder.actions.len()
    );
    for action in &remainder.actions {
        assert!(
            matches!(
                action.kind(),
                ActionKind::RecordInterruptedSend
                    | ActionKind::SendVerificationEmail
                    | ActionKind::SendPasswordReset
                    | ActionKind::CreateUser
                    | ActionKind::UpdateProfile
                    | ActionKind::MarkEmailVerified
            ),
            "{action:#?}"
        );
    }
    let outbox_before = tenant.emulator.outbox().len();
    let second = apply(&tenant, &remainder, &ApplyOptions::default()).await;
    assert_eq!(second.failed(), 0, "{:#?}", second.outcomes);
    assert!(tenant.plan(&policy).await.is_empty(), "converged");
    assert_no_duplicates(&tenant);
    // Recording interrupted sends sends nothing.
    let resent = remainder
        .actions
        .iter()
        .filter(|a| {
            matches!(
                a.kind(),
                ActionKind::SendVerificationEmail | ActionKind::SendPasswordReset
            ) || a.kind() == ActionKind::CreateUser
        })
        .count();
    assert!(tenant.emulator.outbox().len() <= outbox_before + resent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_absorbed_without_failures() {
    let tenant = TestTenant::start_with(
        busy_tenant(),
        EmulatorConfig {
            rate_limit: Some(RateLimit {
                burst: 20,
                per_second: 200.0,
            }),
            ..EmulatorConfig::default()
        },
    )
    .await;
    let policy = desired("connections:\n  - name: staff\n    email_verification: trusted\n");
    let plan = tenant.plan(&policy).await;
    assert_eq!(plan.actions.len(), 10);
    tenant.emulator.set_faults(FaultConfig::none().with(
        RouteFilter::route("PATCH", "/api/v2/users/{id}"),
        Fault::TooManyRequests {
            when: Trigger::Next(6),
        },
    ));
    let report = apply(&tenant, &plan, &ApplyOptions::default()).await;
    assert_eq!(report.failed(), 0, "{:#?}", report.outcomes);
    assert_eq!(report.requests.throttled, 6, "every 429 was waited out");
    assert!(tenant.plan(&policy).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_apply_stops_cleanly_and_the_next_run_converges() {
    let tenant = TestTenant::start(busy_tenant()).await;
    let policy = busy_policy();
    let plan = tenant.plan(&policy).await;
    let cancellation = Cancellation::default();
    let options = ApplyOptions {
        concurrency: 2,
        cancellation: cancellation.clone(),
    };
    let client = tenant.client();
    let report = apply_plan(
        &client,
        &plan,
        &tenant.clock,
        &options,
        &mut |done, _, _| {
            if done == 15 {
                cancellation.cancel();
            }
        },
    )
    .await;
    assert!(report.interrupted);
    let not_started = report.not_started();
    assert!(not_started > 40, "{not_started}");
    assert_eq!(report.failed(), 0);
    assert_eq!(report.succeeded() + not_started, plan.actions.len());

    let remainder = tenant.plan(&policy).await;
    assert_eq!(
        remainder.actions.len(),
        not_started,
        "the next plan shows exactly what did not start"
    );
    let report = apply(&tenant, &remainder, &ApplyOptions::default()).await;
    assert_eq!(report.failed(), 0);
    assert!(tenant.plan(&policy).await.is_empty());
    assert_no_duplicates(&tenant);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_apply_converges_on_the_next_run() {
    let tenant = TestTenant::start_with(
        busy_tenant(),
        EmulatorConfig {
            // Slow answers so the kill lands while requests are in flight.
            faults: FaultConfig::none().with(
                RouteFilter::All,
                Fault::Latency {
                    min: Duration::from_millis(5),
                    max: Duration::from_millis(15),
                },
            ),
            ..EmulatorConfig::default()
        },
    )
    .await;
    let policy = busy_policy();
    let plan = tenant.plan(&policy).await;
    // Dropping the future is what SIGKILL does to the run: requests abandoned mid-flight,
    // ledger intents possibly written without their confirmation.
    let client = tenant.client();
    let killed = tokio::time::timeout(
        Duration::from_millis(400),
        apply_plan(
            &client,
            &plan,
            &tenant.clock,
            // One target at a time, so the run is still going when it is cut.
            &ApplyOptions {
                concurrency: 1,
                ..ApplyOptions::default()
            },
            &mut |_, _, _| {},
        ),
    )
    .await;
    assert!(killed.is_err(), "the run was cut short");
    tenant.emulator.set_faults(FaultConfig::none());
    let after_kill = tenant.plan(&policy).await;
    assert!(!after_kill.is_empty());
    let report = apply(&tenant, &after_kill, &ApplyOptions::default()).await;
    assert_eq!(report.failed(), 0, "{:#?}", report.outcomes);
    assert!(tenant.plan(&policy).await.is_empty());
    assert_no_duplicates(&tenant);
    for outcome in &report.outcomes {
        assert_ne!(outcome.status, OutcomeStatus::NotStarted);
    }
}

/// Runs `verifyctl apply` as a child process, sends it `signal` once `lines` action
/// outcomes have been printed, and returns its exit code and stdout.
async fn apply_and_signal(
    tenant: &TestTenant,
    policies: &std::path::Path,
    signal: &'static str,
    lines: usize,
) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader};
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("verifyctl"));
    command
        .env_clear()
        .env("NO_COLOR", "1")
        .args([
            "apply",
            policies.to_str().expect("utf-8"),
            "--auto-approve",
            "--concurrency",
            "1",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (key, value) in tenant.env() {
        command.env(key, value);
    }
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("verifyctl starts");
        let pid = child.id().to_string();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut text = String::new();
        let mut outcomes = 0;
        let mut line = String::new();
        while outcomes < lines {
            line.clear();
            if stdout.read_line(&mut line).expect("read") == 0 {
                break;
            }
            if line.starts_with('[') {
                outcomes += 1;
            }
            text.push_str(&line);
        }
        let killed = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
        text.push_str(&rest);
        let status = child.wait().expect("verifyctl ends");
        (status.code(), text)
    })
    .await
    .expect("join")
}

fn slow_tenant_config() -> EmulatorConfig {
    EmulatorConfig {
        faults: FaultConfig::none().with(
            RouteFilter::All,
            Fault::Latency {
                min: Duration::from_millis(15),
                max: Duration::from_millis(25),
            },
        ),
        ..EmulatorConfig::default()
    }
}

fn busy_policy_dir() -> crate::support::PolicyDir {
    let mut yaml = String::from(
        "connections:\n  - name: partners\n    email_verification: required\n    verification_client: Partner Portal\n  - name: staff\n    email_verification: trusted\n",
    );
    yaml.push_str("users:\n");
    for i in 0..10 {
        yaml.push_str(&format!(
            "  - connection: partners\n    email: new{i:02}@busy.example\n"
        ));
    }
    crate::support::PolicyDir::new(&[("p.yaml", &yaml)])
}

/// Without faults, one more `verifyctl apply` finishes the job: it succeeds, nothing is
/// duplicated, and the tenant then matches the policies.
async fn assert_next_apply_converges(tenant: &TestTenant, policies: &crate::support::PolicyDir) {
    tenant.emulator.set_faults(FaultConfig::none());
    let output = crate::support::verifyctl_async(
        vec![
            "apply".into(),
            policies.path().to_str().expect("utf-8").into(),
            "--auto-approve".into(),
        ],
        tenant.env(),
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        crate::support::stdout(&output)
    );
    assert_no_duplicates(tenant);
    let desired = verifyctl::policy::load_dir(policies.path()).expect("policies");
    assert!(tenant.plan(&desired).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_apply_between_actions_and_the_next_apply_converges() {
    let tenant = TestTenant::start_with(busy_tenant(), slow_tenant_config()).await;
    let policies = busy_policy_dir();
    let (code, stdout) = apply_and_signal(&tenant, policies.path(), "-INT", 5).await;
    assert_eq!(code, Some(130), "{stdout}");
    // Actions never started get no line of their own; the summary counts them.
    assert!(stdout.contains("Apply interrupted: "), "{stdout}");
    assert!(
        stdout.contains(" not started; apply again to continue."),
        "{stdout}"
    );
    assert!(
        !stdout.contains("not started: the run was interrupted"),
        "{stdout}"
    );
    assert_next_apply_converges(&tenant, &policies).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_apply_converges_on_the_next_run() {
    let tenant = TestTenant::start_with(busy_tenant(), slow_tenant_config()).await;
    let policies = busy_policy_dir();
    let (code, _) = apply_and_signal(&tenant, policies.path(), "-KILL", 5).await;
    assert_eq!(code, None, "killed by a signal");
    assert_next_apply_converges(&tenant, &policies).await;
}
