//! [`Users`]: the tenant's users in creation order, each behind an [`Arc`], with an
//! O(1) lookup by id. Cloning the collection (what [`super::Emulator::snapshot`] does
//! under the lock) copies pointers, never users, and comparing two collections that share
//! their users is cheap. The secondary indexes (email, connection, username, creation
//! time) live with the emulator (`index.rs`), not here, so a snapshot does not copy them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::state::User;

/// The users of a tenant, in creation order. Ids are unique: a tenant file with two users
/// of one id is refused when read.
#[derive(Clone, Default)]
pub struct Users {
    /// Creation sequence number -> user.
    by_seq: BTreeMap<u64, Arc<User>>,
    /// `user_id` -> sequence number, for users that have an id (a hand-written tenant
    /// file may leave ids out until the emulator assigns them).
    seq_of: HashMap<Arc<str>, u64>,
    next_seq: u64,
}

impl Users {
    pub fn new() -> Users {
        Users::default()
    }

    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }

    /// The users in creation order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &User> + ExactSizeIterator {
        self.by_seq.values().map(|user| &**user)
    }

    /// The users in creation order, as shared pointers.
    pub fn arcs(&self) -> impl DoubleEndedIterator<Item = &Arc<User>> + ExactSizeIterator {
        self.by_seq.values()
    }

    /// The user with this id.
    pub fn get(&self, user_id: &str) -> Option<&User> {
        self.get_arc(user_id).map(|user| &**user)
    }

    pub fn get_arc(&self, user_id: &str) -> Option<&Arc<User>> {
        let seq = self.seq_of.get(user_id)?;
        self.by_seq.get(seq)
    }

    pub fn contains(&self, user_id: &str) -> bool {
        self.seq_of.contains_key(user_id)
    }

    /// Appends a user. A user whose id is already present replaces the earlier one (ids
    /// stay unique) and takes its place at the end.
    pub fn push(&mut self, user: User) {
        self.push_arc(Arc::new(user));
    }

    /// Appends a shared user; returns its sequence number (creation order).
    pub fn push_arc(&mut self, user: Arc<User>) -> u64 {
        if !user.user_id.is_empty() {
            self.remove(&user.user_id);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if !user.user_id.is_empty() {
            self.seq_of.insert(Arc::from(user.user_id.as_str()), seq);
        }
        self.by_seq.insert(seq, user);
        seq
    }

    /// Replaces the user with the same id in place (keeping its creation order); returns
    /// the previous version, or `None` (and appends) when there was none.
    pub fn replace(&mut self, user: Arc<User>) -> Option<Arc<User>> {
        if let Some(seq) = self.seq_of.get(user.user_id.as_str()) {
            self.by_seq.insert(*seq, user)
        } else {
            self.push_arc(user);
            None
        }
    }

    /// Removes and returns the user with this id.
    pub fn remove(&mut self, user_id: &str) -> Option<Arc<User>> {
        let seq = self.seq_of.remove(user_id)?;
        self.by_seq.remove(&seq)
    }

    /// The creation sequence number of a user (an opaque, increasing number).
    pub fn seq(&self, user_id: &str) -> Option<u64> {
        self.seq_of.get(user_id).copied()
    }

    /// The user with this creation sequence number.
    pub fn by_seq(&self, seq: u64) -> Option<&Arc<User>> {
        self.by_seq.get(&seq)
    }

    /// Every user with its sequence number, in creation order.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = (u64, &Arc<User>)> {
        self.by_seq.iter().map(|(seq, user)| (*seq, user))
    }

    /// Edits every user in place (cloning those shared with a snapshot), then rebuilds
    /// the id lookup. For completing a freshly loaded tenant.
    pub(crate) fn edit_all(&mut self, mut edit: impl FnMut(&mut User)) {
        for user in self.by_seq.values_mut() {
            edit(Arc::make_mut(user));
        }
        self.seq_of = self
            .by_seq
            .iter()
            .filter(|(_, user)| !user.user_id.is_empty())
            .map(|(seq, user)| (Arc::from(user.user_id.as_str()), *seq))
            .collect();
    }
}

impl PartialEq for Users {
    /// The same users in the same order (shared users compare by pointer first).
    fn eq(&self, other: &Users) -> bool {
        self.len() == other.len()
            && self
                .arcs()
                .zip(other.arcs())
                .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
    }
}

impl Eq for Users {}

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Position in creation order (O(n); for tests and small tenants).
impl std::ops::Index<usize> for Users {
    type Output = User;

    fn index(&self, index: usize) -> &User {
        self.iter()
            .nth(index)
            .unwrap_or_else(|| panic!("no user at index {index} of {}", self.len()))
    }
}

/// By user id (O(1)); panics when there is no such user.
impl std::ops::Index<&str> for Users {
    type Output = User;

