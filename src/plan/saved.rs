//! Saved plans: `plan --out plan.json` and `apply --plan plan.json`.
//!
//! A [`SavedPlan`] is a plan with the run it came from and a [`SavedState`]: a digest of the
//! policy files and, for each target an action touches, a fingerprint of what the tenant
//! showed. `apply --plan` applies exactly its operations, but first re-reads the policies and
//! the live state and refuses, naming what moved, when either differs: a reviewer never gets
//! something applied that they did not see. Saved plans hold no secret (passwords are
//! generated during apply; Action secrets are names only). Everything here is pure; the
//! file format (the JSON plan document with operations and a `saved` section) is written
//! and read by [`crate::report::json`], like Terraform's planfile beside `show -json`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Plan, PlanContext, Target};
use crate::ledger::LEDGER_KEY;
use crate::policy::DesiredState;
use crate::tenant::{LiveLogin, LiveState, User};

/// A plan as `plan --out` saves it and `apply --plan` applies it.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedPlan {
    pub plan: Plan,
    /// The tenant it was made against and what reading it took.
    pub context: PlanContext,
    pub state: SavedState,
}

impl SavedPlan {
    /// Saves `plan`, made against `live` from `desired` at `created_at`.
    pub fn new(
        plan: Plan,
        context: PlanContext,
        desired: &DesiredState,
        live: &LiveState,
        created_at: String,
    ) -> SavedPlan {
        let state = SavedState {
            created_at,
            policies: policy_digest(desired),
            variables: variable_records(desired),
            observed: observe(&plan, live),
        };
        SavedPlan {
            plan,
            context,
            state,
        }
    }

    /// The ids of the existing users its actions touch (the live read must see them all).
    pub fn target_user_ids(&self) -> std::collections::HashSet<String> {
        self.plan
            .actions
            .iter()
            .filter_map(|action| match &action.target {
                Target::User {
                    user_id: Some(id), ..
                } => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    /// What changed in the policy files since the plan was made (empty: nothing).
    pub fn policy_changes(&self, desired: &DesiredState) -> Vec<String> {
        policy_changes(&self.state.policies, &policy_digest(desired))
    }

    /// How the variables the policies use differ from the plan's (empty: not at all).
    pub fn variable_changes(&self, desired: &DesiredState) -> Vec<String> {
        variable_changes(&self.state.variables, &variable_records(desired))
    }

    /// What moved in the tenant since the plan was made, for the targets its actions touch.
    pub fn live_changes(&self, live: &LiveState) -> Vec<String> {
        live_changes(&self.state.observed, &observe(&self.plan, live))
    }
}

/// What `apply --plan` checks before applying.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SavedState {
    /// When the plan was made (RFC 3339).
    pub created_at: String,
    pub policies: PolicyDigest,
    /// The `${NAME}` variables the policies used, by name (none: the key is left out).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, VariableRecord>,
    /// Per target (`user:CONNECTION:EMAIL`, `connection:NAME`, `login:NAME`), what the
    /// tenant showed when the plan was made.
    pub observed: BTreeMap<String, Observed>,
}

/// The policy files a plan came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyDigest {
    /// SHA-256 over all files (names and contents).
    pub digest: String,
    /// File name (within the policy directory) → SHA-256 of its content.
    pub files: BTreeMap<String, String>,
}

/// A variable a plan used: a fingerprint of its value, and the value unless it is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VariableRecord {
    /// SHA-256 over the name and the value.
    pub sha256: String,
    /// The value (as text; a list or mapping as JSON); never present for a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Whether the variable is secret (`VERIFYCTL_SECRET_VAR_…`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// The records of the variables `desired` used.
pub fn variable_records(desired: &DesiredState) -> BTreeMap<String, VariableRecord> {
    desired
        .variables
        .iter()
        .map(|used| {
            (
                used.name.clone(),
                VariableRecord {
                    sha256: used.fingerprint.clone(),
                    value: if used.secret {
                        None
                    } else {
                        used.shown.clone()
                    },
                    secret: used.secret,
                },
            )
        })
        .collect()
}

/// How the variables differ, in words (a secret's value is never shown).
pub fn variable_changes(
    saved: &BTreeMap<String, VariableRecord>,
    now: &BTreeMap<String, VariableRecord>,
) -> Vec<String> {
    let mut changes = Vec::new();
    for (name, was) in saved {
        match now.get(name) {
            None => changes.push(format!("`${{{name}}}` was used by the plan, not now")),
            Some(is) if is.sha256 == was.sha256 => {}
            Some(is) => changes.push(match (&was.value, &is.value) {
                (Some(was), Some(is)) if !(*was).eq(is) => {
                    format!("`${{{name}}}` was `{was}` for the plan, is `{is}` now")
                }
                _ => format!("`${{{name}}}` (secret) has another value than for the plan"),
            }),
        }
    }
    for name in now.keys() {
        if !saved.contains_key(name) {
            changes.push(format!("`${{{name}}}` is used now, not by the plan"));
        }
    }
    changes
}

/// A target as the plan saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Observed {
    /// SHA-256 over everything about the target an action depends on.
    pub digest: String,
    /// The facts shown when explaining a change (existence, id, verification, logins...).
    pub facts: BTreeMap<String, Value>,
}

