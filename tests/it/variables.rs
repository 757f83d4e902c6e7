//! `${NAME}` policy variables: every source and their precedence, undefined (located) and
//! escaped variables, list variables, type errors, secrets masked in every output, and a
//! saved plan refused under other variables (and applied under the same ones).

use std::ffi::OsString;
use std::path::PathBuf;

use serde_json::json;
use verifyctl::policy::{DesiredState, Diagnostics, PolicySource, Variables, load_sources_with};

use crate::support::{NOW_TEXT, stderr, stdout, verifyctl};

const TENANT: &str = include_str!("../fixtures/modes-tenant.yaml");

fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

fn load(policy: &str, vars: &Variables) -> Result<DesiredState, Diagnostics> {
    load_sources_with(
        vec![PolicySource {
            file: "p.yaml".into(),
            text: policy.into(),
        }],
        vars,
    )
}

fn metadata(state: &DesiredState) -> serde_json::Value {
    serde_json::to_value(&state.users[0].policy.profile.user_metadata).unwrap()
}

const USER_WITH: &str = "connections:\n  - name: db\n    email_verification: off\nusers:\n  - connection: db\n    email: a@x.example\n";

#[test]
fn every_source_with_precedence_and_nothing_else_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.yaml");
    let second = dir.path().join("second.yaml");
    std::fs::write(&first, "A: file1\nB: file1\nC: file1\n").unwrap();
    std::fs::write(&second, "B: file2\nC: file2\n").unwrap();
    let vars = Variables::collect(
        &["C=flag".to_string()],
        &[first, second],
        env(&[
            ("VERIFYCTL_VAR_A", "env"),
            ("VERIFYCTL_VAR_D", "env"),
            ("HOME", "/home/x"),
            ("E", "not a policy variable"),
        ]),
    )
    .unwrap();
    let policy = format!(
        "{USER_WITH}    user_metadata:\n      a: ${{A}}\n      b: ${{B}}\n      c: ${{C}}\n      d: ${{D}}\n"
    );
    let state = load(&policy, &vars).unwrap();
    assert_eq!(
        metadata(&state),
        json!({"a": "file1", "b": "file2", "c": "flag", "d": "env"}),
        "--var over later --var-file over earlier --var-file over the environment"
    );
    let used: Vec<(&str, Option<&str>)> = state
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v.shown.as_deref()))
        .collect();
    assert_eq!(
        used,
        [
            ("A", Some("file1")),
            ("B", Some("file2")),
            ("C", Some("flag")),
            ("D", Some("env"))
        ]
    );
    // Unprefixed environment variables are never variables.
    let leaked = load(&format!("{USER_WITH}    name: ${{HOME}}\n"), &vars).unwrap_err();
    assert_eq!(leaked.items[0].message, "variable `HOME` is not defined");
    let leaked = load(&format!("{USER_WITH}    name: ${{E}}\n"), &vars).unwrap_err();
    assert_eq!(leaked.items[0].message, "variable `E` is not defined");
}

#[test]
fn an_undefined_variable_is_located_at_its_dollar_with_a_suggestion() {
    let mut vars = Variables::default();
    vars.set("PARTNER_DOMAIN", "partner.example");
    let policy = format!("{USER_WITH}    name: \"Ops $${{x}} ${{PARTNER_DOMIAN}}\"\n");
    let errors = load(&policy, &vars).unwrap_err();
    assert_eq!(errors.items.len(), 1, "{}", errors.render_human());
    let error = &errors.items[0];
    assert_eq!(error.origin.to_string(), "p.yaml:7:22");
    assert_eq!(error.message, "variable `PARTNER_DOMIAN` is not defined");
    let hint = error.hint.as_deref().unwrap();
    for part in [
        "did you mean `${PARTNER_DOMAIN}`?",
        "--var PARTNER_DOMIAN=VALUE",
        "--var-file",
        "VERIFYCTL_VAR_PARTNER_DOMIAN",
    ] {
        assert!(hint.contains(part), "{hint}");
    }
    // Every undefined variable of every file is reported in one run.
    let policy = format!("{USER_WITH}    name: ${{ONE}}\n    given_name: x ${{TWO}}\n");
    let errors = load(&policy, &Variables::default()).unwrap_err();
    let found: Vec<String> = errors
        .items
        .iter()
        .map(|d| format!("{} {}", d.origin, d.message))
        .collect();
    assert_eq!(
        found,
        [
            "p.yaml:7:11 variable `ONE` is not defined",
            "p.yaml:8:19 variable `TWO` is not defined"
        ]
    );
    let unclosed = load(&format!("{USER_WITH}    name: a ${{B\n"), &vars).unwrap_err();
    assert!(unclosed.items[0].message.contains("no closing `}`"));
}

