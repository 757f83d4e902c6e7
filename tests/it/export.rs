//! `verifyctl export`: policies that describe a tenant as it is. `plan` right after an export
//! shows no changes (the example tenant through `--tenant-file`, and a 10,000-user
//! connection over HTTP, whose list is written as CSV); existing files are never
//! overwritten without `--force`.

use serde_json::json;
use verifyctl::emulator::TenantState;

use crate::support::{TestTenant, repo_root, stderr, stdout, verifyctl, verifyctl_async};

#[test]
fn export_then_plan_is_empty_on_the_example_tenant() {
    let work = tempfile::tempdir().unwrap();
    let tenant = work.path().join("tenant.yaml");
    std::fs::copy(repo_root().join("examples/tenant.yaml"), &tenant).unwrap();
    let tenant = tenant.to_str().unwrap();
    let out = work.path().join("exported");
    let out = out.to_str().unwrap();

    let exported = verifyctl(
        &["export", out, "--tenant-file", tenant, "--users"],
        &[],
        None,
    );
    assert_eq!(exported.status.code(), Some(0), "{}", stderr(&exported));
    assert!(
        stderr(&exported).contains("shows no changes"),
        "{}",
        stderr(&exported)
    );
    let connections = std::fs::read_to_string(format!("{out}/connections.yaml")).unwrap();
    assert!(
        connections.starts_with("# yaml-language-server: $schema=../schemas/policy.schema.json\n"),
        "{connections}"
    );
    assert!(connections.contains("  - name: partner-db\n    email_verification: off"));
    assert!(connections.contains("# decide: required | trusted | off"));
    let applications = std::fs::read_to_string(format!("{out}/applications.yaml")).unwrap();
    assert!(
        applications.contains("  - name: Partner Portal\n"),
        "{applications}"
    );
    assert!(
        !applications.contains("All Applications"),
        "the global client is not an application to decide on"
    );
    let users = std::fs::read_to_string(format!("{out}/users-partner-db.yaml")).unwrap();
    assert!(
        users.contains("    email: alice@northwind.example\n    name: Alice Moreau\n"),
        "{users}"
    );

    let plan = verifyctl(
        &["plan", out, "--tenant-file", tenant, "--detailed-exitcode"],
        &[],
        None,
    );
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}{}",
        stdout(&plan),
        stderr(&plan)
    );
    assert!(stdout(&plan).contains("No changes."), "{}", stdout(&plan));

    // A second export refuses to overwrite what the first wrote, and changes nothing.
    std::fs::write(
        format!("{out}/connections.yaml"),
        "# edited\nconnections: []\n",
    )
    .unwrap();
    let again = verifyctl(&["export", out, "--tenant-file", tenant], &[], None);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exist"),
        "{}",
        stderr(&again)
    );
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert_eq!(
        std::fs::read_to_string(format!("{out}/connections.yaml")).unwrap(),
        "# edited\nconnections: []\n"
    );
    let forced = verifyctl(
        &["export", out, "--tenant-file", tenant, "--force"],
        &[],
        None,
    );
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert!(
        std::fs::read_to_string(format!("{out}/connections.yaml"))
            .unwrap()
            .contains("partner-db")
    );
}

/// A tenant whose `bulk-db` has `count` users (every third unverified, some without names)
/// and a small `staff-db`.
fn big_tenant(count: usize) -> TenantState {
    let mut users: Vec<_> = (0..count)
        .map(|i| {
            let id = format!("{i:024x}");
            let mut user = json!({
                "user_id": format!("auth0|{id}"),
                "email": format!("user{i:05}@bulk.example"),
                "email_verified": i % 3 != 0,
                "identities": [{"connection": "bulk-db", "user_id": id, "provider": "auth0", "isSocial": false}],
                "created_at": "2026-01-01T00:00:00.000Z",
                "updated_at": "2026-01-01T00:00:00.000Z",
            });
            if i % 4 != 0 {
                user["name"] = json!(format!("Doe, \"J\" {i}"));
                user["given_name"] = json!(format!("J{i}"));
            }
            user
        })
        .collect();
    users.push(json!({
        "user_id": "auth0|staff000000000000000001",
        "email": "ann@corp.example",
        "email_verified": false,
        "name": "Ann Staff",
        "identities": [{"connection": "staff-db", "user_id": "staff000000000000000001", "provider": "auth0", "isSocial": false}],
    }));
    serde_json::from_value(json!({
        "domain": "bulk.test",
        "connections": [
            {"id": "con_BuLkDb0000000001", "name": "bulk-db", "strategy": "auth0", "options": {"disable_signup": true}},
            {"id": "con_StaffDb000000001", "name": "staff-db", "strategy": "auth0", "options": {}},
        ],
        "clients": [
            {"client_id": "Portal000000000000000000000000001", "name": "Portal", "app_type": "spa"},
            {"client_id": "Portal000000000000000000000000002", "name": "Portal", "app_type": "spa"},
        ],
        "users": users,
    }))
    .unwrap()
}

