//! `validate` and `schemas/policy.schema.json` are one truth: a corpus of policy files, valid
//! and invalid, goes through both the loader (`load_sources`) and a JSON Schema validator
//! (the `jsonschema` crate) against the checked-in schema, and they must agree on each.
//!
//! The corpus holds single files whose every connection and user is consistent with the
//! others, so that a difference can only come from what the schema can express. What it
//! cannot (a duplicate user, a user naming an undefined connection, `onboarding` against the
//! connection's mode) is checked by `validate` alone and not part of the corpus.

use std::sync::Arc;

use serde_json::Value;
use verifyctl::policy::schema::POLICY_SCHEMA_PATH;
use verifyctl::policy::yaml;
use verifyctl::policy::{PolicySource, load_sources};

use crate::support::repo_root;

fn schema() -> Value {
    let text = std::fs::read_to_string(repo_root().join(POLICY_SCHEMA_PATH)).expect("schema");
    serde_json::from_str(&text).expect("schema is JSON")
}

/// The policy file as the loader sees it (same YAML reading), as JSON; `None` when it cannot
/// be JSON at all (a syntax error, a key that is not text).
fn as_json(text: &str) -> Option<Value> {
    let root = yaml::parse(text).ok()?;
    yaml::from_node::<Value>(&root).ok()
}

const CONNECTION: &str = "connections:\n  - name: partner-db\n    email_verification: required\n";

fn with_user(fields: &str) -> String {
    format!("{CONNECTION}users:\n  - connection: partner-db\n{fields}")
}

fn with_resend(after: &str) -> String {
    format!("{CONNECTION}    resend: {{after: '{after}', max: 3}}\n")
}

fn with_email(email: &str) -> String {
    // A JSON string is a YAML double-quoted scalar.
    let quoted = serde_json::to_string(email).unwrap();
    with_user(&format!("    email: {quoted}\n"))
}

