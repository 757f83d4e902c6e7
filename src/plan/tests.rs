//! The mode table of DESIGN.md §2, the ledger rules and onboarding, checked on the pure
//! plan function with hand-built live states.

use std::sync::Arc;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::policy::{PolicySource, load_sources};
use crate::tenant::types::{Client, Connection, User};
use crate::tenant::{LiveLogin, LiveState, SendEvidence};

const NOW: OffsetDateTime = datetime!(2026-11-22 10:00 UTC);

fn desired(yaml: &str) -> crate::policy::DesiredState {
    load_sources(vec![PolicySource {
        file: Arc::from("p.yaml"),
        text: Arc::from(yaml),
    }])
    .unwrap_or_else(|d| panic!("{}", d.render_human()))
}

fn connection(name: &str, strategy: &str) -> Connection {
    Connection {
        id: format!("con_{:0<16}", name.len()),
        name: name.into(),
        strategy: strategy.into(),
        options: None,
        display_name: None,
    }
}

#[allow(clippy::needless_pass_by_value)] // callers pass `json!(...)`
fn user(connection: &str, provider: &str, id: &str, fields: Value) -> User {
    let mut value = json!({
        "user_id": format!("{provider}|{id}"),
        "identities": [{"connection": connection, "provider": provider, "user_id": id, "isSocial": provider != "auth0"}],
    });
    for (k, v) in fields.as_object().unwrap() {
        value[k] = v.clone();
    }
    serde_json::from_value(value).unwrap()
}

fn live(connections: &[Connection], users: Vec<(&str, Vec<User>)>) -> LiveState {
    LiveState {
        connections: connections
            .iter()
            .map(|c| (c.name.clone(), c.clone()))
            .collect(),
        clients: vec![Client {
            client_id: "portal000000000000000000000000001".into(),
            name: "Partner Portal".into(),
            app_type: Some("regular_web".into()),
            global: None,
        }],
        users: users.into_iter().map(|(c, u)| (c.to_string(), u)).collect(),
        login: LiveLogin::Read {
            action: None,
            bindings: Vec::new(),
        },
        sends: SendEvidence::Unreadable {
            reason: "hand-built live state".into(),
        },
    }
}

/// A tenant with one database connection, `partners`, holding `users`.
fn partners_with(users: Vec<User>) -> LiveState {
    live(
        &[connection("partners", "auth0")],
        vec![("partners", users)],
    )
}

/// An `auth0` user of `partners` with `fields`.
fn partner(id: &str, fields: Value) -> User {
    user("partners", "auth0", id, fields)
}

fn summary(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| format!("{} {}", a.kind().as_str(), a.target))
        .collect()
}

fn ledger_with(kind: SendKind, count: u32, last: &str) -> Value {
    let field = match kind {
        SendKind::VerificationEmail => "verification_email",
        SendKind::PasswordReset => "password_reset",
    };
    json!({"verifyctl": {"v": 1, field: {"count": count, "first_sent_at": "2026-10-01T00:00:00.000Z", "last_sent_at": last}}})
}

const REQUIRED: &str = "connections:\n  - name: partners\n    email_verification: required\n    resend: { after: 72h, max: 3 }\n";

