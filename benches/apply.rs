//! Apply throughput against a rate-limited emulator.
//!
//! `cargo bench --bench apply` runs a matrix: for tenants limited to R = 2, 10 and 50
//! requests/s (the emulator's token bucket, burst R) answering after 20-80 ms, it applies a
//! plan of verification emails, marks verified and creates sized to take about 60 seconds,
//! once with default flags and once with `--rate-share 0.5`, and prints the achieved rate
//! as a share of R (requests the tenant accepted per second), failed actions and 429s.
//! Then, without a rate limit, it measures what each kind of action costs: one workload per
//! kind (verification emails, marks verified, creates without email, creates with a
//! verification email, creates with a password-reset email, 10,000 creates), each printed
//! with its requests per action and the requests by endpoint.
//! `-- --costs` runs only the costs; `-- --rps R --actions N [--rate-share S]
//! [--concurrency C]` runs one custom case. It
//! measures; it asserts nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use verifyctl::apply::{ApplyOptions, OutcomeStatus, apply_plan};
use verifyctl::clock::Clock;
use verifyctl::emulator::{
    Emulator, EmulatorConfig, Fault, FaultConfig, RateLimit, RouteFilter, TenantState,
};
use verifyctl::plan::build_plan;
use verifyctl::policy::{PolicySource, load_sources};
use verifyctl::secret::Secret;
use verifyctl::session::REQUIRED_SCOPES;
use verifyctl::tenant::{
    Credentials, ManagementClient, PacingConfig, TenantTarget, read_live_state,
};

/// One case of the matrix.
#[derive(Clone, Copy)]
struct Case {
    /// The tenant's limit (`None`: unlimited).
    rps: Option<f64>,
    actions: usize,
    rate_share: f64,
    concurrency: usize,
    /// `None`: the mixed rate-matrix workload; `Some`: one kind of action only.
    workload: Option<Workload>,
}

/// One kind of action, for measuring what it costs.
#[derive(Clone, Copy)]
enum Workload {
    /// Verification emails to existing unverified users of a required connection.
    Sends,
    /// Existing unverified users of a trusted connection, marked verified.
    Marks,
    /// Listed users created in a trusted connection (no email).
    Creates,
    /// Listed users created in a required connection (a verification email each).
    CreatesWithVerification,
    /// Listed users created with `onboarding: password-reset` (a reset email each).
    CreatesWithPasswordReset,
}

impl Workload {
    fn label(self) -> &'static str {
        match self {
            Workload::Sends => "verification emails",
            Workload::Marks => "marks verified",
            Workload::Creates => "creates, no email",
            Workload::CreatesWithVerification => "creates + verification email",
            Workload::CreatesWithPasswordReset => "creates + password-reset email",
        }
    }
}

fn arg(name: &str) -> Option<f64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

/// Users for about `actions` actions: 60% verification emails, 30% marks verified, 10%
/// creates (in one connection, so more than ten of them go through an import).
fn tenant(actions: usize) -> (TenantState, String) {
    let sends = actions * 6 / 10;
    let marks = actions * 3 / 10;
    let creates = actions - sends - marks;
    let mut users = Vec::new();
    let mut connections = Vec::new();
    let mut policy = String::from("connections:\n");
    let mut add_connection = |name: &str, mode: &str, policy: &mut String| {
        connections.push(json!({"id": format!("con_{:0>16}", connections.len()), "name": name, "strategy": "auth0", "options": {"passwordPolicy": "good"}}));
        policy.push_str(&format!(
            "  - name: {name}\n    email_verification: {mode}\n"
        ));
    };
    let mut next_id = 0u64;
    let mut add_users = |prefix: &str, count: usize, users: &mut Vec<serde_json::Value>| {
        for i in 0..count {
            let connection = format!("{prefix}-{}", i / 900);
            next_id += 1;
            let id = format!("{next_id:024x}");
            users.push(json!({
                "user_id": format!("auth0|{id}"),
                "email": format!("{prefix}{i:06}@bench.example"),
                "email_verified": false,
                "identities": [{"connection": connection, "user_id": id, "provider": "auth0", "isSocial": false}],
                "created_at": "2026-10-01T00:00:00.000Z",
                "updated_at": "2026-10-01T00:00:00.000Z",
            }));
        }
    };
    add_users("partners", sends, &mut users);
    add_users("staff", marks, &mut users);
    for chunk in 0..sends.div_ceil(900) {
        add_connection(&format!("partners-{chunk}"), "required", &mut policy);
    }
    for chunk in 0..marks.div_ceil(900) {
        add_connection(&format!("staff-{chunk}"), "trusted", &mut policy);
    }
    add_connection("hires", "trusted", &mut policy);
    policy.push_str("users:\n");
    for i in 0..creates {
        policy.push_str(&format!(
            "  - connection: hires\n    email: hire{i:06}@bench.example\n"
        ));
    }
    let state = serde_json::from_value(json!({
        "domain": "bench.test",
        // Imports need the connection enabled for an application.
        "clients": [{"client_id": "BenchApp000000000000000000000001", "name": "Bench App"}],
        "connections": connections,
        "users": users,
    }))
    .expect("tenant state");
    (state, policy)
}