/// (what, policy file, valid?)
fn corpus() -> Vec<(String, String, bool)> {
    let mut cases: Vec<(String, String, bool)> = Vec::new();
    let mut case = |what: &str, text: String, valid: bool| {
        cases.push((what.to_string(), text, valid));
    };
    // Valid files.
    case("empty file", String::new(), true);
    case("comments only", "# nothing yet\n".into(), true);
    case("a connection", CONNECTION.into(), true);
    case(
        "everything",
        format!(
            "{CONNECTION}    resend: {{after: 72h, max: 3}}\n    verification_client: Partner Portal\n    signup: disabled\n    block_unverified_login: true\n    resend_on_login: true\n  - name: staff\n    email_verification: trusted\napplications:\n  - name: Partner Portal\n    email_verification: required\n  - client_id: abc123\n    email_verification: off\nusers:\n  - connection: partner-db\n    email: alice@partner.example\n    name: Alice Doe\n    given_name: Alice\n    family_name: Doe\n    user_metadata: {{team: blue, level: 3}}\n    app_metadata: {{plan: gold}}\n    onboarding: password-reset\n  - connection: staff\n    email: bob@corp.example\n    email_verification: off\nlogin:\n  deny_message: Please verify your email first.\n  action_name: my-action\n"
        ),
        true,
    );
    case(
        "null lists",
        "connections: ~\nusers:\napplications: ~\nlogin: ~\n".into(),
        true,
    );
    case(
        "null optional fields",
        format!("{CONNECTION}    resend: ~\n    signup: ~\n    verification_client: ~\n"),
        true,
    );
    case(
        "name of 300",
        with_user(&format!(
            "    email: a@b.example\n    name: {}\n",
            "n".repeat(300)
        )),
        true,
    );
    case(
        "given_name of 150",
        with_user(&format!(
            "    email: a@b.example\n    given_name: {}\n",
            "g".repeat(150)
        )),
        true,
    );
    case(
        "family_name of 150",
        with_user(&format!(
            "    email: a@b.example\n    family_name: {}\n",
            "f".repeat(150)
        )),
        true,
    );
    case(
        "deny_message of 500",
        format!("login:\n  deny_message: {}\n", "d".repeat(500)),
        true,
    );
    case(
        "action_name of 100",
        format!("login:\n  action_name: {}\n", "a".repeat(100)),
        true,
    );
    case(
        "non-ASCII names",
        with_user("    email: a@b.example\n    name: José Müller 山田\n"),
        true,
    );
    for after in [
        "1h",
        "3600s",
        "60m",
        "72h",
        "072h",
        "3d",
        "1w",
        "52w",
        "365d",
        "8760h",
        "525600m",
        "31536000s",
    ] {
        case(&format!("resend after {after}"), with_resend(after), true);
    }
    let local64 = "l".repeat(64);
    let label63 = "d".repeat(63);
    let domain249 = format!("{label63}.{label63}.{label63}.{}", "c".repeat(57));
    for email in [
        "alice@partner.example".to_string(),
        "Bob.Smith+tag@corp.example.co.uk".into(),
        "o'neil@x-y.example".into(),
        "jose@exämple.example".into(),
        "用户@例子.example".into(),
        format!("{local64}@corp.example"),
        format!("bob@{label63}.example"),
        format!("abcd@{domain249}"),
    ] {
        case(&format!("email {email}"), with_email(&email), true);
    }

    // Invalid files.
    case(
        "a user as a list",
        format!("{CONNECTION}users: [[partner-db, a@b.example]]\n"),
        false,
    );
    case(
        "a connection as a list",
        "connections: [[partner-db, required]]\n".into(),
        false,
    );
    case(
        "login as a list",
        "login: [Hello, my-action]\n".into(),
        false,
    );
    case(
        "resend as a list",
        format!("{CONNECTION}    resend: [72h, 3]\n"),
        false,
    );
    case(
        "a word as a mapping",
        "connections:\n  - name: partner-db\n    email_verification: {required: ~}\n".into(),
        false,
    );
    case("a list of numbers", "users: [0, 0, 0]\n".into(), false);
    case("users as a mapping", "users: {a: 1}\n".into(), false);
    case("login as a number", "login: 3\n".into(), false);
    case("unknown top-level key", "extra: 1\n".into(), false);
    case(
        "unknown key",
        format!("{CONNECTION}    sigup: disabled\n"),
        false,
    );
    case(
        "unknown resend key",
        format!("{CONNECTION}    resend: {{after: 72h, max: 3, maxx: 4}}\n"),
        false,
    );
    case("missing email", with_user("    name: Bob\n"), false);
    case(
        "missing resend.max",
        format!("{CONNECTION}    resend: {{after: 72h}}\n"),
        false,
    );
    case(
        "unknown mode",
        "connections:\n  - name: partner-db\n    email_verification: requird\n".into(),
        false,
    );
    case(
        "a boolean as text",
        format!("{CONNECTION}    block_unverified_login: 'yes'\n"),
        false,
    );
    case(
        "YAML 1.1 boolean",
        format!("{CONNECTION}    block_unverified_login: yes\n"),
        false,
    );
    case(
        "a name as a number",
        "connections:\n  - name: 2024\n    email_verification: off\n".into(),
        false,
    );
    case(
        "resend.max 0",
        format!("{CONNECTION}    resend: {{after: 72h, max: 0}}\n"),
        false,
    );
    case(
        "resend.max -1",
        format!("{CONNECTION}    resend: {{after: 72h, max: -1}}\n"),
        false,
    );
    case(
        "resend.max too large",
        format!("{CONNECTION}    resend: {{after: 72h, max: 4294967296}}\n"),
        false,
    );
    case("resend on a trusted connection", "connections:\n  - name: staff\n    email_verification: trusted\n    resend: {after: 72h, max: 3}\n".into(), false);
    case("block login on an off connection", "connections:\n  - name: staff\n    email_verification: off\n    block_unverified_login: true\n".into(), false);
    case(
        "application without selector",
        "applications:\n  - email_verification: required\n".into(),
        false,
    );
    case(
        "application with both selectors",
        "applications:\n  - name: Portal\n    client_id: abc\n    email_verification: required\n"
            .into(),
        false,
    );
    for (field, text) in [
        (
            "application name",
            "applications:\n  - name: ''\n    email_verification: required\n".to_string(),
        ),
        (
            "application name",
            "applications:\n  - name: '  '\n    email_verification: required\n".into(),
        ),
        (
            "application client_id",
            "applications:\n  - client_id: ''\n    email_verification: required\n".into(),
        ),
        (
            "connection name",
            "connections:\n  - name: ''\n    email_verification: off\n".into(),
        ),
        (
            "verification_client",
            format!("{CONNECTION}    verification_client: ''\n"),
        ),
        (
            "user connection",
            "users:\n  - connection: ' '\n    email: a@b.example\n".into(),
        ),
        (
            "user name",
            with_user("    email: a@b.example\n    name: ''\n"),
        ),
        (
            "user given_name",
            with_user("    email: a@b.example\n    given_name: ''\n"),
        ),
        (
            "user family_name",
            with_user("    email: a@b.example\n    family_name: ' '\n"),
        ),
        ("login.deny_message", "login:\n  deny_message: ''\n".into()),
        ("login.action_name", "login:\n  action_name: ' '\n".into()),
    ] {
        case(&format!("empty {field}"), text, false);
    }
    case(
        "name of 301",
        with_user(&format!(
            "    email: a@b.example\n    name: {}\n",
            "n".repeat(301)
        )),
        false,
    );
    case(
        "given_name of 151",
        with_user(&format!(
            "    email: a@b.example\n    given_name: {}\n",
            "g".repeat(151)
        )),
        false,
    );
    case(
        "family_name of 151",
        with_user(&format!(
            "    email: a@b.example\n    family_name: {}\n",
            "f".repeat(151)
        )),
        false,
    );
    case(
        "deny_message of 501",
        format!("login:\n  deny_message: {}\n", "d".repeat(501)),
        false,
    );
    case(
        "action_name of 101",
        format!("login:\n  action_name: {}\n", "a".repeat(101)),
        false,
    );
    for after in [
        " 72h",
        "72h ",
        "72 h",
        "0s",
        "59m",
        "3599s",
        "0h",
        "366d",
        "53w",
        "8761h",
        "9223372036854775807s",
        "70000000h",
        "99999999999999999999h",
        "72",
        "h",
        "-1h",
        "3days",
        "1.5h",
    ] {
        case(
            &format!("resend after {after:?}"),
            with_resend(after),
            false,
        );
    }
    case(
        "resend after as a number",
        format!("{CONNECTION}    resend: {{after: 72, max: 3}}\n"),
        false,
    );
    for email in [
        "not-an-email".to_string(),
        "@corp.example".into(),
        "bob@".into(),
        "bob@localhost".into(),
        "bob@corp..example".into(),
        "bob@corp.example.".into(),
        "bo b@corp.example".into(),
        "bob@-corp.example".into(),
        "bob@corp-.example".into(),
        ".bob@corp.example".into(),
        "bob.@corp.example".into(),
        "a@b@corp.example".into(),
        "bob@corp_x.example".into(),
        "b\u{a0}ob@corp.example".into(),
        format!("{local64}l@corp.example"),
        format!("bob@{label63}d.example"),
        format!("abcde@{domain249}"),
        format!("{}@corp.example", "a".repeat(290)),
    ] {
        let shown: String = email.chars().take(40).collect();
        case(&format!("email {shown}"), with_email(&email), false);
    }
    case("email as a number", with_user("    email: 12\n"), false);
    case(
        "metadata as a list",
        with_user("    email: a@b.example\n    user_metadata: [1]\n"),
        false,
    );
    case(
        "metadata key as a number",
        with_user("    email: a@b.example\n    app_metadata: {1: 2}\n"),
        false,
    );
    cases
}