#[test]
fn required_creates_with_verification_and_sends_to_unverified_users() {
    let policy = format!(
        "{REQUIRED}users:\n  - connection: partners\n    email: New@Partner.example\n    name: New Person\n"
    );
    let state = partners_with(vec![
        partner(
            "a1",
            json!({"email": "unverified@partner.example", "email_verified": false}),
        ),
        partner(
            "a2",
            json!({"email": "verified@partner.example", "email_verified": true}),
        ),
        partner(
            "a3",
            json!({"email": "recent@partner.example", "email_verified": false, "app_metadata": ledger_with(SendKind::VerificationEmail, 1, "2026-11-21T10:00:00.000Z")}),
        ),
        partner(
            "a4",
            json!({"email": "due@partner.example", "email_verified": false, "app_metadata": ledger_with(SendKind::VerificationEmail, 1, "2026-11-18T10:00:00.000Z")}),
        ),
        partner(
            "a5",
            json!({"email": "done@partner.example", "email_verified": false, "app_metadata": ledger_with(SendKind::VerificationEmail, 3, "2026-11-01T10:00:00.000Z")}),
        ),
    ]);
    let plan = build_plan(&desired(&policy), &state, NOW).unwrap();
    assert_eq!(
        summary(&plan),
        [
            "send_verification_email due@partner.example (auth0|a4)",
            "create_user new@partner.example",
            "send_verification_email unverified@partner.example (auth0|a1)",
        ]
    );
    let Operation::CreateUser {
        user,
        onboarding_email,
        ..
    } = &plan.actions[1].operation
    else {
        panic!("not a create")
    };
    assert_eq!((user.verify_email, user.email_verified), (true, false));
    assert_eq!(*onboarding_email, CreateEmail::VerificationWithCreate);
    assert_eq!(user.password_length, Some(40));
    assert!(
        plan.actions[0]
            .reason
            .contains("1 of 3 verification emails sent"),
        "{}",
        plan.actions[0].reason
    );
    let Operation::SendVerificationEmail { request, .. } = &plan.actions[2].operation else {
        panic!("not a send")
    };
    assert_eq!(
        request.identity.as_ref().map(|i| i.provider.as_str()),
        Some("auth0")
    );
    assert_eq!(request.client_id, None);
}

#[test]
fn verification_client_brands_the_first_email_through_a_job() {
    let policy = "connections:\n  - name: partners\n    email_verification: required\n    verification_client: Partner Portal\nusers:\n  - connection: partners\n    email: new@partner.example\n";
    let state = partners_with(vec![]);
    let plan = build_plan(&desired(policy), &state, NOW).unwrap();
    let Operation::CreateUser {
        user,
        onboarding_email,
        ..
    } = &plan.actions[0].operation
    else {
        panic!("not a create")
    };
    assert!(!user.verify_email);
    assert_eq!(
        *onboarding_email,
        CreateEmail::VerificationJob {
            client_id: Some("portal000000000000000000000000001".into())
        }
    );
    assert_eq!(
        plan.actions[0].calls(),
        [
            "POST /api/v2/users",
            "POST /api/v2/jobs/verification-email",
            "PATCH /api/v2/users/{id}"
        ]
    );
}

#[test]
fn trusted_marks_verified_without_email_and_never_unverifies() {
    let policy = "connections:\n  - name: staff\n    email_verification: trusted\n  - name: google-oauth2\n    email_verification: trusted\nusers:\n  - connection: staff\n    email: new@corp.example\n";
    let state = live(
        &[
            connection("staff", "auth0"),
            connection("google-oauth2", "google-oauth2"),
        ],
        vec![
            (
                "staff",
                vec![
                    user(
                        "staff",
                        "auth0",
                        "s1",
                        json!({"email": "old@corp.example", "email_verified": false}),
                    ),
                    user(
                        "staff",
                        "auth0",
                        "s2",
                        json!({"email": "fine@corp.example", "email_verified": true}),
                    ),
                ],
            ),
            (
                "google-oauth2",
                vec![user(
                    "google-oauth2",
                    "google-oauth2",
                    "1234",
                    json!({"email": "g@gmail.example", "email_verified": false}),
                )],
            ),
        ],
    );
    let plan = build_plan(&desired(policy), &state, NOW).unwrap();
    assert_eq!(
        summary(&plan),
        [
            "create_user new@corp.example",
            "mark_email_verified old@corp.example (auth0|s1)"
        ]
    );
    let Operation::CreateUser {
        user,
        onboarding_email,
        ..
    } = &plan.actions[0].operation
    else {
        panic!()
    };
    assert_eq!((user.email_verified, user.verify_email), (true, false));
    assert_eq!(*onboarding_email, CreateEmail::None);
    assert_eq!(plan.warnings.len(), 1);
    assert_eq!(
        plan.warnings[0].kind,
        WarningKind::ProviderControlsVerification
    );
    assert_eq!(plan.warnings[0].users, ["g@gmail.example"]);
    // Verification is a fact: outside a create, email_verified only ever becomes true.
    for action in plan
        .actions
        .iter()
        .filter(|a| a.kind() != ActionKind::CreateUser)
    {
        for change in action
            .changes
            .iter()
            .filter(|c| c.field == "email_verified")
        {
            assert_eq!(change.after, Some(Value::Bool(true)));
        }
    }
}

