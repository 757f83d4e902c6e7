//! Installation: the Dockerfile's structure (stages, the pinned builder, a --locked build, an
//! unprivileged user, verifyctl as the entrypoint) and the Docker build context. Nothing here
//! needs Docker: `docker build` itself is left to a machine that has it.

use std::collections::BTreeMap;

use crate::support::repo_root;

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
