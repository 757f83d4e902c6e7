//! Installation: the Dockerfile's structure, and the release workflow checked against the
//! README's promises and the clap definition (its smoke test run with this build).
//!
//! Nothing here needs Docker or the network: `docker build` itself and the workflow's run on
//! GitHub are left to machines that have them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use clap::CommandFactory;
use serde_json::Value;

use crate::pr_outputs::{array_assignments, check_invocation, invocations, scripts};
use crate::support::repo_root;

/// Every target the README's Install section promises.
fn promised_targets() -> Vec<String> {
    let section = readme_section("## Install");
    let mut targets: Vec<String> = section
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| w.ends_with("-unknown-linux-musl") || w.ends_with("-apple-darwin"))
        .map(str::to_string)
        .collect();
    targets.sort();
    targets.dedup();
    targets
}

pub(crate) fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).expect("README.md")
}

/// The README's text from `heading` to the next heading of the same level.
pub(crate) fn readme_section(heading: &str) -> String {
    let text = readme();
    let start = text
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README has no `{heading}` section"));
    let level = heading.split(' ').next().expect("hashes");
    let rest = &text[start + heading.len() + 2..];
    let end = rest
        .match_indices(&format!("\n{level} "))
        .map(|(i, _)| i)
        .next()
        .unwrap_or(rest.len());
    rest[..end].to_string()
}

fn field(manifest: &str, name: &str) -> String {
    manifest
        .lines()
        .find_map(|line| {
            line.strip_prefix(&format!("{name} = \""))
                .and_then(|rest| rest.strip_suffix('"'))
        })
        .unwrap_or_else(|| panic!("Cargo.toml has no {name}"))
        .to_string()
}

pub(crate) fn load_yaml(relative: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join(relative))
        .unwrap_or_else(|e| panic!("{relative}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{relative} is not valid YAML: {e}"))
}

fn str_of<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, found {value}"))
}

// ---------------------------------------------------------------------------------------
// The Dockerfile

/// One instruction: its keyword (upper case) and its arguments (continuations joined).
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

fn dockerfile() -> Vec<Instruction> {
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).expect("Dockerfile");
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if trimmed.starts_with('#') {
            continue; // a comment inside a continued instruction
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (keyword, args) = current.split_once(' ').unwrap_or((&current, ""));
        instructions.push(Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_string(),
        });
        current.clear();
    }
    assert!(
        current.is_empty(),
        "the Dockerfile ends inside a continuation"
    );
    instructions
}

/// Stages in order: (name, base image with global ARGs substituted, instructions).
fn stages(instructions: &[Instruction]) -> Vec<(String, String, Vec<&Instruction>)> {
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: Vec<(String, String, Vec<&Instruction>)> = Vec::new();
    for instruction in instructions {
        if instruction.keyword == "FROM" {
            let words: Vec<&str> = instruction
                .args
                .split_whitespace()
                .filter(|w| !w.starts_with("--platform"))
                .collect();
            let mut image = words[0].to_string();
            for (name, value) in &args {
                image = image.replace(&format!("${{{name}}}"), value);
            }
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => (*name).to_string(),
                _ => stages.len().to_string(),
            };
            stages.push((name, image, Vec::new()));
        } else if let Some((_, _, body)) = stages.last_mut() {
            body.push(instruction);
        } else if instruction.keyword == "ARG" {
            let (name, value) = instruction
                .args
                .split_once('=')
                .expect("global ARGs have defaults");
            args.insert(name.to_string(), value.to_string());
        }
    }
    stages
}

