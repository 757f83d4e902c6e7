//! The import phase of an apply: every `ImportUser` action of a connection becomes one
//! record of a users-import file (reference §9.1), before any chain runs.
//!
//! - Records are packed in plan order into files of at most 512,000 bytes; a connection's
//!   files are its own (an import names one connection).
//! - At most two import jobs are in flight (Auth0's limit per tenant); each is polled until
//!   it ends, then its `/errors` are read, so each record ends inserted, refused (with
//!   Auth0's code and message) or unknown (a failed job, a lost answer, an interruption).
//! - Each record carries the user's ledger (the onboarding email's intent) in `app_metadata`
//!   and a `user_id` generated here, so no later write is needed for either, and a user an
//!   interrupted run imported is recognised as ours by its ledger, never created twice
//!   (`DUPLICATED_USER`, then a lookup).
//! - Imports send no email and never upsert; the completion email to the tenant's owners is
//!   turned off.
//!
//! What each user's action then does with its outcome (the first email, or bringing an
//! existing user to the policy) is in `execute.rs`.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use time::OffsetDateTime;

use super::Cancellation;
use super::execute::onboarding_intent;
use crate::clock::Clock;
use crate::ledger::Ledger;
use crate::plan::{Action, Operation};
use crate::tenant::ManagementClient;
use crate::tenant::types::{ImportRecord, Job};

/// Largest users file (reference §9.1).
pub const MAX_FILE_BYTES: usize = 512_000;
/// Import jobs in flight at once (Auth0 allows two per tenant).
const JOBS_IN_FLIGHT: usize = 2;
/// Polling an import job: first wait, longest wait, longest total (Auth0 times jobs out
/// after two hours).
const FIRST_POLL: Duration = Duration::from_millis(250);
const MAX_POLL: Duration = Duration::from_secs(10);
const JOB_TIMEOUT: Duration = Duration::from_secs(2 * 3600);

/// One imported user: its record's id and ledger, and what the import did with it.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The id part of `auth0|…` the record asked for.
    pub key: String,
    pub intent: Option<Ledger>,
    pub at: OffsetDateTime,
    pub outcome: ImportOutcome,
}

impl Prepared {
    pub fn user_id(&self) -> String {
        format!("auth0|{}", self.key)
    }
}

/// What an import did with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Inserted {
        job_id: String,
    },
    Refused {
        code: String,
        message: String,
    },
    /// Auth0 refused the whole import before doing anything (e.g. `Connection must be
    /// enabled.`): the user is created on its own instead.
    NotImported {
        message: String,
    },
    /// The import's answer says nothing about it.
    Unknown {
        message: String,
    },
}

struct Record {
    target: String,
    email: String,
    bytes: Vec<u8>,
}

/// Runs every import of the plan; the outcome of each imported user, by target key.
pub async fn run(
    client: &ManagementClient,
    actions: &[Action],
    clock: &Clock,
    cancellation: &Cancellation,
) -> HashMap<String, Prepared> {
    let now = clock.now();
    let mut prepared: HashMap<String, Prepared> = HashMap::new();
    let mut by_connection: Vec<(String, Vec<Record>)> = Vec::new();
    for action in actions {
        let Operation::ImportUser {
            connection_id,
            user,
            onboarding_email,
            ..
        } = &action.operation
        else {
            continue;
        };
        let key = random_key();
        let intent = Some(onboarding_intent(onboarding_email, now));
        let mut profile = user.profile.clone();
        if let Some(intent) = &intent {
            profile
                .app_metadata
                .get_or_insert_default()
                .extend(intent.app_metadata_patch());
        }
        let record = ImportRecord {
            email: user.email.clone(),
            email_verified: user.email_verified,
            user_id: key.clone(),
            profile,
        };
        let target = action.target.key();
        let outcome = ImportOutcome::Unknown {
            message: "the run was interrupted before its import".into(),
        };
        prepared.insert(
            target.clone(),
            Prepared {
                key,
                intent,
                at: now,
                outcome,
            },
        );
        let bytes = serde_json::to_vec(&record).unwrap_or_default();
        let position =
            if let Some(position) = by_connection.iter().position(|(id, _)| id == connection_id) {
                position
            } else {
                by_connection.push((connection_id.clone(), Vec::new()));
                by_connection.len() - 1
            };
        by_connection[position].1.push(Record {
            target,
            email: user.email.clone(),
            bytes,
        });
    }
    let mut files: Vec<(String, Vec<Record>)> = Vec::new();
    for (connection_id, records) in by_connection {
        for file in pack(records, &mut prepared) {
            files.push((connection_id.clone(), file));
        }
    }
    let results: Vec<Vec<(String, ImportOutcome)>> = futures_util::stream::iter(files)
        .map(|(connection_id, records)| import_file(client, connection_id, records, cancellation))
        .buffer_unordered(JOBS_IN_FLIGHT)
        .collect()
        .await;
    for (target, outcome) in results.into_iter().flatten() {
        if let Some(entry) = prepared.get_mut(&target) {
            entry.outcome = outcome;
        }
    }
    prepared
}