/// Peak resident memory of this process (emulator included), from /proc on Linux.
fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown (no /proc/self/status)".into())
}

struct Measured {
    actions: usize,
    failed: usize,
    requests: u64,
    throttled: u64,
    seconds: f64,
    /// Requests by endpoint (`"POST /api/v2/users"`), retries and 429s included.
    by_endpoint: BTreeMap<String, u64>,
}

async fn run(case: Case) -> Measured {
    let (state, policy) = match case.workload {
        Some(workload) => workload_tenant(workload, case.actions),
        None => tenant(case.actions),
    };
    let desired = load_sources(vec![PolicySource {
        file: "bench.yaml".into(),
        text: policy.into(),
    }])
    .unwrap_or_else(|d| panic!("{}", d.render_human()));
    let clock = Clock::System;
    let emulator = Emulator::new(
        state,
        EmulatorConfig {
            clock: clock.clone(),
            seed: Some(1),
            rate_limit: case.rps.map(|rps| RateLimit {
                burst: rps.ceil() as u32,
                per_second: rps,
            }),
            faults: FaultConfig::none().with(
                RouteFilter::All,
                Fault::Latency {
                    min: Duration::from_millis(20),
                    max: Duration::from_millis(80),
                },
            ),
            ..EmulatorConfig::default()
        },
    );
    emulator.add_client_credentials("bench-client", "bench-secret", &REQUIRED_SCOPES);
    let running = emulator
        .spawn(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("emulator");
    let client = ManagementClient::new(
        TenantTarget::parse(&running.base_url()).expect("target"),
        Credentials::ClientCredentials {
            client_id: "bench-client".into(),
            client_secret: Secret::new("bench-secret"),
        },
    )
    .expect("client")
    .with_pacing(PacingConfig {
        max_rps: None,
        rate_share: case.rate_share,
    });
    let live = read_live_state(&client, &desired)
        .await
        .expect("live state");
    let plan = build_plan(&desired, &live, clock.now()).expect("plan");
    let started = Instant::now();
    let report = apply_plan(
        &client,
        &plan,
        &clock,
        &ApplyOptions {
            concurrency: case.concurrency,
            ..ApplyOptions::default()
        },
        &mut |_, _, _| {},
    )
    .await;
    let seconds = started.elapsed().as_secs_f64();
    running.shutdown().await;
    Measured {
        actions: report.outcomes.len(),
        failed: report
            .outcomes
            .iter()
            .filter(|o| o.status == OutcomeStatus::Failed)
            .count(),
        requests: report.requests.total(),
        throttled: report.requests.throttled,
        seconds,
        by_endpoint: report.requests.requests.clone(),
    }
}

/// A tenant and policy for `count` actions of one kind, in one connection.
fn workload_tenant(workload: Workload, count: usize) -> (TenantState, String) {
    let (mode, onboarding, existing) = match workload {
        Workload::Sends => ("required", "", true),
        Workload::Marks => ("trusted", "", true),
        Workload::Creates => ("trusted", "", false),
        Workload::CreatesWithVerification => ("required", "", false),
        Workload::CreatesWithPasswordReset => {
            ("required", "    onboarding: password-reset\n", false)
        }
    };
    // `resend` belongs to `required` connections only.
    let resend = if mode == "required" {
        "    resend: { after: 72h, max: 3 }\n"
    } else {
        ""
    };
    let mut policy = format!(
        "connections:\n  - name: db\n    email_verification: {mode}\n    verification_client: Bench App\n{resend}"
    );
    let mut users = Vec::new();
    if existing {
        for i in 0..count {
            let id = format!("{:024x}", i + 1);
            users.push(json!({
                "user_id": format!("auth0|{id}"),
                "email": format!("user{i:06}@bench.example"),
                "email_verified": false,
                "identities": [{"connection": "db", "user_id": id, "provider": "auth0", "isSocial": false}],
                "created_at": "2026-10-01T00:00:00.000Z",
                "updated_at": "2026-10-01T00:00:00.000Z",
            }));
        }
    } else {
        policy.push_str("users:\n");
        for i in 0..count {
            policy.push_str(&format!(
                "  - connection: db\n    email: user{i:06}@bench.example\n{onboarding}"
            ));
        }
    }
    let state = serde_json::from_value(json!({
        "domain": "bench.test",
        "clients": [{"client_id": "BenchApp000000000000000000000001", "name": "Bench App"}],
        "connections": [{"id": "con_BenchDb000000001", "name": "db", "strategy": "auth0", "options": {"passwordPolicy": "good"}}],
        "users": users,
    }))
    .expect("tenant state");
    (state, policy)
}

fn print_rate(case: &Case, measured: &Measured) {
    let rps = case.rps.unwrap_or(f64::INFINITY);
    // The tenant's bucket counts the requests it accepted; a 429 takes no token.
    let accepted = measured.requests - measured.throttled;
    let achieved = accepted as f64 / measured.seconds;
    println!(
        "  R = {:>4}  rate share {:.1}: {:>5} actions, {:>2} failed, {:>5} accepted requests in {:>5.1}s = {:>5.1}/s = {:.2} R, 429s: {}",
        rps,
        case.rate_share,
        measured.actions,
        measured.failed,
        measured.requests,
        measured.seconds,
        achieved,
        achieved / rps,
        measured.throttled
    );
}

fn print_costs(label: &str, measured: &Measured) {
    println!(
        "  {label:<32} {:>6} actions, {:>2} failed, {:>6} requests = {:.3} per action",
        measured.actions,
        measured.failed,
        measured.requests,
        measured.requests as f64 / measured.actions.max(1) as f64
    );
    for (endpoint, count) in &measured.by_endpoint {
        println!("      {count:>6}  {endpoint}");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("verifyctl apply benchmark (tenant latency 20-80 ms)");
    if let Some(rps) = arg("--rps") {
        let case = Case {
            rps: Some(rps),
            actions: arg("--actions").map_or(200, |n| n as usize),
            rate_share: arg("--rate-share").unwrap_or(1.0),
            concurrency: arg("--concurrency").map_or(32, |n| n as usize),
            workload: None,
        };
        let measured = run(case).await;
        print_rate(&case, &measured);
        print_costs("the mixed workload", &measured);
        println!(
            "  peak memory (process, emulator included): {}",
            peak_memory()
        );
        return;
    }
    let costs_only = std::env::args().any(|a| a == "--costs");
    for rps in [2.0_f64, 10.0, 50.0] {
        if costs_only {
            break;
        }
        for rate_share in [1.0_f64, 0.5] {
            // About 60 seconds of requests at the share of the rate, so the first burst is a
            // small part of the figure.
            let actions = ((rps * 60.0 * rate_share) / 1.8).ceil() as usize;
            let case = Case {
                rps: Some(rps),
                actions: actions.max(10),
                rate_share,
                concurrency: 32,
                workload: None,
            };
            let measured = run(case).await;
            print_rate(&case, &measured);
        }
    }
    println!("what each kind of action costs (no rate limit):");
    for (workload, count) in [
        (Workload::Sends, 1_000),
        (Workload::Marks, 1_000),
        (Workload::Creates, 1_000),
        (Workload::CreatesWithVerification, 1_000),
        (Workload::CreatesWithPasswordReset, 1_000),
        (Workload::Creates, 10_000),
    ] {
        let case = Case {
            rps: None,
            actions: count,
            rate_share: 1.0,
            concurrency: 32,
            workload: Some(workload),
        };
        let measured = run(case).await;
        print_costs(workload.label(), &measured);
    }
    println!(
        "  peak memory (process, emulator included): {}",
        peak_memory()
    );
}
