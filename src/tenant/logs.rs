//! The tenant's own evidence of the emails verifyctl started: its logs (`GET /api/v2/logs`,
//! scope `read:logs`), where Auth0 records `svr` (a verification email was requested) and
//! `scpr` (a password-reset email was requested) for each user.
//!
//! verifyctl writes its send intent into the user's ledger before every email and does not
//! write again after it (DESIGN.md §8, "emails exactly once"). The next plan looks the
//! recent intents up here: an intent the logs show was sent; one they do not show, once the
//! logs had time to catch up, never went out and is sent again. What the read costs: one
//! request to see whether the logs can be read and how far back they reach, then one per
//! 100 users with a recent intent. Intents older than [`CHECK_WINDOW`] are not looked up (they
//! count as sent: Auth0 keeps logs 1 to 30 days depending on the plan, so older evidence
//! may be gone).
//!
//! UNCONFIRMED: the longest `q` Auth0 accepts on `/api/v2/logs` (100 user ids make about 5 kB
//! of query string); the exact lag of log indexing ("a few seconds" in Auth0's docs).

use std::collections::HashMap;

use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::client::{ManagementClient, lucene_escape};
use super::error::ApiError;
use super::types::User;
use crate::clock::{format_timestamp, parse_timestamp};
use crate::ledger::{LedgerRead, SendKind};

/// Intents younger than this are checked against the logs; older ones count as sent.
pub const CHECK_WINDOW: Duration = Duration::days(3);
/// How long Auth0 may take to show a new event in its logs: an intent younger than this
/// and not in the logs yet is neither confirmed nor refuted.
pub const LOG_LAG: Duration = Duration::minutes(2);
/// User ids per log query.
const USERS_PER_QUERY: usize = 100;
/// Log search reaches the first 1000 results of a query (10 pages of 100).
const MAX_PAGES: u64 = 10;

/// What the logs say about the emails verifyctl started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SendEvidence {
    /// Not looked at (no read, e.g. a plan built without a tenant).
    #[default]
    NotRead,
    /// The logs cannot be read (`read:logs` missing or an error): sends are confirmed in the
    /// ledger by apply instead, and unconfirmed intents count as sent.
    Unreadable { reason: String },
    /// The logs were read.
    Read {
        /// The date of the oldest event the tenant still keeps (`None`: no event at all).
        reach: Option<String>,
        /// Emails requested per user id since the oldest recent intent, oldest first.
        sent: HashMap<String, Vec<LoggedSend>>,
    },
}

/// One email the logs show was requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedSend {
    pub kind: SendKind,
    pub date: String,
}

impl SendEvidence {
    /// Whether sends can be confirmed from the logs (so apply need not confirm them).
    pub fn readable(&self) -> bool {
        matches!(self, SendEvidence::Read { .. })
    }
}

#[derive(Deserialize)]
struct LogEntry {
    #[serde(default)]
    date: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    user_id: Option<String>,
}

fn kind_of(code: &str) -> Option<SendKind> {
    match code {
        "svr" => Some(SendKind::VerificationEmail),
        "scpr" => Some(SendKind::PasswordReset),
        _ => None,
    }
}

impl ManagementClient {
    /// Reads the logs' evidence for the recent send intents of `users` (see the module doc).
    pub async fn send_evidence<'u>(
        &self,
        users: impl Iterator<Item = &'u User>,
        now: OffsetDateTime,
    ) -> SendEvidence {
        match self.read_send_evidence(users, now).await {
            Ok(evidence) => evidence,
            Err(error) => {
                tracing::debug!(%error, "cannot read the tenant's logs");
                SendEvidence::Unreadable {
                    reason: match error.status() {
                        Some(403) => "the credentials lack the read:logs scope".to_string(),
                        _ => error.to_string(),
                    },
                }
            }
        }
    }

    async fn read_send_evidence<'u>(
        &self,
        users: impl Iterator<Item = &'u User>,
        now: OffsetDateTime,
    ) -> Result<SendEvidence, ApiError> {
        let oldest: Vec<LogEntry> = self
            .get_json(
                "GET /api/v2/logs",
                &["api", "v2", "logs"],
                &[
                    ("sort", "date:1"),
                    ("per_page", "1"),
                    ("page", "0"),
                    ("fields", "date,type,user_id"),
                    ("include_fields", "true"),
                ],
            )
            .await?;
        let reach = oldest.into_iter().next().map(|e| e.date);
        let recent: Vec<(&str, OffsetDateTime)> = users
            .filter_map(|user| {
                let ledger = LedgerRead::from_app_metadata(user.app_metadata.as_ref());
                let pending = ledger.ledger()?.pending.as_ref()?;
                let started = parse_timestamp(&pending.started_at).ok()?;
                (now - started <= CHECK_WINDOW).then_some((user.user_id.as_str(), started))
            })
            .collect();
        let mut sent: HashMap<String, Vec<LoggedSend>> = HashMap::new();
        for batch in recent.chunks(USERS_PER_QUERY) {
            let since = batch.iter().map(|(_, at)| *at).min().unwrap_or(now) - Duration::minutes(1);
            let ids: Vec<String> = batch
                .iter()
                .map(|(id, _)| format!("user_id:\"{}\"", lucene_escape(id)))
                .collect();
            let query = format!(
                "(type:\"svr\" OR type:\"scpr\") AND ({}) AND date:[{} TO *]",
                ids.join(" OR "),
                format_timestamp(since)
            );
            for page in 0..MAX_PAGES {
                let page_text = page.to_string();
                let entries: Vec<LogEntry> = self
                    .get_json(
                        "GET /api/v2/logs",
                        &["api", "v2", "logs"],
                        &[
                            ("q", query.as_str()),
                            ("sort", "date:1"),
                            ("per_page", "100"),
                            ("page", page_text.as_str()),
                            ("fields", "date,type,user_id"),
                            ("include_fields", "true"),
                        ],
                    )
                    .await?;
                let full = entries.len() == 100;
                for entry in entries {
                    if let (Some(kind), Some(user)) = (kind_of(&entry.kind), entry.user_id) {
                        sent.entry(user).or_default().push(LoggedSend {
                            kind,
                            date: entry.date,
                        });
                    }
                }
                if !full {
                    break;
                }
            }
        }
        Ok(SendEvidence::Read { reach, sent })
    }
}
