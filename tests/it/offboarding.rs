//! Managed users and offboarding, over HTTP against the emulator: verifyctl marks the users
//! it creates or reconciles; once no policy lists one, `offboarding` decides (`keep`: no
//! further email; `block`: blocked, unblocked when listed again; `delete`: only with
//! `--allow-delete` and within `--max-deletes`); users it never managed are left alone.

use time::Duration;
use verifyctl::emulator::OutboxKind;
use verifyctl::plan::{ActionKind, Plan, WarningKind};
use verifyctl::policy::DesiredState;
use verifyctl::report::{self, Format};

use crate::support::{PolicyDir, TestTenant, desired, stderr, stdout, verifyctl_async};

/// One required database connection; `stranger` exists, unverified, never managed.
const TENANT: &str = "
domain: offboarding.test.auth0.example
connections:
  - id: con_Partners00000001
    name: partners
    strategy: auth0
    options: { passwordPolicy: good }
users:
  - user_id: auth0|000000000000000000000901
    email: stranger@p.example
    email_verified: false
    identities: [{connection: partners, user_id: \"000000000000000000000901\", provider: auth0, isSocial: false}]
    created_at: \"2026-10-01T09:00:00.000Z\"
    updated_at: \"2026-10-01T09:00:00.000Z\"
    app_metadata: { verifyctl: { v: 1, verification_email: { count: 1, first_sent_at: \"2026-10-01T09:00:00.000Z\", last_sent_at: \"2026-10-01T09:00:00.000Z\" } } }
";

/// `partners` with `offboarding`, listing `emails`; resends every hour, up to 5.
fn policy(offboarding: &str, emails: &[&str]) -> String {
    let mut text = format!(
        "connections:\n  - name: partners\n    email_verification: required\n    resend: {{ after: 1h, max: 5 }}\n    offboarding: {offboarding}\n"
    );
    if !emails.is_empty() {
        text.push_str("users:\n");
        for email in emails {
            text.push_str(&format!("  - connection: partners\n    email: {email}\n"));
        }
    }
    text
}

/// Plans and applies `desired` once (creating its users, each with one email).
async fn create_all(tenant: &TestTenant, desired: &DesiredState) {
    let plan = tenant.plan(desired).await;
    assert!(
        plan.actions
            .iter()
            .any(|a| a.kind() == ActionKind::CreateUser),
        "{plan:#?}"
    );
    tenant.apply_cleanly(&plan).await;
}

/// Runs the binary against the tenant (off the emulator's runtime).
async fn run(tenant: &TestTenant, args: &[&str]) -> std::process::Output {
    let args = args.iter().map(ToString::to_string).collect();
    verifyctl_async(args, tenant.env()).await
}

fn emails_to(tenant: &TestTenant, to: &str) -> usize {
    tenant
        .emulator
        .outbox()
        .iter()
        .filter(|m| m.kind == OutboxKind::VerificationEmail && m.to == to)
        .count()
}

fn actions_on<'a>(plan: &'a Plan, email: &str) -> Vec<&'a verifyctl::plan::Action> {
    plan.actions
        .iter()
        .filter(|a| a.target.email() == Some(email))
        .collect()
}

fn user(tenant: &TestTenant, email: &str) -> Option<serde_json::Value> {
    tenant
        .emulator
        .snapshot()
        .users
        .iter()
        .find(|u| u.email.as_deref() == Some(email))
        .map(|u| serde_json::to_value(u).unwrap())
}

#[tokio::test]
async fn a_removed_managed_user_gets_no_email_under_keep_and_strangers_are_left_alone() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    let listed = desired(&policy("keep", &["ann@p.example", "bob@p.example"]));
    // Creating them marks them managed (the mark is in the create body).
    create_all(&tenant, &listed).await;
    let bob = user(&tenant, "bob@p.example").expect("bob created");
    assert!(
        bob["app_metadata"]["verifyctl"]["managed"]["since"].is_string(),
        "{bob}"
    );
    assert_eq!(emails_to(&tenant, "bob@p.example"), 1);

    // Bob leaves the policies, unverified; the resend interval passes.
    tenant.clock.advance(Duration::hours(2));
    let without_bob = desired(&policy("keep", &["ann@p.example"]));
    let plan = tenant.plan(&without_bob).await;
    assert!(actions_on(&plan, "bob@p.example").is_empty(), "{plan:#?}");
    let note = plan
        .warnings
        .iter()
        .find(|w| w.kind == WarningKind::NoLongerListed)
        .expect("bob is shown as no longer listed");
    assert_eq!(note.users, ["bob@p.example"]);
    let markdown = report::render_plan(
        &plan,
        &verifyctl::plan::PlanContext::default(),
        Format::Markdown,
        false,
    );
    assert!(
        markdown.contains("> [!NOTE]\n> 1 user managed by verifyctl is no longer listed"),
        "{markdown}"
    );
    // Ann, still listed, is re-sent; the never-managed stranger is governed by the mode table
    // as before (a verification email), never offboarded.
    assert_eq!(actions_on(&plan, "ann@p.example").len(), 1);
    assert_eq!(
        actions_on(&plan, "stranger@p.example")
            .iter()
            .map(|a| a.kind())
            .collect::<Vec<_>>(),
        [ActionKind::SendVerificationEmail]
    );
    tenant.apply_cleanly(&plan).await;
    assert_eq!(emails_to(&tenant, "bob@p.example"), 1, "no further email");
    assert_eq!(emails_to(&tenant, "ann@p.example"), 2);
    let bob = user(&tenant, "bob@p.example").expect("bob stays");
    assert_ne!(bob["blocked"], true);
}

#[tokio::test]
async fn block_blocks_a_managed_user_who_left_and_listing_it_again_unblocks_it() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    let both = desired(&policy("block", &["ann@p.example", "bob@p.example"]));
    create_all(&tenant, &both).await;

    let without_bob = desired(&policy("block", &["ann@p.example"]));
    let plan = tenant.plan(&without_bob).await;
    let bob_actions = actions_on(&plan, "bob@p.example");
    assert_eq!(bob_actions.len(), 1, "{plan:#?}");
    assert_eq!(bob_actions[0].kind(), ActionKind::BlockUser);
    assert!(
        bob_actions[0].reason.contains("offboarding: block"),
        "{}",
        bob_actions[0].reason
    );
    // The stranger, never managed, is never blocked.
    assert!(
        actions_on(&plan, "stranger@p.example")
            .iter()
            .all(|a| a.kind() != ActionKind::BlockUser)
    );
    // Every printer shows the action with its reason.
    let context = verifyctl::plan::PlanContext::default();
    for format in [Format::Text, Format::Markdown, Format::Json] {
        let text = report::render_plan(&plan, &context, format, false);
        assert!(
            text.contains("block user") || text.contains("block_user"),
            "{format:?}: {text}"
        );
        assert!(text.contains("`offboarding: block`"), "{format:?}: {text}");
    }
    tenant.apply_cleanly(&plan).await;
    let bob = user(&tenant, "bob@p.example").unwrap();
    assert_eq!(bob["blocked"], true);
    let sent = emails_to(&tenant, "bob@p.example");
    // Blocked: nothing more to do (apply then plan is empty for bob).
    assert!(actions_on(&tenant.plan(&without_bob).await, "bob@p.example").is_empty());

    // Listed again: unblocked, and treated as the unblocked, unverified user it is.
    tenant.clock.advance(Duration::hours(2));
    let plan = tenant.plan(&both).await;
    let kinds: Vec<_> = actions_on(&plan, "bob@p.example")
        .iter()
        .map(|a| a.kind())
        .collect();
    assert_eq!(
        kinds,
        [ActionKind::UnblockUser, ActionKind::SendVerificationEmail]
    );
    tenant.apply_cleanly(&plan).await;
    let bob = user(&tenant, "bob@p.example").unwrap();
    assert_eq!(bob["blocked"], false);
    assert!(
        bob["app_metadata"]["verifyctl"]["managed"]
            .get("blocked_at")
            .is_none()
    );
    assert_eq!(emails_to(&tenant, "bob@p.example"), sent + 1);
}

#[tokio::test]
async fn delete_needs_allow_delete_and_stays_within_the_guard() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    let three = ["ann@p.example", "bob@p.example", "cy@p.example"];
    create_all(&tenant, &desired(&policy("delete", &three))).await;
    let dir = PolicyDir::new(&[("p.yaml", &policy("delete", &[]))]);
    let policies = dir.path().to_str().unwrap().to_string();

    // Without --allow-delete: shown as refused, nothing deleted.
    let out = run(&tenant, &["plan", &policies, "--detailed-exitcode"]).await;
    let text = stdout(&out);
    assert!(
        text.contains("3 users managed by verifyctl are no longer listed")
            && text.contains("refused without --allow-delete"),
        "{text}"
    );
    assert!(!text.contains("delete user"), "{text}");
    let out = run(&tenant, &["apply", &policies, "--auto-approve"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(user(&tenant, "bob@p.example").is_some());

    // Above the guard: the whole plan is refused before any write.
    let out = run(
        &tenant,
        &[
            "apply",
            &policies,
            "--auto-approve",
            "--allow-delete",
            "--max-deletes",
            "2",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let error = stderr(&out);
    assert!(
        error.contains("would delete 3 managed users")
            && error.contains("--allow-delete --max-deletes 3"),
        "{error}"
    );
    assert!(user(&tenant, "bob@p.example").is_some());

    // With the flag and room under the guard: the managed users go, the stranger stays.
    let out = run(
        &tenant,
        &["plan", &policies, "--allow-delete", "--format", "json"],
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["summary"]["by_kind"]["delete_user"], 3, "{json}");
    let out = run(
        &tenant,
        &["apply", &policies, "--auto-approve", "--allow-delete"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    for email in three {
        assert!(user(&tenant, email).is_none(), "{email} deleted");
    }
    assert!(user(&tenant, "stranger@p.example").is_some());
    // Deleting is idempotent: a user already gone is not an error.
    tenant
        .client()
        .delete_user("auth0|000000000000000000000000")
        .await
        .expect("deleting a missing user succeeds");
}

#[tokio::test]
async fn listed_users_that_exist_are_marked_once_and_saved_plans_need_the_flag_to_delete() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    // The stranger is listed now: reconciling it marks it managed, on the PATCH of its send.
    let listed = desired(&policy("delete", &["stranger@p.example"]));
    let plan = tenant.plan(&listed).await;
    let send = actions_on(&plan, "stranger@p.example");
    assert_eq!(send.len(), 1);
    assert!(send[0].reason.contains("marks the user as managed"));
    tenant.apply_cleanly(&plan).await;
    let stranger = user(&tenant, "stranger@p.example").unwrap();
    assert!(stranger["app_metadata"]["verifyctl"]["managed"].is_object());

    // Now managed and delisted: a plan saved with --allow-delete deletes it only when apply
    // is given the flag too.
    let dir = PolicyDir::new(&[("p.yaml", &policy("delete", &[]))]);
    let policies = dir.path().to_str().unwrap().to_string();
    let out_dir = tempfile::tempdir().unwrap();
    let saved = out_dir.path().join("plan.json");
    let saved = saved.to_str().unwrap().to_string();
    let out = run(
        &tenant,
        &["plan", &policies, "--allow-delete", "--out", &saved],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("- delete user stranger@p.example"),
        "{}",
        stdout(&out)
    );
    let out = run(
        &tenant,
        &["apply", &policies, "--plan", &saved, "--auto-approve"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--allow-delete"), "{}", stderr(&out));
    assert!(user(&tenant, "stranger@p.example").is_some());
    let out = run(
        &tenant,
        &[
            "apply",
            &policies,
            "--plan",
            &saved,
            "--auto-approve",
            "--allow-delete",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(user(&tenant, "stranger@p.example").is_none());
}

#[tokio::test]
async fn users_created_through_an_import_job_carry_the_mark() {
    let tenant = TestTenant::from_yaml(TENANT).await;
    let emails: Vec<String> = (0..11).map(|i| format!("hire{i:02}@p.example")).collect();
    let emails: Vec<&str> = emails.iter().map(String::as_str).collect();
    let listed = desired(&policy("keep", &emails));
    let plan = tenant.plan(&listed).await;
    assert!(
        plan.actions
            .iter()
            .any(|a| matches!(a.operation, verifyctl::plan::Operation::ImportUser { .. })),
        "more than 10 creates go through an import job"
    );
    tenant.apply_cleanly(&plan).await;
    for email in emails {
        let user = user(&tenant, email).expect("imported");
        assert!(
            user["app_metadata"]["verifyctl"]["managed"]["since"].is_string(),
            "{user}"
        );
    }
}
