//! Pull-request outputs: markdown plans (snapshots against the emulator, the size limit on
//! a 10,000-action plan), email masking of every format, GitHub annotations for broken
//! policy files, and the CI recipes in `examples/ci/` checked against the real CLI.

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;
use serde_json::{Value, json};
use verifyctl::plan::{
    Action, ActionKind, FieldChange, LoginActionDeployment, Operation, Plan, Target, Warning,
    WarningKind,
};
use verifyctl::policy::{self, PolicySource};
use verifyctl::report::markdown::{self, COMMENT_MARKER, MAX_LEN};
use verifyctl::report::mask::mask_emails;
use verifyctl::report::{self, Format, PlanContext};

use crate::support::{TestTenant, desired, repo_root};

const MODES_TENANT: &str = include_str!("../fixtures/modes-tenant.yaml");

/// Every kind of change the modes tenant allows, and a warning.
const MIXED_POLICY: &str = "connections:
  - name: required-db
    email_verification: required
    resend: { after: 72h, max: 2 }
  - name: trusted-db
    email_verification: trusted
  - name: off-db
    email_verification: off
  - name: google-oauth2
    email_verification: required
users:
  - connection: required-db
    email: listed@required.example
    name: New Name
    user_metadata: { team: blue, prefs: { language: en, theme: dark, digest: weekly } }
  - connection: required-db
    email: new@required.example
    name: Newcomer
  - connection: required-db
    email: reset@required.example
    onboarding: password-reset
  - connection: off-db
    email: unverified@off.example
    email_verification: trusted
  - connection: trusted-db
    email: verified@trusted.example
    name: Already Right
";

async fn modes_plan(policy: &str) -> (Plan, PlanContext) {
    let tenant = TestTenant::from_yaml(MODES_TENANT).await;
    let desired = desired(policy);
    let client = tenant.client();
    let live = verifyctl::tenant::read_live_state(&client, &desired)
        .await
        .expect("live state");
    let plan = verifyctl::plan::build_plan(&desired, &live, tenant.clock.now()).expect("plan");
    let context = PlanContext {
        tenant: "modes.test".into(),
        requests: client.stats().total(),
    };
    (plan, context)
}

// ---------------------------------------------------------------------------------------
// Markdown plans

#[tokio::test]
async fn markdown_plan_of_a_mixed_tenant() {
    let (plan, context) = modes_plan(MIXED_POLICY).await;
    let kinds: BTreeSet<ActionKind> = plan
        .actions
        .iter()
        .map(verifyctl::plan::Action::kind)
        .collect();
    assert!(kinds.len() >= 4, "a plan with several kinds: {kinds:?}");
    assert!(!plan.warnings.is_empty());
    let text = markdown::render_plan(&plan, &context);
    assert!(text.starts_with(COMMENT_MARKER));
    assert_eq!(
        text,
        markdown::render_plan(&plan, &context),
        "deterministic"
    );
    insta::assert_snapshot!("markdown_plan_mixed", text);
}

#[tokio::test]
async fn markdown_plan_without_changes_says_so_and_keeps_warnings() {
    let (plan, context) = modes_plan(
        "connections:\n  - name: trusted-db\n    email_verification: off\n  - name: google-oauth2\n    email_verification: trusted\n",
    )
    .await;
    assert!(plan.is_empty());
    let text = markdown::render_plan(&plan, &context);
    assert!(text.contains("**No changes. The tenant matches the policies.**"));
    assert!(text.contains("> [!WARNING]"));
    assert!(!text.contains("<details>"));
    insta::assert_snapshot!("markdown_plan_no_changes", text);
}

const LOGIN_TENANT: &str = "
domain: login.test
clients:
  - {client_id: PortalClient00000000000000000001, name: Partner Portal, app_type: regular_web}
connections:
  - {id: con_PartnersDb000001, name: partners, strategy: auth0, options: {passwordPolicy: good}}
";

const LOGIN_POLICY: &str = "connections:
  - name: partners
    email_verification: required
    block_unverified_login: true
    signup: disabled
";