/// Files of at most [`MAX_FILE_BYTES`], records in order; a record too large for any file
/// is refused here.
fn pack(records: Vec<Record>, prepared: &mut HashMap<String, Prepared>) -> Vec<Vec<Record>> {
    let mut files: Vec<Vec<Record>> = Vec::new();
    let mut size = 0usize;
    for record in records {
        // `[` + records joined by `,` + `]`.
        if record.bytes.len() + 2 > MAX_FILE_BYTES {
            if let Some(entry) = prepared.get_mut(&record.target) {
                entry.outcome = ImportOutcome::Refused {
                    code: "TOO_LARGE".into(),
                    message: format!(
                        "the user's record is {} bytes, more than an import file may hold ({MAX_FILE_BYTES})",
                        record.bytes.len()
                    ),
                };
            }
            continue;
        }
        let grown = size + record.bytes.len() + 1;
        match files.last_mut() {
            Some(file) if grown < MAX_FILE_BYTES => {
                size = grown;
                file.push(record);
            }
            _ => {
                size = record.bytes.len() + 1;
                files.push(vec![record]);
            }
        }
    }
    files
}

/// One import job: upload, wait, read its errors; each record's outcome.
async fn import_file(
    client: &ManagementClient,
    connection_id: String,
    records: Vec<Record>,
    cancellation: &Cancellation,
) -> Vec<(String, ImportOutcome)> {
    let unknown = |records: &[Record], message: String| {
        records
            .iter()
            .map(|r| {
                (
                    r.target.clone(),
                    ImportOutcome::Unknown {
                        message: message.clone(),
                    },
                )
            })
            .collect::<Vec<_>>()
    };
    if cancellation.is_cancelled() {
        return unknown(&records, "the run was interrupted before its import".into());
    }
    let mut file = Vec::with_capacity(records.iter().map(|r| r.bytes.len() + 1).sum::<usize>() + 2);
    file.push(b'[');
    for (index, record) in records.iter().enumerate() {
        if index > 0 {
            file.push(b',');
        }
        file.extend_from_slice(&record.bytes);
    }
    file.push(b']');
    let job = match client
        .start_users_import(&connection_id, file.clone())
        .await
    {
        Ok(job) => job,
        // The answer was lost: the job may exist. Send the file again; what the first job
        // imported comes back as DUPLICATED_USER and is recognised by its ledger.
        Err(error) if error.outcome_unknown() => {
            match client.start_users_import(&connection_id, file).await {
                Ok(job) => job,
                Err(error) => return unknown(&records, format!("starting the import: {error}")),
            }
        }
        // Refused as a whole (nothing was imported): each user is created on its own.
        Err(error)
            if error
                .status()
                .is_some_and(|s| (400..500).contains(&s) && s != 429) =>
        {
            return records
                .iter()
                .map(|r| {
                    (
                        r.target.clone(),
                        ImportOutcome::NotImported {
                            message: error.to_string(),
                        },
                    )
                })
                .collect();
        }
        Err(error) => return unknown(&records, format!("starting the import: {error}")),
    };
    let job = match wait(client, job).await {
        Ok(job) => job,
        Err(message) => return unknown(&records, message),
    };
    if job.is_failed() {
        let details = job
            .status_details
            .unwrap_or_else(|| "Auth0 gave no details".into());
        return unknown(
            &records,
            format!("the import job {} failed: {details}", job.id),
        );
    }
    let refused = match client.import_errors(&job.id).await {
        Ok(errors) => errors,
        Err(error) => {
            return unknown(
                &records,
                format!("reading the import job's errors: {error}"),
            );
        }
    };
    let mut by_email: HashMap<String, (String, String)> = HashMap::new();
    for entry in refused {
        let email = entry
            .user
            .get("email")
            .and_then(serde_json::Value::as_str)
            .map(str::to_lowercase)
            .unwrap_or_default();
        let (code, message) = entry.errors.first().map_or_else(
            || {
                (
                    "UNKNOWN".to_string(),
                    "refused without a reason".to_string(),
                )
            },
            |e| (e.code.clone(), e.message.clone()),
        );
        by_email.insert(email, (code, message));
    }
    records
        .into_iter()
        .map(|record| {
            let outcome = match by_email.remove(&record.email.to_lowercase()) {
                Some((code, message)) => ImportOutcome::Refused { code, message },
                None => ImportOutcome::Inserted {
                    job_id: job.id.clone(),
                },
            };
            (record.target, outcome)
        })
        .collect()
}

