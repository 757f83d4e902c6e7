//! Secondary indexes over the tenant's users, kept beside the tenant (not in it, so a
//! snapshot does not copy them): by lower-cased email, by username, and per connection
//! (creation order and `created_at` order), plus the tenant-wide `created_at` order.
//! Every change to `TenantState::users` inside the emulator goes through
//! [`super::World::insert_user`], [`super::World::replace_user`] or
//! [`super::World::remove_user`], which keep these in step.
//!
//! Costs: a lookup by id or email is O(1) (plus the few users sharing an address); the
//! duplicate checks on create are O(users with that email or username); a page of
//! `identities.connection:"X"` sorted by `created_at:1` (or unsorted) is O(log C + page
//! start + page size), where page start is at most 1000.

use std::collections::{BTreeSet, HashMap};

use super::state::{User, Users};

/// Users ordered by `created_at` (users without one last), ties in creation order. The
/// time is kept as milliseconds since the epoch (no string per user); a `created_at` that
/// does not parse sorts after every parsed one, in creation order.
pub type CreatedKey = (bool, i64, u64);

/// The users of one connection (or of the whole tenant).
#[derive(Debug, Default)]
pub struct OrderedSet {
    /// Creation sequence numbers, in creation order.
    pub by_seq: BTreeSet<u64>,
    pub by_created: BTreeSet<CreatedKey>,
}

impl OrderedSet {
    fn insert(&mut self, seq: u64, user: &User) {
        self.by_seq.insert(seq);
        self.by_created.insert(created_key(seq, user));
    }

    fn remove(&mut self, seq: u64, user: &User) {
        self.by_seq.remove(&seq);
        self.by_created.remove(&created_key(seq, user));
    }

    pub fn len(&self) -> usize {
        self.by_seq.len()
    }
}

fn created_key(seq: u64, user: &User) -> CreatedKey {
    match &user.created_at {
        Some(at) => {
            let millis = crate::clock::parse_timestamp(at).map_or(i64::MAX, |t| {
                i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
            });
            (false, millis, seq)
        }
        None => (true, 0, seq),
    }
}

/// The users sharing one email or username: almost always one, so no list is allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seqs {
    One(u64),
    Many(Vec<u64>),
}

impl Seqs {
    fn as_slice(&self) -> &[u64] {
        match self {
            Seqs::One(seq) => std::slice::from_ref(seq),
            Seqs::Many(seqs) => seqs,
        }
    }

    fn push(&mut self, seq: u64) {
        match self {
            Seqs::One(first) => *self = Seqs::Many(vec![*first, seq]),
            Seqs::Many(seqs) => seqs.push(seq),
        }
    }

    /// Removes `seq`; true when none is left.
    fn remove(&mut self, seq: u64) -> bool {
        match self {
            Seqs::One(only) => *only == seq,
            Seqs::Many(seqs) => {
                seqs.retain(|s| *s != seq);
                if let [only] = seqs.as_slice() {
                    *self = Seqs::One(*only);
                }
                seqs_is_empty(self)
            }
        }
    }
}

fn seqs_is_empty(seqs: &Seqs) -> bool {
    matches!(seqs, Seqs::Many(list) if list.is_empty())
}

fn add_to(map: &mut HashMap<String, Seqs>, key: String, seq: u64) {
    match map.entry(key) {
        std::collections::hash_map::Entry::Occupied(mut entry) => entry.get_mut().push(seq),
        std::collections::hash_map::Entry::Vacant(entry) => {
            entry.insert(Seqs::One(seq));
        }
    }
}

#[derive(Debug, Default)]
pub struct UserIndex {
    /// Lower-cased email -> sequence numbers.
    by_email: HashMap<String, Seqs>,
    by_username: HashMap<String, Seqs>,
    /// Connection name -> its users (a user with identities in several connections is in
    /// each of them).
    by_connection: HashMap<String, OrderedSet>,
    all: OrderedSet,
}

impl UserIndex {
    pub fn build(users: &Users) -> UserIndex {
        let mut index = UserIndex::default();
        for (seq, user) in users.entries() {
            index.insert(seq, user);
        }
        index
    }

    pub fn insert(&mut self, seq: u64, user: &User) {
        if let Some(email) = &user.email {
            add_to(&mut self.by_email, email.to_lowercase(), seq);
        }
        if let Some(username) = username(user) {
            add_to(&mut self.by_username, username.to_owned(), seq);
        }
        for connection in connections(user) {
            self.by_connection
                .entry(connection.to_owned())
                .or_default()
                .insert(seq, user);
        }
        self.all.insert(seq, user);
    }

    pub fn remove(&mut self, seq: u64, user: &User) {
        if let Some(email) = &user.email {
            remove_from(&mut self.by_email, &email.to_lowercase(), seq);
        }
        if let Some(username) = username(user) {
            remove_from(&mut self.by_username, username, seq);
        }
        for connection in connections(user) {
            if let Some(set) = self.by_connection.get_mut(connection) {
                set.remove(seq, user);
                if set.len() == 0 {
                    self.by_connection.remove(connection);
                }
            }
        }
        self.all.remove(seq, user);
    }

    /// Users whose email equals `email` ignoring case.
    pub fn with_email(&self, email: &str) -> &[u64] {
        self.by_email
            .get(&email.to_lowercase())
            .map_or(&[], Seqs::as_slice)
    }

    pub fn with_username(&self, username: &str) -> &[u64] {
        self.by_username.get(username).map_or(&[], Seqs::as_slice)
    }

    /// The users of a connection (`None` when it has none).
    pub fn connection(&self, name: &str) -> Option<&OrderedSet> {
        self.by_connection.get(name)
    }

    /// Every user of the tenant.
    pub fn all(&self) -> &OrderedSet {
        &self.all
    }
}

fn remove_from(map: &mut HashMap<String, Seqs>, key: &str, seq: u64) {
    if let Some(seqs) = map.get_mut(key)
        && seqs.remove(seq)
    {
        map.remove(key);
    }
}

fn username(user: &User) -> Option<&str> {
    user.other
        .get("username")
        .and_then(serde_json::Value::as_str)
}

/// The distinct connection names of a user's identities.
fn connections(user: &User) -> Vec<&str> {
    let mut names: Vec<&str> = user
        .identities
        .iter()
        .map(|i| i.connection.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}