#[tokio::test]
async fn markdown_plan_shows_the_action_code_as_a_diff_block() {
    let tenant = TestTenant::from_yaml(LOGIN_TENANT).await;
    let policy = desired(LOGIN_POLICY);
    let plan = tenant.plan(&policy).await;
    let report = tenant.apply(&plan).await;
    assert_eq!(report.failed(), 0, "{:#?}", report.outcomes);

    let changed = desired(&format!(
        "{LOGIN_POLICY}login:\n  deny_message: Verify <b>your</b> address | then `come back`.\n"
    ));
    let plan = tenant.plan(&changed).await;
    let text = markdown::render_plan(
        &plan,
        &PlanContext {
            tenant: "login.test".into(),
            requests: 0,
        },
    );
    assert!(text.contains("```diff\n--- deployed\n+++ planned\n@@ "));
    insta::assert_snapshot!("markdown_plan_login_action_diff", text);
}

fn user_action(connection: &str, i: usize) -> Action {
    let id = format!("auth0|{connection}{i:06}");
    let email = format!("u{i}@{connection}.example");
    match i % 3 {
        0 => Action {
            target: Target::user(connection, Some(email), Some(id.clone())),
            reason: format!(
                "connection `{connection}` is trusted: the address is known to be correct"
            ),
            changes: vec![FieldChange {
                field: "email_verified".into(),
                before: Some(json!(false)),
                after: Some(json!(true)),
            }],
            operation: Operation::MarkEmailVerified {
                user_id: id,
                ledger: None,
            },
        },
        1 => Action {
            target: Target::user(connection, Some(email), Some(id.clone())),
            reason: "profile fields listed at policies/p.yaml:15:5 differ from the tenant".into(),
            changes: vec![
                FieldChange {
                    field: "name".into(),
                    before: Some(json!("Old | Name")),
                    after: Some(json!(format!("User {i}"))),
                },
                FieldChange {
                    field: "user_metadata.prefs".into(),
                    before: Some(json!({"language": "fr", "theme": "dark"})),
                    after: Some(json!({"language": "en", "theme": "dark"})),
                },
            ],
            operation: Operation::UpdateProfile {
                user_id: id,
                patch: Default::default(),
            },
        },
        _ => Action {
            target: Target::user(connection, Some(email), Some(id.clone())),
            reason: "a previous apply stopped after recording a send".into(),
            changes: vec![],
            operation: Operation::RecordInterruptedSend {
                user_id: id,
                ledger: Default::default(),
            },
        },
    }
}

fn ten_thousand_action_plan() -> Plan {
    let mut actions = Vec::new();
    for (connection, count) in [
        ("partners", 6_990),
        ("staff", 2_900),
        ("vendors", 100),
        ("contractors", 9),
    ] {
        actions.extend((0..count).map(|i| user_action(connection, i)));
    }
    let code = |message: &str| {
        (0..300)
            .map(|i| format!("const line{i} = \"{message}\";\n"))
            .collect::<String>()
    };
    actions.push(Action {
        target: Target::LoginAction {
            name: "verifyctl-email-verification".into(),
        },
        reason: "the code deployed in the tenant differs".into(),
        changes: vec![FieldChange {
            field: "code".into(),
            before: Some(json!(code("old"))),
            after: Some(json!(code("new"))),
        }],
        operation: Operation::DeployLoginAction(LoginActionDeployment {
            name: "verifyctl-email-verification".into(),
            code: code("new"),
            secret_names: vec![],
            action_id: Some("act_1".into()),
            update: true,
            deploy: true,
            bind: false,
        }),
    });
    Plan {
        actions,
        scope: None,
        warnings: vec![Warning {
            kind: WarningKind::BlockedUsers,
            connection: Some("partners".into()),
            message: "3 blocked users of `partners` are not emailed".into(),
            users: vec![
                "b1@partners.example".into(),
                "b2@partners.example".into(),
                "b3@partners.example".into(),
            ],
            user_count: 3,
        }],
    }
}

/// (section title, its action count, actions shown, actions said to be omitted).
fn sections(text: &str) -> Vec<(String, usize, usize, usize)> {
    let mut out = Vec::new();
    for section in text.split("<details>").skip(1) {
        let section = section.split("</details>").next().expect("closed");
        let summary = section
            .split("<summary>")
            .nth(1)
            .and_then(|s| s.split("</summary>").next())
            .expect("summary");
        let (title, rest) = summary.split_once("</strong>: ").expect("count");
        let count: usize = rest.split(' ').next().expect("n").parse().expect("number");
        let shown = section
            .lines()
            .filter(|l| l.starts_with("**~ ") || l.starts_with("**+ ") || l.starts_with("**- "))
            .count();
        let omitted = section
            .lines()
            .filter_map(|l| l.strip_prefix("… and "))
            .map(|rest| {
                assert!(
                    rest.contains("not shown (`verifyctl plan` shows them all)"),
                    "{rest}"
                );
                rest.split(' ')
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .expect("omitted count")
            })
            .sum();
        out.push((title.to_string(), count, shown, omitted));
    }
    out
}