/// The digest of the policy files, by file name (so the directory's path may differ
/// between the job that planned and the one that applies).
pub fn policy_digest(desired: &DesiredState) -> PolicyDigest {
    let mut files = BTreeMap::new();
    for source in &desired.files {
        let name = std::path::Path::new(source.file.as_ref())
            .file_name()
            .map_or_else(
                || source.file.to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
        files.insert(name, sha256(source.text.as_bytes()));
    }
    let mut all = Sha256::new();
    for (name, digest) in &files {
        all.update(name.as_bytes());
        all.update([0]);
        all.update(digest.as_bytes());
        all.update([0]);
    }
    PolicyDigest {
        digest: hex(&all.finalize()),
        files,
    }
}

/// What the tenant shows for every target of `plan`.
pub fn observe(plan: &Plan, live: &LiveState) -> BTreeMap<String, Observed> {
    plan.actions
        .iter()
        .map(|action| (action.target.key(), observe_target(&action.target, live)))
        .collect()
}

fn observe_target(target: &Target, live: &LiveState) -> Observed {
    match target {
        Target::User {
            connection,
            email,
            user_id,
        } => {
            let user = live.users.get(connection).and_then(|users| {
                users.iter().find(|u| {
                    email.as_deref().is_some_and(|e| {
                        u.email.as_deref().map(str::to_lowercase).as_deref() == Some(e)
                    }) || user_id.as_deref() == Some(u.user_id.as_str())
                })
            });
            observe_user(user)
        }
        Target::Connection { name } => {
            let connection = live.connections.get(name);
            let options = connection.and_then(|c| c.options.clone());
            let facts = BTreeMap::from([
                ("exists".to_string(), Value::Bool(connection.is_some())),
                (
                    "disable_signup".to_string(),
                    options
                        .as_ref()
                        .and_then(|o| o.get("disable_signup").cloned())
                        .unwrap_or(Value::Bool(false)),
                ),
            ]);
            Observed {
                digest: sha256_json(
                    &json!({"facts": facts, "options": options, "display_name": connection.and_then(|c| c.display_name.clone())}),
                ),
                facts,
            }
        }
        Target::LoginAction { name } => {
            let (action, bound) = match &live.login {
                LiveLogin::Read { action, bindings } => (
                    action.as_deref(),
                    bindings.iter().any(|b| {
                        action.as_deref().is_some_and(|a| a.id == b.action.id)
                            || &b.action.name == name
                    }),
                ),
                _ => (None, false),
            };
            let facts = BTreeMap::from([
                ("exists".to_string(), Value::Bool(action.is_some())),
                ("bound".to_string(), Value::Bool(bound)),
                (
                    "draft_code".to_string(),
                    action.map_or(Value::Null, |a| {
                        Value::String(short(&sha256(a.code.as_bytes())))
                    }),
                ),
                (
                    "deployed_code".to_string(),
                    action
                        .and_then(|a| a.deployed_version.as_ref())
                        .map_or(Value::Null, |v| {
                            Value::String(short(&sha256(v.code.as_bytes())))
                        }),
                ),
                (
                    "status".to_string(),
                    action
                        .and_then(|a| a.status.clone())
                        .map_or(Value::Null, Value::String),
                ),
            ]);
            Observed {
                digest: sha256_json(&json!(facts)),
                facts,
            }
        }
    }
}

fn observe_user(user: Option<&User>) -> Observed {
    let Some(user) = user else {
        let facts = BTreeMap::from([("exists".to_string(), Value::Bool(false))]);
        return Observed {
            digest: sha256_json(&json!(facts)),
            facts,
        };
    };
    let ledger = user
        .app_metadata
        .as_ref()
        .and_then(|m| m.get(LEDGER_KEY).cloned())
        .unwrap_or(Value::Null);
    let facts = BTreeMap::from([
        ("exists".to_string(), Value::Bool(true)),
        ("user_id".to_string(), Value::String(user.user_id.clone())),
        (
            "email_verified".to_string(),
            Value::Bool(user.is_verified()),
        ),
        (
            "logins_count".to_string(),
            Value::from(user.logins_count.unwrap_or(0)),
        ),
        (
            "blocked".to_string(),
            Value::Bool(user.blocked == Some(true)),
        ),
        ("ledger".to_string(), ledger),
    ]);
    let everything = json!({
        "facts": facts,
        "name": user.name, "given_name": user.given_name, "family_name": user.family_name,
        "user_metadata": user.user_metadata, "app_metadata": user.app_metadata,
        "last_login": user.last_login,
    });
    Observed {
        digest: sha256_json(&everything),
        facts,
    }
}

/// What differs between the policies a plan came from and the current ones.
pub fn policy_changes(saved: &PolicyDigest, now: &PolicyDigest) -> Vec<String> {
    let mut changes = Vec::new();
    for (name, digest) in &saved.files {
        match now.files.get(name) {
            None => changes.push(format!("{name} was removed")),
            Some(current) if current != digest => changes.push(format!("{name} changed")),
            Some(_) => {}
        }
    }
    for name in now.files.keys() {
        if !saved.files.contains_key(name) {
            changes.push(format!("{name} was added"));
        }
    }
    changes
}

/// What moved in the tenant since the plan, per target, in words.
pub fn live_changes(
    saved: &BTreeMap<String, Observed>,
    now: &BTreeMap<String, Observed>,
) -> Vec<String> {
    let mut changes = Vec::new();
    for (key, before) in saved {
        let Some(after) = now.get(key) else {
            changes.push(format!("{key}: no longer in the plan's scope"));
            continue;
        };
        if before.digest == after.digest {
            continue;
        }
        let mut moved: Vec<String> = Vec::new();
        let existed = before.facts.get("exists");
        if existed != after.facts.get("exists") {
            // A target that appeared or vanished: its other facts say nothing more.
            moved.push(match (existed, after.facts.get("user_id")) {
                (Some(Value::Bool(false)), Some(Value::String(id))) => {
                    format!("now exists (created since the plan, as {id})")
                }
                (Some(Value::Bool(false)), _) => "now exists (created since the plan)".into(),
                _ => "no longer exists".into(),
            });
            changes.push(format!("{}: {}", describe_key(key), moved.join(", ")));
            continue;
        }
        let keys: std::collections::BTreeSet<&String> =
            before.facts.keys().chain(after.facts.keys()).collect();
        for fact in keys {
            let (was, is) = (before.facts.get(fact), after.facts.get(fact));
            if was != is {
                moved.push(describe_fact(fact, was, is));
            }
        }
        if moved.is_empty() {
            moved.push("its profile, metadata or options changed".into());
        }
        changes.push(format!("{}: {}", describe_key(key), moved.join(", ")));
    }
    changes
}

fn describe_key(key: &str) -> String {
    match key.split_once(':') {
        Some(("user", rest)) => match rest.split_once(':') {
            Some((connection, who)) => format!("user {who} of `{connection}`"),
            None => rest.to_string(),
        },
        Some(("connection", name)) => format!("connection `{name}`"),
        Some(("login", name)) => format!("login Action `{name}`"),
        _ => key.to_string(),
    }
}

fn describe_fact(fact: &str, was: Option<&Value>, is: Option<&Value>) -> String {
    let show = |v: Option<&Value>| v.map_or_else(|| "absent".to_string(), Value::to_string);
    match (fact, was, is) {
        ("ledger", _, _) => {
            "verifyctl's send ledger changed (an email was sent since the plan)".into()
        }
        _ => format!("{fact} {} → {}", show(was), show(is)),
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn sha256_json(value: &Value) -> String {
    sha256(value.to_string().as_bytes())
}

fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{PolicySource, load_sources};

    fn desired(files: &[(&str, &str)]) -> DesiredState {
        load_sources(
            files
                .iter()
                .map(|(name, text)| PolicySource {
                    file: (*name).into(),
                    text: (*text).into(),
                })
                .collect(),
        )
        .expect("valid")
    }

    #[test]
    fn policy_digests_name_added_removed_and_changed_files() {
        let one = "connections:\n  - name: a\n    email_verification: off\n";
        let two = "connections:\n  - name: b\n    email_verification: off\n";
        let before = policy_digest(&desired(&[
            ("ci/policies/a.yaml", one),
            ("ci/policies/b.yaml", two),
        ]));
        let same_elsewhere = policy_digest(&desired(&[("a.yaml", one), ("b.yaml", two)]));
        assert_eq!(
            before, same_elsewhere,
            "the directory's path does not matter"
        );
        let edited = policy_digest(&desired(&[
            (
                "a.yaml",
                "connections:\n  - name: a\n    email_verification: trusted\n",
            ),
            ("c.yaml", "users: []\n"),
        ]));
        assert_eq!(
            policy_changes(&before, &edited),
            ["a.yaml changed", "b.yaml was removed", "c.yaml was added"]
        );
        assert!(policy_changes(&before, &same_elsewhere).is_empty());
    }

    #[test]
    fn live_changes_explain_what_moved() {
        let unverified: User = serde_json::from_value(
            json!({"user_id": "auth0|1", "email": "b@x.example", "email_verified": false}),
        )
        .unwrap();
        let verified: User = serde_json::from_value(
            json!({"user_id": "auth0|1", "email": "b@x.example", "email_verified": true}),
        )
        .unwrap();
        let renamed: User = serde_json::from_value(json!({"user_id": "auth0|1", "email": "b@x.example", "email_verified": false, "name": "B"})).unwrap();
        let saved = BTreeMap::from([
            (
                "user:db:b@x.example".to_string(),
                observe_user(Some(&unverified)),
            ),
            ("user:db:new@x.example".to_string(), observe_user(None)),
        ]);
        let now = BTreeMap::from([
            (
                "user:db:b@x.example".to_string(),
                observe_user(Some(&verified)),
            ),
            (
                "user:db:new@x.example".to_string(),
                observe_user(Some(&unverified)),
            ),
        ]);
        assert_eq!(
            live_changes(&saved, &now),
            [
                "user b@x.example of `db`: email_verified false → true",
                "user new@x.example of `db`: now exists (created since the plan, as auth0|1)",
            ]
        );
        let profile_only = BTreeMap::from([(
            "user:db:b@x.example".to_string(),
            observe_user(Some(&renamed)),
        )]);
        let saved_one = BTreeMap::from([(
            "user:db:b@x.example".to_string(),
            observe_user(Some(&unverified)),
        )]);
        assert_eq!(
            live_changes(&saved_one, &profile_only),
            ["user b@x.example of `db`: its profile, metadata or options changed"]
        );
    }
}