    fn index(&self, user_id: &str) -> &User {
        self.get(user_id)
            .unwrap_or_else(|| panic!("no user with id {user_id}"))
    }
}

impl FromIterator<User> for Users {
    fn from_iter<I: IntoIterator<Item = User>>(iter: I) -> Users {
        let mut users = Users::new();
        users.extend(iter);
        users
    }
}

impl Extend<User> for Users {
    fn extend<I: IntoIterator<Item = User>>(&mut self, iter: I) {
        for user in iter {
            self.push(user);
        }
    }
}

impl From<Vec<User>> for Users {
    fn from(users: Vec<User>) -> Users {
        users.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a Users {
    type Item = &'a User;
    type IntoIter = Box<dyn Iterator<Item = &'a User> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl Serialize for Users {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for user in self.iter() {
            seq.serialize_element(user)?;
        }
        seq.end()
    }
}

/// Reads users one by one straight into the collection (no intermediate list) and
/// refuses a second user with an id already seen, at that user.
impl<'de> Deserialize<'de> for Users {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Users, D::Error> {
        struct UsersVisitor;

        impl<'de> Visitor<'de> for UsersVisitor {
            type Value = Users;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of users")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Users, A::Error> {
                let mut users = Users::new();
                while let Some(user) = seq.next_element::<User>()? {
                    // Auth0 users have no `connection` field: they belong to connections
                    // through their identities. Taken silently, the user would be in none.
                    if user.identities.is_empty() && user.other.get("connection").is_some() {
                        return Err(de::Error::custom(format!(
                            "the user {} names a `connection`, which is not a user field: a user belongs to a connection through `identities: [{{connection: NAME, provider: auth0, user_id: ID}}]`",
                            user.email
                                .as_deref()
                                .or(Some(user.user_id.as_str()).filter(|id| !id.is_empty()))
                                .unwrap_or("without an email")
                        )));
                    }
                    if !user.user_id.is_empty() && users.contains(&user.user_id) {
                        return Err(de::Error::custom(format!(
                            "two users have the user_id {:?}; each must be unique",
                            user.user_id
                        )));
                    }
                    users.push(user);
                }
                Ok(users)
            }
        }

        deserializer.deserialize_seq(UsersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, email: &str) -> User {
        User {
            user_id: id.to_owned(),
            email: Some(email.to_owned()),
            ..User::default()
        }
    }

    #[test]
    fn keeps_creation_order_and_finds_by_id() {
        let mut users: Users = vec![
            user("auth0|b", "b@x.example"),
            user("auth0|a", "a@x.example"),
        ]
        .into();
        users.push(user("auth0|c", "c@x.example"));
        let ids: Vec<&str> = users.iter().map(|u| u.user_id.as_str()).collect();
        assert_eq!(ids, ["auth0|b", "auth0|a", "auth0|c"]);
        assert_eq!(users["auth0|a"].email.as_deref(), Some("a@x.example"));
        assert_eq!(users[2].user_id, "auth0|c");
        assert!(users.remove("auth0|b").is_some());
        assert_eq!(users.len(), 2);
        assert!(users.get("auth0|b").is_none());
    }

    #[test]
    fn replace_keeps_the_place_and_clones_share_users() {
        let mut users: Users = vec![
            user("auth0|a", "a@x.example"),
            user("auth0|b", "b@x.example"),
        ]
        .into();
        let snapshot = users.clone();
        assert_eq!(snapshot, users);
        users.replace(Arc::new(user("auth0|a", "new@x.example")));
        assert_eq!(users[0].email.as_deref(), Some("new@x.example"));
        assert_eq!(snapshot[0].email.as_deref(), Some("a@x.example"));
        assert_ne!(snapshot, users);
    }

    #[test]
    fn a_user_naming_a_connection_instead_of_an_identity_is_refused() {
        let error = serde_json::from_str::<Users>(
            r#"[{"user_id": "auth0|1", "email": "a@x.example", "connection": "db"}]"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("the user a@x.example names a `connection`")
                && error.contains("identities: [{connection: NAME"),
            "{error}"
        );
        let fine = serde_json::from_str::<Users>(
            r#"[{"user_id": "auth0|1", "email": "a@x.example", "identities": [{"connection": "db", "provider": "auth0", "user_id": "1"}]}]"#,
        );
        assert!(fine.is_ok());
    }

    #[test]
    fn duplicate_ids_are_refused_when_read() {
        let text = r#"[{"user_id":"auth0|a"},{"user_id":"auth0|b"},{"user_id":"auth0|a"}]"#;
        let error = serde_json::from_str::<Users>(text).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("two users have the user_id \"auth0|a\""),
            "{error}"
        );
        let fine = r#"[{"email":"x@y.example"},{"email":"z@y.example"}]"#;
        assert_eq!(serde_json::from_str::<Users>(fine).unwrap().len(), 2);
    }
}
