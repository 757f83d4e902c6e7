//! Secrets never leave verifyctl: the client secret, access tokens and generated passwords
//! appear in no output (stdout, stderr with debug logging, JSON plans) and in no file.

use verifyctl::emulator::EmulatorConfig;

use crate::support::{
    PolicyDir, TEST_CLIENT_SECRET, TestTenant, repo_root, stderr, stdout, tenant_state, verifyctl,
    verifyctl_async,
};

const TENANT: &str = "domain: secrets.test
connections:
  - {id: con_SecretsDb00000001, name: partners, strategy: auth0, options: {passwordPolicy: excellent}}
users:
  - user_id: auth0|000000000000000000000aaa
    email: existing@partner.example
    email_verified: false
    identities: [{connection: partners, user_id: \"000000000000000000000aaa\", provider: auth0, isSocial: false}]
";

const POLICY: &str = "connections:
  - name: partners
    email_verification: required
users:
  - connection: partners
    email: one@partner.example
  - connection: partners
    email: two@partner.example
    onboarding: password-reset
  - connection: partners
    email: three@partner.example
    name: Three
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_any_output() {
    let tenant = TestTenant::start_with(
        tenant_state(TENANT),
        EmulatorConfig {
            capture_bodies: true,
            ..EmulatorConfig::default()
        },
    )
    .await;
    let policies = PolicyDir::new(&[("p.yaml", POLICY)]);
    let dir = policies.path().to_str().expect("utf-8").to_string();
    let mut env = tenant.env();
    env.push(("VERIFYCTL_LOG", "debug".into()));

    let mut outputs = Vec::new();
    for args in [
        vec!["plan", dir.as_str()],
        vec!["plan", dir.as_str(), "--format", "json"],
        vec!["apply", dir.as_str(), "--auto-approve"],
        vec!["apply", dir.as_str(), "--auto-approve", "--format", "json"],
    ] {
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let output = verifyctl_async(args.clone(), env.clone()).await;
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        outputs.push(format!("{}{}", stdout(&output), stderr(&output)));
    }

    let passwords: Vec<String> = tenant
        .emulator
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v2/users")
        .filter_map(|r| {
            let body: serde_json::Value = serde_json::from_str(r.body.as_deref()?).ok()?;
            body["password"].as_str().map(str::to_string)
        })
        .collect();
    assert_eq!(
        passwords.len(),
        3,
        "the three creates carried generated passwords"
    );
    for output in &outputs {
        assert!(
            !output.contains(TEST_CLIENT_SECRET),
            "client secret leaked:\n{output}"
        );
        assert!(!output.contains("Bearer"), "a token leaked:\n{output}");
        for password in &passwords {
            assert!(
                !output.contains(password.as_str()),
                "password leaked:\n{output}"
            );
        }
    }
    // The debug log really was on (so the check covers it).
    assert!(
        outputs
            .iter()
            .any(|o| o.contains("DEBUG") || o.contains("debug"))
    );
}

#[test]
fn tenant_files_never_store_passwords_or_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("tenant.yaml");
    std::fs::copy(repo_root().join("examples/tenant.yaml"), &file).expect("copy");
    let file = file.to_str().expect("utf-8").to_string();
    let policies = repo_root().join("policies");
    let output = verifyctl(
        &[
            "apply",
            policies.to_str().expect("utf-8"),
            "--tenant-file",
            &file,
            "--auto-approve",
        ],
        &[("VERIFYCTL_NOW", crate::support::NOW_TEXT.to_string())],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(&file).expect("read");
    let state: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
    for user in state["users"].as_array().expect("users") {
        assert!(
            user.get("password").is_none(),
            "a password was stored: {user}"
        );
    }
    assert!(!text.contains("password:"), "a password field was written");
    for client in state["clients"].as_array().expect("clients") {
        assert!(
            client.get("client_secret").is_none(),
            "a client secret was written: {client}"
        );
    }
    assert!(
        !text.contains("verifyctl-cli-"),
        "the ephemeral client was written"
    );
}