#[test]
fn off_creates_silently_and_leaves_unverified_users_alone() {
    let policy = "connections:\n  - name: legacy\n    email_verification: off\n  - name: quiet\n    email_verification: off\nusers:\n  - connection: legacy\n    email: new@legacy.example\n";
    let state = live(
        &[connection("legacy", "auth0"), connection("quiet", "auth0")],
        vec![(
            "legacy",
            vec![user(
                "legacy",
                "auth0",
                "l1",
                json!({"email": "x@legacy.example", "email_verified": false}),
            )],
        )],
    );
    let plan = build_plan(&desired(policy), &state, NOW).unwrap();
    assert_eq!(summary(&plan), ["create_user new@legacy.example"]);
    let Operation::CreateUser {
        user,
        onboarding_email,
        ..
    } = &plan.actions[0].operation
    else {
        panic!()
    };
    assert_eq!((user.email_verified, user.verify_email), (false, false));
    assert_eq!(*onboarding_email, CreateEmail::None);
}

#[test]
fn password_reset_onboarding_sends_once_then_verifies_after_login() {
    let policy = "connections:\n  - name: partners\n    email_verification: required\nusers:\n  - connection: partners\n    email: fresh@p.example\n    onboarding: password-reset\n  - connection: partners\n    email: waiting@p.example\n    onboarding: password-reset\n  - connection: partners\n    email: invited@p.example\n    onboarding: password-reset\n  - connection: partners\n    email: active@p.example\n    onboarding: password-reset\n";
    let reset = ledger_with(SendKind::PasswordReset, 1, "2026-11-20T10:00:00.000Z");
    let state = partners_with(vec![
        partner(
            "w",
            json!({"email": "waiting@p.example", "email_verified": false}),
        ),
        partner(
            "i",
            json!({"email": "invited@p.example", "email_verified": false, "app_metadata": reset.clone()}),
        ),
        partner(
            "a",
            json!({"email": "active@p.example", "email_verified": false, "app_metadata": reset, "logins_count": 2, "last_login": "2026-11-21T08:00:00.000Z"}),
        ),
    ]);
    let plan = build_plan(&desired(policy), &state, NOW).unwrap();
    assert_eq!(
        summary(&plan),
        [
            "mark_email_verified active@p.example (auth0|a)",
            "create_user fresh@p.example",
            "mark_managed invited@p.example (auth0|i)",
            "send_password_reset waiting@p.example (auth0|w)",
        ]
    );
    assert!(
        plan.actions[0]
            .reason
            .contains("logged in 2 times since the password-reset email")
    );
    let Operation::CreateUser {
        onboarding_email,
        user,
        ..
    } = &plan.actions[1].operation
    else {
        panic!()
    };
    assert_eq!(
        *onboarding_email,
        CreateEmail::PasswordReset { client_id: None }
    );
    assert!(!user.verify_email && !user.email_verified);
}

#[test]
fn onboarding_none_sends_nothing_even_when_required() {
    let policy = format!(
        "{REQUIRED}users:\n  - connection: partners\n    email: quiet@p.example\n    onboarding: none\n"
    );
    let state = partners_with(vec![partner(
        "q",
        json!({"email": "quiet@p.example", "email_verified": false}),
    )]);
    // Nothing is sent; the user is only marked as managed (a listed user reconciled).
    let plan = build_plan(&desired(&policy), &state, NOW).unwrap();
    assert_eq!(summary(&plan), ["mark_managed quiet@p.example (auth0|q)"]);
}

