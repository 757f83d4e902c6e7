//! Installation: the Dockerfile's structure, the GitHub Action (`action.yml`) run for real
//! with bash against a release made by the release workflow's own packaging steps (a stub
//! binary inside, or the real one), and the release workflow checked against the README's
//! promises and the clap definition.
//!
//! Nothing here needs Docker or the network: the action's `gh` is a stub serving files
//! from a directory, and `docker build` itself is left to a machine that has Docker.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::pr_outputs::{array_assignments, check_invocation, invocations, scripts};
use crate::support::repo_root;

/// The release repository the tests pretend the action comes from.
pub(crate) const ACTION_REPOSITORY: &str = "OWNER/verifyctl";

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

pub(crate) fn cargo_version() -> String {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("Cargo.toml");
    field(&manifest, "version")
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

/// The tools the GitLab recipe's scripts call are in the image it runs in.
pub(crate) fn image_packages() -> String {
    let instructions = dockerfile();
    let stages = stages(&instructions);
    let (_, _, body) = stages.last().expect("a final stage");
    body.iter()
        .filter(|i| i.keyword == "RUN")
        .map(|i| i.args.clone())
        .collect::<Vec<_>>()
        .join(" ")
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
// The GitHub Action, run with bash

/// A release directory as `gh release download` would serve it: OWNER/NAME/TAG/ASSET.
pub(crate) struct FakeRelease {
    dir: tempfile::TempDir,
}

/// What the stub verifyctl inside the fake release does.
#[derive(Clone, Default)]
pub(crate) struct Stub {
    pub exit: i32,
    pub stderr: String,
    /// Wait (at most 10 s) for SIGTERM, then exit 130.
    pub wait_for_term: bool,
}

const STUB: &str = r#"#!/usr/bin/env bash
if [ "$1" = --version ]; then echo "verifyctl @VERSION@"; exit 0; fi
{
  for arg in "$@"; do printf 'arg %s\n' "$arg"; done
  for name in AUTH0_DOMAIN AUTH0_CLIENT_ID AUTH0_CLIENT_SECRET AUTH0_API_TOKEN VERIFYCTL_ACTION_CLIENT_ID VERIFYCTL_ACTION_CLIENT_SECRET; do
    if [ -n "${!name:-}" ]; then printf 'env %s=%s\n' "$name" "${!name}"; fi
  done
  echo end
} >> "$STUB_LOG"
previous=""
for arg in "$@"; do
  if [ "$previous" = --out ]; then echo '{}' > "$arg"; fi
  previous=$arg
done
echo "stub output"
if [ -n "${STUB_STDERR:-}" ]; then printf '%s\n' "$STUB_STDERR" >&2; fi
if [ "${STUB_WAIT_FOR_TERM:-}" = 1 ]; then
  trap 'echo term >> "$STUB_LOG.signals"; exit 130' TERM
  touch "$STUB_LOG.started"
  for _ in $(seq 100); do sleep 0.1; done
  exit 99
fi
exit "${STUB_EXIT:-0}"
"#;

/// A `gh` that serves `release view` and `release download` from $FAKE_RELEASES.
const FAKE_GH: &str = r#"#!/usr/bin/env bash
printf '%s\n' "$*" >> "$FAKE_GH_LOG"
[ -n "$GH_TOKEN" ] || { echo "gh: no GH_TOKEN" >&2; exit 4; }
if [ "$1 $2" = "release view" ]; then
  shift 2
  while [ $# -gt 0 ]; do case $1 in --repo) repo=$2; shift 2 ;; *) shift ;; esac; done
  cat "$FAKE_RELEASES/$repo/LATEST"
  exit 0
fi
if [ "$1 $2" = "release download" ]; then
  tag=$3
  shift 3
  patterns=()
  dir=.
  while [ $# -gt 0 ]; do
    case $1 in
      --pattern) patterns+=("$2"); shift 2 ;;
      --dir) dir=$2; shift 2 ;;
      --repo) repo=$2; shift 2 ;;
      *) echo "gh: unexpected $1" >&2; exit 2 ;;
    esac
  done
  for pattern in "${patterns[@]}"; do
    source="$FAKE_RELEASES/$repo/$tag/$pattern"
    [ -f "$source" ] || { echo "release asset not found: $pattern" >&2; exit 1; }
    cp "$source" "$dir/"
  done
  exit 0