#[test]
fn a_10000_action_plan_is_summarised_under_the_comment_limit() {
    let plan = ten_thousand_action_plan();
    assert_eq!(plan.actions.len(), 10_000);
    let context = PlanContext {
        tenant: "big.test".into(),
        requests: 301,
    };
    let text = markdown::render_plan(&plan, &context);
    assert!(text.len() < MAX_LEN, "{} bytes", text.len());
    assert!(text.chars().count() < 65_000);
    assert!(mask_emails(&text).len() < MAX_LEN, "masking keeps it under");

    // The summary table and the warning are whole.
    assert!(text.contains("| connection `partners` | 2330 | 2330 | 2330 | | 6990 |"));
    assert!(text.contains("| **total** | 3333 | 3334 | 3332 | 1 | **10000** |"));
    assert!(text.contains("> [!WARNING]\n> 3 blocked users of `partners` are not emailed"));

    // Every section is there; what is shown and what is said to be omitted add up.
    let sections = sections(&text);
    assert_eq!(sections.len(), 5);
    let counts: Vec<usize> = sections.iter().map(|s| s.1).collect();
    assert_eq!(counts, [6_990, 2_900, 100, 9, 1]);
    for (title, count, shown, omitted) in &sections {
        assert_eq!(shown + omitted, *count, "{title}");
    }
    let shown: usize = sections.iter().map(|s| s.2).sum();
    let omitted: usize = sections.iter().map(|s| s.3).sum();
    assert_eq!(shown + omitted, 10_000);
    assert!(text.contains(&format!("{shown} of its 10000 actions are shown below")));
    // Fair shares: the small sections are whole, the big ones get about the same room.
    assert_eq!(sections[3].3, 0, "contractors whole");
    assert_eq!(sections[4].3, 0, "the login Action whole");
    let big: Vec<usize> = sections[..3].iter().map(|s| s.2).collect();
    let (least, most) = (
        big.iter().min().expect("min"),
        big.iter().max().expect("max"),
    );
    assert!(*least > 20 && most - least <= most / 10, "fair: {big:?}");

    // Nothing is cut in the middle: fences pair up, every action shown is complete.
    let fences = text.lines().filter(|l| l.starts_with("```")).count();
    assert_eq!(fences % 2, 0);
    assert_eq!(
        text.matches("<details>").count(),
        text.matches("</details>").count()
    );
    assert!(text.ends_with("_301 Management API requests to read the tenant._\n"));
}

// ---------------------------------------------------------------------------------------
// Masking

/// Every address in the tenant fixture and the policy.
fn fixture_addresses() -> BTreeSet<String> {
    MODES_TENANT
        .lines()
        .chain(MIXED_POLICY.lines())
        .filter_map(|line| line.trim().strip_prefix("email: "))
        .chain(
            MODES_TENANT
                .lines()
                .filter_map(|line| line.trim().strip_prefix("- email: ")),
        )
        .map(|email| email.trim().to_string())
        .filter(|email| email.contains('@'))
        .collect()
}

