//! Apply against the emulator over HTTP: convergence (apply then plan is empty), no second
//! email from a second apply, resends only when the policy allows, and 409 recovery.

use time::Duration;
use verifyctl::apply::{ApplyOptions, OutcomeStatus, apply_plan};
use verifyctl::emulator::OutboxKind;
use verifyctl::plan::ActionKind;
use verifyctl::tenant::types::{CreateUserRequest, Profile};

use crate::support::{TestTenant, desired};

const MODES_TENANT: &str = include_str!("../fixtures/modes-tenant.yaml");

const POLICY: &str = "connections:
  - name: required-db
    email_verification: required
    resend: { after: 72h, max: 2 }
    verification_client: Partner Portal
  - name: trusted-db
    email_verification: trusted
  - name: off-db
    email_verification: off
users:
  - connection: required-db
    email: listed@required.example
    name: New Name
  - connection: required-db
    email: created@required.example
  - connection: required-db
    email: reset@required.example
    onboarding: password-reset
  - connection: trusted-db
    email: hire@trusted.example
  - connection: off-db
    email: quiet@off.example
";

#[tokio::test]
async fn apply_converges_and_a_second_apply_sends_nothing() {
    let tenant = TestTenant::from_yaml(MODES_TENANT).await;
    let desired = desired(POLICY);
    let client = tenant.client();

    let plan = tenant.plan(&desired).await;
    let kinds: Vec<_> = plan
        .actions
        .iter()
        .map(verifyctl::plan::Action::kind)
        .collect();
    assert!(kinds.contains(&ActionKind::CreateUser));
    assert!(kinds.contains(&ActionKind::SendVerificationEmail));
    assert!(kinds.contains(&ActionKind::MarkEmailVerified));
    let report = apply_plan(
        &client,
        &plan,
        &tenant.clock,
        &ApplyOptions::default(),
        &mut |_, _, _| {},
    )
    .await;
    assert_eq!(report.failed(), 0, "{:#?}", report.outcomes);

    let outbox = tenant.emulator.outbox();
    let verification: Vec<_> = outbox
        .iter()
        .filter(|m| m.kind == OutboxKind::VerificationEmail)
        .map(|m| m.to.as_str())
        .collect();
    let resets: Vec<_> = outbox
        .iter()
        .filter(|m| m.kind == OutboxKind::PasswordReset)
        .map(|m| m.to.as_str())
        .collect();
    let mut sorted = verification.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "created@required.example",
            "never-sent@required.example",
            "resend-due@required.example",
        ]
    );
    assert_eq!(resets, ["reset@required.example"]);
    // Every verification email used the branded application.
    assert!(
        outbox
            .iter()
            .filter(|m| m.kind == OutboxKind::VerificationEmail)
            .all(|m| m.client_id.as_deref() == Some("PortalClient00000000000000000001"))
    );

    let again = tenant.plan(&desired).await;
    assert!(
        again.is_empty(),
        "apply then plan must be empty: {:#?}",
        again.actions
    );
    let second = apply_plan(
        &client,
        &again,
        &tenant.clock,
        &ApplyOptions::default(),
        &mut |_, _, _| {},
    )
    .await;
    assert!(second.outcomes.is_empty());
    assert_eq!(
        tenant.emulator.outbox().len(),
        outbox.len(),
        "a second apply sent email"
    );

    // Three days later the resend policy allows one more email to those still unverified
    // and below the maximum of two; nobody else is emailed.
    tenant.clock.advance(Duration::hours(73));
    let later = tenant.plan(&desired).await;
    let resend_to: Vec<_> = later
        .actions
        .iter()
        .map(|a| (a.kind(), a.target.email().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(
        resend_to,
        [
            (
                ActionKind::SendVerificationEmail,
                "created@required.example".to_string()
            ),
            (
                ActionKind::SendVerificationEmail,
                "never-sent@required.example".to_string()
            ),
            (
                ActionKind::SendVerificationEmail,
                "sent-recently@required.example".to_string()
            ),
        ]
    );
}

#[tokio::test]
async fn a_create_that_conflicts_finds_the_existing_user_instead_of_failing() {
    let tenant = TestTenant::from_yaml(
        "domain: t.example\nconnections:\n  - {id: con_Requ1redDb000001, name: required-db, strategy: auth0}\n",
    )
    .await;
    let desired = desired(
        "connections:\n  - name: required-db\n    email_verification: required\nusers:\n  - connection: required-db\n    email: racer@required.example\n    name: Racer\n",
    );
    let client = tenant.client();
    let plan = tenant.plan(&desired).await;
    assert_eq!(plan.actions.len(), 1);
    assert_eq!(plan.actions[0].kind(), ActionKind::CreateUser);

    // Someone else creates the user between plan and apply (or an earlier apply's create
    // succeeded but its response was lost).
    client
        .create_user(&CreateUserRequest {
            connection: "required-db".into(),
            email: "Racer@required.example".into(),
            password: Some(verifyctl::secret::Secret::new("Another-Strong-Passw0rd!")),
            email_verified: false,
            verify_email: false,
            profile: Profile::default(),
        })
        .await
        .expect("side create");

    let report = apply_plan(
        &client,
        &plan,
        &tenant.clock,
        &ApplyOptions::default(),
        &mut |_, _, _| {},
    )
    .await;
    assert_eq!(report.outcomes.len(), 1);
    let outcome = &report.outcomes[0];
    assert_eq!(outcome.status, OutcomeStatus::Succeeded, "{outcome:#?}");
    assert!(
        outcome.detail.contains("already existed"),
        "{}",
        outcome.detail
    );
    assert!(
        outcome.detail.contains("update_profile"),
        "{}",
        outcome.detail
    );
    assert!(
        outcome.detail.contains("send_verification_email"),
        "{}",
        outcome.detail
    );

    let users = client
        .users_by_email("racer@required.example")
        .await
        .expect("lookup");
    assert_eq!(users.len(), 1, "no duplicate user");
    assert_eq!(users[0].name.as_deref(), Some("Racer"));
    let emails = tenant
        .emulator
        .outbox()
        .into_iter()
        .filter(|m| m.to == "racer@required.example")
        .count();
    assert_eq!(
        emails,
        1,
        "exactly one verification email: {:#?}",
        tenant.emulator.outbox()
    );
    assert!(tenant.plan(&desired).await.is_empty());
}