#[test]
fn escapes_are_literal_and_values_never_change_the_structure() {
    let mut vars = Variables::default();
    vars.set("TRICKY", "x: \"y\", z: [1]\n- w");
    vars.set("DOMAIN", "partner.example");
    let policy = format!(
        "{USER_WITH}    name: ${{TRICKY}}\n    given_name: \"$${{DOMAIN}} costs $$5\"\n    family_name: 'Doe @${{DOMAIN}}'\n"
    );
    let state = load(&policy, &vars).unwrap();
    let profile = &state.users[0].policy.profile;
    assert_eq!(profile.name.as_deref(), Some("x: \"y\", z: [1]\n- w"));
    assert_eq!(profile.given_name.as_deref(), Some("${DOMAIN} costs $$5"));
    assert_eq!(profile.family_name.as_deref(), Some("Doe @partner.example"));
    // Inside a text and in an email address.
    let policy = "connections:\n  - name: db\n    email_verification: off\nusers:\n  - connection: db\n    email: ops@${DOMAIN}\n";
    assert_eq!(
        load(policy, &vars).unwrap().users[0].email,
        "ops@partner.example"
    );
}

#[test]
fn a_variable_can_be_a_whole_list() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prod.yaml");
    std::fs::write(&file, "DOMAINS:\n  - a.example\n  - b.example\nLEVEL: 3\n").unwrap();
    let from_file = Variables::collect(&[], &[file], env(&[])).unwrap();
    let policy = format!(
        "{USER_WITH}    user_metadata:\n      domains: ${{DOMAINS}}\n      level: ${{LEVEL}}\n      label: \"level ${{LEVEL}}\"\n"
    );
    assert_eq!(
        metadata(&load(&policy, &from_file).unwrap()),
        json!({"domains": ["a.example", "b.example"], "level": 3, "label": "level 3"})
    );
    // A `--var` (or environment) value written `[…]` is a list; a comma-separated one is text.
    let from_flag = Variables::collect(
        &["DOMAINS=[a.example, b.example]".into(), "LEVEL=3".into()],
        &[],
        env(&[]),
    )
    .unwrap();
    assert_eq!(
        metadata(&load(&policy, &from_flag).unwrap()),
        json!({"domains": ["a.example", "b.example"], "level": 3, "label": "level 3"})
    );
    let commas = Variables::collect(&[], &[], env(&[("VERIFYCTL_VAR_DOMAINS", "a, b")])).unwrap();
    // In a flow mapping (`{…}`) a variable must be quoted, which makes it text.
    let policy = format!("{USER_WITH}    user_metadata: {{domains: \"${{DOMAINS}}\"}}\n");
    assert_eq!(
        metadata(&load(&policy, &commas).unwrap()),
        json!({"domains": "a, b"})
    );
    // A list inside a longer text is an error at its `${`.
    let policy = format!("{USER_WITH}    name: \"all of ${{DOMAINS}}\"\n");
    let errors = load(&policy, &from_file).unwrap_err();
    assert_eq!(errors.items[0].origin.to_string(), "p.yaml:7:19");
    assert!(
        errors.items[0].message.contains("variable `DOMAINS`")
            && errors.items[0]
                .message
                .contains("cannot be part of a longer text"),
        "{}",
        errors.items[0].message
    );
}

