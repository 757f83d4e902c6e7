//! Apply throughput against a rate-limited emulator.
//!
//! `cargo bench --bench apply -- [--actions N] [--rps R] [--concurrency C]` builds a tenant
//! whose plan has about N actions (verification emails, marks verified, creates), serves it
//! with the emulator limited to R requests/s (token bucket, burst R), applies the plan with
//! verifyctl paced at R, and prints: achieved requests/s as a share of R, API calls per action
//! kind, 429s and retries, and peak memory. It measures; it asserts nothing about time.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::json;
use verifyctl::apply::{ApplyOptions, OutcomeStatus, apply_plan};
use verifyctl::clock::Clock;
use verifyctl::emulator::{Emulator, EmulatorConfig, RateLimit, TenantState};
use verifyctl::plan::{ActionKind, build_plan};
use verifyctl::policy::{PolicySource, load_sources};
use verifyctl::secret::Secret;
use verifyctl::session::REQUIRED_SCOPES;
use verifyctl::tenant::{
    Credentials, ManagementClient, PacingConfig, TenantTarget, read_live_state,
};

struct Settings {
    actions: usize,
    rps: f64,
    concurrency: usize,
}

fn settings() -> Settings {
    let mut settings = Settings {
        actions: 2000,
        rps: 100.0,
        concurrency: 16,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).and_then(|v| v.parse::<f64>().ok());
        match (args[i].as_str(), value) {
            ("--actions", Some(v)) => settings.actions = v as usize,
            ("--rps", Some(v)) => settings.rps = v,
            ("--concurrency", Some(v)) => settings.concurrency = v as usize,
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    settings
}

/// Users for about `actions` actions: 60% verification emails (three calls each), 30% marks
/// verified (one call), 10% creates (one call). Connections stay under search's 1000 cap.
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let settings = settings();
    let (state, policy) = tenant(settings.actions);
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
            rate_limit: Some(RateLimit {
                burst: settings.rps.ceil() as u32,
                per_second: settings.rps,
            }),
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
        max_rps: Some(settings.rps),
        rate_share: 1.0,
    });

    let plan_started = Instant::now();
    let live = read_live_state(&client, &desired)
        .await
        .expect("live state");
    let plan = build_plan(&desired, &live, clock.now()).expect("plan");
    let plan_elapsed = plan_started.elapsed();
    let plan_requests = client.stats().total();

    let apply_started = Instant::now();
    let report = apply_plan(
        &client,
        &plan,
        &clock,
        &ApplyOptions {
            concurrency: settings.concurrency,
            ..ApplyOptions::default()
        },
        &mut |_, _, _| {},
    )
    .await;
    let elapsed = apply_started.elapsed().as_secs_f64();
    let requests = report.requests.total();
    let achieved = requests as f64 / elapsed;

    let mut per_kind: BTreeMap<ActionKind, (usize, usize)> = BTreeMap::new();
    for action in &plan.actions {
        let entry = per_kind.entry(action.kind()).or_default();
        entry.0 += 1;
        entry.1 += action.calls().len();
    }
    println!("verifyctl apply benchmark");
    println!(
        "  limit: {} requests/s (emulator token bucket, burst {}), concurrency {}",
        settings.rps,
        settings.rps.ceil(),
        settings.concurrency
    );
    println!(
        "  plan:  {} requests in {:.1}s",
        plan_requests,
        plan_elapsed.as_secs_f64()
    );
    println!(
        "  apply: {} actions, {} failed, {} requests in {:.1}s",
        report.outcomes.len(),
        report
            .outcomes
            .iter()
            .filter(|o| o.status == OutcomeStatus::Failed)
            .count(),
        requests,
        elapsed
    );
    println!(
        "  achieved: {:.1} requests/s = {:.1}% of the limit",
        achieved,
        100.0 * achieved / settings.rps
    );
    println!(
        "  429s waited out: {}, retries: {}",
        report.requests.throttled, report.requests.retries
    );
    println!("  API calls per action kind:");
    for (kind, (actions, calls)) in &per_kind {
        println!(
            "    {:<24} {:>6} actions {:>7} calls ({:.1} per action)",
            kind.as_str(),
            actions,
            calls,
            *calls as f64 / *actions as f64
        );
    }
    println!("  requests by endpoint:");
    for (endpoint, count) in &report.requests.requests {
        println!("    {endpoint:<48} {count:>7}");
    }
    println!(
        "  peak memory (process, emulator included): {}",
        peak_memory()
    );
    running.shutdown().await;
}