#[test]
fn the_dockerfile_builds_a_static_binary_and_runs_it_unprivileged() {
    let instructions = dockerfile();
    let stages = stages(&instructions);
    assert!(stages.len() >= 2, "multi-stage: {stages:?}");
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("Cargo.toml");
    let rust_version = field(&manifest, "rust-version");

    // Every base is an official image pinned to a version, never `latest` or untagged.
    for (name, image, _) in &stages {
        let (_, tag) = image
            .split_once(':')
            .unwrap_or_else(|| panic!("stage {name}: `{image}` names no version"));
        assert!(
            tag.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "stage {name}: `{image}` is not pinned to a version"
        );
        assert!(!image.contains('$'), "stage {name}: unresolved `{image}`");
    }

    // The builder: the Rust image at the crate's rust-version, a --locked release build.
    let (build_name, build_image, build_body) = &stages[0];
    assert!(
        build_image.starts_with(&format!("rust:{rust_version}")),
        "the builder `{build_image}` is at the crate's rust-version {rust_version}"
    );
    assert!(
        build_image.contains("alpine"),
        "musl (static) builds: {build_image}"
    );
    let build_runs: Vec<&str> = build_body
        .iter()
        .filter(|i| i.keyword == "RUN")
        .map(|i| i.args.as_str())
        .collect();
    let cargo = build_runs
        .iter()
        .find(|run| run.contains("cargo build"))
        .expect("the builder runs cargo build");
    for flag in ["--locked", "--release"] {
        assert!(cargo.contains(flag), "cargo build {flag}: {cargo}");
    }

    // The runtime: the binary from the builder, an unprivileged user, verifyctl as the
    // entrypoint, CA certificates for https.
    let (final_name, final_image, final_body) = stages.last().expect("a final stage");
    assert_ne!(final_name, build_name);
    assert!(
        !final_image.starts_with("rust:"),
        "the final image carries no toolchain: {final_image}"
    );
    let copy = final_body
        .iter()
        .find(|i| i.keyword == "COPY" && i.args.starts_with(&format!("--from={build_name} ")))
        .expect("the final stage copies the binary from the builder");
    let installed = copy.args.split_whitespace().last().expect("a destination");
    let users: Vec<&str> = final_body
        .iter()
        .filter(|i| i.keyword == "USER")
        .map(|i| i.args.as_str())
        .collect();
    let user = users.last().expect("the final stage sets USER");
    let uid = user.split(':').next().expect("a user");
    assert!(
        !["root", "0", ""].contains(&uid),
        "runs as a non-root user, not `{user}`"
    );
    let entrypoint = final_body
        .iter()
        .rfind(|i| i.keyword == "ENTRYPOINT")
        .expect("an ENTRYPOINT");
    let entrypoint: Vec<String> =
        serde_json::from_str(&entrypoint.args).expect("ENTRYPOINT in exec form (a JSON array)");
    assert_eq!(
        entrypoint,
        [installed],
        "the entrypoint is the copied binary"
    );
    assert!(installed.ends_with("/verifyctl"));
    let packages: String = final_body
        .iter()
        .filter(|i| i.keyword == "RUN")
        .map(|i| i.args.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        packages.contains("ca-certificates"),
        "CA certificates: {packages}"
    );

    // Secrets are runtime environment, never baked into the image.
    for instruction in &instructions {
        if ["ENV", "ARG"].contains(&instruction.keyword.as_str()) {
            let upper = instruction.args.to_ascii_uppercase();
            assert!(
                !upper.contains("SECRET") && !upper.contains("TOKEN"),
                "{} {}",
                instruction.keyword,
                instruction.args
            );
        }
        assert_ne!(
            instruction.keyword, "ADD",
            "COPY, not ADD: {}",
            instruction.args
        );
    }
}