#[test]
fn profile_updates_touch_only_owned_fields() {
    let policy = format!(
        "{REQUIRED}users:\n  - connection: partners\n    email: a@p.example\n    name: Alice Doe\n    user_metadata: {{ team: blue }}\n    app_metadata: {{ tier: gold }}\n"
    );
    let state = partners_with(vec![partner(
        "a",
        json!({
            "email": "a@p.example", "email_verified": true, "name": "Alice", "given_name": "Al",
            "user_metadata": {"team": "red", "lang": "fr"}, "app_metadata": {"tier": "gold", "other": 1}
        }),
    )]);
    let plan = build_plan(&desired(&policy), &state, NOW).unwrap();
    assert_eq!(summary(&plan), ["update_profile a@p.example (auth0|a)"]);
    let Operation::UpdateProfile { patch, .. } = &plan.actions[0].operation else {
        panic!()
    };
    // The managed mark rides on the same PATCH (only the ledger key of app_metadata).
    assert_eq!(
        serde_json::to_value(patch).unwrap(),
        json!({"name": "Alice Doe", "user_metadata": {"team": "blue"},
            "app_metadata": {"verifyctl": {"v": 1, "managed": {"since": "2026-11-22T10:00:00.000Z"}}}})
    );
    let fields: Vec<_> = plan.actions[0]
        .changes
        .iter()
        .map(|c| c.field.as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "name",
            "user_metadata.team",
            "app_metadata.verifyctl.managed"
        ]
    );
}

#[test]
fn interrupted_and_unreadable_ledgers_are_warned_about_and_never_resent() {
    let state = partners_with(vec![
        partner(
            "p",
            json!({"email": "p@p.example", "email_verified": false,
                "app_metadata": {"verifyctl": {"v": 1, "pending": {"kind": "verification_email", "started_at": "2026-11-22T09:59:00.000Z"}}}}),
        ),
        partner(
            "u",
            json!({"email": "u@p.example", "email_verified": false,
                "app_metadata": {"verifyctl": "sent yesterday"}}),
        ),
    ]);
    let plan = build_plan(&desired(REQUIRED), &state, NOW).unwrap();
    assert_eq!(
        summary(&plan),
        ["record_interrupted_send p@p.example (auth0|p)"]
    );
    let Operation::RecordInterruptedSend { ledger, .. } = &plan.actions[0].operation else {
        panic!()
    };
    assert_eq!(
        ledger.settle_pending().verification_email.map(|r| r.count),
        Some(1)
    );
    let kinds: Vec<_> = plan.warnings.iter().map(|w| w.kind).collect();
    assert_eq!(
        kinds,
        [WarningKind::InterruptedSend, WarningKind::UnreadableLedger]
    );
}

#[test]
fn missing_connections_and_applications_are_errors_listed_together() {
    let policy = "connections:\n  - name: partnerz\n    email_verification: required\n    verification_client: Nope\napplications:\n  - client_id: missing\n    email_verification: required\n";
    let state = live(&[connection("partners", "auth0")], vec![]);
    let errors = build_plan(&desired(policy), &state, NOW).unwrap_err();
    let messages: Vec<_> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "verification_client of connection `partnerz`: no application is named \"Nope\"",
            "connection `partnerz` does not exist in the tenant",
            "application with client_id missing: no application has client_id missing",
        ]
    );
    assert_eq!(errors[1].origin, "p.yaml:2:5");
}

#[test]
fn a_shared_application_name_is_an_error_with_the_way_out_of_each_place() {
    let policy = "connections:\n  - name: partners\n    email_verification: required\n    verification_client: Partner Portal\napplications:\n  - name: Partner Portal\n    email_verification: required\n";
    let mut state = live(&[connection("partners", "auth0")], vec![]);
    let mut twin = state.clients[0].clone();
    twin.client_id = "portal000000000000000000000000002".into();
    state.clients.push(twin);
    let errors = build_plan(&desired(policy), &state, NOW).unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].message.ends_with(
        "2 applications are named \"Partner Portal\" (portal000000000000000000000000001, portal000000000000000000000000002)"
    ), "{}", errors[0].message);
    // `verification_client` takes names only; an application selector can use client_id.
    assert!(
        errors[0].hint.contains("rename all but one"),
        "{}",
        errors[0].hint
    );
    assert!(
        errors[1].hint.contains("named by `client_id:` instead"),
        "{}",
        errors[1].hint
    );
}

