//! Targeting: `--connection NAME` and `--user EMAIL` restrict a plan (and its apply) to a
//! subset of the policies, for incident response and staged rollouts. A restricted plan says
//! so, and leaves out what it cannot judge from a subset: other connections, other users,
//! connection settings (with `--user`) and the login Action.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::DesiredState;

/// What a plan covers. Empty sets mean "all".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Scope {
    /// Only these connections.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub connections: BTreeSet<String>,
    /// Only users with these emails (lower-cased).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub users: BTreeSet<String>,
}

impl Scope {
    pub fn new(connections: &[String], users: &[String]) -> Scope {
        Scope {
            connections: connections.iter().cloned().collect(),
            users: users.iter().map(|u| u.trim().to_lowercase()).collect(),
        }
    }

    /// The whole tenant.
    pub fn is_full(&self) -> bool {
        self.connections.is_empty() && self.users.is_empty()
    }

    /// Whether only some users are in scope (connection settings are then left out).
    pub fn by_user(&self) -> bool {
        !self.users.is_empty()
    }

    /// The desired state restricted to the scope. Fails when a named connection is not
    /// defined by any policy (named users are checked against the tenant too, by
    /// [`Scope::check_users`], once it is read).
    pub fn restrict(&self, desired: &DesiredState) -> Result<DesiredState, String> {
        if self.is_full() {
            return Ok(desired.clone());
        }
        let unknown: Vec<&String> = self
            .connections
            .iter()
            .filter(|c| !desired.connections.contains_key(*c))
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "--connection names {} that no policy defines (defined: {})",
                unknown
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                desired
                    .connections
                    .keys()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mut restricted = desired.clone();
        if !self.connections.is_empty() {
            restricted
                .connections
                .retain(|name, _| self.connections.contains(name));
        }
        restricted.users.retain(|user| {
            restricted.connections.contains_key(&user.connection)
                && (self.users.is_empty() || self.users.contains(&user.email))
        });
        Ok(restricted)
    }

    /// Fails when a `--user` address is neither listed by a policy (of the chosen connections)
    /// of `desired` nor a user of one of its connections in the tenant (`in_tenant`): a mistyped address
    /// must not read as a clean tenant. A user the tenant has in a policy connection is
    /// governed by its connection's rule even when no policy lists them.
    pub fn check_users(
        &self,
        desired: &DesiredState,
        in_tenant: impl Fn(&str) -> bool,
    ) -> Result<(), String> {
        let listed: BTreeSet<String> = desired
            .users
            .iter()
            .filter(|u| self.connections.is_empty() || self.connections.contains(&u.connection))
            .map(|u| u.email.to_lowercase())
            .collect();
        let unknown: Vec<String> = self
            .users
            .iter()
            .filter(|email| !listed.contains(email.as_str()) && !in_tenant(email))
            .map(|email| {
                match crate::policy::checks::suggest(email, listed.iter().map(String::as_str)) {
                    Some(near) => format!("`{email}` (did you mean `{near}`?)"),
                    None => format!("`{email}`"),
                }
            })
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        Err(format!(
            "--user names {} that no policy lists and the tenant does not have in {}",
            unknown.join(", "),
            if self.connections.is_empty() {
                "a policy connection"
            } else {
                "the chosen connections"
            }
        ))
    }

    /// One line for reports: what the plan covers.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.connections.is_empty() {
            parts.push(format!(
                "connection{} {}",
                if self.connections.len() == 1 { "" } else { "s" },
                self.connections
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !self.users.is_empty() {
            parts.push(format!(
                "user{} {}",
                if self.users.len() == 1 { "" } else { "s" },
                self.users.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        format!(
            "partial plan, only {}: other connections and users{}, and the login Action, are not considered",
            parts.join("; "),
            if self.by_user() {
                ", connection settings"
            } else {
                ""
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{PolicySource, load_sources};

    fn desired() -> DesiredState {
        load_sources(vec![PolicySource {
            file: "p.yaml".into(),
            text: "connections:\n  - name: a\n    email_verification: required\n  - name: b\n    email_verification: trusted\nusers:\n  - connection: a\n    email: one@x.example\n  - connection: b\n    email: two@x.example\n".into(),
        }])
        .expect("valid")
    }

    #[test]
    fn restricts_connections_and_users() {
        let only_b = Scope::new(&["b".into()], &[]).restrict(&desired()).unwrap();
        assert_eq!(only_b.connections.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(only_b.users.len(), 1);
        let one = Scope::new(&[], &["ONE@x.example".into()])
            .restrict(&desired())
            .unwrap();
        assert_eq!(one.connections.len(), 2);
        assert_eq!(
            one.users
                .iter()
                .map(|u| u.email.as_str())
                .collect::<Vec<_>>(),
            ["one@x.example"]
        );
    }

    #[test]
    fn unknown_connections_are_refused_and_descriptions_say_partial() {
        let error = Scope::new(&["c".into()], &[])
            .restrict(&desired())
            .unwrap_err();
        assert!(
            error.contains("`c`") && error.contains("`a`, `b`"),
            "{error}"
        );
        let scope = Scope::new(&["a".into()], &["one@x.example".into()]);
        assert_eq!(
            scope.describe(),
            "partial plan, only connection a; user one@x.example: other connections and users, connection settings, and the login Action, are not considered"
        );
        assert!(Scope::default().is_full());
    }

    #[test]
    fn named_users_must_be_listed_or_in_the_tenant() {
        let scope = Scope::new(&[], &["one@x.example".into(), "tree@x.example".into()]);
        let error = scope.check_users(&desired(), |_| false).unwrap_err();
        assert!(
            error.contains("`tree@x.example` (did you mean `one@x.example`?)")
                && !error.contains("`one@x.example` ("),
            "{error}"
        );
        // An unlisted user the tenant has in a policy connection is governed by its rule.
        assert!(
            scope
                .check_users(&desired(), |email| email == "tree@x.example")
                .is_ok()
        );
    }
}
