//! Login enforcement and signup control against the emulator over HTTP: the Action is
//! created, built, deployed and bound after a third-party binding that stays first; a policy
//! change shows a code diff and redeploys; dropping enforcement unbinds only verifyctl's
//! Action; signup changes keep every other connection option; apply then plan is empty.

use verifyctl::apply::OutcomeStatus;
use verifyctl::login_action;
use verifyctl::plan::{ActionKind, Operation, Plan, login_rules};
use verifyctl::report::{self, Format, PlanContext};

use crate::support::{TestTenant, desired, stderr, stdout, verifyctl_async};

const TENANT: &str = r#"
domain: login.test
clients:
  - {client_id: PortalClient00000000000000000001, name: Partner Portal, app_type: regular_web}
connections:
  - id: con_PartnersDb000001
    name: partners
    strategy: auth0
    display_name: Partner accounts
    options:
      passwordPolicy: good
      brute_force_protection: true
      mfa: {active: true, return_enroll_settings: true}
      password_complexity_options: {min_length: 12}
      strategy_version: 2
  - id: con_StaffDb000000001
    name: staff
    strategy: auth0
    options: {passwordPolicy: excellent, disable_signup: true}
actions:
  - name: Geo block
    code: "exports.onExecutePostLogin = async (event, api) => {};"
    deployed_version: {}
bindings:
  post-login:
    - action_name: Geo block
"#;

const ENFORCING: &str = "connections:
  - name: partners
    email_verification: required
    block_unverified_login: true
    signup: disabled
  - name: staff
    email_verification: trusted
applications:
  - name: Partner Portal
    email_verification: required
";

fn post_login_bindings(tenant: &TestTenant) -> Vec<String> {
    let state = tenant.emulator.snapshot();
    state
        .bindings_of("post-login")
        .iter()
        .map(|b| {
            state
                .action(&b.action_id)
                .map(|a| a.name.clone())
                .unwrap_or_default()
        })
        .collect()
}

fn kinds(plan: &Plan) -> Vec<ActionKind> {
    plan.actions
        .iter()
        .map(verifyctl::plan::Action::kind)
        .collect()
}

#[tokio::test]
async fn the_action_is_deployed_after_the_existing_binding_and_redeployed_on_change() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    let policy = desired(ENFORCING);

    let plan = tenant.plan(&policy).await;
    assert_eq!(
        kinds(&plan),
        [ActionKind::SetSignup, ActionKind::DeployLoginAction]
    );
    let Operation::DeployLoginAction(deployment) = &plan.actions[1].operation else {
        panic!("not a deployment")
    };
    assert_eq!(deployment.action_id, None);
    assert!(deployment.bind && deployment.deploy);
    assert!(deployment.secret_names.is_empty(), "nothing re-sends");

    tenant.apply_cleanly(&plan).await;
    assert_eq!(
        post_login_bindings(&tenant),
        ["Geo block", "verifyctl-email-verification"],
        "the third-party binding stays first"
    );
    let state = tenant.emulator.snapshot();
    let action = state
        .action_by_name("verifyctl-email-verification")
        .expect("created");
    let live = tenant.live(&policy).await;
    let expected = login_action::render(&login_rules(&policy, &live).expect("rules"));
    assert_eq!(
        action.deployed_version.as_ref().map(|v| v.code.as_str()),
        Some(expected.as_str())
    );
    assert!(
        expected.contains("\"PortalClient00000000000000000001\": \"Partner Portal\""),
        "the application name was resolved to its client id"
    );
    assert!(
        tenant.plan(&policy).await.is_empty(),
        "apply then plan is empty"
    );

    // A policy change: a new deny message. The plan shows a unified diff and redeploys.
    let changed = desired(&format!(
        "{ENFORCING}login:\n  deny_message: Verify your address, then come back.\n"
    ));
    let plan = tenant.plan(&changed).await;
    assert_eq!(kinds(&plan), [ActionKind::DeployLoginAction]);
    let text = report::render_plan(
        &plan,
        &PlanContext {
            tenant: "login.test".into(),
            requests: 0,
        },
        Format::Text,
        false,
    );
    insta::assert_snapshot!("login_action_code_diff", text);
    tenant.apply_cleanly(&plan).await;
    let state = tenant.emulator.snapshot();
    let action = state
        .action_by_name("verifyctl-email-verification")
        .expect("still there");
    assert_eq!(action.deployed_version.as_ref().map(|v| v.number), Some(2));
    assert_eq!(
        post_login_bindings(&tenant),
        ["Geo block", "verifyctl-email-verification"]
    );
    assert!(tenant.plan(&changed).await.is_empty());
}

#[tokio::test]
async fn without_enforcement_only_verifyctls_action_is_unbound() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    tenant
        .apply_cleanly(&tenant.plan(&desired(ENFORCING)).await)
        .await;

    let relaxed = desired("connections:\n  - name: partners\n    email_verification: required\n");
    let plan = tenant.plan(&relaxed).await;
    assert_eq!(kinds(&plan), [ActionKind::UnbindLoginAction]);
    tenant.apply_cleanly(&plan).await;
    assert_eq!(post_login_bindings(&tenant), ["Geo block"]);
    assert!(
        tenant
            .emulator
            .snapshot()
            .action_by_name("verifyctl-email-verification")
            .is_some(),
        "the Action itself is kept"
    );
    assert!(tenant.plan(&relaxed).await.is_empty());
}

