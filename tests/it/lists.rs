//! User lists (`users_file: FILE.csv|FILE.json` on a connection) and nested policy folders:
//! a CSV list plans exactly as the same users in YAML, every problem of a list is located at
//! its file:row:column (JSON at line:column) with the YAML users' rules, a list may serve two
//! connections, and every `*.yaml` under the policy directory is read, hidden folders not.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;
use verifyctl::emulator::TenantState;
use verifyctl::plan::{Plan, build_plan};
use verifyctl::policy::{DesiredState, load_dir};

use crate::support::{TestTenant, stderr, stdout, verifyctl};

/// Writes `files` (path relative to the directory, contents) into a new temp directory.
fn policy_tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn problems(dir: &Path) -> Vec<String> {
    let root = format!("{}/", dir.display());
    load_dir(dir)
        .expect_err("the policies must not load")
        .items
        .iter()
        .map(|d| format!("{} {}", d.origin.to_string().replace(&root, ""), d.message))
        .collect()
}

const PARTNERS: &str = "connections:\n  - name: partner-db\n    email_verification: required\n    users_file: partners.csv\n";

/// 10,000 users in the tenant's `bulk-db` (every other one verified).
fn tenant_with_users(count: usize) -> TenantState {
    let users: Vec<_> = (0..count)
        .map(|i| {
            let id = format!("{i:024x}");
            json!({
                "user_id": format!("auth0|{id}"),
                "email": format!("user{i:05}@bulk.example"),
                "email_verified": i % 2 == 0,
                "name": format!("User {i}"),
                "identities": [{"connection": "bulk-db", "user_id": id, "provider": "auth0", "isSocial": false}],
                "created_at": "2026-01-01T00:00:00.000Z",
                "updated_at": "2026-01-01T00:00:00.000Z",
            })
        })
        .collect();
    serde_json::from_value(json!({
        "domain": "bulk.test",
        "connections": [{"id": "con_BuLkDb0000000001", "name": "bulk-db", "strategy": "auth0"}],
        "users": users,
    }))
    .unwrap()
}

/// What a plan does, without where the policies said it (origins differ by design).
fn actions(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| {
            let reason = match a.reason.split_once("listed at ") {
                Some((before, after)) => {
                    let rest = after.split_once(' ').map_or("", |(_, rest)| rest);
                    format!("{before}listed at … {rest}")
                }
                None => a.reason.clone(),
            };
            format!("{:?} {:?} {reason} {:?}", a.kind(), a.target, a.changes)
        })
        .collect()
}

