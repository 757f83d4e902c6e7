//! Tenant files: YAML and JSON round trips, atomic saves, errors that locate the problem.

use std::path::Path;

use serde_json::json;
use verifyctl::emulator::{
    Emulator, TenantFileError, TenantState, load_tenant_file, save_tenant_file,
};

use super::{ALICE_PATH, FIXTURE, Tenant, config};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn round_trip(state: &TenantState, dir: &Path, name: &str) -> TenantState {
    let path = dir.join(name);
    save_tenant_file(&path, state).unwrap();
    let loaded = load_tenant_file(&path).unwrap();
    assert_eq!(&loaded, state, "{name} round trip");
    loaded
}

#[test]
fn a_hand_written_yaml_tenant_loads_as_written_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let state = load_tenant_file(&write(dir.path(), "tenant.yaml", FIXTURE)).unwrap();
    let bob = &state.users[1];
    assert_eq!(bob.user_id, "", "no id is invented on load");
    assert!(
        bob.other.is_empty() && bob.created_at.is_none(),
        "no defaults on load"
    );
    assert_eq!(state.users[0].other["logins_count"], 3);
    assert_eq!(state.connections[3].other["is_domain_connection"], true);
    round_trip(&state, dir.path(), "again.yml");
    round_trip(&state, dir.path(), "again.json");
}

#[tokio::test]
async fn an_applied_tenant_round_trips_in_both_formats_without_secrets() {
    let tenant = Tenant::start().await;
    let user = json!({"connection": "partner-db", "email": "new@partner.example",
                      "password": "Sup3r!secret-pw", "user_metadata": {"lang": "fr"}});
    assert_eq!(tenant.post("/api/v2/users", &user).await.status, 201);
    let job = json!({"user_id": "auth0|63d17c4a8869daf88ed7db97"});
    assert_eq!(
        tenant
            .post("/api/v2/jobs/verification-email", &job)
            .await
            .status,
        201
    );
    tenant
        .patch(
            ALICE_PATH,
            &json!({"app_metadata": {"verifyctl": {"sent": 1}}}),
        )
        .await;
    let snapshot = tenant.emulator.snapshot();
    assert_eq!(snapshot.users.len(), 3);
    assert_eq!(
        snapshot.users[2].email.as_deref(),
        Some("new@partner.example")
    );
    assert_eq!((snapshot.jobs.len(), snapshot.outbox.len()), (1, 2));
    assert!(
        snapshot.users[1].user_id.starts_with("samlp|"),
        "ids assigned at start"
    );

    let dir = tempfile::tempdir().unwrap();
    for name in ["tenant.yaml", "tenant.json"] {
        round_trip(&snapshot, dir.path(), name);
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(
            !text.contains("Sup3r!secret-pw"),
            "{name} holds no password"
        );
        assert!(!text.contains(&tenant.token), "{name} holds no token");
    }
    let yaml = std::fs::read_to_string(dir.path().join("tenant.yaml")).unwrap();
    assert!(yaml.find("alice@").unwrap() < yaml.find("new@partner").unwrap());

    // A reloaded tenant serves the same data.
    let reloaded = Emulator::new(
        load_tenant_file(&dir.path().join("tenant.json")).unwrap(),
        config(),
    );
    assert_eq!(reloaded.snapshot(), snapshot);
}

#[test]
fn saving_replaces_the_file_atomically_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "tenant.yaml", "domain: old.example\n");
    let state = TenantState::new("new.example");
    save_tenant_file(&path, &state).unwrap();
    assert_eq!(load_tenant_file(&path).unwrap(), state);
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["tenant.yaml"]);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "domain: new.example\n"
    );
}