#[test]
fn the_docker_context_keeps_what_the_build_needs() {
    let text = std::fs::read_to_string(repo_root().join(".dockerignore")).expect(".dockerignore");
    let patterns: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for needed in ["target/", ".git/"] {
        assert!(
            patterns.contains(&needed),
            "{needed} is left out: {patterns:?}"
        );
    }
    // Cargo reads every target Cargo.toml names (benches, the test binary) before it
    // builds anything, so their files must stay in the context.
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("Cargo.toml");
    let mut needed = vec![
        "Cargo.toml".to_string(),
        "Cargo.lock".to_string(),
        "src/main.rs".to_string(),
    ];
    needed.extend(manifest.lines().filter_map(|l| {
        l.strip_prefix("path = \"")
            .and_then(|r| r.strip_suffix('"'))
            .map(str::to_string)
    }));
    for path in &needed {
        for pattern in &patterns {
            let stem = pattern.trim_end_matches('/').trim_start_matches("**/");
            assert!(
                !(path == stem || path.starts_with(&format!("{stem}/"))),
                ".dockerignore `{pattern}` leaves out {path}, which the build needs"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Running workflow steps with bash

fn steps_of<'a>(workflow: &'a Value, job: &str) -> &'a Vec<Value> {
    workflow["jobs"][job]["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("job {job} has steps"))
}

fn step_named<'a>(steps: &'a [Value], name: &str) -> &'a Value {
    steps
        .iter()
        .find(|s| s["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no step `{name}`"))
}

/// Runs one shell script as GitHub's `shell: bash` does (`bash -eo pipefail`).
fn run_bash(script: &str, dir: &Path, env: &BTreeMap<String, String>) -> std::process::Output {
    let file = tempfile::NamedTempFile::new().expect("script file");
    std::fs::write(file.path(), script).expect("script written");
    Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(file.path())
        .current_dir(dir)
        .env_clear()
        .envs(env)
        .output()
        .expect("bash runs")
}

fn base_env(bin: &Path, temp: &Path) -> BTreeMap<String, String> {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    BTreeMap::from([
        ("PATH".to_string(), path),
        ("HOME".to_string(), temp.display().to_string()),
        ("RUNNER_TEMP".to_string(), temp.display().to_string()),
        ("LC_ALL".to_string(), "C".to_string()),
    ])
}

// ---------------------------------------------------------------------------------------
// The release workflow

fn matrix_targets(workflow: &Value) -> Vec<(String, String)> {
    let mut targets: Vec<(String, String)> =
        workflow["jobs"]["build"]["strategy"]["matrix"]["include"]
            .as_array()
            .expect("a build matrix")
            .iter()
            .map(|entry| {
                (
                    str_of(&entry["target"], "target").to_string(),
                    str_of(&entry["runner"], "runner").to_string(),
                )
            })
            .collect();
    targets.sort();
    targets
}

#[test]
fn the_release_builds_every_promised_target_and_publishes_checksums() {
    let workflow = load_yaml(".github/workflows/release.yml");
    let tags = &workflow["on"]["push"]["tags"];
    assert_eq!(tags, &serde_json::json!(["v*"]), "released on tags v*");

    let promised = promised_targets();
    assert_eq!(
        promised,
        [
            "aarch64-apple-darwin",
            "aarch64-unknown-linux-musl",
            "x86_64-apple-darwin",
            "x86_64-unknown-linux-musl"
        ],
        "the README's Install section"
    );
    let built = matrix_targets(&workflow);
    let names: Vec<&str> = built.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        names, promised,
        "every promised target is built, and no other"
    );
    for (target, runner) in &built {
        if target.ends_with("-apple-darwin") {
            assert!(
                runner.starts_with("macos-"),
                "{target} on a macOS runner: {runner}"
            );
        } else {
            assert!(runner.starts_with("ubuntu-"), "{target} on Linux: {runner}");
        }
        let native_arm = runner.ends_with("-arm") || *runner == "macos-15";
        assert_eq!(
            target.starts_with("aarch64"),
            native_arm,
            "{target} is built natively on {runner}"
        );
    }

    let build = steps_of(&workflow, "build");
    let cargo = str_of(&step_named(build, "Build")["run"], "Build");
    assert!(
        cargo.contains("cargo build --locked --release --target \"$TARGET\""),
        "{cargo}"
    );
    assert!(
        cargo.contains("static-pie linked"),
        "the Linux builds are checked static"
    );

    // Checksums are written for every archive and published with them.
    let release = steps_of(&workflow, "release");
    let checksums = str_of(&step_named(release, "Checksums")["run"], "Checksums");
    assert!(
        checksums.contains("sha256sum verifyctl-*.tar.gz > SHA256SUMS"),
        "{checksums}"
    );
    let publish = str_of(
        &step_named(release, "Publish the release")["run"],
        "Publish",
    );
    for line in publish
        .lines()
        .filter(|l| l.contains("gh release ") && !l.contains("view"))
    {
        let line = if line.trim_end().ends_with('\\') {
            let next = publish
                .lines()
                .skip_while(|l| *l != line)
                .nth(1)
                .unwrap_or_default();
            format!("{line} {next}")
        } else {
            line.to_string()
        };
        assert!(
            line.contains("verifyctl-*.tar.gz SHA256SUMS"),
            "archives and SHA256SUMS: {line}"
        );
    }
    assert_eq!(
        workflow["jobs"]["release"]["permissions"]["contents"], "write",
        "only the publishing job may write"
    );
    assert_eq!(workflow["permissions"]["contents"], "read");

    // One toolchain everywhere: the crate's rust-version.
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("Cargo.toml");
    let rust_version = field(&manifest, "rust-version");
    let toolchain = str_of(&workflow["env"]["RUST_TOOLCHAIN"], "RUST_TOOLCHAIN");
    assert!(
        toolchain.starts_with(&rust_version),
        "{toolchain} vs {rust_version}"
    );
    let docker = std::fs::read_to_string(repo_root().join("Dockerfile")).expect("Dockerfile");
    assert!(docker.contains(&format!("ARG RUST_VERSION={toolchain}\n")));

    // The verifyctl command lines of its scripts are real.
    let mut cli = verifyctl::cli::Cli::command();
    cli.build();
    let mut shell = Vec::new();
    scripts(&workflow, None, &mut shell);
    let mut arrays = Vec::new();
    for script in &shell {
        array_assignments(script, &mut arrays);
    }
    let mut seen = Vec::new();
    for script in &shell {
        for args in invocations(script, &arrays) {
            seen.push(check_invocation(&cli, &args, "release.yml"));
        }
    }
    for subcommand in ["validate", "plan", "apply"] {
        assert!(
            seen.iter().any(|s| s == subcommand),
            "the smoke test runs {subcommand}: {seen:?}"
        );
    }
}