#[tokio::test]
async fn masking_removes_every_address_from_every_format() {
    let addresses = fixture_addresses();
    assert!(addresses.len() >= 10, "{addresses:?}");
    let (plan, context) = modes_plan(MIXED_POLICY).await;
    let rendered = [
        (
            "text",
            report::render_plan(&plan, &context, Format::Text, false),
        ),
        (
            "json",
            report::render_plan(&plan, &context, Format::Json, false),
        ),
        ("markdown", markdown::render_plan(&plan, &context)),
    ];
    for (format, text) in rendered {
        let present: Vec<&String> = addresses.iter().filter(|a| text.contains(*a)).collect();
        assert!(present.len() >= 5, "{format}: the plan names users");
        let masked = mask_emails(&text);
        for address in &addresses {
            assert!(
                !masked.contains(address.as_str()),
                "{format}: `{address}` survived masking"
            );
        }
        for address in present {
            let (local, domain) = address.split_once('@').expect("address");
            let first = local.chars().next().expect("local part");
            assert!(
                masked.contains(&format!("{first}***@{domain}")),
                "{format}: `{address}` is masked, not removed"
            );
        }
        // Things that are not addresses are untouched.
        if format != "markdown" {
            assert!(masked.contains("PATCH /api/v2/users/{id}"), "{format}");
        }
        assert!(
            masked.contains("auth0|000000000000000000000301"),
            "{format}"
        );
        if format == "json" {
            let before: Value = serde_json::from_str(&text).expect("json");
            let after: Value = serde_json::from_str(&masked).expect("masked JSON still parses");
            assert_eq!(before["summary"], after["summary"]);
            assert_eq!(
                before["actions"].as_array().map(Vec::len),
                after["actions"].as_array().map(Vec::len)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// GitHub annotations

/// The broken files of `policy_errors.rs`, as they would sit in a repository.
fn broken_sources() -> Vec<PolicySource> {
    [
        (
            "policies/a.yaml",
            "connections:\n  - name: partners\n    email_verification: required\n  - name: staff\n    email_verification: trusted\n    sign_up: disabled\n  - name: vendors\n    email_verification: requird\n",
        ),
        (
            "policies/b.yaml",
            "users:\n  - connection: partners\n    email: alice@partner.example\n  - connection: partners\n    email: ALICE@partner.example\n  - connection: staf\n    email: bob@corp.example\n  - connection: staff\n    email: not-an-address\n",
        ),
        (
            "policies/c.yaml",
            "users:\n  - connection: staff\n    email: [unclosed\n",
        ),
    ]
    .into_iter()
    .map(|(file, text)| PolicySource {
        file: file.into(),
        text: text.into(),
    })
    .collect()
}

#[test]
fn github_annotations_for_broken_policies() {
    let diagnostics = policy::load_sources(broken_sources()).expect_err("broken");
    let annotations = diagnostics.render_github();
    assert_eq!(annotations.lines().count(), diagnostics.len());
    for line in annotations.lines() {
        assert!(line.starts_with("::error file=policies/"), "{line}");
        let (properties, message) = line["::error ".len()..]
            .split_once("::")
            .expect("properties::message");
        assert!(!message.is_empty());
        for property in properties.split(',') {
            let (key, _) = property.split_once('=').expect("key=value");
            assert!(["file", "line", "col"].contains(&key), "{property}");
        }
    }
    assert!(annotations.contains("::error file=policies/a.yaml,line=6,col=5::"));
    assert!(annotations.contains("(hint: "));
    insta::assert_snapshot!("github_annotations_broken_policies", annotations);
}

// ---------------------------------------------------------------------------------------
// CI recipes

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Op(String),
}

/// Shell words and operators of one logical line (quotes removed, no expansion).
fn shell_tokens(line: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let flush = |word: &mut String, in_word: &mut bool, tokens: &mut Vec<Token>| {
        if *in_word {
            tokens.push(Token::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => flush(&mut word, &mut in_word, &mut tokens),
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        c => word.push(c),
                    }
                }
            }
            '#' if !in_word => break,
            ';' | '|' | '&' | '<' | '>' | '(' | ')' => {
                // `2>&1`: a descriptor number before a redirection belongs to it.
                let descriptor = matches!(c, '<' | '>')
                    && in_word
                    && !word.is_empty()
                    && word.chars().all(|d| d.is_ascii_digit());
                let mut op = if descriptor {
                    in_word = false;
                    std::mem::take(&mut word)
                } else {
                    flush(&mut word, &mut in_word, &mut tokens);
                    String::new()
                };
                op.push(c);
                while let Some(&next) = chars.peek() {
                    if matches!(next, ';' | '|' | '&' | '<' | '>') && !matches!(c, '(' | ')') {
                        op.push(next);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Op(op));
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    flush(&mut word, &mut in_word, &mut tokens);
    tokens
}

/// Bash array assignments `NAME=(words…)` in a script, for expanding `"${NAME[@]}"`.
pub(crate) fn array_assignments(script: &str, arrays: &mut Vec<(String, Vec<String>)>) {
    for (i, _) in script.match_indices("=(") {
        let name: String = script[..i]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let Some(end) = script[i + 2..].find(')') else {
            continue;
        };
        let words: Vec<String> = script[i + 2..i + 2 + end]
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if !name.is_empty() && !words.is_empty() {
            arrays.push((name, words));
        }
    }
}

/// Every `verifyctl …` command in a script: its arguments, arrays expanded (one
/// invocation per way of expanding them: with each assignment and with the empty array).
pub(crate) fn invocations(script: &str, arrays: &[(String, Vec<String>)]) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut found = Vec::new();
    for line in joined.lines() {
        let tokens = shell_tokens(line);
        let mut command_position = true;
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                Token::Op(op) => {
                    command_position = !op.contains('>') && !op.contains('<');
                }
                Token::Word(word) if command_position => {
                    if word == "verifyctl" || word.ends_with("/verifyctl") {
                        let mut args = Vec::new();
                        let mut j = i + 1;
                        while let Some(Token::Word(arg)) = tokens.get(j) {
                            args.push(arg.clone());
                            j += 1;
                        }
                        found.extend(expand(&args, arrays));
                        i = j;
                        continue;
                    }
                    command_position = matches!(
                        word.as_str(),
                        "then"
                            | "do"
                            | "else"
                            | "if"
                            | "!"
                            | "time"
                            | "exec"
                            | "while"
                            | "until"
                            | "{"
                    );
                }
                Token::Word(_) => {}
            }
            i += 1;
        }
    }
    found
}

fn expand(args: &[String], arrays: &[(String, Vec<String>)]) -> Vec<Vec<String>> {
    let mut results = vec![Vec::new()];
    for arg in args {
        let array = arg
            .strip_prefix("${")
            .and_then(|rest| rest.strip_suffix("[@]}"));
        match array {
            Some(name) => {
                let mut variants: Vec<Vec<String>> = arrays
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, words)| words.clone())
                    .collect();
                assert!(!variants.is_empty(), "array `{name}` is never assigned");
                variants.push(Vec::new());
                results = results
                    .iter()
                    .flat_map(|prefix| {
                        variants.iter().map(move |v| {
                            let mut next = prefix.clone();
                            next.extend(v.iter().cloned());
                            next
                        })
                    })
                    .collect();
            }
            None => results.iter_mut().for_each(|r| r.push(arg.clone())),
        }
    }
    results
}