fi
echo "gh: unexpected $*" >&2
exit 2
"#;

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).expect("written");
    let status = Command::new("chmod")
        .arg("+x")
        .arg(path)
        .status()
        .expect("chmod");
    assert!(status.success());
}

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

impl FakeRelease {
    /// Release `v<Cargo version>` of ACTION_REPOSITORY for every promised target, made by
    /// the release workflow's own `Package` and `Checksums` steps around a stub binary.
    pub(crate) fn new() -> FakeRelease {
        let release = FakeRelease {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        let version = cargo_version();
        let stub = STUB.replace("@VERSION@", &version);
        let workflow = load_yaml(".github/workflows/release.yml");
        let package = str_of(
            &step_named(steps_of(&workflow, "build"), "Package")["run"],
            "Package",
        )
        .to_string();
        let checksums = step_named(steps_of(&workflow, "release"), "Checksums");
        assert_eq!(checksums["working-directory"], "dist");
        let checksums = str_of(&checksums["run"], "Checksums").to_string();

        let work = tempfile::tempdir().expect("temp dir");
        std::fs::write(work.path().join("README.md"), "readme").expect("README");
        let tag = format!("v{version}");
        for target in promised_targets() {
            let dir = work.path().join("target").join(&target).join("release");
            std::fs::create_dir_all(&dir).expect("target dir");
            write_executable(&dir.join("verifyctl"), &stub);
            let mut env = base_env(Path::new("/nonexistent"), work.path());
            env.insert("TARGET".into(), target.clone());
            env.insert("TAG".into(), tag.clone());
            let output = run_bash(&package, work.path(), &env);
            assert!(
                output.status.success(),
                "Package {target}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let dist = work.path().join("dist");
        let output = run_bash(
            &checksums,
            &dist,
            &base_env(Path::new("/nonexistent"), work.path()),
        );
        assert!(
            output.status.success(),
            "Checksums: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let assets = release.dir.path().join(ACTION_REPOSITORY).join(&tag);
        std::fs::create_dir_all(&assets).expect("release dir");
        for entry in std::fs::read_dir(&dist).expect("dist") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                std::fs::copy(&path, assets.join(path.file_name().expect("name"))).expect("copy");
            }
        }
        std::fs::write(
            release.dir.path().join(ACTION_REPOSITORY).join("LATEST"),
            &tag,
        )
        .expect("LATEST");
        release
    }

    fn assets(&self) -> PathBuf {
        self.dir
            .path()
            .join(ACTION_REPOSITORY)
            .join(format!("v{}", cargo_version()))
    }
}

/// One run of the action.
pub(crate) struct ActionRun {
    /// 0 when every step succeeded, else the failing step's exit code.
    pub status: i32,
    pub outputs: BTreeMap<String, String>,
    /// verifyctl's arguments, one list per invocation (the stub's log; empty with a real binary).
    pub invocations: Vec<Vec<String>>,
    /// The environment variables each invocation saw, among the credentials.
    pub seen_env: Vec<BTreeMap<String, String>>,
    /// Everything the steps printed.
    pub log: String,
    pub workspace: tempfile::TempDir,
    pub gh_log: String,
    pub signals: String,
}

/// How to run the action.
pub(crate) struct ActionSetup<'a> {
    pub with: Vec<(&'a str, String)>,
    pub env: Vec<(&'a str, String)>,
    pub stub: Stub,
    pub runner: (&'a str, &'a str),
    /// Run this binary instead of installing the stub release.
    pub binary: Option<PathBuf>,
    pub action_repository: &'a str,
    /// Send SIGINT to the run step once the stub has started.
    pub interrupt: bool,
    pub release: Option<&'a FakeRelease>,
}

impl Default for ActionSetup<'_> {
    fn default() -> Self {
        ActionSetup {
            with: Vec::new(),
            env: Vec::new(),
            stub: Stub::default(),
            runner: ("Linux", "X64"),
            binary: None,
            action_repository: ACTION_REPOSITORY,
            interrupt: false,
            release: None,
        }
    }
}

/// `${{ … }}` expressions the action may use, evaluated.
fn evaluate(
    text: &str,
    inputs: &BTreeMap<String, String>,
    steps: &BTreeMap<String, BTreeMap<String, String>>,
    action_repository: &str,
) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed expression") + start;
        let expression = rest[start + 3..end].trim();
        let value = if let Some(name) = expression.strip_prefix("inputs.") {
            inputs
                .get(name)
                .unwrap_or_else(|| panic!("undeclared input `{name}`"))
                .clone()
        } else if let Some(path) = expression.strip_prefix("steps.") {
            let (id, output) = path.split_once(".outputs.").expect("steps.ID.outputs.NAME");
            steps
                .get(id)
                .and_then(|o| o.get(output))
                .cloned()
                .unwrap_or_default()
        } else {
            match expression {
                "github.action_repository" => action_repository.to_string(),
                "github.token" => "fake-github-token".to_string(),
                other => panic!("the action uses `{other}`, which these tests do not know"),
            }
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

fn parse_outputs(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Runs the action's steps as the runner would, with `gh` and the release faked.
pub(crate) fn run_action(setup: &ActionSetup) -> ActionRun {
    let action = load_yaml("action.yml");
    let own_release;
    let release = if let Some(release) = setup.release {
        release
    } else {
        own_release = FakeRelease::new();
        &own_release
    };
    let temp = tempfile::tempdir().expect("temp dir");
    let workspace = tempfile::tempdir().expect("workspace");
    let bin = temp.path().join("fake-bin");
    std::fs::create_dir_all(&bin).expect("bin");
    write_executable(&bin.join("gh"), FAKE_GH);
    let runner_temp = temp.path().join("runner-temp");
    std::fs::create_dir_all(&runner_temp).expect("runner temp");
    let stub_log = temp.path().join("stub.log");
    let gh_log = temp.path().join("gh.log");

    let declared = action["inputs"].as_object().expect("inputs");
    let mut inputs: BTreeMap<String, String> = BTreeMap::new();
    for (name, spec) in declared {
        let default = match &spec["default"] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        inputs.insert(name.clone(), default);
    }
    for (name, value) in &setup.with {
        assert!(inputs.contains_key(*name), "no input `{name}`");
        inputs.insert((*name).to_string(), value.clone());
    }
    let defaults = inputs.clone();
    let empty = BTreeMap::new();
    for value in inputs.values_mut() {
        *value = evaluate(value, &defaults, &empty, setup.action_repository);
    }

    let mut env = base_env(&bin, &runner_temp);
    env.insert("RUNNER_OS".into(), setup.runner.0.into());
    env.insert("RUNNER_ARCH".into(), setup.runner.1.into());
    env.insert(
        "GITHUB_ACTION_PATH".into(),
        repo_root().display().to_string(),
    );
    env.insert(
        "GITHUB_WORKSPACE".into(),
        workspace.path().display().to_string(),
    );
    env.insert(
        "GITHUB_PATH".into(),
        temp.path().join("github_path").display().to_string(),
    );
    env.insert(
        "FAKE_RELEASES".into(),
        release.dir.path().display().to_string(),
    );
    env.insert("FAKE_GH_LOG".into(), gh_log.display().to_string());
    env.insert("STUB_LOG".into(), stub_log.display().to_string());
    env.insert("STUB_EXIT".into(), setup.stub.exit.to_string());
    env.insert("STUB_STDERR".into(), setup.stub.stderr.clone());
    if setup.stub.wait_for_term {
        env.insert("STUB_WAIT_FOR_TERM".into(), "1".into());
    }
    for (name, value) in &setup.env {
        env.insert((*name).to_string(), value.clone());
    }

    let mut step_outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut status = 0;
    let mut log = String::new();
    for (index, step) in action["runs"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .enumerate()
    {
        let id = step["id"]
            .as_str()
            .expect("every step has an id")
            .to_string();
        assert_eq!(step["shell"], "bash", "step {id}");
        assert!(step.get("if").is_none(), "step {id}: no conditions");
        if id == "install"
            && let Some(binary) = &setup.binary
        {
            step_outputs.insert(
                id,
                BTreeMap::from([("path".to_string(), binary.display().to_string())]),
            );
            continue;
        }
        let mut step_env = env.clone();
        if let Some(vars) = step["env"].as_object() {
            for (name, value) in vars {
                let value = str_of(value, name);
                step_env.insert(
                    name.clone(),
                    evaluate(value, &inputs, &step_outputs, setup.action_repository),
                );
            }
        }
        let output_file = temp.path().join(format!("output-{index}"));
        step_env.insert("GITHUB_OUTPUT".into(), output_file.display().to_string());
        let dir = match step["working-directory"].as_str() {
            Some(dir) => workspace.path().join(evaluate(
                dir,
                &inputs,
                &step_outputs,
                setup.action_repository,
            )),
            None => workspace.path().to_path_buf(),
        };
        let script = str_of(&step["run"], "run");
        let output = if setup.interrupt && id == "run" {
            run_interrupted(script, &dir, &step_env, &stub_log)
        } else {
            run_bash(script, &dir, &step_env)
        };
        log.push_str(&String::from_utf8_lossy(&output.stdout));
        log.push_str(&String::from_utf8_lossy(&output.stderr));
        step_outputs.insert(id, parse_outputs(&output_file));
        if !output.status.success() {
            status = output.status.code().unwrap_or(-1);
            break;
        }
    }
    let mut outputs = BTreeMap::new();
    for (name, spec) in action["outputs"].as_object().expect("outputs") {
        let value = evaluate(
            str_of(&spec["value"], name),
            &inputs,
            &step_outputs,
            setup.action_repository,
        );
        outputs.insert(name.clone(), value);
    }
    let (invocations, seen_env) = read_stub_log(&stub_log);
    let signals =
        std::fs::read_to_string(format!("{}.signals", stub_log.display())).unwrap_or_default();
    ActionRun {
        status,
        outputs,
        invocations,
        seen_env,
        log,
        workspace,
        gh_log: std::fs::read_to_string(&gh_log).unwrap_or_default(),
        signals,
    }
}

/// Runs the script, sends SIGINT to its shell once the stub has started, and waits.
fn run_interrupted(
    script: &str,
    dir: &Path,
    env: &BTreeMap<String, String>,
    stub_log: &Path,
) -> std::process::Output {
    let file = tempfile::NamedTempFile::new().expect("script file");
    std::fs::write(file.path(), script).expect("script written");
    let child = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(file.path())
        .current_dir(dir)
        .env_clear()
        .envs(env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("bash runs");
    let started = PathBuf::from(format!("{}.started", stub_log.display()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the stub never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    child.wait_with_output().expect("bash ends")
}

type StubLog = (Vec<Vec<String>>, Vec<BTreeMap<String, String>>);

fn read_stub_log(path: &Path) -> StubLog {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut invocations = Vec::new();
    let mut envs = Vec::new();
    let mut args = Vec::new();
    let mut env = BTreeMap::new();
    for line in text.lines() {
        if line == "end" {
            invocations.push(std::mem::take(&mut args));
            envs.push(std::mem::take(&mut env));
        } else if let Some(arg) = line.strip_prefix("arg ") {
            args.push(arg.to_string());
        } else if let Some(pair) = line.strip_prefix("env ") {
            let (name, value) = pair.split_once('=').expect("name=value");
            env.insert(name.to_string(), value.to_string());
        }
    }
    (invocations, envs)
}

fn with<'a>(pairs: &[(&'a str, &str)]) -> Vec<(&'a str, String)> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_string())).collect()
}

fn parses(args: &[String]) {
    let mut argv = vec!["verifyctl".to_string()];
    argv.extend(args.iter().cloned());
    if let Err(error) = verifyctl::cli::Cli::try_parse_from(&argv) {
        panic!(
            "`{}` is not a verifyctl command line: {error}",
            argv.join(" ")
        );
    }
}

#[test]
fn the_action_declares_what_it_uses_and_takes_inputs_through_the_environment() {
    let text = std::fs::read_to_string(repo_root().join("action.yml")).expect("action.yml");
    let action = load_yaml("action.yml");
    assert_eq!(action["runs"]["using"], "composite");
    let declared: Vec<&String> = action["inputs"]
        .as_object()
        .expect("inputs")
        .keys()
        .collect();
    // Every `inputs.NAME` used is declared, and every declared input is used.
    let used: Vec<String> = text
        .match_indices("inputs.")
        .map(|(i, _)| {
            text[i + "inputs.".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect()
        })
        .collect();
    for name in &used {
        assert!(declared.contains(&name), "`inputs.{name}` is not declared");
    }
    for name in &declared {
        assert!(used.contains(name), "input `{name}` is never used");
    }
    for (name, spec) in action["inputs"].as_object().expect("inputs") {
        assert!(
            spec["description"].is_string(),
            "input {name} has a description"
        );
        let lower = name.to_ascii_lowercase();
        assert!(
            !lower.contains("secret") && !lower.contains("client") && !lower.contains("domain"),
            "credentials are environment variables, not inputs: {name}"
        );
    }
    // Scripts read inputs from their step's env:, never through `${{ }}` in the script
    // itself (which would let an input's text run as shell).
    for step in action["runs"]["steps"].as_array().expect("steps") {
        let script = str_of(&step["run"], "run");
        assert!(
            !script.contains("${{"),
            "an expression inside a script: {script}"
        );
    }
    // Outputs come from steps that write them.
    let steps = action["runs"]["steps"].as_array().expect("steps");
    for (name, spec) in action["outputs"].as_object().expect("outputs") {
        let value = str_of(&spec["value"], name);
        let path = value
            .trim_start_matches("${{")
            .trim_end_matches("}}")
            .trim()
            .strip_prefix("steps.")
            .expect("a step output");
        let (id, output) = path.split_once(".outputs.").expect("steps.ID.outputs.NAME");
        let step = steps
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("output {name}: no step {id}"));
        assert!(
            str_of(&step["run"], "run").contains(&format!("echo \"{output}=")),
            "output {name}: step {id} never writes {output}"
        );
    }
}

#[test]
fn the_action_runs_only_real_command_lines() {
    let release = FakeRelease::new();
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("command", "validate")],
        vec![("command", "validate"), ("format", "github")],
        vec![("command", "plan")],
        vec![
            ("command", "plan"),
            ("format", "markdown"),
            ("out", "plan.json"),
            ("detailed-exitcode", "true"),
            ("mask-emails", "true"),
            (
                "args",
                "--connection partner-db\n--user a@b.example  --max-rps 5",
            ),
        ],
        vec![
            ("command", "plan"),
            ("format", "json"),
            ("policy-dir", "other"),
        ],
        vec![("command", "apply")],
        vec![
            ("command", "apply"),
            ("plan", "plan.json"),
            ("format", "json"),
            ("mask-emails", "true"),
            ("args", "--concurrency 8 --no-progress"),
        ],
    ];
    for case in cases {
        let run = run_action(&ActionSetup {
            with: with(&case),
            release: Some(&release),
            ..ActionSetup::default()
        });
        assert_eq!(run.status, 0, "{case:?}: {}", run.log);
        assert_eq!(run.invocations.len(), 1, "{case:?}");
        parses(&run.invocations[0]);
    }
    let run = run_action(&ActionSetup {
        with: with(&[
            ("command", "plan"),
            ("format", "markdown"),
            ("out", "plan.json"),
            ("detailed-exitcode", "true"),
            ("mask-emails", "true"),
            ("args", "--connection partner-db"),
        ]),
        release: Some(&release),
        ..ActionSetup::default()
    });
    assert_eq!(
        run.invocations[0],
        [
            "plan",
            "policies",
            "--format",
            "markdown",
            "--out",
            "plan.json",
            "--detailed-exitcode",
            "--mask-emails",
            "--connection",
            "partner-db"
        ]
    );
    let run = run_action(&ActionSetup {
        with: with(&[("command", "apply"), ("plan", "plan.json")]),
        release: Some(&release),
        ..ActionSetup::default()
    });
    assert_eq!(
        run.invocations[0],
        ["apply", "policies", "--plan", "plan.json", "--auto-approve"],
        "apply in CI approves itself: the review was the pull request's"
    );
}

#[test]
fn the_action_refuses_inputs_a_command_has_no_use_for() {
    let release = FakeRelease::new();
    for (case, message) in [
        (vec![("command", "destroy")], "validate, plan or apply"),
        (
            vec![("command", "apply"), ("out", "plan.json")],
            "the out input is for plan only",
        ),
        (
            vec![("command", "plan"), ("plan", "plan.json")],
            "the plan input is for apply only",
        ),
        (
            vec![("command", "validate"), ("mask-emails", "true")],
            "the mask-emails input is for plan apply only",
        ),
        (
            vec![("command", "plan"), ("detailed-exitcode", "yes")],
            "the detailed-exitcode input is true or false",
        ),
    ] {
        let run = run_action(&ActionSetup {
            with: with(&case),
            release: Some(&release),
            ..ActionSetup::default()
        });
        assert_ne!(run.status, 0, "{case:?}");
        assert!(run.log.contains(message), "{case:?}: {}", run.log);
        assert!(run.invocations.is_empty(), "{case:?}: verifyctl never ran");
    }
}

#[test]
fn the_action_reports_exit_codes_saved_plans_and_stale_plans() {
    let release = FakeRelease::new();
    // plan with changes: exit 2 is success, and the saved plan is named.
    let run = run_action(&ActionSetup {
        with: with(&[
            ("command", "plan"),
            ("out", "plan.json"),
            ("detailed-exitcode", "true"),
            ("stdout-file", "plan.md"),
        ]),
        stub: Stub {
            exit: 2,
            ..Stub::default()
        },
        release: Some(&release),
        ..ActionSetup::default()
    });
    assert_eq!(run.status, 0, "{}", run.log);
    assert_eq!(run.outputs["exit-code"], "2");
    assert_eq!(run.outputs["plan-file"], "plan.json");
    assert_eq!(run.outputs["stale-plan"], "false");
    assert_eq!(run.outputs["version"], format!("v{}", cargo_version()));
    let stdout = std::fs::read_to_string(run.workspace.path().join("plan.md")).expect("plan.md");
    assert_eq!(stdout, "stub output\n");
    assert!(!run.log.contains("stub output"), "stdout went to the file");

    // Without detailed-exitcode, 2 is not special; an error fails the step...
    let run = run_action(&ActionSetup {
        with: with(&[("command", "plan")]),
        stub: Stub {
            exit: 1,
            ..Stub::default()
        },
        release: Some(&release),
        ..ActionSetup::default()
    });
    assert_eq!(run.status, 1);
    assert_eq!(run.outputs["exit-code"], "1");
    // ...unless fail-on-error is false: the step succeeds and says how verifyctl ended.
    let stale = "error: the saved plan is out of date (the tenant changed since it was made); nothing was changed";
    for fail_on_error in ["true", "false"] {
        let run = run_action(&ActionSetup {
            with: with(&[
                ("command", "apply"),
                ("plan", "plan.json"),
                ("fail-on-error", fail_on_error),
            ]),
            stub: Stub {
                exit: 1,
                stderr: stale.into(),
                ..Stub::default()
            },
            release: Some(&release),
            ..ActionSetup::default()
        });
        assert_eq!(run.status, i32::from(fail_on_error == "true"));
        assert_eq!(run.outputs["exit-code"], "1");
        assert_eq!(run.outputs["stale-plan"], "true");
        assert!(
            run.log.contains(stale),
            "stderr reaches the log: {}",
            run.log
        );
        assert!(
            run.log.contains("have the new plan reviewed"),
            "{}",
            run.log
        );
    }
    // Another apply error is not a stale plan.
    let run = run_action(&ActionSetup {
        with: with(&[("command", "apply"), ("plan", "plan.json")]),
        stub: Stub {
            exit: 1,
            stderr: "error: cannot reach the tenant".into(),
            ..Stub::default()
        },
        release: Some(&release),
        ..ActionSetup::default()
    });
    assert_eq!(run.outputs["stale-plan"], "false");
}

#[test]
fn the_action_passes_credentials_only_in_the_environment() {
    let secret = crate::support::TEST_CLIENT_SECRET;
    let env = vec![
        ("AUTH0_DOMAIN", "acme.eu.auth0.com".to_string()),
        ("AUTH0_CLIENT_ID", "client".to_string()),
        ("AUTH0_CLIENT_SECRET", secret.to_string()),
        ("VERIFYCTL_ACTION_CLIENT_ID", "action-client".to_string()),
        ("VERIFYCTL_ACTION_CLIENT_SECRET", format!("{secret}-action")),
    ];
    let run = run_action(&ActionSetup {
        with: with(&[("command", "apply")]),
        env: env.clone(),
        ..ActionSetup::default()
    });
    assert_eq!(run.status, 0, "{}", run.log);
    for (name, value) in &env {
        assert_eq!(
            run.seen_env[0].get(*name),
            Some(value),
            "{name} reaches verifyctl"
        );
    }
    let args = run.invocations[0].join(" ");
    assert!(!args.contains(secret), "never a flag: {args}");
    assert!(!run.log.contains(secret), "never printed: {}", run.log);
}

#[test]
fn the_action_installs_the_release_for_the_runner_checked_against_sha256sums() {
    let release = FakeRelease::new();
    let version = format!("v{}", cargo_version());
    for ((os, arch), target) in [
        (("Linux", "X64"), "x86_64-unknown-linux-musl"),
        (("Linux", "ARM64"), "aarch64-unknown-linux-musl"),
        (("macOS", "X64"), "x86_64-apple-darwin"),
        (("macOS", "ARM64"), "aarch64-apple-darwin"),
    ] {
        let run = run_action(&ActionSetup {
            with: with(&[("command", "validate")]),
            runner: (os, arch),
            release: Some(&release),
            ..ActionSetup::default()
        });
        assert_eq!(run.status, 0, "{os}/{arch}: {}", run.log);
        assert!(
            run.gh_log.contains(&format!(
                "release download {version} --repo {ACTION_REPOSITORY} --pattern verifyctl-{version}-{target}.tar.gz --pattern SHA256SUMS"
            )),
            "{os}/{arch}: {}",
            run.gh_log
        );
        assert!(run.log.contains(&format!("({target})")), "{}", run.log);
    }
    // Default version: the action's own (Cargo.toml), not the latest release.
    let run = run_action(&ActionSetup {
        with: with(&[("command", "validate")]),
        release: Some(&release),
        ..ActionSetup::default()
    });
    assert!(!run.gh_log.contains("release view"), "{}", run.gh_log);
    // `latest` asks the release list; a bare number gets its v.
    let run = run_action(&ActionSetup {
        with: with(&[("command", "validate"), ("version", "latest")]),
        release: Some(&release),
        ..ActionSetup::default()
    });
    assert_eq!(run.status, 0, "{}", run.log);
    assert!(run.gh_log.contains("release view --repo OWNER/verifyctl"));
    let run = run_action(&ActionSetup {
        with: with(&[
            ("command", "validate"),
            ("version", &cargo_version()),
            ("release-repository", ACTION_REPOSITORY),
        ]),
        action_repository: "",
        release: Some(&release),
        ..ActionSetup::default()
    });
    assert_eq!(run.status, 0, "{}", run.log);
    assert_eq!(run.outputs["version"], version);

    // No repository to download from, an unsupported runner, a missing release.
    for (setup, message) in [
        (
            ActionSetup {
                action_repository: "",
                ..ActionSetup::default()
            },
            "set the release-repository input",
        ),
        (
            ActionSetup {
                runner: ("Windows", "X64"),
                ..ActionSetup::default()
            },
            "no verifyctl release binary for Windows/X64",
        ),
        (
            ActionSetup {
                with: with(&[("version", "v9.9.9")]),
                ..ActionSetup::default()
            },
            "cannot download verifyctl-v9.9.9-x86_64-unknown-linux-musl.tar.gz",
        ),
    ] {
        let run = run_action(&ActionSetup {
            release: Some(&release),
            ..setup
        });
        assert_ne!(run.status, 0);
        assert!(run.log.contains(message), "{}", run.log);
        assert!(run.invocations.is_empty());
    }

    // A tampered archive is refused before it is unpacked.
    let tampered = FakeRelease::new();
    let archive = tampered.assets().join(format!(
        "verifyctl-{version}-x86_64-unknown-linux-musl.tar.gz"
    ));
    let mut bytes = std::fs::read(&archive).expect("archive");
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&archive, &bytes).expect("written");
    let actual = hex(&Sha256::digest(&bytes));
    let run = run_action(&ActionSetup {
        with: with(&[("command", "validate")]),
        release: Some(&tampered),
        ..ActionSetup::default()
    });
    assert_ne!(run.status, 0);
    assert!(
        run.log
            .contains(&format!("the download is {actual}; not installed")),
        "{}",
        run.log
    );
    assert!(run.invocations.is_empty(), "nothing ran");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_cancelled_run_stops_apply_gracefully() {
    let run = run_action(&ActionSetup {
        with: with(&[("command", "apply")]),
        stub: Stub {
            wait_for_term: true,
            ..Stub::default()
        },
        interrupt: true,
        ..ActionSetup::default()
    });
    assert_eq!(run.signals, "term\n", "verifyctl got one SIGTERM");
    assert_eq!(run.outputs["exit-code"], "130");
    assert_eq!(run.status, 130, "{}", run.log);
}

/// A saved plan applied through the action with the real binary, then refused as stale
/// once the policies change: verifyctl's own message sets `stale-plan`.
#[test]
fn the_action_applies_a_saved_plan_and_flags_a_stale_one() {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_verifyctl"));
    let work = tempfile::tempdir().expect("temp dir");
    let tenant = work.path().join("tenant.yaml");
    std::fs::copy(repo_root().join("examples/tenant.yaml"), &tenant).expect("tenant copy");
    let policies = work.path().join("policies");
    std::fs::create_dir_all(&policies).expect("policies");
    for entry in std::fs::read_dir(repo_root().join("policies")).expect("policies") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, policies.join(path.file_name().expect("name"))).expect("copy");
    }
    let plan_file = work.path().join("plan.json");
    let tenant_arg = format!("--tenant-file {}", tenant.display());
    let env = vec![("VERIFYCTL_NOW", crate::support::NOW_TEXT.to_string())];
    let run_plan = || {
        run_action(&ActionSetup {
            with: vec![
                ("command", "plan".into()),
                ("policy-dir", policies.display().to_string()),
                ("out", plan_file.display().to_string()),
                ("detailed-exitcode", "true".into()),
                ("args", tenant_arg.clone()),
            ],
            env: env.clone(),
            binary: Some(binary.clone()),
            ..ActionSetup::default()
        })
    };
    let run_apply = || {
        run_action(&ActionSetup {
            with: vec![
                ("command", "apply".into()),
                ("policy-dir", policies.display().to_string()),
                ("plan", plan_file.display().to_string()),
                ("fail-on-error", "false".into()),
                ("args", tenant_arg.clone()),
            ],
            env: env.clone(),
            binary: Some(binary.clone()),
            ..ActionSetup::default()
        })
    };

    let planned = run_plan();
    assert_eq!(planned.outputs["exit-code"], "2", "{}", planned.log);
    assert_eq!(
        planned.outputs["plan-file"],
        plan_file.display().to_string()
    );
    let applied = run_apply();
    assert_eq!(applied.outputs["exit-code"], "0", "{}", applied.log);
    assert_eq!(applied.outputs["stale-plan"], "false");

    // A new plan, then the policies change before it is applied.
    let planned = run_plan();
    assert_eq!(
        planned.outputs["exit-code"], "0",
        "no changes left: {}",
        planned.log
    );
    let users = policies.join("users-staff.yaml");
    let mut text = std::fs::read_to_string(&users).expect("users");
    text.push_str("\n# changed after the plan was reviewed\n");
    std::fs::write(&users, text).expect("written");
    let before = std::fs::read_to_string(&tenant).expect("tenant");
    let refused = run_apply();
    assert_eq!(refused.status, 0, "fail-on-error false: {}", refused.log);
    assert_eq!(refused.outputs["exit-code"], "1");
    assert_eq!(refused.outputs["stale-plan"], "true", "{}", refused.log);
    assert_eq!(
        std::fs::read_to_string(&tenant).expect("tenant"),
        before,
        "nothing was changed"
    );
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

/// Third-party actions are pinned: a version tag or a commit, never a branch.
#[test]
fn every_action_used_is_pinned_to_a_version() {
    let version = cargo_version();
    for file in [
        "action.yml",
        ".github/workflows/release.yml",
        "examples/ci/github-actions.yml",
    ] {
        let mut uses = Vec::new();
        collect_uses(&load_yaml(file), &mut uses);
        assert!(!uses.is_empty() || file == "action.yml", "{file}");
        for used in uses {
            let (name, reference) = used
                .split_once('@')
                .unwrap_or_else(|| panic!("{file}: `{used}` names no version"));
            let commit = reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit());
            let tag = reference
                .strip_prefix('v')
                .is_some_and(|v| !v.is_empty() && v.split('.').all(|p| p.parse::<u32>().is_ok()));
            assert!(commit || tag, "{file}: `{used}` is not pinned to a version");
            if name.ends_with("/verifyctl") {
                assert_eq!(
                    reference,
                    format!("v{version}"),
                    "{file}: verifyctl's action at this version"
                );
            }
        }
    }
}

pub(crate) fn collect_uses(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "uses" {
                    out.push(str_of(child, "uses").to_string());
                } else {
                    collect_uses(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_uses(item, out)),
        _ => {}
    }
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
        "action.yml",
        "SHA256SUMS",
    ] {
        assert!(install.contains(needed), "Install says `{needed}`");
    }
    assert!(
        text.find("## Install") < text.find("## The problem"),
        "Install is near the top"
    );
}
