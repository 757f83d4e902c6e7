//! Plan snapshots for each verification mode and for a mixed tenant, read over HTTP from
//! the emulator by the real client and rendered as text and JSON.

use verifyctl::report::{self, Format, PlanContext};

use crate::support::{TestTenant, desired};

const MODES_TENANT: &str = include_str!("../fixtures/modes-tenant.yaml");

async fn plan_snapshots(name: &str, policy: &str) {
    let tenant = TestTenant::from_yaml(MODES_TENANT).await;
    let desired = desired(policy);
    let client = tenant.client();
    let live = verifyctl::tenant::read_live_state(&client, &desired)
        .await
        .expect("live state");
    let plan = verifyctl::plan::build_plan(&desired, &live, tenant.clock.now()).expect("plan");
    let context = PlanContext {
        tenant: "modes.test".into(),
        requests: client.stats().total(),
    };
    insta::assert_snapshot!(
        format!("{name}_text"),
        report::render_plan(&plan, &context, Format::Text, false)
    );
    insta::assert_snapshot!(
        format!("{name}_json"),
        report::render_plan(&plan, &context, Format::Json, false)
    );
}

#[tokio::test]
async fn required_mode() {
    plan_snapshots(
        "plan_required",
        "connections:\n  - name: required-db\n    email_verification: required\n    resend: { after: 72h, max: 2 }\nusers:\n  - connection: required-db\n    email: listed@required.example\n    name: New Name\n    user_metadata: { team: blue, prefs: { language: en, theme: dark, digest: weekly } }\n  - connection: required-db\n    email: new@required.example\n    name: Newcomer\n  - connection: required-db\n    email: reset@required.example\n    onboarding: password-reset\n",
    )
    .await;
}

#[tokio::test]
async fn required_mode_with_a_branded_verification_client() {
    plan_snapshots(
        "plan_required_branded",
        "connections:\n  - name: required-db\n    email_verification: required\n    verification_client: Partner Portal\nusers:\n  - connection: required-db\n    email: new@required.example\n",
    )
    .await;
}

#[tokio::test]
async fn trusted_mode() {
    plan_snapshots(
        "plan_trusted",
        "connections:\n  - name: trusted-db\n    email_verification: trusted\nusers:\n  - connection: trusted-db\n    email: hire@trusted.example\n    given_name: Hira\n",
    )
    .await;
}

#[tokio::test]
async fn off_mode() {
    plan_snapshots(
        "plan_off",
        "connections:\n  - name: off-db\n    email_verification: off\nusers:\n  - connection: off-db\n    email: quiet@off.example\n",
    )
    .await;
}

#[tokio::test]
async fn social_connections_are_warnings_not_actions() {
    plan_snapshots(
        "plan_social",
        "connections:\n  - name: google-oauth2\n    email_verification: trusted\n",
    )
    .await;
}

#[tokio::test]
async fn mixed_tenant_with_every_mode() {
    plan_snapshots(
        "plan_mixed",
        "connections:\n  - name: required-db\n    email_verification: required\n    resend: { after: 72h, max: 2 }\n  - name: trusted-db\n    email_verification: trusted\n  - name: off-db\n    email_verification: off\n  - name: google-oauth2\n    email_verification: required\nusers:\n  - connection: off-db\n    email: unverified@off.example\n    email_verification: trusted\n  - connection: trusted-db\n    email: verified@trusted.example\n    name: Already Right\n",
    )
    .await;
}

#[tokio::test]
async fn an_unchanged_tenant_plans_nothing() {
    plan_snapshots(
        "plan_no_changes",
        "connections:\n  - name: trusted-db\n    email_verification: off\n",
    )
    .await;
}
