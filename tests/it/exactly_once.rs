//! Emails exactly once, across crashes: a send is written as an intent before the email and
//! not confirmed after it; the next plan settles the intent from the tenant's own logs
//! (`svr`, `scpr`). An intent the logs show went out is not sent again; one they show never
//! went out (a kill between the intent and the send) is sent, once; one younger than the
//! logs' lag waits; without `read:logs`, the old at-most-once rule holds, with a warning.

use time::Duration;
use verifyctl::emulator::OutboxKind;
use verifyctl::ledger::{Ledger, SendKind};
use verifyctl::plan::{ActionKind, Operation, WarningKind};
use verifyctl::secret::Secret;
use verifyctl::tenant::types::{Profile, UserPatch};
use verifyctl::tenant::{Credentials, ManagementClient, TenantTarget};

use crate::support::{TestTenant, desired};

const TENANT: &str = "domain: once.test
connections:
  - {id: con_OnceDb000000001, name: members, strategy: auth0}
users:
  - user_id: auth0|000000000000000000000001
    email: kill@once.example
    email_verified: false
    identities: [{connection: members, user_id: '000000000000000000000001', provider: auth0, isSocial: false}]
    created_at: '2026-11-01T00:00:00.000Z'
";

/// At most one verification email per user.
const POLICY: &str = "connections:\n  - name: members\n    email_verification: required\n";

const USER: &str = "auth0|000000000000000000000001";

/// Writes a send intent dated `ago` before now, as an apply killed right after it would.
async fn intent(tenant: &TestTenant, ago: Duration) {
    let ledger =
        Ledger::default().with_pending(SendKind::VerificationEmail, tenant.clock.now() - ago);
    tenant
        .client()
        .update_user(
            USER,
            &UserPatch {
                profile: Profile {
                    app_metadata: Some(ledger.app_metadata_patch()),
                    ..Profile::default()
                },
                ..UserPatch::default()
            },
        )
        .await
        .expect("intent written");
}

fn verification_emails(tenant: &TestTenant) -> usize {
    tenant
        .emulator
        .outbox()
        .iter()
        .filter(|m| m.kind == OutboxKind::VerificationEmail)
        .count()
}

#[tokio::test]
async fn a_send_killed_before_it_left_is_sent_on_the_next_run_exactly_once() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    // The apply wrote its intent ten minutes ago and died before the email request.
    intent(&tenant, Duration::minutes(10)).await;
    let desired = desired(POLICY);
    let plan = tenant.plan(&desired).await;
    assert_eq!(plan.actions.len(), 1, "{plan:#?}");
    let action = &plan.actions[0];
    assert_eq!(action.kind(), ActionKind::SendVerificationEmail);
    assert!(
        action
            .reason
            .starts_with("the tenant's logs show that the verification email verifyctl started at")
            && action.reason.contains("never went out"),
        "{}",
        action.reason
    );
    assert_eq!(
        action.calls(),
        [
            "PATCH /api/v2/users/{id}",
            "POST /api/v2/jobs/verification-email"
        ],
        "two requests per email: intent and send"
    );
    tenant.apply_cleanly(&plan).await;
    assert_eq!(verification_emails(&tenant), 1);
    // The send is now in the logs: the next plans neither send again nor warn.
    let again = tenant.plan(&desired).await;
    assert!(again.actions.is_empty(), "{again:#?}");
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
    tenant.clock.advance(Duration::days(10));
    assert!(tenant.plan(&desired).await.actions.is_empty());
    assert_eq!(verification_emails(&tenant), 1, "exactly once");
}

#[tokio::test]
async fn a_send_that_left_before_the_kill_is_not_sent_again() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    let desired = desired(POLICY);
    let plan = tenant.plan(&desired).await;
    tenant.apply_cleanly(&plan).await;
    assert_eq!(verification_emails(&tenant), 1);
    // Nothing confirmed the send in the ledger: only the intent is there.
    let user = tenant.client().get_user(USER).await.expect("user");
    let ledger = &user.app_metadata.expect("metadata")["verifyctl"];
    assert!(
        ledger.get("pending").is_some() && ledger.get("verification_email").is_none(),
        "{ledger}"
    );
    let next = tenant.plan(&desired).await;
    assert!(
        next.actions.is_empty() && next.warnings.is_empty(),
        "{next:#?}"
    );
}

