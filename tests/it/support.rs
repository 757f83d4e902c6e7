//! Shared test fixtures: an emulated tenant on a loopback port with a fixed clock and seed,
//! the real `ManagementClient` pointed at it, policy directories in temp dirs, and a
//! runner for the `verifyctl` binary.

use std::path::{Path, PathBuf};
use std::process::Output;

use time::OffsetDateTime;
use time::macros::datetime;
use verifyctl::apply::{ApplyOptions, ApplyReport, apply_plan};
use verifyctl::clock::Clock;
use verifyctl::emulator::{Emulator, EmulatorConfig, RunningEmulator, TenantState};
use verifyctl::plan::{Plan, build_plan};
use verifyctl::policy::{self, DesiredState};
use verifyctl::secret::Secret;
use verifyctl::session::REQUIRED_SCOPES;
use verifyctl::tenant::{Credentials, LiveState, ManagementClient, TenantTarget};

/// "Now" in every test: the emulator's clock and the plan's.
pub const NOW: OffsetDateTime = datetime!(2026-11-22 10:00 UTC);
pub const NOW_TEXT: &str = "2026-11-22T10:00:00Z";

pub const TEST_CLIENT_ID: &str = "TestM2MClient0000000000000000001";
/// A recognisable secret, so tests can prove it never appears in output.
pub const TEST_CLIENT_SECRET: &str = "s3cr3t-Test-Client-Secret-Value-0123456789";

/// An emulated tenant served on 127.0.0.1 for one test.
pub struct TestTenant {
    pub emulator: Emulator,
    pub running: RunningEmulator,
    pub clock: Clock,
}

impl TestTenant {
    pub async fn start(state: TenantState) -> TestTenant {
        TestTenant::start_with(state, EmulatorConfig::default()).await
    }

    /// Starts with `config`, whose clock and seed are replaced by the fixed test ones.
    pub async fn start_with(state: TenantState, config: EmulatorConfig) -> TestTenant {
        let clock = Clock::fixed(NOW);
        let emulator = Emulator::new(
            state,
            EmulatorConfig {
                clock: clock.clone(),
                seed: Some(7),
                ..config
            },
        );
        emulator.add_client_credentials(TEST_CLIENT_ID, TEST_CLIENT_SECRET, &REQUIRED_SCOPES);
        let running = emulator
            .spawn(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("emulator starts");
        TestTenant {
            emulator,
            running,
            clock,
        }
    }

    pub async fn from_yaml(yaml: &str) -> TestTenant {
        TestTenant::start(tenant_state(yaml)).await
    }

    pub fn base_url(&self) -> String {
        self.running.base_url()
    }

    /// The real client, authenticating with client credentials.
    pub fn client(&self) -> ManagementClient {
        ManagementClient::new(
            TenantTarget::parse(&self.base_url()).expect("loopback target"),
            Credentials::ClientCredentials {
                client_id: TEST_CLIENT_ID.into(),
                client_secret: Secret::new(TEST_CLIENT_SECRET),
            },
        )
        .expect("client builds")
        // Retries keep their shape (exponential, jittered) but take milliseconds.
        .with_backoff_base(std::time::Duration::from_millis(5))
    }

    /// The live state at the test clock's "now" (which decides whose recent send intents
    /// are checked against the tenant's logs).
    pub async fn live(&self, desired: &DesiredState) -> LiveState {
        verifyctl::tenant::read_live_state_keeping(
            &self.client(),
            desired,
            &verifyctl::policy::Scope::default(),
            &std::collections::HashSet::new(),
            self.clock.now(),
        )
        .await
        .expect("live state reads")
    }

    /// Applies `plan` through the real client, default options, no progress output.
    pub async fn apply(&self, plan: &Plan) -> ApplyReport {
        apply_plan(
            &self.client(),
            plan,
            &self.clock,
            &ApplyOptions::default(),
            &mut |_, _, _| {},
        )
        .await
    }

    /// [`TestTenant::apply`], asserting that no action failed.
    pub async fn apply_cleanly(&self, plan: &Plan) -> ApplyReport {
        let report = self.apply(plan).await;
        assert_eq!(report.failed(), 0, "{:#?}", report.outcomes);
        report
    }

    pub async fn plan(&self, desired: &DesiredState) -> Plan {
        let live = self.live(desired).await;
        build_plan(desired, &live, self.clock.now()).expect("plan builds")
    }

    /// Environment for running the binary against this tenant as if it were real.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AUTH0_DOMAIN", self.base_url()),
            ("AUTH0_CLIENT_ID", TEST_CLIENT_ID.to_string()),
            ("AUTH0_CLIENT_SECRET", TEST_CLIENT_SECRET.to_string()),
            ("VERIFYCTL_NOW", NOW_TEXT.to_string()),
            // The emulator is not a shared tenant: no need for the conservative default.
            ("VERIFYCTL_MAX_RPS", "10000".to_string()),
        ]
    }
}

pub fn tenant_state(yaml: &str) -> TenantState {
    serde_saphyr::from_str(yaml).expect("tenant fixture parses")
}

/// Desired state from policy YAML given inline (one file, `policies/p.yaml`).
pub fn desired(yaml: &str) -> DesiredState {
    policy::load_sources(vec![policy::PolicySource {
        file: "policies/p.yaml".into(),
        text: yaml.into(),
    }])
    .unwrap_or_else(|d| panic!("{}", d.render_human()))
}

/// A temporary policy directory holding `files` (name, contents).
pub struct PolicyDir {
    pub dir: tempfile::TempDir,
}

impl PolicyDir {
    pub fn new(files: &[(&str, &str)]) -> PolicyDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write policy");
        }
        PolicyDir { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The repository root (for policies/, examples/, schemas/).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `verifyctl` binary with a clean environment plus `env`.
pub fn verifyctl(args: &[&str], env: &[(&str, String)], stdin: Option<&str>) -> Output {
    let mut command = assert_cmd::Command::cargo_bin("verifyctl").expect("binary built");
    command.env_clear();
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    command.env("NO_COLOR", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    command.args(args);
    command.write_stdin(stdin.unwrap_or("").as_bytes().to_vec());
    command.output().expect("verifyctl runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs the binary from async tests without blocking the emulator's runtime.
pub async fn verifyctl_async(args: Vec<String>, env: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        verifyctl(&args, &env, None)
    })
    .await
    .expect("verifyctl task")
}

/// `VERIFYCTL_NOW` pinned to the tests' "now", for running the binary.
pub fn now_env() -> Vec<(&'static str, String)> {
    vec![("VERIFYCTL_NOW", NOW_TEXT.to_string())]
}

/// A copy of `examples/tenant.yaml` in `dir` (apply writes a tenant file back), by path.
pub fn copy_example_tenant(dir: &std::path::Path) -> String {
    let target = dir.join("tenant.yaml");
    std::fs::copy(repo_root().join("examples/tenant.yaml"), &target).expect("copy example");
    target.to_str().expect("utf-8").to_string()
}

/// The example policies' directory, by path.
pub fn example_policies() -> String {
    repo_root()
        .join("policies")
        .to_str()
        .expect("utf-8")
        .to_string()
}