/// The release's smoke test, run with this build in place of the release binary.
#[test]
fn the_release_smoke_test_passes_with_this_build() {
    let workflow = load_yaml(".github/workflows/release.yml");
    let step = step_named(
        steps_of(&workflow, "build"),
        "Smoke test (the example tenant, in a copy)",
    );
    let script = str_of(&step["run"], "smoke test");
    let work = tempfile::tempdir().expect("temp dir");
    let target = "x86_64-unknown-linux-musl";
    let bin = work.path().join("target").join(target).join("release");
    std::fs::create_dir_all(&bin).expect("bin dir");
    std::fs::copy(env!("CARGO_BIN_EXE_verifyctl"), bin.join("verifyctl")).expect("binary");
    for dir in ["policies", "examples"] {
        std::fs::create_dir_all(work.path().join(dir)).expect("dir");
    }
    for entry in std::fs::read_dir(repo_root().join("policies")).expect("policies") {
        let path = entry.expect("entry").path();
        std::fs::copy(
            &path,
            work.path()
                .join("policies")
                .join(path.file_name().expect("name")),
        )
        .expect("copy");
    }
    std::fs::copy(
        repo_root().join("examples/tenant.yaml"),
        work.path().join("examples/tenant.yaml"),
    )
    .expect("tenant");
    let runner_temp = work.path().join("runner-temp");
    std::fs::create_dir_all(&runner_temp).expect("runner temp");
    let mut env = base_env(Path::new("/nonexistent"), &runner_temp);
    env.insert("TARGET".into(), target.into());
    env.insert("NO_COLOR".into(), "1".into());
    let output = run_bash(script, work.path(), &env);
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(work.path().join("examples/tenant.yaml")).expect("tenant"),
        std::fs::read_to_string(repo_root().join("examples/tenant.yaml")).expect("tenant"),
        "the smoke test applies to a copy"
    );
}

// ---------------------------------------------------------------------------------------
// The README

#[test]
fn the_readme_opens_with_the_two_commands_and_says_how_to_install() {
    let text = readme();
    let first_block = text
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a first shell block");
    let commands: Vec<&str> = first_block
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .collect();
    assert_eq!(
        commands,
        [
            "cargo run --locked -- plan policies --tenant-file examples/tenant.yaml",
            "cargo test --locked"
        ],
        "the README opens with the main job and the tests"
    );
    let install = readme_section("## Install");
    for needed in [
        "cargo install --locked --path .",
        "docker build -t verifyctl .",
        "docker run --rm verifyctl --version",
        "SHA256SUMS",
    ] {
        assert!(install.contains(needed), "Install says `{needed}`");
    }
    assert!(
        text.find("## Install") < text.find("## The problem"),
        "Install is near the top"
    );
}
