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