#[tokio::test]
async fn a_ten_thousand_row_csv_plans_like_the_same_users_in_yaml() {
    const CONNECTION: &str = "connections:\n  - name: bulk-db\n    email_verification: required\n    resend: { after: 72h, max: 2 }\n";
    // Users 5,000..15,000: half exist (every other one unverified), half are new; some are
    // renamed, some carry metadata, some are onboarded by password reset.
    let mut csv = String::from("email,name,onboarding,user_metadata.team\n");
    let mut yaml = String::from("users:\n");
    for i in 5_000..15_000 {
        let name = if i % 3 == 0 {
            format!("Renamed, {i}")
        } else {
            format!("User {i}")
        };
        let onboarding = if i % 7 == 0 { "password-reset" } else { "" };
        let team = if i % 5 == 0 { "blue" } else { "" };
        writeln!(
            csv,
            "USER{i:05}@bulk.example,\"{name}\",{onboarding},{team}"
        )
        .unwrap();
        write!(
            yaml,
            "  - connection: bulk-db\n    email: USER{i:05}@bulk.example\n    name: \"{name}\"\n"
        )
        .unwrap();
        if !onboarding.is_empty() {
            writeln!(yaml, "    onboarding: {onboarding}").unwrap();
        }
        if !team.is_empty() {
            writeln!(yaml, "    user_metadata: {{ team: {team} }}").unwrap();
        }
    }
    let from_csv = policy_tree(&[
        (
            "bulk.yaml",
            &format!("{CONNECTION}    users_file: lists/bulk.csv\n"),
        ),
        ("lists/bulk.csv", &csv),
    ]);
    let from_yaml = policy_tree(&[("bulk.yaml", CONNECTION), ("users.yaml", &yaml)]);
    let with_csv: DesiredState = load_dir(from_csv.path()).unwrap();
    let with_yaml: DesiredState = load_dir(from_yaml.path()).unwrap();
    assert_eq!(with_csv.users.len(), 10_000);
    assert_eq!(
        with_csv.files.len(),
        2,
        "the list file counts as a policy file (digests of saved plans)"
    );
    assert!(
        with_csv.users[0]
            .policy
            .origin
            .ends_with("lists/bulk.csv:2:1")
    );

    let tenant = TestTenant::start(tenant_with_users(10_000)).await;
    let live = tenant.live(&with_csv).await;
    let csv_plan = build_plan(&with_csv, &live, tenant.clock.now()).unwrap();
    let yaml_plan = build_plan(&with_yaml, &live, tenant.clock.now()).unwrap();
    assert!(csv_plan.actions.len() > 5_000, "{}", csv_plan.actions.len());
    let (csv_actions, yaml_actions) = (actions(&csv_plan), actions(&yaml_plan));
    assert_eq!(csv_actions.len(), yaml_actions.len());
    for (csv, yaml) in csv_actions.iter().zip(&yaml_actions) {
        assert_eq!(csv, yaml);
    }
    assert_eq!(csv_plan.warnings.len(), yaml_plan.warnings.len());
}