#[test]
fn resolved_values_keep_the_fields_type_rules_and_errors_name_the_variable() {
    let policy = "connections:\n  - name: db\n    email_verification: ${MODE}\n    block_unverified_login: ${BLOCK}\n    resend:\n      after: 72h\n      max: ${MAX}\n";
    let good = Variables::collect(
        &["MODE=required".into(), "BLOCK=true".into(), "MAX=3".into()],
        &[],
        env(&[]),
    )
    .unwrap();
    let state = load(policy, &good).unwrap();
    let connection = &state.connections["db"];
    assert!(connection.block_unverified_login);
    assert_eq!(connection.resend.max, 3);
    let bad = Variables::collect(
        &[
            "MODE=sometimes".into(),
            "BLOCK=maybe".into(),
            "MAX=three".into(),
        ],
        &[],
        env(&[]),
    )
    .unwrap();
    let errors = load(policy, &bad).unwrap_err();
    let found: Vec<String> = errors
        .items
        .iter()
        .map(|d| format!("{} {}", d.origin, d.message))
        .collect();
    assert_eq!(found.len(), 3, "{found:#?}");
    for (line, expected) in found.iter().zip([
        ("p.yaml:3:25", "sometimes", "MODE"),
        ("p.yaml:4:29", "maybe", "BLOCK"),
        ("p.yaml:7:12", "three", "MAX"),
    ]) {
        assert!(line.starts_with(expected.0), "{line}");
        assert!(line.contains(expected.1), "{line}");
        assert!(
            line.contains(&format!(
                "(the value comes from `${{{}}}` from --var)",
                expected.2
            )),
            "{line}"
        );
    }
    // A quoted variable is always text.
    let quoted = "connections:\n  - name: db\n    email_verification: required\n    block_unverified_login: \"${BLOCK}\"\n";
    let errors = load(quoted, &good).unwrap_err();
    assert!(errors.items[0].message.contains("`block_unverified_login`"));
}

#[test]
fn bad_definitions_are_errors_in_our_words() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.yaml");
    std::fs::write(&list, "- a\n").unwrap();
    let bad_name = dir.path().join("bad.yaml");
    std::fs::write(&bad_name, "ok: 1\nnot-a-name: 2\n").unwrap();
    let missing = dir.path().join("missing.yaml");
    let errors = Variables::collect(
        &["NOEQUALS".into(), "1X=3".into()],
        &[list, bad_name, missing],
        env(&[
            ("VERIFYCTL_VAR_X-Y", "1"),
            ("VERIFYCTL_VAR_S", "a"),
            ("VERIFYCTL_SECRET_VAR_S", "b"),
        ]),
    )
    .unwrap_err();
    let messages: Vec<String> = errors
        .items
        .iter()
        .map(|d| format!("{} {}", d.origin, d.message))
        .collect();
    let text = messages.join("\n");
    for expected in [
        "VERIFYCTL_VAR_X-Y does not name a policy variable",
        "`S` is defined twice in the environment",
        "list.yaml:1:1 a var file must be a mapping, found a list",
        "bad.yaml:2:1 `not-a-name` is not a valid variable name",
        "missing.yaml cannot read this var file: it does not exist",
        "`--var NOEQUALS` has no `=`",
        "`--var 1X=3`: `1X` is not a valid variable name",
    ] {
        assert!(text.contains(expected), "{expected} not in\n{text}");
    }
    assert!(!text.contains("\"b\"") && !text.contains("`b`"), "{text}");
}

/// A policy directory, a tenant file and var files for two environments.
struct Envs {
    dir: tempfile::TempDir,
}

const POLICY: &str = "connections:
  - name: required-db
    email_verification: required
users:
  - connection: required-db
    email: ops@${PARTNER_DOMAIN}
    user_metadata:
      token: ${API_TOKEN}
      note: \"key ${API_TOKEN}.\"
      domains: ${DOMAINS}
";

impl Envs {
    fn new() -> Envs {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("policies")).unwrap();
        std::fs::create_dir_all(dir.path().join("environments")).unwrap();
        std::fs::write(dir.path().join("policies/p.yaml"), POLICY).unwrap();
        std::fs::write(dir.path().join("tenant.yaml"), TENANT).unwrap();
        std::fs::write(
            dir.path().join("environments/staging.yaml"),
            "PARTNER_DOMAIN: staging.example\nDOMAINS: [staging.example]\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("environments/prod.yaml"),
            "PARTNER_DOMAIN: partner.example\nDOMAINS: [partner.example, partner.example.org]\n",
        )
        .unwrap();
        Envs { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str], secret: &str) -> std::process::Output {
        let mut full: Vec<String> = Vec::new();
        for arg in args {
            full.push(match *arg {
                "@policies" | "@tenant" | "@plan" | "@staging" | "@prod" => {
                    let name = match *arg {
                        "@policies" => "policies",
                        "@tenant" => "tenant.yaml",
                        "@plan" => "plan.json",
                        "@staging" => "environments/staging.yaml",
                        _ => "environments/prod.yaml",
                    };
                    self.path(name).display().to_string()
                }
                other => other.to_string(),
            });
        }
        let args: Vec<&str> = full.iter().map(String::as_str).collect();
        verifyctl(
            &args,
            &[
                ("VERIFYCTL_NOW", NOW_TEXT.to_string()),
                ("VERIFYCTL_SECRET_VAR_API_TOKEN", secret.to_string()),
            ],
            None,
        )
    }
}

