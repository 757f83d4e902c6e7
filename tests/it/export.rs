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