#[test]
fn a_list_of_100k_rows_validates() {
    // The figure is measured by hand (see the README); here only that it loads.
    let mut csv = String::with_capacity(100_000 * 40);
    csv.push_str("email,given_name,app_metadata.region\n");
    for i in 0..100_000 {
        writeln!(csv, "member{i:06}@scale.example,Member,eu").unwrap();
    }
    let dir = policy_tree(&[("p.yaml", PARTNERS), ("partners.csv", &csv)]);
    let state = load_dir(dir.path()).unwrap();
    assert_eq!(state.users.len(), 100_000);
    let output = verifyctl(&["validate", dir.path().to_str().unwrap()], &[], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("100000 users"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn broken_csv_lists_are_located_at_row_and_column() {
    let dir = policy_tree(&[
        (
            "p.yaml",
            "connections:\n  - name: partner-db\n    email_verification: required\n    users_file: partners.csv\n  - name: staff\n    email_verification: trusted\n    users_file: staff/list.CSV\nusers:\n  - connection: partner-db\n    email: carol@partner.example\n",
        ),
        (
            "partners.csv",
            "email,nmae,onboarding\nalice@partner.example,Alice,\nbob@partner,Bob,\n\"eve@partner.example,Eve,\nnever closed\n",
        ),
        (
            // A byte-order mark (as Excel writes) is fine; CRLF line ends too.
            "staff/list.CSV",
            "\u{feff}email,name,onboarding,user_metadata.desk\r\nCarol@Partner.example,Carol,,\r\nann@corp.example,\"Ann \"\"the boss\"\"\",verification-email,\r\nann@CORP.example,Ann again,,3F\r\ndan@corp.example,Dan,sometimes,\r\n",
        ),
    ]);
    assert_eq!(
        problems(dir.path()),
        [
            "partners.csv:1:7 unknown column `nmae`, expected one of `email`, `name`, `given_name`, `family_name`, `email_verification`, `onboarding`, `user_metadata.KEY`, `app_metadata.KEY`",
            "partners.csv:3:1 invalid email address `bob@partner`: the domain `partner` has no `.`",
            "partners.csv:4:1 this `\"` opens a quoted cell that is never closed",
            "staff/list.CSV:3:37 `onboarding: verification-email` conflicts with `email_verification: trusted` for ann@corp.example",
            "staff/list.CSV:4:1 user ann@corp.example is listed twice for connection `staff` (emails are compared case-insensitively)",
            "staff/list.CSV:5:22 unknown value `sometimes` for `onboarding`, expected one of `verification-email`, `password-reset`, `none`",
        ]
    );
    let errors = load_dir(dir.path()).unwrap_err();
    let unknown = &errors.items[0];
    assert_eq!(unknown.hint.as_deref(), Some("did you mean `name`?"));
    // Snippets come from the list file, with the caret under the cell.
    let rendered = errors.render_human();
    assert!(
        rendered.contains("3 | bob@partner,Bob,\n  | ^"),
        "{rendered}"
    );
}

#[test]
fn a_user_in_yaml_and_in_a_list_is_a_duplicate() {
    let dir = policy_tree(&[
        (
            "p.yaml",
            &format!(
                "{PARTNERS}users:\n  - connection: partner-db\n    email: Alice@partner.example\n"
            ),
        ),
        (
            "partners.csv",
            "email\nbob@partner.example\nALICE@partner.example\n",
        ),
    ]);
    let errors = load_dir(dir.path()).unwrap_err();
    assert_eq!(errors.items.len(), 1, "{}", errors.render_human());
    let duplicate = &errors.items[0];
    assert!(
        duplicate.origin.to_string().ends_with("partners.csv:3:1")
            || duplicate.origin.to_string().ends_with("p.yaml:7:12"),
        "{}",
        duplicate.origin
    );
    assert!(
        duplicate.message.contains("listed twice"),
        "{}",
        duplicate.message
    );
    assert_eq!(duplicate.related.len(), 1);
}

#[test]
fn json_lists_hold_the_same_entries_located_at_line_and_column() {
    let dir = policy_tree(&[
        (
            "p.yaml",
            "connections:\n  - name: partner-db\n    email_verification: required\n    users_file: partners.json\n",
        ),
        (
            "partners.json",
            "[\n  {\"email\": \"alice@partner.example\", \"name\": \"Alice\", \"app_metadata\": {\"tier\": 2}},\n  {\"email\": \"bob@partner\", \"emial\": \"x\"},\n\t{\"connection\": \"other\", \"email\": \"c@partner.example\"}\n]\n",
        ),
    ]);
    assert_eq!(
        problems(dir.path()),
        [
            "partners.json:3:13 invalid email address `bob@partner`: the domain `partner` has no `.`",
            "partners.json:3:28 unknown field `emial`, expected one of `connection`, `email`, `name`, `given_name`, `family_name`, `user_metadata`, `app_metadata`, `email_verification`, `onboarding`",
            "partners.json:4:3 a user of a user list has no `connection`",
        ]
    );
    let broken = policy_tree(&[
        (
            "p.yaml",
            "connections:\n  - name: partner-db\n    email_verification: required\n    users_file: partners.json\n",
        ),
        (
            "partners.json",
            "[\n  {\"email\": \"a@partner.example\"}\n  {\"email\": \"b@partner.example\"}\n]\n",
        ),
    ]);
    assert_eq!(
        problems(broken.path()),
        ["partners.json:3:3 invalid JSON: expected `,` or `]`"]
    );
    let good = policy_tree(&[
        (
            "p.yaml",
            "connections:\n  - name: partner-db\n    email_verification: required\n    users_file: partners.json\n",
        ),
        (
            "partners.json",
            "[{\"email\": \"a@partner.example\", \"user_metadata\": {\"seat\": {\"row\": 3}}, \"onboarding\": \"password-reset\"}]",
        ),
    ]);
    let state = load_dir(good.path()).unwrap();
    assert_eq!(state.users.len(), 1);
    assert_eq!(
        state.users[0]
            .policy
            .profile
            .user_metadata
            .as_ref()
            .unwrap()["seat"],
        json!({"row": 3})
    );
}

#[test]
fn a_list_may_serve_two_connections_and_its_problems_are_reported_once() {
    let dir = policy_tree(&[
        (
            "p.yaml",
            "connections:\n  - name: eu-db\n    email_verification: required\n    users_file: lists/shared.csv\n  - name: us-db\n    email_verification: required\n    users_file: ./lists/../lists/shared.csv\n",
        ),
        (
            "lists/shared.csv",
            "email,name\na@corp.example,A\nb@corp.example,B\n",
        ),
    ]);
    let state = load_dir(dir.path()).unwrap();
    let users: Vec<(&str, &str)> = state
        .users
        .iter()
        .map(|u| (u.connection.as_str(), u.email.as_str()))
        .collect();
    assert_eq!(
        users,
        [
            ("eu-db", "a@corp.example"),
            ("eu-db", "b@corp.example"),
            ("us-db", "a@corp.example"),
            ("us-db", "b@corp.example"),
        ]
    );
    assert_eq!(state.files.len(), 2, "the list is one file");
    std::fs::write(
        dir.path().join("lists/shared.csv"),
        "email,name\nnot-an-email,A\n",
    )
    .unwrap();
    assert_eq!(
        problems(dir.path()),
        ["lists/shared.csv:2:1 invalid email address `not-an-email`: it has no `@`"]
    );
}

#[test]
fn list_paths_are_checked_where_the_policy_names_them() {
    let dir = policy_tree(&[(
        "p.yaml",
        "connections:\n  - name: a-db\n    email_verification: off\n    users_file: missing.csv\n  - name: b-db\n    email_verification: off\n    users_file: ../outside.csv\n  - name: c-db\n    email_verification: off\n    users_file: users.yaml\n",
    )]);
    let found = problems(dir.path());
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].starts_with("p.yaml:4:17 the user list "),
        "{}",
        found[0]
    );
    assert!(
        found[0].ends_with("missing.csv` does not exist"),
        "{}",
        found[0]
    );
    assert!(
        found[1].starts_with(
            "p.yaml:7:17 `users_file` `../outside.csv` is outside the policy directory"
        )
    );
    assert_eq!(
        found[2],
        "p.yaml:10:17 `users_file` `users.yaml` is neither a .csv nor a .json file"
    );
}

#[test]
fn nested_folders_are_read_and_hidden_ones_skipped() {
    let dir = policy_tree(&[
        (
            "connections.yaml",
            "connections:\n  - name: partner-db\n    email_verification: required\n",
        ),
        (
            "teams/eu/partners.yml",
            "users:\n  - connection: partner-db\n    email: eu@partner.example\n",
        ),
        (
            "teams/us.yaml",
            "users:\n  - connection: partner-db\n    email: us@partner.example\n",
        ),
        // Hidden folders and files are not policies, whatever they hold.
        (".git/config.yaml", "not: [a policy\n"),
        (
            "teams/.drafts/next.yaml",
            "users:\n  - connection: nowhere\n    email: x\n",
        ),
        ("teams/.next.yaml", "broken: ["),
        ("teams/notes.md", "not yaml"),
    ]);
    let state = load_dir(dir.path()).unwrap();
    let files: Vec<String> = state
        .files
        .iter()
        .map(|f| f.file.replace(&format!("{}/", dir.path().display()), ""))
        .collect();
    assert_eq!(
        files,
        ["connections.yaml", "teams/eu/partners.yml", "teams/us.yaml"],
        "every policy file, in path order"
    );
    assert_eq!(state.users.len(), 2);
    // A problem in a subfolder is located in it.
    std::fs::write(
        dir.path().join("teams/us.yaml"),
        "users:\n  - connection: partner-db\n    email: eu@partner.example\n",
    )
    .unwrap();
    let found = problems(dir.path());
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("teams/us.yaml:3:12 user eu@partner.example is listed twice"),
        "{}",
        found[0]
    );
}