/// Shell scripts of a CI file: `run` (GitHub) and `script`/`before_script`/`after_script`
/// (GitLab) values; `with: script:` (actions/github-script) is JavaScript and skipped.
pub(crate) fn scripts(value: &Value, parent: Option<&str>, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let is_shell = matches!(
                    key.as_str(),
                    "run" | "script" | "before_script" | "after_script"
                ) && parent != Some("with")
                    && !child.is_object(); // `defaults: run: shell:` holds no script
                if is_shell {
                    match child {
                        Value::String(text) => out.push(text.clone()),
                        Value::Array(items) => {
                            let lines: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                            assert_eq!(lines.len(), items.len(), "{key}: strings only");
                            out.push(lines.join("\n"));
                        }
                        other => panic!("{key}: unexpected {other}"),
                    }
                } else {
                    scripts(child, Some(key), out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| scripts(item, parent, out)),
        _ => {}
    }
}

/// Checks one invocation against clap; returns the subcommand path (`plan`, `action render`).
pub(crate) fn check_invocation(cli: &clap::Command, args: &[String], file: &str) -> String {
    let mut command = cli;
    let mut path = Vec::new();
    let mut rest = args;
    while command.has_subcommands() {
        let Some((name, tail)) = rest.split_first() else {
            panic!("{file}: `verifyctl {}` names no subcommand", args.join(" "));
        };
        // `verifyctl --version`: a flag of the command itself.
        if let Some(flag) = name.strip_prefix("--") {
            assert!(
                command.get_arguments().any(|a| a.get_long() == Some(flag)),
                "{file}: `verifyctl {}`: no flag `{name}`",
                args.join(" ")
            );
            return path.join(" ");
        }
        command = command.find_subcommand(name).unwrap_or_else(|| {
            panic!(
                "{file}: `verifyctl {}`: no subcommand `{name}`",
                args.join(" ")
            )
        });
        path.push(name.clone());
        rest = tail;
    }
    let mut i = 0;
    while i < rest.len() {
        let arg = &rest[i];
        i += 1;
        let Some(flag) = arg.strip_prefix("--") else {
            continue;
        };
        let (name, inline_value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (flag, None),
        };
        let real = command.get_arguments().find(|a| a.get_long() == Some(name));
        assert!(
            real.is_some(),
            "{file}: `verifyctl {}`: `{}` has no flag `--{name}`",
            args.join(" "),
            path.join(" ")
        );
        let takes_value = real.is_some_and(|arg| arg.get_action().takes_values());
        if !takes_value {
            continue;
        }
        let value = inline_value.or_else(|| {
            let value = rest.get(i).cloned();
            i += 1;
            value
        });
        if name == "format" {
            let value = value.unwrap_or_default();
            let known: Vec<String> = real
                .map(|a| {
                    a.get_possible_values()
                        .iter()
                        .map(|v| v.get_name().to_string())
                        .collect()
                })
                .unwrap_or_default();
            assert!(
                known.contains(&value),
                "{file}: `--format {value}` is not a format of `{}`",
                path.join(" ")
            );
        }
    }
    path.join(" ")
}