#[test]
fn errors_name_the_file_and_locate_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = write(
        dir.path(),
        "bad.yaml",
        "domain: x.example\nusers:\n  - email: a@b.c\n    email_verified: maybe\n",
    );
    match load_tenant_file(&yaml).unwrap_err() {
        TenantFileError::Yaml {
            path,
            line,
            message,
            ..
        } => {
            assert_eq!(path, yaml);
            assert_eq!(line, Some(4));
            assert!(message.contains("bad.yaml:4:"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    let json = write(
        dir.path(),
        "bad.json",
        "{\"domain\": \"x\",\n \"users\": 3}",
    );
    let error = load_tenant_file(&json).unwrap_err();
    assert!(
        matches!(error, TenantFileError::Json { line: 2, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("bad.json:2:"), "{error}");
    let unknown = write(dir.path(), "tenant.toml", "");
    assert!(matches!(
        load_tenant_file(&unknown).unwrap_err(),
        TenantFileError::UnknownFormat { .. }
    ));
    let missing = load_tenant_file(&dir.path().join("missing.yaml")).unwrap_err();
    assert!(missing.to_string().contains("missing.yaml"), "{missing}");
    let typo = write(dir.path(), "typo.yaml", "domain: x.example\nuser: []\n");
    assert!(
        load_tenant_file(&typo).is_err(),
        "unknown top-level keys are refused"
    );
}

#[test]
fn the_default_tenant_is_empty_and_saves_as_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.yaml");
    save_tenant_file(&path, &TenantState::default()).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "domain: localhost\n"
    );
}

/// `count` users with the fields real exports carry, some with strings YAML would
/// otherwise read as other types.
fn many_users(count: usize) -> TenantState {
    let mut state: TenantState = serde_saphyr::from_str(FIXTURE).unwrap();
    let tricky = [
        "yes",
        "no",
        "null",
        "~",
        "123",
        "0x1F",
        "1e3",
        "- dash",
        "a: b",
        "#hash",
        " lead",
        "trail ",
        "multi\nline",
        "quote\"s",
        "'single'",
        "tab\there",
        "ünïcødé",
        "*alias",
        "&anchor",
        "!tag",
        "@at",
        "=formula",
        "",
        "2026-01-01",
    ];
    state.users.extend((0..count).map(|i| {
        let odd = tricky[i % tricky.len()];
        verifyctl::emulator::User {
            user_id: format!("auth0|{i:024x}"),
            email: Some(format!("user{i}@partner-db.example")),
            email_verified: Some(i % 2 == 0),
            identities: vec![verifyctl::emulator::Identity {
                connection: "partner-db".into(),
                user_id: Some(json!(format!("{i:024x}"))),
                provider: Some("auth0".into()),
                is_social: Some(false),
                ..Default::default()
            }],
            created_at: Some("2026-01-01T00:00:00.000Z".into()),
            updated_at: Some("2026-01-01T00:00:00.000Z".into()),
            app_metadata: json!({"verifyctl": {"v": 1, "note": odd}, "n": i, odd: odd,
                                 "<<": {"merge": "key"}, "~": null, "f": 1.5})
            .as_object()
            .cloned(),
            user_metadata: json!({"nickname": odd}).as_object().cloned(),
            other: json!({"name": odd, "logins_count": i % 7})
                .as_object()
                .unwrap()
                .clone()
                .into(),
        }
    }));
    state
}

#[test]
fn a_large_tenant_is_written_and_read_back_in_both_formats() {
    // About 50 YAML nodes a user: past serde-saphyr's default budget of 250,000
    // nodes, which used to refuse tenant files of 10,000 users.
    let state = many_users(6_000);
    let dir = tempfile::tempdir().unwrap();
    round_trip(&state, dir.path(), "large.yaml");
    round_trip(&state, dir.path(), "large.json");
}

fn refused(dir: &Path, name: &str, text: &str) -> (Option<u64>, String) {
    let path = write(dir, name, text);
    let error = load_tenant_file(&path).unwrap_err();
    let message = error.to_string();
    assert!(message.contains(name), "{message}");
    for library_words in [
        "budget",
        "DuplicateKeyPolicy",
        "from_str_multiple",
        "Options",
    ] {
        assert!(!message.contains(library_words), "{message}");
    }
    match error {
        TenantFileError::Yaml { line, .. } => (line, message),
        TenantFileError::Json { line, .. } => (Some(line as u64), message),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn malformed_tenants_are_refused_at_the_offending_entry() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (line, message) = refused(
        dir,
        "users.yaml",
        "domain: x.example\nusers:\n  - user_id: auth0|1\n  - email: b@x.example\n  - user_id: auth0|1\n",
    );
    assert_eq!(line, Some(5));
    assert!(message.contains("users.yaml:5:"), "{message}");
    assert!(
        message.contains(r#"two users have the user_id "auth0|1""#),
        "{message}"
    );

    let connection =
        |name: &str, id: &str| format!("  - {{ id: {id}, name: {name}, strategy: auth0 }}\n");
    let names = format!(
        "domain: x.example\nconnections:\n{}{}",
        connection("db", "con_AAAAAAAAAAAAAAAA"),
        connection("db", "con_BBBBBBBBBBBBBBBB")
    );
    let (line, message) = refused(dir, "names.yaml", &names);
    assert_eq!(line, Some(4));
    assert!(
        message.contains(r#"two connections have the name "db""#),
        "{message}"
    );
    let ids = format!(
        "domain: x.example\nconnections:\n{}{}",
        connection("a", "con_AAAAAAAAAAAAAAAA"),
        connection("b", "con_AAAAAAAAAAAAAAAA")
    );
    let (line, message) = refused(dir, "ids.yaml", &ids);
    assert_eq!(line, Some(4));
    assert!(
        message.contains(r#"two connections have the id "con_AAAAAAAAAAAAAAAA""#),
        "{message}"
    );
    let clients = "domain: x.example\nclients:\n  - { client_id: abc, name: A }\n  - { client_id: abc, name: B }\n";
    let (line, message) = refused(dir, "clients.yaml", clients);
    assert_eq!(line, Some(4));
    assert!(
        message.contains(r#"two clients have the client_id "abc""#),
        "{message}"
    );

    for (name, text) in [
        ("number.yaml", "domain: 123\n"),
        ("bool.yaml", "domain: true\n"),
    ] {
        let (line, message) = refused(dir, name, text);
        assert_eq!(line, Some(1));
        assert!(message.contains(&format!("{name}:1:9")), "{message}");
        assert!(message.contains("`domain` must be a string"), "{message}");
    }
    let (line, message) = refused(dir, "twice.yaml", "domain: a.example\ndomain: b.example\n");
    assert_eq!(line, Some(2));
    assert!(
        message.contains("the key `domain` appears twice"),
        "{message}"
    );
    let (_, message) = refused(
        dir,
        "documents.yaml",
        "domain: a.example\n---\ndomain: b.example\n",
    );
    assert!(message.contains("holds one YAML document"), "{message}");

    let (line, message) = refused(
        dir,
        "clients.json",
        "{\"domain\": \"x\",\n \"clients\": [{\"client_id\": \"a\", \"name\": \"A\"},\n {\"client_id\": \"a\", \"name\": \"B\"}]}",
    );
    assert_eq!(line, Some(3));
    assert!(
        message.contains(r#"two clients have the client_id "a""#),
        "{message}"
    );
    let (line, message) = refused(dir, "domain.json", "{\"domain\": 5}");
    assert_eq!(line, Some(1));
    assert!(message.contains("domain as a string"), "{message}");
    assert!(
        !message.contains("at line"),
        "the place is said once: {message}"
    );
}

#[tokio::test]
async fn writing_back_keeps_every_key_and_untouched_connections_as_loaded() {
    let text = format!("{FIXTURE}settings:\n  verify_email_template_enabled: true\n");
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "tenant.yaml", &text);
    let loaded = load_tenant_file(&path).unwrap();
    assert_eq!(loaded.settings.verify_email_template_enabled, Some(true));
    let tenant = Tenant::start_with(loaded.clone(), config()).await;
    // partner-db patched with its display name, employees-db (which has none) without.
    let patched = tenant
        .patch(
            "/api/v2/connections/con_ftSSLHb0O7rcUGmF",
            &json!({"display_name": "Partner DB", "options": {"passwordPolicy": "good"}}),
        )
        .await;
    assert_eq!(patched.status, 200);
    let reset = tenant
        .patch(
            "/api/v2/connections/con_Emp1oyeesDB0000A",
            &json!({"options": {"passwordPolicy": "low", "requires_username": true}}),
        )
        .await;
    assert_eq!(
        reset.body["display_name"], "employees-db",
        "Auth0 sets display_name to the name when a PATCH leaves it out"
    );
    let snapshot = tenant.emulator.snapshot();
    save_tenant_file(&path, &snapshot).unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(
        written.contains("verify_email_template_enabled: true"),
        "{written}"
    );
    let back = load_tenant_file(&path).unwrap();
    for untouched in ["google-oauth2", "corp-saml"] {
        let before = loaded.connections.iter().find(|c| c.name == untouched);
        let after = back.connections.iter().find(|c| c.name == untouched);
        assert_eq!(before, after, "{untouched} comes back as loaded");
        assert!(
            after.unwrap().display_name.is_none(),
            "no display_name invented"
        );
    }
    assert_eq!(
        back.connections[0].display_name.as_deref(),
        Some("Partner DB")
    );
    assert_eq!(
        back.connections[1].display_name.as_deref(),
        Some("employees-db")
    );
    assert_eq!(back.connections[3].other["is_domain_connection"], true);
    assert_eq!(back.clients, loaded.clients, "clients keep every key");
    assert_eq!(back.users[0], loaded.users[0], "users keep every key");
}