const SECRET: &str = "tok-Zq8#\"pL2\\w9";

#[test]
fn secrets_are_masked_in_every_output_and_put_back_when_applying_a_saved_plan() {
    let envs = Envs::new();
    let escaped = serde_json::to_string(SECRET).unwrap();
    let escaped = escaped.trim_matches('"').to_string();
    let tenant_before = std::fs::read_to_string(envs.path("tenant.yaml")).unwrap();
    for format in ["text", "markdown", "json"] {
        let output = envs.run(
            &[
                "plan",
                "@policies",
                "--tenant-file",
                "@tenant",
                "--var-file",
                "@prod",
                "--format",
                format,
            ],
            SECRET,
        );
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let all = format!("{}{}", stdout(&output), stderr(&output));
        assert!(all.contains("ops@partner.example"), "{format}: {all}");
        assert!(
            !all.contains(SECRET) && !all.contains(&escaped) && !all.contains("tok-Zq8"),
            "{format} shows the secret: {all}"
        );
        assert!(all.contains("[secret ${API_TOKEN}]"), "{format}: {all}");
    }
    let saved = envs.run(
        &[
            "plan",
            "@policies",
            "--tenant-file",
            "@tenant",
            "--var-file",
            "@prod",
            "--out",
            "@plan",
        ],
        SECRET,
    );
    assert_eq!(saved.status.code(), Some(0), "{}", stderr(&saved));
    let file = std::fs::read_to_string(envs.path("plan.json")).unwrap();
    assert!(!file.contains("tok-Zq8"), "the saved plan holds the secret");
    let document: serde_json::Value = serde_json::from_str(&file).unwrap();
    let variables = &document["saved"]["variables"];
    assert_eq!(variables["PARTNER_DOMAIN"]["value"], "partner.example");
    assert_eq!(
        variables["DOMAINS"]["value"],
        "[\"partner.example\",\"partner.example.org\"]"
    );
    assert_eq!(variables["API_TOKEN"]["secret"], true);
    assert!(variables["API_TOKEN"].get("value").is_none());
    assert_eq!(variables["API_TOKEN"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(
        std::fs::read_to_string(envs.path("tenant.yaml")).unwrap(),
        tenant_before,
        "plan changes nothing"
    );

    // Another secret value: refused, without showing either value.
    let refused = envs.run(
        &[
            "apply",
            "@policies",
            "--tenant-file",
            "@tenant",
            "--var-file",
            "@prod",
            "--plan",
            "@plan",
            "--auto-approve",
        ],
        "another-token",
    );
    assert_eq!(refused.status.code(), Some(1));
    let text = stderr(&refused);
    assert!(
        text.contains("`${API_TOKEN}` (secret) has another value than for the plan"),
        "{text}"
    );
    assert!(
        !text.contains("another-token") && !text.contains("tok-Zq8"),
        "{text}"
    );

    // The same variables: applied, with the secret's real value, and shown masked.
    let applied = envs.run(
        &[
            "apply",
            "@policies",
            "--tenant-file",
            "@tenant",
            "--var-file",
            "@prod",
            "--plan",
            "@plan",
            "--auto-approve",
        ],
        SECRET,
    );
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let all = format!("{}{}", stdout(&applied), stderr(&applied));
    assert!(!all.contains("tok-Zq8"), "{all}");
    let tenant: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(envs.path("tenant.yaml")).unwrap())
            .unwrap();
    let user = tenant["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "ops@partner.example")
        .expect("created");
    assert_eq!(user["user_metadata"]["token"], SECRET);
    assert_eq!(user["user_metadata"]["note"], format!("key {SECRET}."));
    assert_eq!(
        user["user_metadata"]["domains"],
        json!(["partner.example", "partner.example.org"])
    );
}

#[test]
fn a_saved_plan_for_one_environment_is_refused_in_another() {
    let envs = Envs::new();
    let saved = envs.run(
        &[
            "plan",
            "@policies",
            "--tenant-file",
            "@tenant",
            "--var-file",
            "@staging",
            "--out",
            "@plan",
        ],
        SECRET,
    );
    assert_eq!(saved.status.code(), Some(0), "{}", stderr(&saved));
    let tenant_before = std::fs::read_to_string(envs.path("tenant.yaml")).unwrap();
    let refused = envs.run(
        &[
            "apply",
            "@policies",
            "--tenant-file",
            "@tenant",
            "--var-file",
            "@prod",
            "--plan",
            "@plan",
            "--auto-approve",
        ],
        SECRET,
    );
    assert_eq!(refused.status.code(), Some(1));
    let text = stderr(&refused);
    for expected in [
        "the saved plan was made with other policy variables",
        "nothing was changed",
        "- `${PARTNER_DOMAIN}` was `staging.example` for the plan, is `partner.example` now",
        "- `${DOMAINS}` was",
        "hint: apply it with the variables it was planned with",
    ] {
        assert!(text.contains(expected), "{expected} not in {text}");
    }
    assert_eq!(
        std::fs::read_to_string(envs.path("tenant.yaml")).unwrap(),
        tenant_before,
        "nothing applied"
    );
    // A --var over the var file counts like any other source.
    let refused = envs.run(
        &[
            "apply",
            "@policies",
            "--tenant-file",
            "@tenant",
            "--var-file",
            "@staging",
            "--var",
            "PARTNER_DOMAIN=partner.example",
            "--plan",
            "@plan",
            "--auto-approve",
        ],
        SECRET,
    );
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    // Under the same variables it applies.
    let applied = envs.run(
        &[
            "apply",
            "@policies",
            "--tenant-file",
            "@tenant",
            "--var-file",
            "@staging",
            "--plan",
            "@plan",
            "--auto-approve",
        ],
        SECRET,
    );
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    assert!(
        std::fs::read_to_string(envs.path("tenant.yaml"))
            .unwrap()
            .contains("ops@staging.example")
    );
}

#[test]
fn validate_takes_the_flags_and_locates_undefined_variables() {
    let envs = Envs::new();
    let missing = envs.run(&["validate", "@policies"], SECRET);
    assert_eq!(missing.status.code(), Some(1));
    let text = stderr(&missing);
    assert!(
        text.contains("variable `PARTNER_DOMAIN` is not defined"),
        "{text}"
    );
    assert!(text.contains("p.yaml:6:16"), "{text}");
    let ok = envs.run(&["validate", "@policies", "--var-file", "@staging"], SECRET);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let by_flag = envs.run(
        &[
            "validate",
            "@policies",
            "--var",
            "PARTNER_DOMAIN=x.example",
            "--var",
            "DOMAINS=[x.example]",
        ],
        SECRET,
    );
    assert_eq!(by_flag.status.code(), Some(0), "{}", stderr(&by_flag));
}

#[test]
fn the_policy_schema_accepts_variables_in_every_kind_of_field() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::support::repo_root().join("schemas/policy.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let as_json = |text: &str| {
        let root = verifyctl::policy::yaml::parse(text).unwrap();
        verifyctl::policy::yaml::from_node::<serde_json::Value>(&root).unwrap()
    };
    let with_vars = "connections:\n  - name: ${DB}\n    email_verification: ${MODE}\n    block_unverified_login: ${BLOCK}\n    resend:\n      after: ${AFTER}\n      max: ${MAX}\nusers:\n  - connection: ${DB}\n    email: ops@${DOMAIN}\n    onboarding: ${ONBOARDING}\n";
    assert!(validator.is_valid(&as_json(with_vars)));
    assert!(validator.is_valid(&as_json(POLICY)));
    // Still closed: a wrong value without a variable is refused.
    assert!(!validator.is_valid(&as_json(
        "connections:\n  - name: db\n    email_verification: sometimes\n"
    )));
}