/// The steps of a GitHub workflow that run verifyctl's action, with their `with:` inputs
/// (an expression such as `${{ github.event.repository.private == false }}` taken as
/// `true`, so that every flag the step can pass is checked).
fn action_steps(job: &Value) -> Vec<(&Value, Vec<(&str, String)>)> {
    let mut found = Vec::new();
    for step in job["steps"].as_array().into_iter().flatten() {
        let Some(uses) = step["uses"].as_str() else {
            continue;
        };
        if !(uses.contains("/verifyctl@") || uses == "./") {
            continue;
        }
        let inputs = step["with"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, value)| {
                let value = match value {
                    Value::String(text) if text.contains("${{") => "true".to_string(),
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (name.as_str(), value)
            })
            .collect();
        found.push((step, inputs));
    }
    found
}

/// Every `verifyctl` command line of one job of a CI file: its scripts read as shell, and
/// (GitHub) its action steps run through `action.yml` with a stub binary.
fn job_invocations(
    job: &Value,
    release: &crate::install::FakeRelease,
    arrays: &[(String, Vec<String>)],
) -> Vec<Vec<String>> {
    let mut shell = Vec::new();
    scripts(job, None, &mut shell);
    let mut found: Vec<Vec<String>> = shell
        .iter()
        .flat_map(|script| invocations(script, arrays))
        .collect();
    for (_, inputs) in action_steps(job) {
        let run = crate::install::run_action(&crate::install::ActionSetup {
            with: inputs.clone(),
            release: Some(release),
            ..crate::install::ActionSetup::default()
        });
        assert_eq!(run.status, 0, "the action with {inputs:?}: {}", run.log);
        found.extend(run.invocations);
    }
    found
}

#[test]
fn ci_recipes_call_real_subcommands_and_flags() {
    let mut cli = verifyctl::cli::Cli::command();
    cli.build();
    let release = crate::install::FakeRelease::new();
    for file in ["github-actions.yml", "gitlab-ci.yml"] {
        let path = repo_root().join("examples/ci").join(file);
        let text = std::fs::read_to_string(&path).expect("CI recipe");
        let yaml: Value = serde_saphyr::from_str(&text)
            .unwrap_or_else(|e| panic!("{file} is not valid YAML: {e}"));
        let mut shell = Vec::new();
        scripts(&yaml, None, &mut shell);
        assert!(!shell.is_empty(), "{file}: no scripts found");
        let mut arrays = Vec::new();
        for script in &shell {
            array_assignments(script, &mut arrays);
        }
        // GitLab's jobs extend `.verifyctl`, whose before_script runs in each of them.
        let jobs: Vec<(&String, &Value)> = match yaml.get("jobs") {
            Some(jobs) => jobs.as_object().expect("jobs").iter().collect(),
            None => yaml
                .as_object()
                .expect("top level")
                .iter()
                .filter(|(_, job)| job.get("stage").is_some() || job.get("script").is_some())
                .collect(),
        };
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut flags: BTreeSet<String> = BTreeSet::new();
        for (name, job) in &jobs {
            let mut job_seen = BTreeSet::new();
            for args in job_invocations(job, &release, &arrays) {
                let path = check_invocation(&cli, &args, file);
                for arg in &args {
                    if arg.starts_with("--") {
                        flags.insert(format!("{path} {arg}"));
                    }
                }
                job_seen.insert(path.clone());
                seen.insert(path);
            }
            // The apply job applies the reviewed plan: it never makes a fresh one.
            if name.as_str() == "apply" {
                assert!(
                    job_seen.contains("apply") && !job_seen.contains("plan"),
                    "{file}: the apply job runs {job_seen:?}"
                );
            }
        }
        for subcommand in ["validate", "plan", "apply"] {
            assert!(
                seen.contains(subcommand),
                "{file}: never runs `verifyctl {subcommand}`"
            );
        }
        for flag in [
            "plan --format",
            "plan --out",
            "plan --detailed-exitcode",
            "plan --mask-emails",
            "apply --plan",
            "apply --auto-approve",
            "apply --mask-emails",
        ] {
            assert!(
                flags.contains(flag),
                "{file}: never uses `{flag}`: {flags:?}"
            );
        }
        assert!(
            text.contains(COMMENT_MARKER),
            "{file}: finds its comment by the marker"
        );
        // A refused (stale) plan is noticed by verifyctl's own words or the action's output.
        assert!(
            text.contains("the saved plan is out of date")
                || text.contains("steps.apply.outputs.stale-plan == 'true'"),
            "{file}: handles a stale plan"
        );
    }
}