#[test]
fn same_inputs_give_the_same_plan_in_a_stable_order() {
    let policy = format!(
        "{REQUIRED}users:\n  - connection: partners\n    email: z@p.example\n  - connection: partners\n    email: b@p.example\n"
    );
    let users: Vec<User> = (0..20)
        .map(|i| {
            partner(
                &format!("u{i:02}"),
                json!({"email": format!("m{}@p.example", 19 - i), "email_verified": false}),
            )
        })
        .collect();
    let state = live(
        &[connection("partners", "auth0")],
        vec![("partners", users.clone())],
    );
    let mut reversed = state.clone();
    reversed
        .users
        .insert("partners".into(), users.into_iter().rev().collect());
    let first = build_plan(&desired(&policy), &state, NOW).unwrap();
    let second = build_plan(&desired(&policy), &reversed, NOW).unwrap();
    assert_eq!(first, second);
    let emails: Vec<_> = first
        .actions
        .iter()
        .map(|a| a.target.email().unwrap().to_string())
        .collect();
    let mut sorted = emails.clone();
    sorted.sort();
    assert_eq!(emails, sorted);
}

/// `app_metadata` of a user verifyctl manages (optionally blocked by it).
fn managed(blocked: bool) -> Value {
    let mut mark = json!({"since": "2026-11-01T10:00:00.000Z"});
    if blocked {
        mark["blocked_at"] = json!("2026-11-10T10:00:00.000Z");
    }
    json!({"verifyctl": {"v": 1, "managed": mark}})
}

fn offboarding_policy(offboarding: &str, listed: &[&str]) -> String {
    let mut policy = format!(
        "connections:\n  - name: partners\n    email_verification: required\n    offboarding: {offboarding}\n"
    );
    if !listed.is_empty() {
        policy.push_str("users:\n");
        for email in listed {
            policy.push_str(&format!("  - connection: partners\n    email: {email}\n"));
        }
    }
    policy
}

/// Three users no policy lists: a managed one (unverified), a managed one already blocked
/// by someone else, and one verifyctl never managed (unverified).
fn left_the_policies() -> LiveState {
    partners_with(vec![
        partner(
            "m",
            json!({"email": "gone@p.example", "email_verified": false, "app_metadata": managed(false)}),
        ),
        partner(
            "b",
            json!({"email": "blocked@p.example", "email_verified": true, "blocked": true, "app_metadata": managed(false)}),
        ),
        partner(
            "n",
            json!({"email": "never@p.example", "email_verified": false}),
        ),
    ])
}

#[test]
fn keep_sends_no_more_email_to_managed_users_who_left() {
    let plan = build_plan(
        &desired(&offboarding_policy("keep", &[])),
        &left_the_policies(),
        NOW,
    )
    .unwrap();
    // The never-managed user is governed by the mode table as before; the managed one gets
    // nothing, and is named as no longer listed.
    assert_eq!(
        summary(&plan),
        ["send_verification_email never@p.example (auth0|n)"]
    );
    let note = plan
        .warnings
        .iter()
        .find(|w| w.kind == WarningKind::NoLongerListed)
        .expect("a no-longer-listed line");
    assert_eq!(note.users, ["blocked@p.example", "gone@p.example"]);
    assert!(
        note.message.contains("no further email"),
        "{}",
        note.message
    );
}