#[tokio::test]
async fn export_then_plan_is_empty_for_a_ten_thousand_user_connection() {
    let tenant = TestTenant::start(big_tenant(10_000)).await;
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("policies").display().to_string();

    let unknown = verifyctl_async(
        vec![
            "export".into(),
            out.clone(),
            "--users".into(),
            "bulk_db".into(),
        ],
        tenant.env(),
    )
    .await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("did you mean `bulk-db`?"),
        "{}",
        stderr(&unknown)
    );
    assert!(!work.path().join("policies").exists(), "nothing written");

    let exported = verifyctl_async(
        vec![
            "export".into(),
            out.clone(),
            "--users".into(),
            "bulk-db".into(),
            "--users".into(),
            "staff-db".into(),
        ],
        tenant.env(),
    )
    .await;
    assert_eq!(exported.status.code(), Some(0), "{}", stderr(&exported));
    let connections = std::fs::read_to_string(format!("{out}/connections.yaml")).unwrap();
    assert!(
        connections.contains("  - name: bulk-db\n    email_verification: off        # decide: required | trusted | off (off changes nothing)\n    offboarding: keep              # decide: keep | block | delete, for managed users no policy lists any more\n    signup: disabled "),
        "{connections}"
    );
    assert!(
        connections.contains("    users_file: users/bulk-db.csv\n"),
        "{connections}"
    );
    assert!(connections.contains("  - name: staff-db\n    email_verification: off        # decide: required | trusted | off (off changes nothing)\n    offboarding: keep              # decide: keep | block | delete, for managed users no policy lists any more\n    signup: enabled "));
    let csv = std::fs::read_to_string(format!("{out}/users/bulk-db.csv")).unwrap();
    assert_eq!(csv.lines().count(), 10_001, "a header and one row per user");
    assert!(csv.starts_with("email,name,given_name\nuser00000@bulk.example,,\nuser00001@bulk.example,\"Doe, \"\"J\"\" 1\",J1\n"), "{}", &csv[..200]);
    let staff = std::fs::read_to_string(format!("{out}/users-staff-db.yaml")).unwrap();
    assert!(
        staff.contains(
            "  - connection: staff-db\n    email: ann@corp.example\n    name: Ann Staff\n"
        ),
        "{staff}"
    );
    // Applications sharing a name are named by client_id.
    let applications = std::fs::read_to_string(format!("{out}/applications.yaml")).unwrap();
    assert!(
        applications.contains("  - client_id: Portal000000000000000000000000001\n"),
        "{applications}"
    );

    let plan = verifyctl_async(
        vec!["plan".into(), out.clone(), "--detailed-exitcode".into()],
        tenant.env(),
    )
    .await;
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}{}",
        stdout(&plan),
        stderr(&plan)
    );
    assert!(stdout(&plan).contains("No changes."), "{}", stdout(&plan));
}

/// A tenant where an earlier apply deployed and bound verifyctl's login Action: `partners`
/// blocks unverified logins, `staff` is trusted, `guests` is in no policy, and Partner Portal
/// requires a verified address.
const ENFORCED_TENANT: &str = r#"
domain: enforced.test
clients:
  - {client_id: PortalClient00000000000000000001, name: Partner Portal, app_type: regular_web}
  - {client_id: OtherClient000000000000000000001, name: Back Office, app_type: spa}
connections:
  - {id: con_PartnersDb000001, name: partners, strategy: auth0, options: {disable_signup: true}}
  - {id: con_StaffDb000000001, name: staff, strategy: auth0, options: {disable_signup: true}}
  - {id: con_GuestsDb00000001, name: guests, strategy: auth0, options: {}}
users:
  - {user_id: "auth0|p1", email: ann@partner.example, email_verified: false, identities: [{connection: partners, user_id: p1, provider: auth0, isSocial: false}]}
  - {user_id: "auth0|p2", email: bob@partner.example, email_verified: true, identities: [{connection: partners, user_id: p2, provider: auth0, isSocial: false}]}
  - {user_id: "auth0|g1", email: gus@guest.example, email_verified: false, identities: [{connection: guests, user_id: g1, provider: auth0, isSocial: false}]}
"#;

const ENFORCING_POLICY: &str = "connections:\n  - name: partners\n    email_verification: required\n    block_unverified_login: true\n  - name: staff\n    email_verification: trusted\napplications:\n  - name: Partner Portal\n    email_verification: required\nlogin:\n  deny_message: Verify your address first.\n";

async fn export_to(tenant: &TestTenant, out: &str, force: bool) -> std::process::Output {
    let mut args = vec!["export".to_string(), out.to_string()];
    if force {
        args.push("--force".into());
    }
    verifyctl_async(args, tenant.env()).await
}

async fn plan_of(tenant: &TestTenant, dir: &str) -> std::process::Output {
    verifyctl_async(
        vec!["plan".into(), dir.into(), "--detailed-exitcode".into()],
        tenant.env(),
    )
    .await
}

