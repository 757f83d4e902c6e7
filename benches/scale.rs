//! Planning tenants of any size.
//!
//! `cargo bench --bench scale -- [--sizes 10000,100000,1000000]` writes, for each size, a
//! tenant file (JSON) with that many users in one `required` database connection (95%
//! verified; 5% unverified and never emailed, so the plan sends them a verification email),
//! then plans it with the release `verifyctl` binary two ways:
//!
//! - `plan --tenant-file`: the emulator in the same process;
//! - `verifyctl emulator` in one process and `plan` against it over loopback HTTP, as a real
//!   tenant would be planned.
//!
//! It prints, per size and way: Management API requests the plan needed (from the plan's own
//! count), wall time, peak resident memory (of the plan process, and of the emulator process
//! when separate), and the ratio of the largest size's time to the next one's. It measures;
//! it asserts nothing. Peak memory is read from `/proc/PID/status` (`VmHWM`) while the child
//! runs, so this bench needs Linux.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLIENT_ID: &str = "ScaleBench000000000000000000001";
const CLIENT_SECRET: &str = "scale-bench-secret";

fn sizes() -> Vec<usize> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--sizes")
        .and_then(|i| args.get(i + 1))
        .map_or_else(
            || vec![10_000, 100_000, 1_000_000],
            |list| {
                list.split(',')
                    .filter_map(|n| n.trim().parse().ok())
                    .collect()
            },
        )
}

/// Writes the tenant file for `users` users, streaming (the bench never holds it whole).
fn write_tenant(path: &Path, users: usize) -> std::io::Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    write!(
        out,
        "{{\"domain\":\"scale.test\",\"clients\":[{{\"client_id\":\"{CLIENT_ID}\",\"name\":\"Scale bench\",\"client_secret\":\"{CLIENT_SECRET}\",\"grants\":[\"read:users\",\"create:users\",\"update:users\",\"read:connections\",\"update:connections\",\"read:clients\",\"read:actions\",\"create:actions\",\"update:actions\"]}}],\"connections\":[{{\"id\":\"con_ScaleMembers0001\",\"name\":\"members\",\"strategy\":\"auth0\",\"options\":{{\"passwordPolicy\":\"good\"}}}}],\"users\":["
    )?;
    for i in 0..users {
        if i > 0 {
            out.write_all(b",")?;
        }
        let id = format!("{i:024x}");
        let verified = i % 20 != 0;
        write!(
            out,
            "{{\"user_id\":\"auth0|{id}\",\"email\":\"member{i:07}@scale.example\",\"email_verified\":{verified},\"name\":\"Member {i}\",\"identities\":[{{\"connection\":\"members\",\"user_id\":\"{id}\",\"provider\":\"auth0\",\"isSocial\":false}}],\"logins_count\":{},\"created_at\":\"2026-01-01T00:00:00.000Z\",\"updated_at\":\"2026-01-01T00:00:00.000Z\"}}",
            i % 5
        )?;
    }
    out.write_all(b"]}\n")?;
    out.flush()
}

fn write_policies(dir: &Path) -> std::io::Result<PathBuf> {
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies)?;
    std::fs::write(
        policies.join("members.yaml"),
        "connections:\n  - name: members\n    email_verification: required\n    signup: disabled\n",
    )?;
    Ok(policies)
}