#[test]
fn block_blocks_managed_users_who_left_and_relisting_unblocks() {
    let plan = build_plan(
        &desired(&offboarding_policy("block", &[])),
        &left_the_policies(),
        NOW,
    )
    .unwrap();
    assert_eq!(
        summary(&plan),
        [
            "block_user gone@p.example (auth0|m)",
            "send_verification_email never@p.example (auth0|n)",
        ]
    );
    assert!(plan.actions[0].reason.contains("offboarding: block"));
    let Operation::BlockUser { ledger, .. } = &plan.actions[0].operation else {
        panic!()
    };
    assert!(ledger.blocked_by_verifyctl());

    // Listed again: verifyctl unblocks the user it blocked, then plans it as unblocked,
    // with the note cleared in every ledger it writes. A user blocked by someone else stays.
    let state = partners_with(vec![
        partner(
            "m",
            json!({"email": "gone@p.example", "email_verified": false, "blocked": true, "app_metadata": managed(true)}),
        ),
        partner(
            "b",
            json!({"email": "blocked@p.example", "email_verified": false, "blocked": true, "app_metadata": managed(false)}),
        ),
    ]);
    let plan = build_plan(
        &desired(&offboarding_policy(
            "block",
            &["gone@p.example", "blocked@p.example"],
        )),
        &state,
        NOW,
    )
    .unwrap();
    assert_eq!(
        summary(&plan),
        [
            "unblock_user gone@p.example (auth0|m)",
            "send_verification_email gone@p.example (auth0|m)",
        ]
    );
    for action in &plan.actions {
        let ledger = match &action.operation {
            Operation::UnblockUser { ledger, .. }
            | Operation::SendVerificationEmail { ledger, .. } => ledger,
            other => panic!("{other:?}"),
        };
        assert!(ledger.is_managed() && !ledger.blocked_by_verifyctl());
    }
}

#[test]
fn delete_needs_allow_delete_and_stays_within_the_guard() {
    let mut wanted = desired(&offboarding_policy("delete", &[]));
    let plan = build_plan(&wanted, &left_the_policies(), NOW).unwrap();
    assert_eq!(
        summary(&plan),
        ["send_verification_email never@p.example (auth0|n)"]
    );
    let refused = plan
        .warnings
        .iter()
        .find(|w| w.kind == WarningKind::DeletionRefused)
        .expect("refused deletions are shown");
    assert_eq!(refused.user_count, 2);

    wanted.lifecycle.allow_delete = true;
    let plan = build_plan(&wanted, &left_the_policies(), NOW).unwrap();
    assert_eq!(
        summary(&plan),
        [
            "delete_user blocked@p.example (auth0|b)",
            "delete_user gone@p.example (auth0|m)",
            "send_verification_email never@p.example (auth0|n)",
        ]
    );

    wanted.lifecycle.max_deletes = 1;
    let errors = build_plan(&wanted, &left_the_policies(), NOW).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.contains("would delete 2 managed users")
            && errors[0].hint.contains("--max-deletes 2"),
        "{errors:?}"
    );
}

#[test]
fn listed_users_are_marked_once_on_a_patch_already_planned_or_their_own() {
    let state = partners_with(vec![
        partner(
            "u",
            json!({"email": "unverified@p.example", "email_verified": false}),
        ),
        partner(
            "v",
            json!({"email": "verified@p.example", "email_verified": true}),
        ),
        partner(
            "d",
            json!({"email": "done@p.example", "email_verified": true, "app_metadata": managed(false)}),
        ),
    ]);
    let mut wanted = desired(&offboarding_policy(
        "keep",
        &[
            "unverified@p.example",
            "verified@p.example",
            "done@p.example",
        ],
    ));
    let plan = build_plan(&wanted, &state, NOW).unwrap();
    assert_eq!(
        summary(&plan),
        [
            "send_verification_email unverified@p.example (auth0|u)",
            "mark_managed verified@p.example (auth0|v)",
        ]
    );
    let Operation::SendVerificationEmail { ledger, .. } = &plan.actions[0].operation else {
        panic!()
    };
    assert!(
        ledger.is_managed(),
        "the mark rides on the send's ledger intent"
    );
    assert!(plan.actions[0].reason.contains("marks the user as managed"));

    // The per-run limit on marks of their own defers the rest, saying so.
    wanted.lifecycle.max_marks = 0;
    let plan = build_plan(&wanted, &state, NOW).unwrap();
    assert_eq!(
        summary(&plan),
        ["send_verification_email unverified@p.example (auth0|u)"]
    );
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.kind == WarningKind::MarkBudget)
    );
}