#[tokio::test]
async fn disabling_signup_keeps_every_other_option_and_the_display_name() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    let policy = desired(
        "connections:\n  - name: partners\n    email_verification: required\n    signup: disabled\n",
    );
    let plan = tenant.plan(&policy).await;
    assert_eq!(kinds(&plan), [ActionKind::SetSignup]);
    let change = &plan.actions[0].changes[0];
    assert_eq!(change.field, "options.disable_signup");
    assert_eq!(
        (change.before.clone(), change.after.clone()),
        (Some(false.into()), Some(true.into()))
    );
    let before = tenant
        .emulator
        .snapshot()
        .connection_by_name("partners")
        .cloned()
        .expect("connection");
    tenant.apply_cleanly(&plan).await;
    let after = tenant
        .emulator
        .snapshot()
        .connection_by_name("partners")
        .cloned()
        .expect("connection");
    let mut expected = before.options.clone().unwrap_or_default();
    expected.insert("disable_signup".into(), true.into());
    assert_eq!(after.options, Some(expected), "no option was lost");
    assert_eq!(after.display_name.as_deref(), Some("Partner accounts"));
    assert!(tenant.plan(&policy).await.is_empty());
}

#[tokio::test]
async fn an_open_signup_on_a_required_connection_is_a_warning() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    let plan = tenant
        .plan(&desired(
            "connections:\n  - name: partners\n    email_verification: required\n",
        ))
        .await;
    assert!(plan.is_empty());
    assert_eq!(plan.warnings.len(), 1);
    assert!(
        plan.warnings[0]
            .message
            .contains("signup form stays open: Auth0 sends its own verification email"),
        "{}",
        plan.warnings[0].message
    );
}

#[tokio::test]
async fn a_failed_build_is_a_clear_error_and_the_next_run_finishes_the_job() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    let policy = desired(ENFORCING);
    tenant.emulator.set_action_builds_fail(true);
    let plan = tenant.plan(&policy).await;
    let report = tenant.apply(&plan).await;
    let failed: Vec<_> = report
        .outcomes
        .iter()
        .filter(|o| o.status == OutcomeStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].kind, ActionKind::DeployLoginAction);
    assert!(
        failed[0]
            .detail
            .contains("Auth0 failed to build the Action (build_failed:"),
        "{}",
        failed[0].detail
    );
    assert_eq!(
        post_login_bindings(&tenant),
        ["Geo block"],
        "nothing half-bound"
    );

    tenant.emulator.set_action_builds_fail(false);
    let retry = tenant.plan(&policy).await;
    let Operation::DeployLoginAction(deployment) = &retry.actions[0].operation else {
        panic!("{:#?}", retry.actions)
    };
    assert!(
        deployment.action_id.is_some() && deployment.update,
        "the existing draft is rebuilt, not duplicated"
    );
    tenant.apply_cleanly(&retry).await;
    assert!(tenant.plan(&policy).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_secrets_come_from_the_environment_and_are_never_shown() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    let policies = crate::support::PolicyDir::new(&[(
        "p.yaml",
        "connections:\n  - name: partners\n    email_verification: required\n    block_unverified_login: true\n    resend_on_login: true\n    resend: { after: 1d, max: 2 }\n",
    )]);
    let dir = policies.path().to_str().expect("utf-8").to_string();
    let env = tenant.env();

    let plan = verifyctl_async(vec!["plan".into(), dir.clone()], env.clone()).await;
    assert!(
        stdout(&plan)
            .contains("VERIFYCTL_ACTION_CLIENT_ID and VERIFYCTL_ACTION_CLIENT_SECRET are not set"),
        "{}",
        stdout(&plan)
    );
    let refused = verifyctl_async(
        vec!["apply".into(), dir.clone(), "--auto-approve".into()],
        env.clone(),
    )
    .await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("apply cannot start; nothing was changed")
            && stderr(&refused).contains(
                "VERIFYCTL_ACTION_CLIENT_ID and VERIFYCTL_ACTION_CLIENT_SECRET are not set"
            ),
        "{}",
        stderr(&refused)
    );
    assert!(
        tenant
            .emulator
            .snapshot()
            .action_by_name("verifyctl-email-verification")
            .is_none()
    );

    let secret = "action-secret-value-that-must-not-leak";
    let mut with_secrets = env.clone();
    with_secrets.push((
        "VERIFYCTL_ACTION_CLIENT_ID",
        "ActionClient0000000000000000001".into(),
    ));
    with_secrets.push(("VERIFYCTL_ACTION_CLIENT_SECRET", secret.into()));
    let applied = verifyctl_async(
        vec!["apply".into(), dir, "--auto-approve".into()],
        with_secrets,
    )
    .await;
    assert!(
        applied.status.success(),
        "{}\n{}",
        stdout(&applied),
        stderr(&applied)
    );
    let state = tenant.emulator.snapshot();
    let action = state
        .action_by_name("verifyctl-email-verification")
        .expect("deployed");
    let mut names: Vec<_> = action.secrets.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "VERIFYCTL_CLIENT_ID",
            "VERIFYCTL_CLIENT_SECRET",
            "VERIFYCTL_DOMAIN"
        ]
    );
    for text in [stdout(&applied), stderr(&applied)] {
        assert!(!text.contains(secret), "the secret was printed");
    }
    let file = serde_json::to_string(&state).expect("state serializes");
    assert!(!file.contains(secret), "the secret reached the tenant file");
}