/// The variables the README says the apply job needs: (required, alternatives).
fn apply_needs() -> (Vec<String>, Vec<String>) {
    let section = crate::install::readme_section("### Pull requests and CI");
    let paragraph = section
        .split("\n\n")
        .find(|p| p.contains("**What apply needs in CI.**"))
        .expect("the README says what apply needs in CI");
    let mut required = Vec::new();
    let mut alternatives = Vec::new();
    let mut depth = 0;
    for (i, part) in paragraph.split('`').enumerate() {
        if i % 2 == 0 {
            depth += part.matches("(or ").count();
            depth -= part.matches(')').count().min(depth);
            continue;
        }
        if part
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
        {
            if depth > 0 {
                alternatives.push(part.to_string());
            } else {
                required.push(part.to_string());
            }
        }
    }
    (required, alternatives)
}

#[test]
fn ci_recipes_pass_every_variable_apply_needs() {
    let (required, alternatives) = apply_needs();
    // The list agrees with the README's table of environment variables.
    let table = crate::install::readme_section("### Environment variables");
    for name in required.iter().chain(&alternatives) {
        assert!(
            table.contains(&format!("`{name}`")),
            "{name} is in the table"
        );
    }
    for row in table.lines().filter(|l| l.contains("at apply time")) {
        for (i, name) in row.split('`').enumerate() {
            if i % 2 == 1 && name.starts_with("VERIFYCTL_") {
                assert!(required.contains(&name.to_string()), "{name} is listed");
            }
        }
    }
    for name in [
        "AUTH0_DOMAIN",
        "AUTH0_CLIENT_SECRET",
        "VERIFYCTL_ACTION_CLIENT_SECRET",
    ] {
        assert!(required.contains(&name.to_string()), "{name}: {required:?}");
    }

    // GitHub: the apply step's environment (workflow, job, step) has each, secrets from
    // secrets.
    let yaml = crate::install::load_yaml("examples/ci/github-actions.yml");
    let job = &yaml["jobs"]["apply"];
    let steps = action_steps(job);
    let (step, _) = steps
        .iter()
        .find(|(_, inputs)| inputs.iter().any(|(k, v)| *k == "command" && v == "apply"))
        .expect("the apply job applies with the action");
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for scope in [&yaml["env"], &job["env"], &step["env"]] {
        for (name, value) in scope.as_object().into_iter().flatten() {
            env.insert(name.clone(), value.as_str().unwrap_or_default().to_string());
        }
    }
    for name in &required {
        let value = env
            .get(name)
            .unwrap_or_else(|| panic!("github-actions.yml: apply does not get {name}"));
        let from = if name.contains("SECRET") {
            "${{ secrets."
        } else {
            "${{ "
        };
        assert!(
            value.starts_with(from) && (value.contains("secrets.") || value.contains("vars.")),
            "github-actions.yml: {name} = {value}"
        );
    }

    // GitLab passes CI/CD variables to every job: the recipe names each one to set, and
    // no job overrides them.
    let text = std::fs::read_to_string(repo_root().join("examples/ci/gitlab-ci.yml"))
        .expect("gitlab recipe");
    let header: String = text
        .lines()
        .take_while(|l| l.starts_with('#') || l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let gitlab = crate::install::load_yaml("examples/ci/gitlab-ci.yml");
    for name in &required {
        assert!(
            header.contains(name),
            "gitlab-ci.yml: the header names {name}"
        );
        for (job, spec) in gitlab.as_object().expect("top level") {
            assert!(
                spec["variables"].get(name).is_none(),
                "gitlab-ci.yml: {job} overrides {name}"
            );
        }
    }
}

#[test]
fn the_gitlab_recipe_runs_in_the_released_image() {
    let gitlab = crate::install::load_yaml("examples/ci/gitlab-ci.yml");
    let image = &gitlab[".verifyctl"]["image"];
    assert_eq!(
        image["name"],
        format!(
            "ghcr.io/OWNER/verifyctl:{}",
            crate::install::cargo_version()
        ),
        "the image of this version"
    );
    assert_eq!(
        image["entrypoint"],
        serde_json::json!([""]),
        "GitLab runs the script with the image's shell, not its verifyctl entrypoint"
    );
    let mut shell = Vec::new();
    scripts(&gitlab, None, &mut shell);
    let all = shell.join("\n");
    assert!(!all.contains("cargo "), "nothing is compiled");
    let packages = crate::install::image_packages();
    for tool in ["curl", "jq"] {
        if all.contains(&format!("{tool} ")) {
            assert!(packages.contains(tool), "the image has {tool}: {packages}");
        }
    }
    assert!(all.contains("[@]"), "bash arrays");
    assert!(packages.contains("bash"), "the image has bash: {packages}");
    for (name, job) in gitlab.as_object().expect("top level") {
        if job.get("stage").is_some() {
            assert_eq!(job["extends"], ".verifyctl", "{name} runs in the image");
        }
    }
}

#[test]
fn the_shell_reader_finds_invocations() {
    let arrays = vec![("m".to_string(), vec!["--mask-emails".to_string()])];
    let found = invocations(
        "code=0\nverifyctl plan --format markdown \"${m[@]}\" > plan.md || code=$?\nif true; then ./target/release/verifyctl validate; fi # verifyctl nope\necho verifyctl\ncargo build --bin verifyctl\n{ verifyctl apply --plan p.json 2>&1 >&3 | tee e >&2; } || true\necho x 2> verifyctl\n",
        &arrays,
    );
    assert_eq!(
        found,
        [
            vec!["plan", "--format", "markdown", "--mask-emails"],
            vec!["plan", "--format", "markdown"],
            vec!["validate"],
            vec!["apply", "--plan", "p.json"],
        ]
    );
}

/// A plan of `count` actions over as many users, for the large-plan checks.
fn large_plan(count: usize) -> Plan {
    let actions = (0..count)
        .map(|i| {
            let id = format!("auth0|{i:024x}");
            Action {
                target: Target::user(
                    "partners",
                    Some(format!("u{i}@partners.example")),
                    Some(id.clone()),
                ),
                reason: "connection `partners` is trusted: the address is known to be correct"
                    .into(),
                changes: vec![FieldChange {
                    field: "email_verified".into(),
                    before: Some(json!(false)),
                    after: Some(json!(true)),
                }],
                operation: Operation::MarkEmailVerified {
                    user_id: id,
                    ledger: None,
                },
            }
        })
        .collect();
    Plan {
        actions,
        warnings: Vec::new(),
        scope: None,
    }
}

#[test]
fn a_large_plan_is_one_line_per_action_in_text_and_complete_in_json() {
    let plan = large_plan(20_000);
    let context = PlanContext {
        tenant: "big.test".into(),
        requests: 7,
    };
    let text = report::render_plan(&plan, &context, Format::Text, false);
    assert!(
        text.contains("(20000 actions, one line each; `--detail full` shows every reason"),
        "{}",
        &text[..300]
    );
    let action_lines = text.lines().filter(|l| l.starts_with("  ~ ")).count();
    assert_eq!(action_lines, 20_000);
    assert!(!text.contains("reason:"), "compact: no reasons");
    assert!(text.len() < 20_000 * 100, "{} bytes", text.len());

    let mut full = Vec::new();
    report::write_plan(
        &mut full,
        &plan,
        &context,
        Format::Text,
        false,
        report::Detail::Full,
    )
    .expect("written");
    let full = String::from_utf8(full).expect("utf-8");
    assert_eq!(
        full.matches("reason: ").count(),
        20_000,
        "every reason on request"
    );

    let json: serde_json::Value =
        serde_json::from_str(&report::render_plan(&plan, &context, Format::Json, false))
            .expect("JSON");
    assert_eq!(json["actions"].as_array().map(Vec::len), Some(20_000));
    assert_eq!(json["summary"]["total"], 20_000);

    let markdown = markdown::render_plan(&plan, &context);
    assert!(markdown.len() < MAX_LEN);
}