/// Polls an import job until it ends (completed or failed), bounded.
async fn wait(client: &ManagementClient, mut job: Job) -> Result<Job, String> {
    let started = tokio::time::Instant::now();
    let mut delay = FIRST_POLL;
    while !job.is_completed() && !job.is_failed() {
        if started.elapsed() >= JOB_TIMEOUT {
            return Err(format!(
                "the import job {} did not finish in {} minutes",
                job.id,
                JOB_TIMEOUT.as_secs() / 60
            ));
        }
        let estimate = job
            .time_left_seconds
            .map_or(Duration::ZERO, Duration::from_secs);
        tokio::time::sleep(delay.max(estimate).min(MAX_POLL * 6)).await;
        delay = (delay * 2).min(MAX_POLL);
        job = client
            .get_job(&job.id)
            .await
            .map_err(|e| format!("waiting for the import job {}: {e}", job.id))?;
    }
    Ok(job)
}

/// 24 lowercase hex digits from the operating system's generator, like Auth0's own ids.
fn random_key() -> String {
    use rand::TryRng;
    let mut bytes = [0u8; 12];
    if rand::rngs::SysRng.try_fill_bytes(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes.copy_from_slice(&nanos.to_le_bytes()[..12]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(target: &str, size: usize) -> Record {
        Record {
            target: target.into(),
            email: format!("{target}@x.example"),
            bytes: vec![b'x'; size],
        }
    }

    #[test]
    fn files_stay_under_the_limit_in_order_and_huge_records_are_refused() {
        let mut prepared = HashMap::new();
        prepared.insert(
            "big".to_string(),
            Prepared {
                key: "k".into(),
                intent: None,
                at: OffsetDateTime::UNIX_EPOCH,
                outcome: ImportOutcome::Unknown {
                    message: String::new(),
                },
            },
        );
        let records = vec![
            record("a", 300_000),
            record("b", 200_000),
            record("c", 20_000),
            record("big", MAX_FILE_BYTES),
            record("d", 1),
        ];
        let files = pack(records, &mut prepared);
        let names: Vec<Vec<&str>> = files
            .iter()
            .map(|f| f.iter().map(|r| r.target.as_str()).collect())
            .collect();
        assert_eq!(names, [vec!["a", "b"], vec!["c", "d"]]);
        for file in &files {
            let bytes: usize = file.iter().map(|r| r.bytes.len() + 1).sum::<usize>() + 1;
            assert!(bytes <= MAX_FILE_BYTES, "{bytes}");
        }
        assert!(matches!(
            prepared["big"].outcome,
            ImportOutcome::Refused { .. }
        ));
    }
}
