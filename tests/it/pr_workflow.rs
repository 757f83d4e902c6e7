//! The pull-request workflow end to end with the binary: saved plans applied exactly or
//! refused when something moved, masking in every format, targeting, the JSON plan schema,
//! GitHub annotations and shell completions.

use verifyctl::report::json::{PLAN_SCHEMA_PATH, plan_schema_json};
use verifyctl::tenant::types::UserPatch;

use crate::support::{
    PolicyDir, TEST_CLIENT_SECRET, TestTenant, repo_root, stderr, stdout, verifyctl,
    verifyctl_async,
};

const TENANT: &str = include_str!("../fixtures/modes-tenant.yaml");

const POLICY: &str = "connections:
  - name: required-db
    email_verification: required
    resend: { after: 72h, max: 2 }
  - name: trusted-db
    email_verification: trusted
users:
  - connection: required-db
    email: new@required.example
  - connection: trusted-db
    email: hire@trusted.example
";

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(std::string::ToString::to_string).collect()
}

struct Workflow {
    tenant: TestTenant,
    policies: PolicyDir,
    plan_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Workflow {
    async fn new() -> Workflow {
        let dir = tempfile::tempdir().expect("temp dir");
        Workflow {
            tenant: TestTenant::from_yaml(TENANT).await,
            policies: PolicyDir::new(&[("p.yaml", POLICY)]),
            plan_file: dir.path().join("plan.json"),
            _dir: dir,
        }
    }

    fn dir(&self) -> String {
        self.policies.path().to_str().expect("utf-8").to_string()
    }

    fn plan_path(&self) -> String {
        self.plan_file.to_str().expect("utf-8").to_string()
    }

    async fn save_plan(&self) -> std::process::Output {
        let output = verifyctl_async(
            args(&[
                "plan",
                &self.dir(),
                "--out",
                &self.plan_path(),
                "--detailed-exitcode",
            ]),
            self.tenant.env(),
        )
        .await;
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        output
    }

    async fn apply_saved(&self) -> std::process::Output {
        verifyctl_async(
            args(&[
                "apply",
                &self.dir(),
                "--plan",
                &self.plan_path(),
                "--auto-approve",
            ]),
            self.tenant.env(),
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_applied_exactly_and_holds_no_secret() {
    let flow = Workflow::new().await;
    flow.save_plan().await;
    let saved = std::fs::read_to_string(&flow.plan_file).expect("plan file");
    let document: serde_json::Value = serde_json::from_str(&saved).expect("JSON");
    assert_eq!(document["format_version"], "1");
    assert!(document["saved"]["policies"]["files"]["p.yaml"].is_string());
    assert!(document["actions"][0]["operation"].is_object());
    assert!(!saved.contains(TEST_CLIENT_SECRET));
    assert!(
        !saved.contains("\"password\":"),
        "no password in a saved plan"
    );

    let applied = flow.apply_saved().await;
    assert_eq!(
        applied.status.code(),
        Some(0),
        "{}{}",
        stdout(&applied),
        stderr(&applied)
    );
    assert!(stdout(&applied).contains("Apply complete"));
    let again = verifyctl_async(
        args(&["plan", &flow.dir(), "--detailed-exitcode"]),
        flow.tenant.env(),
    )
    .await;
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_refused_when_the_tenant_moved() {
    let flow = Workflow::new().await;
    flow.save_plan().await;
    // Someone verifies a user the plan would email, and creates one it would create.
    let client = flow.tenant.client();
    client
        .update_user(
            "auth0|000000000000000000000102",
            &UserPatch {
                email_verified: Some(true),
                ..UserPatch::default()
            },
        )
        .await
        .expect("verify");
    let outbox = flow.tenant.emulator.outbox().len();
    let refused = flow.apply_saved().await;
    assert_eq!(refused.status.code(), Some(1));
    let text = stderr(&refused);
    assert!(
        text.contains("the saved plan is out of date (the tenant changed since it was made)"),
        "{text}"
    );
    assert!(
        text.contains(
            "user never-sent@required.example of `required-db`: email_verified false → true"
        ),
        "{text}"
    );
    assert_eq!(
        flow.tenant.emulator.outbox().len(),
        outbox,
        "nothing was sent"
    );
    assert!(
        flow.tenant
            .emulator
            .snapshot()
            .users
            .iter()
            .all(|u| u.email.as_deref() != Some("new@required.example")),
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_refused_when_a_user_it_would_create_appeared() {
    let flow = Workflow::new().await;
    flow.save_plan().await;
    flow.tenant
        .client()
        .create_user(&verifyctl::tenant::types::CreateUserRequest {
            connection: "trusted-db".into(),
            email: "hire@trusted.example".into(),
            password: Some(verifyctl::secret::Secret::new("Some-Other-Passw0rd!")),
            email_verified: true,
            verify_email: false,
            profile: Default::default(),
        })
        .await
        .expect("side create");
    let refused = flow.apply_saved().await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("user hire@trusted.example of `trusted-db`: now exists (created since the plan, as auth0|"),
        "{}",
        stderr(&refused)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_refused_when_the_policies_changed() {
    let flow = Workflow::new().await;
    flow.save_plan().await;
    std::fs::write(
        flow.policies.path().join("p.yaml"),
        POLICY.replace("max: 2", "max: 3"),
    )
    .expect("edit");
    std::fs::write(flow.policies.path().join("extra.yaml"), "users: []\n").expect("add");
    let requests_before = flow.tenant.emulator.requests().len();
    let refused = flow.apply_saved().await;
    assert_eq!(refused.status.code(), Some(1));
    let text = stderr(&refused);
    assert!(
        text.contains("(the policies changed since it was made)"),
        "{text}"
    );
    assert!(text.contains("- p.yaml changed"), "{text}");
    assert!(text.contains("- extra.yaml was added"), "{text}");
    assert_eq!(
        flow.tenant.emulator.requests().len(),
        requests_before,
        "refused before any request to the tenant"
    );
}

#[test]
fn a_json_report_is_not_a_saved_plan() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let output = verifyctl(
        &[
            "plan",
            "policies",
            "--tenant-file",
            "examples/tenant.yaml",
            "--format",
            "json",
        ],
        &[("VERIFYCTL_NOW", crate::support::NOW_TEXT.to_string())],
        None,
    );
    std::fs::write(&report, stdout(&output)).expect("write");
    let refused = verifyctl(
        &[
            "apply",
            "policies",
            "--tenant-file",
            "examples/tenant.yaml",
            "--plan",
            report.to_str().expect("utf-8"),
            "--auto-approve",
        ],
        &[],
        None,
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("is a JSON plan report, not a saved plan"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn masking_leaves_no_full_address_in_any_format() {
    let state: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo_root().join("examples/tenant.yaml")).expect("tenant"),
    )
    .expect("yaml");
    let addresses: Vec<String> = state["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["email"].as_str().map(str::to_string))
        .chain([
            "grace@woodgrove.example".to_string(),
            "ulla@freelance.example".to_string(),
        ])
        .collect();
    for format in ["text", "json", "markdown"] {
        let output = verifyctl(
            &[
                "plan",
                "policies",
                "--tenant-file",
                "examples/tenant.yaml",
                "--format",
                format,
                "--mask-emails",
            ],
            &[("VERIFYCTL_NOW", crate::support::NOW_TEXT.to_string())],
            None,
        );
        assert!(output.status.success(), "{}", stderr(&output));
        let text = stdout(&output);
        for address in &addresses {
            assert!(!text.contains(address.as_str()), "{format} shows {address}");
        }
        assert!(text.contains("***@"), "{format} masked nothing");
        if format == "json" {
            serde_json::from_str::<serde_json::Value>(&text).expect("masked JSON stays valid");
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("tenant.yaml");
    std::fs::copy(repo_root().join("examples/tenant.yaml"), &copy).expect("copy");
    let applied = verifyctl(
        &[
            "apply",
            "policies",
            "--tenant-file",
            copy.to_str().expect("utf-8"),
            "--auto-approve",
            "--mask-emails",
        ],
        &[("VERIFYCTL_NOW", crate::support::NOW_TEXT.to_string())],
        None,
    );
    assert!(applied.status.success(), "{}", stderr(&applied));
    for address in &addresses {
        assert!(
            !stdout(&applied).contains(address.as_str()),
            "apply shows {address}"
        );
    }
}

#[test]
fn connection_targeting_plans_only_that_connection_and_says_it_is_partial() {
    let env = [("VERIFYCTL_NOW", crate::support::NOW_TEXT.to_string())];
    let output = verifyctl(
        &[
            "plan",
            "policies",
            "--tenant-file",
            "examples/tenant.yaml",
            "--connection",
            "employees-db",
            "--format",
            "json",
        ],
        &env,
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let document: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(
        document["scope"]["connections"],
        serde_json::json!(["employees-db"])
    );
    let actions = document["actions"].as_array().expect("actions");
    assert_eq!(actions.len(), 6);
    assert!(
        actions
            .iter()
            .all(|a| a["target"]["connection"] == "employees-db")
    );
    let text = stdout(&verifyctl(
        &[
            "plan",
            "policies",
            "--tenant-file",
            "examples/tenant.yaml",
            "--connection",
            "employees-db",
        ],
        &env,
        None,
    ));
    assert!(
        text.contains("(partial plan, only connection employees-db:"),
        "{text}"
    );

    let user = verifyctl(
        &[
            "plan",
            "policies",
            "--tenant-file",
            "examples/tenant.yaml",
            "--user",
            "IVAN@tailspin.example",
            "--format",
            "json",
        ],
        &env,
        None,
    );
    let document: serde_json::Value = serde_json::from_str(&stdout(&user)).expect("JSON");
    let kinds: Vec<_> = document["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| (a["kind"].clone(), a["target"]["email"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [(
            serde_json::json!("send_verification_email"),
            serde_json::json!("ivan@tailspin.example")
        )]
    );

    let unknown = verifyctl(
        &[
            "plan",
            "policies",
            "--tenant-file",
            "examples/tenant.yaml",
            "--connection",
            "nope",
        ],
        &env,
        None,
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("`nope`"), "{}", stderr(&unknown));
}

#[test]
fn the_plan_schema_is_current() {
    let path = repo_root().join(PLAN_SCHEMA_PATH);
    let generated = plan_schema_json();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{PLAN_SCHEMA_PATH} is stale; regenerate it with `UPDATE_SCHEMAS=1 cargo test --test it schema`"
    );
    let schema: serde_json::Value = serde_json::from_str(&generated).expect("JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let properties = schema["properties"].as_object().expect("properties");
    for key in [
        "format_version",
        "tenant",
        "summary",
        "actions",
        "warnings",
        "saved",
        "scope",
    ] {
        assert!(properties.contains_key(key), "schema lacks {key}");
    }
}

#[test]
fn validate_speaks_github_annotations() {
    let policies = PolicyDir::new(&[(
        "a.yaml",
        "connections:\n  - name: partners\n    email_verification: sometimes\nusers:\n  - connection: partners\n    email: bob, the builder\n",
    )]);
    let output = verifyctl(
        &[
            "validate",
            policies.path().to_str().expect("utf-8"),
            "--format",
            "github",
        ],
        &[],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output).replace(&policies.path().display().to_string(), "POLICIES");
    insta::assert_snapshot!("validate_github", text);
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let output = verifyctl(&["completions", shell], &[], None);
        assert!(output.status.success());
        let script = stdout(&output);
        assert!(script.contains("verifyctl"), "{shell}");
        assert!(
            script.contains("detailed-exitcode"),
            "{shell} completes plan flags"
        );
    }
}