#[test]
fn validate_and_the_schema_agree_on_every_case() {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let mut disagreements = Vec::new();
    let corpus = corpus();
    assert!(corpus.len() > 100, "{} cases", corpus.len());
    for (what, text, expected) in &corpus {
        let loaded = load_sources(vec![PolicySource {
            file: Arc::from("corpus.yaml"),
            text: Arc::from(text.as_str()),
        }]);
        let by_validate = loaded.is_ok();
        let by_schema = as_json(text).is_some_and(|json| validator.is_valid(&json));
        if by_validate != *expected || by_schema != *expected {
            let why = match &loaded {
                Err(errors) => errors
                    .items
                    .iter()
                    .map(|d| d.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
                Ok(_) => "loads".into(),
            };
            disagreements.push(format!(
                "{what}: expected {}, validate says {}, schema says {} ({why})",
                verdict(*expected),
                verdict(by_validate),
                verdict(by_schema)
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

fn verdict(valid: bool) -> &'static str {
    if valid { "valid" } else { "invalid" }
}

/// Random addresses from a small alphabet, through `check_email` (via the loader) and the
/// schema's email pattern: they must agree on every one. Deterministic (a fixed seed).
#[test]
fn email_rules_and_the_schema_pattern_agree_on_generated_addresses() {
    let schema = schema();
    // The first alternative; the second is a `${NAME}` variable.
    let email_schema = &schema["$defs"]["UserPolicy"]["properties"]["email"]["anyOf"][0];
    let validator = jsonschema::validator_for(email_schema).expect("compiles");
    let alphabet: Vec<char> = "ab9.-@_+é山 \u{a0}'\"".chars().collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |bound: usize| {
        // xorshift64*: enough for test data.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % bound
    };
    let mut disagreements = Vec::new();
    for _ in 0..5_000 {
        let length = 1 + next(16);
        let mut email: String = (0..length)
            .map(|_| alphabet[next(alphabet.len())])
            .collect();
        if next(3) == 0 {
            email = format!("{email}@x.example");
        }
        let by_rules = verifyctl::policy::checks::check_email(&email).is_ok();
        let by_schema = validator.is_valid(&Value::String(email.clone()));
        if by_rules != by_schema {
            disagreements.push(format!("{email:?}: rules {by_rules}, schema {by_schema}"));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// A differential fuzzer: policy files built from a template with each field drawn from a
/// pool of tricky values, through both `validate` and the schema. Ignored (slow); run with
/// `cargo test --release --test it -- --ignored fuzz`.
#[test]
#[ignore = "a fuzzer: run with `cargo test --release --test it -- --ignored fuzz`"]
fn fuzz_validate_against_the_schema() {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let texts = [
        "x",
        "''",
        "' '",
        "~",
        "0",
        "1.5",
        "true",
        "[]",
        "{}",
        "[x]",
        "{a: 1}",
        "'72h'",
        "72h",
        "' 72h'",
        "0s",
        "1h",
        "365d",
        "366d",
        "required",
        "trusted",
        "off",
        "requird",
        "disabled",
        "enabled",
        "unmanaged",
        "none",
        "password-reset",
        "verification-email",
        "a@b.example",
        "'a b@c.example'",
        "yes",
        "-1",
        "3",
        "4294967296",
    ];
    let mut state: u64 = std::env::var("VERIFYCTL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5DEE_CE66_D1CE_4E5B);
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize
    };
    // Each field keeps a valid value, or (one time in six) takes a tricky one.
    let defaults = [
        "required",
        "72h",
        "3",
        "disabled",
        "true",
        "Portal",
        "Portal",
        "required",
        "a@b.example",
        "Alice",
        "{a: 1}",
        "required",
        "Hello",
    ];
    let cases: usize = std::env::var("VERIFYCTL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut disagreements = Vec::new();
    let mut valid = 0;
    for _ in 0..cases {
        let f: Vec<&str> = defaults
            .iter()
            .map(|valid| {
                if next() % 6 == 0 {
                    texts[next() % texts.len()]
                } else {
                    valid
                }
            })
            .collect();
        let text = format!(
            "connections:\n  - name: c\n    email_verification: {}\n    resend: {{after: {}, max: {}}}\n    signup: {}\n    block_unverified_login: {}\n    verification_client: {}\napplications:\n  - name: {}\n    email_verification: {}\nusers:\n  - connection: c\n    email: {}\n    name: {}\n    user_metadata: {}\n    email_verification: {}\nlogin:\n  deny_message: {}\n",
            f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12]
        );
        let by_validate = load_sources(vec![PolicySource {
            file: Arc::from("fuzz.yaml"),
            text: Arc::from(text.as_str()),
        }]);
        let by_schema = as_json(&text).is_some_and(|json| validator.is_valid(&json));
        valid += usize::from(by_schema);
        if by_validate.is_ok() != by_schema {
            let why = by_validate
                .err()
                .map(|e| e.items[0].message.clone())
                .unwrap_or_default();
            disagreements.push(format!(
                "{text}--> validate: {why:?}, schema valid: {by_schema}"
            ));
        }
    }
    eprintln!("{cases} cases, {valid} valid");
    disagreements.sort();
    disagreements.dedup();
    assert!(
        disagreements.is_empty(),
        "{} disagreements, e.g.\n{}",
        disagreements.len(),
        disagreements
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
