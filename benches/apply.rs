//! Apply throughput against a rate-limited emulator.
//!
//! `cargo bench --bench apply` runs a matrix: for tenants limited to R = 2, 10 and 50
//! requests/s (the emulator's token bucket, burst R) answering after 20-80 ms, it applies a
//! plan of verification emails, marks verified and creates sized to take about 20 seconds,
//! once with default flags and once with `--rate-share 0.5`, and prints the achieved rate
//! as a share of R, failed actions, 429s, and requests per action kind. Then it creates
//! 10,000 users in one connection (no rate limit) and prints the requests that took.
//! `-- --rps R --actions N [--rate-share S] [--concurrency C]` runs one custom case. It
//! measures; it asserts nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use verifyctl::apply::{ApplyOptions, OutcomeStatus, apply_plan};
use verifyctl::clock::Clock;
use verifyctl::emulator::{
    Emulator, EmulatorConfig, Fault, FaultConfig, RateLimit, RouteFilter, TenantState,
};
use verifyctl::plan::{ActionKind, build_plan};
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
    /// Only creates (the import case).
    creates_only: bool,
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
    per_kind: BTreeMap<ActionKind, (usize, usize)>,
}

async fn run(case: Case) -> Measured {
    let (state, policy) = if case.creates_only {
        creates_tenant(case.actions)
    } else {
        tenant(case.actions)
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
    let mut per_kind: BTreeMap<ActionKind, (usize, usize)> = BTreeMap::new();
    for action in &plan.actions {
        let entry = per_kind.entry(action.kind()).or_default();
        entry.0 += 1;
        entry.1 += action.calls().len();
    }
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
        per_kind,
    }
}

/// `count` users to create in one trusted connection.
fn creates_tenant(count: usize) -> (TenantState, String) {
    let mut policy =
        String::from("connections:\n  - name: hires\n    email_verification: trusted\nusers:\n");
    for i in 0..count {
        policy.push_str(&format!(
            "  - connection: hires\n    email: hire{i:06}@bench.example\n"
        ));
    }
    let state = serde_json::from_value(json!({
        "domain": "bench.test",
        "clients": [{"client_id": "BenchApp000000000000000000000001", "name": "Bench App"}],
        "connections": [{"id": "con_BenchHires000001", "name": "hires", "strategy": "auth0", "options": {"passwordPolicy": "good"}}],
    }))
    .expect("tenant state");
    (state, policy)
}

fn print_rate(case: &Case, measured: &Measured) {
    let rps = case.rps.unwrap_or(f64::INFINITY);
    let achieved = measured.requests as f64 / measured.seconds;
    println!(
        "  R = {:>4}  rate share {:.1}: {:>5} actions, {:>2} failed, {:>5} requests in {:>5.1}s = {:>5.1}/s = {:.2} R, 429s: {}",
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

fn print_kinds(measured: &Measured) {
    for (kind, (actions, calls)) in &measured.per_kind {
        println!(
            "      {:<24} {:>6} actions {:>7} calls ({:.2} per action)",
            kind.as_str(),
            actions,
            calls,
            *calls as f64 / *actions as f64
        );
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
            creates_only: false,
        };
        let measured = run(case).await;
        print_rate(&case, &measured);
        print_kinds(&measured);
        println!(
            "  peak memory (process, emulator included): {}",
            peak_memory()
        );
        return;
    }
    for rps in [2.0_f64, 10.0, 50.0] {
        for rate_share in [1.0_f64, 0.5] {
            // About 20 seconds of requests at the share of the rate.
            let actions = ((rps * 20.0 * rate_share) / 1.8).ceil() as usize;
            let case = Case {
                rps: Some(rps),
                actions: actions.max(10),
                rate_share,
                concurrency: 32,
                creates_only: false,
            };
            let measured = run(case).await;
            print_rate(&case, &measured);
            if rate_share > 0.99 {
                print_kinds(&measured);
            }
        }
    }
    let case = Case {
        rps: None,
        actions: 10_000,
        rate_share: 1.0,
        concurrency: 32,
        creates_only: true,
    };
    let measured = run(case).await;
    println!(
        "  10,000 creates (no limit): {} failed, {} requests in {:.1}s",
        measured.failed, measured.requests, measured.seconds
    );
    print_kinds(&measured);
    println!(
        "  peak memory (process, emulator included): {}",
        peak_memory()
    );
}