#[tokio::test]
async fn an_intent_younger_than_the_log_lag_waits_for_the_next_plan() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    intent(&tenant, Duration::seconds(30)).await;
    let plan = tenant.plan(&desired(POLICY)).await;
    assert!(plan.actions.is_empty(), "{plan:#?}");
    assert_eq!(
        plan.warnings.iter().map(|w| w.kind).collect::<Vec<_>>(),
        [WarningKind::SendNotLoggedYet]
    );
}

#[tokio::test]
async fn without_read_logs_an_interrupted_send_counts_as_sent_and_sends_are_confirmed() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    intent(&tenant, Duration::minutes(10)).await;
    let scopes: Vec<&str> = verifyctl::session::REQUIRED_SCOPES
        .iter()
        .copied()
        .filter(|s| *s != "read:logs")
        .collect();
    tenant.emulator.add_client_credentials(
        "NoLogsClient00000000000000000001",
        "no-logs-secret",
        &scopes,
    );
    let client = ManagementClient::new(
        TenantTarget::parse(&tenant.base_url()).expect("target"),
        Credentials::ClientCredentials {
            client_id: "NoLogsClient00000000000000000001".into(),
            client_secret: Secret::new("no-logs-secret"),
        },
    )
    .expect("client");
    let desired = desired(POLICY);
    let live = verifyctl::tenant::read_live_state_keeping(
        &client,
        &desired,
        &verifyctl::policy::Scope::default(),
        &std::collections::HashSet::new(),
        tenant.clock.now(),
    )
    .await
    .expect("live state");
    let plan = verifyctl::plan::build_plan(&desired, &live, tenant.clock.now()).expect("plan");
    assert_eq!(
        plan.warnings.iter().map(|w| w.kind).collect::<Vec<_>>(),
        [WarningKind::InterruptedSend]
    );
    assert_eq!(plan.actions.len(), 1);
    assert_eq!(plan.actions[0].kind(), ActionKind::RecordInterruptedSend);
    assert_eq!(verification_emails(&tenant), 0, "at most once: no email");

    // A new user gets a send confirmed by apply itself (three requests).
    let other = desired_with_resend();
    tenant.clock.advance(Duration::days(4));
    let live = verifyctl::tenant::read_live_state_keeping(
        &client,
        &other,
        &verifyctl::policy::Scope::default(),
        &std::collections::HashSet::new(),
        tenant.clock.now(),
    )
    .await
    .expect("live state");
    let plan = verifyctl::plan::build_plan(&other, &live, tenant.clock.now()).expect("plan");
    let send = plan
        .actions
        .iter()
        .find(|a| a.kind() == ActionKind::SendVerificationEmail)
        .expect("a resend is due");
    assert!(matches!(
        send.operation,
        Operation::SendVerificationEmail { confirm: true, .. }
    ));
    assert_eq!(send.calls().len(), 3);
}

fn desired_with_resend() -> verifyctl::policy::DesiredState {
    desired(&format!("{POLICY}    resend: {{ after: 72h, max: 3 }}\n"))
}

#[tokio::test]
async fn intents_the_logs_no_longer_reach_count_as_sent() {
    let tenant = TestTenant::from_yaml(&format!(
        "{TENANT}  - user_id: auth0|000000000000000000000002
    email: other@once.example
    email_verified: false
    identities: [{{connection: members, user_id: '000000000000000000000002', provider: auth0, isSocial: false}}]
"
    ))
    .await;
    // Two days ago an intent was written; the tenant's oldest log event is from today (a
    // free tenant keeps one day), so the logs cannot say whether it went out.
    intent(&tenant, Duration::days(2)).await;
    tenant
        .client()
        .send_verification_email(&verifyctl::tenant::types::VerificationEmailRequest {
            user_id: "auth0|000000000000000000000002".into(),
            client_id: None,
            identity: None,
        })
        .await
        .expect("an unrelated email, logged now");
    let plan = tenant.plan(&desired(POLICY)).await;
    let to_first: Vec<_> = plan
        .actions
        .iter()
        .filter(|a| a.target.email() == Some("kill@once.example"))
        .collect();
    assert!(to_first.is_empty(), "counted as sent: {to_first:#?}");
    // Intents older than the check window are not even looked up.
    tenant.clock.advance(Duration::days(2));
    let before = tenant.emulator.requests().len();
    let _ = tenant.plan(&desired(POLICY)).await;
    let log_reads = tenant.emulator.requests()[before..]
        .iter()
        .filter(|r| r.path == "/api/v2/logs")
        .count();
    assert_eq!(
        log_reads, 1,
        "only the probe: a 4-day-old intent is not looked up"
    );
}
