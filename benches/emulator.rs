//! The emulator at scale.
//!
//! `cargo bench --bench emulator -- [--users N] [--connection-users M]` builds a tenant of N
//! users (default 1,000,000), M of them (default 100,000) in one connection and the rest
//! spread over nine others, and prints: the time to write and read it back as a YAML and a
//! JSON tenant file, to start the emulator on it, to serve search pages and lookups over
//! loopback HTTP, to read the large connection through search (as far as search goes: the
//! first 1000 users) and whole through a users-export job (create, poll, download, gunzip),
//! to snapshot and save it, and the peak memory. It measures; it asserts nothing about time.

use std::io::Read;
use std::time::Instant;

use serde_json::{Value, json};
use verifyctl::emulator::{
    Connection, Emulator, EmulatorConfig, Identity, TenantState, User, load_tenant_file,
    save_tenant_file,
};

struct Settings {
    users: usize,
    connection_users: usize,
}

fn settings() -> Settings {
    let mut settings = Settings {
        users: 1_000_000,
        connection_users: 100_000,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).and_then(|v| v.parse::<usize>().ok());
        match (args[i].as_str(), value) {
            ("--users", Some(v)) => settings.users = v,
            ("--connection-users", Some(v)) => settings.connection_users = v,
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    settings.connection_users = settings.connection_users.min(settings.users);
    settings
}

fn tenant(settings: &Settings) -> TenantState {
    let mut state = TenantState::new("bench.eu.auth0.com");
    for c in 0..10 {
        state.connections.push(Connection {
            id: format!("con_BenchConnectio{c:02}"),
            name: format!("db-{c}"),
            strategy: "auth0".into(),
            ..Connection::default()
        });
    }
    state.users.extend((0..settings.users).map(|i| {
        let connection = if i < settings.connection_users {
            0
        } else {
            1 + i % 9
        };
        User {
            user_id: format!("auth0|{i:024x}"),
            email: Some(format!("user{i}@db-{connection}.example")),
            email_verified: Some(i % 3 == 0),
            identities: vec![Identity {
                connection: format!("db-{connection}"),
                user_id: Some(json!(format!("{i:024x}"))),
                provider: Some("auth0".into()),
                is_social: Some(false),
                ..Identity::default()
            }],
            created_at: Some(format!(
                "2026-01-{:02}T00:00:00.000Z",
                1 + (i / 40_000) % 28
            )),
            updated_at: Some("2026-06-01T00:00:00.000Z".into()),
            app_metadata: json!({"verifyctl": {"v": 1}}).as_object().cloned(),
            other: json!({"name": format!("User {i}"), "logins_count": i % 17})
                .as_object()
                .cloned()
                .unwrap_or_default()
                .into(),
            ..User::default()
        }
    }));
    state
}

/// Peak resident memory (VmHWM) and current (VmRSS), from /proc.
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map_or_else(|| "?".into(), |l| l[name.len()..].trim().to_owned())
    };
    format!("rss {}, peak {}", field("VmRSS:"), field("VmHWM:"))
}

fn seconds(start: Instant) -> String {
    format!("{:.2} s", start.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let settings = settings();
    println!(
        "emulator bench: {} users, {} in db-0",
        settings.users, settings.connection_users
    );
    let start = Instant::now();
    let state = tenant(&settings);
    println!("built in memory: {} ({})", seconds(start), memory());

    let dir = tempfile::tempdir().expect("a temporary directory");
    for name in ["tenant.json", "tenant.yaml"] {
        let path = dir.path().join(name);
        let start = Instant::now();
        save_tenant_file(&path, &state).expect("saved");
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        println!(
            "{name}: written in {} ({} MB)",
            seconds(start),
            size / 1_000_000
        );
        let start = Instant::now();
        let loaded = load_tenant_file(&path).expect("loaded");
        println!(
            "{name}: read back in {} ({} users; {})",
            seconds(start),
            loaded.users.len(),
            memory()
        );
        assert_eq!(loaded.users.len(), settings.users);
    }

    let start = Instant::now();
    let emulator = Emulator::new(state, EmulatorConfig::default());
    println!("emulator started in {} ({})", seconds(start), memory());
    let running = emulator
        .spawn(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bound");
    let token = emulator.issue_token(&["read:users", "create:users"]);
    let http = reqwest::Client::new();
    let base = running.base_url();
    let get = |path: String| {
        let request = http.get(format!("{base}{path}")).bearer_auth(&token);
        async move {
            let response = request.send().await.expect("answered");
            assert!(response.status().is_success(), "{}", response.status());
            response.json::<Value>().await.expect("json")
        }
    };

    let query = "q=identities.connection%3A%22db-0%22&search_engine=v3&include_totals=true&sort=created_at%3A1&per_page=100";
    let start = Instant::now();
    let mut read = 0;
    for page in 0..10 {
        let reply = get(format!("/api/v2/users?{query}&page={page}")).await;
        read += reply["users"].as_array().map_or(0, Vec::len);
    }
    println!(
        "search: the first {read} users of db-0 (10 pages of 100, all search can reach) in {}",
        seconds(start)
    );
    let start = Instant::now();
    for i in 0..1000 {
        let n = i * (settings.users / 1000).max(1);
        get(format!(
            "/api/v2/users-by-email?email=user{n}%40db-{}.example",
            if n < settings.connection_users {
                0
            } else {
                1 + n % 9
            }
        ))
        .await;
    }
    println!("users-by-email: 1000 lookups in {}", seconds(start));
    let start = Instant::now();
    let narrowed = get("/api/v2/users?q=identities.connection%3A%22db-1%22%20AND%20email_verified%3Atrue&include_totals=true&per_page=1".to_owned()).await;
    println!(
        "search with a filter scanning db-1 ({} matches): {}",
        narrowed["total"],
        seconds(start)
    );

    let start = Instant::now();
    let job = http
        .post(format!("{base}/api/v2/jobs/users-exports"))
        .bearer_auth(&token)
        .json(&json!({"connection_id": "con_BenchConnectio00", "format": "json"}))
        .send()
        .await
        .expect("created")
        .json::<Value>()
        .await
        .expect("json");
    let id = job["id"].as_str().expect("an id").to_owned();
    println!("export: job created in {}", seconds(start));
    let job = get(format!("/api/v2/jobs/{id}")).await;
    println!("export: job read back in {}", seconds(start));
    let location = job["location"].as_str().expect("completed").to_owned();
    let bytes = http
        .get(&location)
        .send()
        .await
        .expect("downloaded")
        .bytes()
        .await
        .expect("bytes");
    println!("export: file downloaded in {}", seconds(start));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .expect("gzip");
    println!(
        "export: all {} users of db-0 ({} MB gzip, {} MB NDJSON) in {} ({})",
        text.lines().count(),
        bytes.len() / 1_000_000,
        text.len() / 1_000_000,
        seconds(start),
        memory()
    );
    drop(text);

    let start = Instant::now();
    let snapshot = emulator.snapshot();
    println!("snapshot (under the lock) in {}", seconds(start));
    let start = Instant::now();
    save_tenant_file(&dir.path().join("again.json"), &snapshot).expect("saved");
    println!("snapshot saved as JSON in {}", seconds(start));
    running.shutdown().await;
    println!("done ({})", memory());
}