#[tokio::test]
async fn export_keeps_the_login_action_an_earlier_apply_deployed_and_plans_no_email() {
    let tenant = TestTenant::from_yaml(ENFORCED_TENANT).await;
    let work = tempfile::tempdir().unwrap();
    let first = work.path().join("first");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::write(first.join("p.yaml"), ENFORCING_POLICY).unwrap();
    let first = first.display().to_string();
    let applied = verifyctl_async(
        vec!["apply".into(), first.clone(), "--auto-approve".into()],
        tenant.env(),
    )
    .await;
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    assert_eq!(plan_of(&tenant, &first).await.status.code(), Some(0));

    let out = work.path().join("exported").display().to_string();
    let exported = export_to(&tenant, &out, false).await;
    assert_eq!(exported.status.code(), Some(0), "{}", stderr(&exported));
    assert!(
        !stderr(&exported).contains("warning"),
        "{}",
        stderr(&exported)
    );
    let connections = std::fs::read_to_string(format!("{out}/connections.yaml")).unwrap();
    assert!(
        connections.contains("  - name: partners\n    # The login Action denies")
            && connections
                .contains("    email_verification: required\n    block_unverified_login: true\n"),
        "{connections}"
    );
    assert!(
        connections.contains("  - name: staff\n    email_verification: off        # the login Action lets its users pass"),
        "{connections}"
    );
    // In no policy, so neither blocked nor exempt: left out, as comments.
    assert!(
        connections.contains("left out of the policies.")
            && connections.contains("  # - name: guests\n"),
        "{connections}"
    );
    let applications = std::fs::read_to_string(format!("{out}/applications.yaml")).unwrap();
    assert!(
        applications.contains("  - name: Partner Portal\n    email_verification: required "),
        "{applications}"
    );
    assert!(
        applications.contains("  - name: Back Office\n    email_verification: off "),
        "{applications}"
    );
    let login = std::fs::read_to_string(format!("{out}/login.yaml")).unwrap();
    assert!(
        login.contains("  action_name: verifyctl-email-verification\n  deny_message: Verify your address first.\n"),
        "{login}"
    );
    let plan = plan_of(&tenant, &out).await;
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}{}",
        stdout(&plan),
        stderr(&plan)
    );
    assert!(stdout(&plan).contains("No changes."), "{}", stdout(&plan));

    // A new unverified user was never sent an email: `required` would plan one now, so the
    // connection is left out, with a warning, and the plan has no email (only the Action
    // change the warning announces).
    tenant
        .client()
        .create_user(&verifyctl::tenant::types::CreateUserRequest {
            connection: "partners".into(),
            email: "cy@partner.example".into(),
            password: Some(verifyctl::secret::Secret::new("Correct-Horse-9-Battery")),
            email_verified: false,
            verify_email: false,
            profile: verifyctl::auth0::Profile::default(),
        })
        .await
        .unwrap();
    let again = export_to(&tenant, &out, true).await;
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("warning: the tenant's login Action `verifyctl-email-verification` cannot be kept exactly as it is: `partners` is left out"),
        "{}",
        stderr(&again)
    );
    let connections = std::fs::read_to_string(format!("{out}/connections.yaml")).unwrap();
    assert!(
        connections.contains("send 1 email")
            && connections.contains("  # - name: partners\n  #   email_verification: required\n  #   block_unverified_login: true\n"),
        "{connections}"
    );
    let plan = plan_of(&tenant, &out).await;
    assert_eq!(plan.status.code(), Some(2), "{}", stdout(&plan));
    let shown = stdout(&plan);
    assert!(shown.contains("login Action"), "{shown}");
    assert!(!shown.to_lowercase().contains("email to"), "{shown}");
    assert!(!shown.contains("send verification"), "{shown}");
}

#[tokio::test]
async fn an_action_whose_rules_cannot_be_read_is_exported_as_before_with_a_warning() {
    let tenant = TestTenant::from_yaml(
        r#"
domain: edited.test
connections:
  - {id: con_PartnersDb000001, name: partners, strategy: auth0, options: {disable_signup: true}}
actions:
  - name: verifyctl-email-verification
    code: "exports.onExecutePostLogin = async (event, api) => { api.access.deny('no'); };"
    deployed_version: {}
bindings:
  post-login:
    - action_name: verifyctl-email-verification
"#,
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("exported").display().to_string();
    let exported = export_to(&tenant, &out, false).await;
    assert_eq!(exported.status.code(), Some(0), "{}", stderr(&exported));
    let warned = stderr(&exported);
    assert!(
        warned.contains("warning: the tenant's login Action `verifyctl-email-verification` is deployed and bound, but its code has no `const POLICY = {…};` line")
            && warned.contains("the next `verifyctl apply` will unbind it")
            && warned.contains("`block_unverified_login: true`"),
        "{warned}"
    );
    let connections = std::fs::read_to_string(format!("{out}/connections.yaml")).unwrap();
    assert!(
        connections.contains("  - name: partners\n    email_verification: off "),
        "{connections}"
    );
    assert!(!std::path::Path::new(&format!("{out}/login.yaml")).exists());
    let plan = plan_of(&tenant, &out).await;
    assert_eq!(plan.status.code(), Some(2), "{}", stdout(&plan));
    assert!(stdout(&plan).contains("unbind"), "{}", stdout(&plan));
}
