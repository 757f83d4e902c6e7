//! The live tenant: the Management API [`client`] and [`read_live_state`], which reads just
//! what a plan needs for a given desired state, counting every request.

pub mod client;
pub mod error;
pub mod types;

use std::collections::BTreeMap;

pub use client::{CallStats, Credentials, ManagementClient, TenantTarget, USER_SEARCH_LIMIT};
pub use error::ApiError;
pub use types::{Client, Connection, User};

use crate::policy::{DesiredState, VerificationMode};

/// What the plan compares the policies with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveState {
    /// Every connection of the tenant, by name.
    pub connections: BTreeMap<String, Connection>,
    /// The tenant's applications; empty when no policy names one (not read then).
    pub clients: Vec<Client>,
    /// Users of each connection whose users were read, by connection name.
    pub users: BTreeMap<String, Vec<User>>,
}

impl LiveState {
    /// True when the users of `connection` were read.
    pub fn has_users_of(&self, connection: &str) -> bool {
        self.users.contains_key(connection)
    }
}

/// Reads the live state the desired state depends on:
/// - all connections (one request per 100 connections);
/// - applications, only when a policy names one;
/// - the users of every policy connection that exists, except `off` connections without
///   listed users (nothing can change for them).
pub async fn read_live_state(
    client: &ManagementClient,
    desired: &DesiredState,
) -> Result<LiveState, ApiError> {
    let connections: BTreeMap<String, Connection> = client
        .list_connections()
        .await?
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect();
    let needs_clients = !desired.applications.is_empty()
        || desired
            .connections
            .values()
            .any(|c| c.verification_client.is_some());
    let clients = if needs_clients {
        client.list_clients().await?
    } else {
        Vec::new()
    };
    let mut users = BTreeMap::new();
    for (name, spec) in &desired.connections {
        if !connections.contains_key(name) {
            continue;
        }
        let has_listed_users = desired.users_of(name).next().is_some();
        if spec.mode == VerificationMode::Off && !has_listed_users {
            continue;
        }
        let list = client.users_of_connection(name).await?;
        users.insert(name.clone(), list);
    }
    Ok(LiveState {
        connections,
        clients,
        users,
    })
}