/// Peak resident memory of a running process, in MiB (`VmHWM`).
fn peak_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Runs `command` to its end, sampling its peak memory; (wall time, peak MiB, stdout).
fn measure(mut command: Command) -> (Duration, f64, String) {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("verifyctl starts");
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let mut lines = BufReader::new(stdout).lines();
        while let Some(Ok(line)) = lines.next() {
            // Keep the end of the plan only: the summary and the request count.
            text.push_str(&line);
            text.push('\n');
            if text.len() > 1 << 20 {
                text.drain(..text.len() / 2);
            }
        }
        text
    });
    let mut peak: f64 = 0.0;
    loop {
        if let Some(mib) = peak_mib(pid) {
            peak = peak.max(mib);
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall = started.elapsed();
    let text = reader.join().expect("reader");
    (wall, peak, text)
}

/// The `N` of the plan's `(N Management API requests to read the tenant)` line.
fn requests_of(plan: &str) -> Option<u64> {
    let line = plan
        .lines()
        .rev()
        .find(|l| l.contains("Management API requests to read the tenant"))?;
    line.trim_start_matches('(').split(' ').next()?.parse().ok()
}

fn summary_of(plan: &str) -> String {
    plan.lines()
        .rev()
        .find(|l| l.starts_with("Plan:") || l.starts_with("No changes"))
        .unwrap_or("(no summary)")
        .to_string()
}

fn plan_command(binary: &Path, policies: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("NO_COLOR", "1")
        .env("VERIFYCTL_NOW", "2026-11-22T10:00:00Z")
        .args([
            "plan",
            policies.to_str().expect("utf-8"),
            "--detail",
            "compact",
        ]);
    command
}

struct Emulator {
    child: Child,
    url: String,
}

fn start_emulator(binary: &Path, tenant: &Path) -> Emulator {
    let mut child = Command::new(binary)
        .env_clear()
        .env("VERIFYCTL_NOW", "2026-11-22T10:00:00Z")
        .args(["emulator", "--listen", "127.0.0.1:0", "--tenant-file"])
        .arg(tenant)
        .stderr(Stdio::piped())
        .spawn()
        .expect("emulator starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the emulator says where it listens")
            .expect("stderr line");
        if let Some(url) = line.strip_prefix("verifyctl emulator listening on ") {
            break url.trim().to_string();
        }
    };
    // Keep draining its stderr so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Emulator { child, url }
}

fn main() {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_verifyctl"));
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = write_policies(dir.path()).expect("policies");
    println!(
        "scale bench: one `required` connection, 95% of users verified; release binary {}",
        binary.display()
    );
    println!(
        "{:>9}  {:<22} {:>9} {:>9} {:>10} {:>12}  plan",
        "users", "how", "requests", "wall s", "peak MiB", "emulator MiB"
    );
    let mut walls: Vec<(usize, f64)> = Vec::new();
    for users in sizes() {
        let tenant = dir.path().join(format!("tenant-{users}.json"));
        write_tenant(&tenant, users).expect("tenant file");

        let mut in_process = plan_command(&binary, &policies);
        in_process.arg("--tenant-file").arg(&tenant);
        let (wall, peak, plan) = measure(in_process);
        println!(
            "{users:>9}  {:<22} {:>9} {:>9.2} {:>10.0} {:>12}  {}",
            "plan --tenant-file",
            requests_of(&plan).map_or("?".into(), |n| n.to_string()),
            wall.as_secs_f64(),
            peak,
            "(same)",
            summary_of(&plan)
        );
        walls.push((users, wall.as_secs_f64()));

        let mut emulator = start_emulator(&binary, &tenant);
        let mut over_http = plan_command(&binary, &policies);
        over_http
            .env("AUTH0_DOMAIN", &emulator.url)
            .env("AUTH0_CLIENT_ID", CLIENT_ID)
            .env("AUTH0_CLIENT_SECRET", CLIENT_SECRET)
            .env("VERIFYCTL_MAX_RPS", "100000");
        let (wall, peak, plan) = measure(over_http);
        let emulator_peak = peak_mib(emulator.child.id()).unwrap_or(0.0);
        let _ = emulator.child.kill();
        let _ = emulator.child.wait();
        println!(
            "{users:>9}  {:<22} {:>9} {:>9.2} {:>10.0} {:>12.0}  {}",
            "verifyctl emulator",
            requests_of(&plan).map_or("?".into(), |n| n.to_string()),
            wall.as_secs_f64(),
            peak,
            emulator_peak,
            summary_of(&plan)
        );
        let _ = std::fs::remove_file(&tenant);
    }
    for pair in walls.windows(2) {
        let ((small, t_small), (large, t_large)) = (pair[0], pair[1]);
        println!(
            "time ratio {large} / {small} users (plan --tenant-file): {:.1}",
            t_large / t_small
        );
    }
}
