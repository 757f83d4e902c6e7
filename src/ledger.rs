//! The send ledger: what verifyctl has emailed a user, kept on the user itself under the
//! top-level `app_metadata.verifyctl` key (Auth0 records no such thing).
//!
//! ```json
//! "verifyctl": {
//!   "v": 1,
//!   "verification_email": {"count": 2, "first_sent_at": "…", "last_sent_at": "…", "last_job_id": "job_…"},
//!   "password_reset": {"count": 1, "first_sent_at": "…", "last_sent_at": "…"},
//!   "pending": {"kind": "verification_email", "started_at": "…"},
//!   "managed": {"since": "…", "blocked_at": "…"}
//! }
//! ```
//!
//! `managed` is the mark of a user verifyctl manages: written when verifyctl creates or
//! imports the user, and when it first reconciles a listed user that already existed. Only
//! marked users are offboarded (kept, blocked or deleted) when no policy lists them any more;
//! `blocked_at` says verifyctl blocked the user, so re-listing unblocks only those.
//!
//! A send is written in two steps around the email request: first `pending` (the intent),
//! then the confirmed record. If a run dies between them, the next plan finds `pending`,
//! counts it as sent (it may have gone out), warns, and repairs the record, so a crash can
//! never cause a second email without the plan saying so. All functions here are pure.
//!
//! The format is shared vocabulary: the planner reads it, apply writes it, saved plans
//! fingerprint it and the policy checks keep its key reserved. The resend policy applied to
//! it is the planner's ([`crate::plan::resend`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::clock::format_timestamp;

/// The `app_metadata` key under which verifyctl keeps its send ledger (policies may not set
/// it; it is verifyctl's only footprint in `app_metadata` besides the keys a policy owns).
pub const LEDGER_KEY: &str = "verifyctl";

/// The ledger format version written under `v`.
pub const LEDGER_VERSION: u32 = 1;

/// The two kinds of email verifyctl sends.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SendKind {
    VerificationEmail,
    PasswordReset,
}

impl SendKind {
    pub fn describe(self) -> &'static str {
        match self {
            SendKind::VerificationEmail => "verification email",
            SendKind::PasswordReset => "password-reset email",
        }
    }
}

/// The ledger of one user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Ledger {
    #[serde(default = "current_version")]
    pub v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_email: Option<SendRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_reset: Option<SendRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingSend>,
    /// Set on the users verifyctl manages (see the module doc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedMark>,
}

/// The mark of a user verifyctl manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ManagedMark {
    /// When verifyctl created the user or first reconciled it.
    pub since: String,
    /// When verifyctl blocked the user because no policy listed it (`offboarding: block`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_at: Option<String>,
}

fn current_version() -> u32 {
    LEDGER_VERSION
}

/// Sends of one kind so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SendRecord {
    pub count: u32,
    pub first_sent_at: String,
    pub last_sent_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_job_id: Option<String>,
}

/// A send that was started and not confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PendingSend {
    pub kind: SendKind,
    pub started_at: String,
}

/// What reading a user's ledger gave.
#[allow(clippy::large_enum_variant)] // read, used and dropped per user; never stored in bulk
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerRead {
    /// No ledger key: nothing sent by verifyctl.
    Absent,
    Present(Ledger),
    /// The key exists but is not a ledger verifyctl understands (edited by hand, or written
    /// by a newer verifyctl). Nothing is sent to such a user.
    Unreadable(String),
}

impl LedgerRead {
    /// Reads `app_metadata.verifyctl`.
    pub fn from_app_metadata(app_metadata: Option<&Map<String, Value>>) -> LedgerRead {
        let Some(value) = app_metadata.and_then(|m| m.get(LEDGER_KEY)) else {
            return LedgerRead::Absent;
        };
        match serde_json::from_value::<Ledger>(value.clone()) {
            Ok(ledger) if ledger.v > LEDGER_VERSION => LedgerRead::Unreadable(format!(
                "ledger version {} is newer than this verifyctl understands ({LEDGER_VERSION})",
                ledger.v
            )),
            Ok(ledger) => LedgerRead::Present(ledger),
            Err(error) => LedgerRead::Unreadable(error.to_string()),
        }
    }

    pub fn ledger(&self) -> Option<&Ledger> {
        match self {
            LedgerRead::Present(ledger) => Some(ledger),
            _ => None,
        }
    }
}

impl Ledger {
    /// Sends of `kind` so far, counting an unconfirmed one as sent.
    pub fn effective(&self, kind: SendKind) -> Option<SendRecord> {
        let mut record = self.record(kind).cloned();
        if let Some(pending) = &self.pending
            && pending.kind == kind
        {
            record = Some(add_send(record, &pending.started_at, None));
        }
        record
    }

    fn record(&self, kind: SendKind) -> Option<&SendRecord> {
        match kind {
            SendKind::VerificationEmail => self.verification_email.as_ref(),
            SendKind::PasswordReset => self.password_reset.as_ref(),
        }
    }

    fn record_mut(&mut self, kind: SendKind) -> &mut Option<SendRecord> {
        match kind {
            SendKind::VerificationEmail => &mut self.verification_email,
            SendKind::PasswordReset => &mut self.password_reset,
        }
    }

    /// Folds an unconfirmed send into its record (it may have gone out).
    pub fn settle_pending(&self) -> Ledger {
        let mut next = self.clone();
        if let Some(pending) = next.pending.take() {
            let record = next.record_mut(pending.kind);
            *record = Some(add_send(record.take(), &pending.started_at, None));
        }
        next.v = LEDGER_VERSION;
        next
    }

    /// The ledger without its intent (a send the tenant's logs show never went out).
    pub fn without_pending(&self) -> Ledger {
        Ledger {
            pending: None,
            ..self.clone()
        }
    }

    /// The ledger to write before sending: settled, plus the new intent.
    pub fn with_pending(&self, kind: SendKind, at: OffsetDateTime) -> Ledger {
        let mut next = self.settle_pending();
        next.pending = Some(PendingSend {
            kind,
            started_at: format_timestamp(at),
        });
        next
    }

    /// Confirms the send announced by [`Ledger::with_pending`]: the matching intent becomes
    /// a recorded send (it is not counted twice).
    pub fn confirm_send(
        &self,
        kind: SendKind,
        at: OffsetDateTime,
        job_id: Option<String>,
    ) -> Ledger {
        let mut next = self.clone();
        if next.pending.as_ref().is_some_and(|p| p.kind == kind) {
            next.pending = None;
        }
        let mut next = next.settle_pending();
        let record = next.record_mut(kind);
        *record = Some(add_send(record.take(), &format_timestamp(at), job_id));
        next
    }

    /// The ledger after a send that needed no separate intent (the create call that sends
    /// the verification email itself).
    pub fn with_send(&self, kind: SendKind, at: OffsetDateTime, job_id: Option<String>) -> Ledger {
        self.with_pending(kind, at).confirm_send(kind, at, job_id)
    }

    /// Whether the user carries verifyctl's managed mark.
    pub fn is_managed(&self) -> bool {
        self.managed.is_some()
    }

    /// Whether verifyctl blocked the user when it left the policies.
    pub fn blocked_by_verifyctl(&self) -> bool {
        self.managed
            .as_ref()
            .is_some_and(|m| m.blocked_at.is_some())
    }

    /// The ledger with the managed mark (kept as it is when already there).
    pub fn marked_managed(&self, at: OffsetDateTime) -> Ledger {
        let mut next = self.clone();
        next.v = LEDGER_VERSION;
        next.managed.get_or_insert_with(|| ManagedMark {
            since: format_timestamp(at),
            blocked_at: None,
        });
        next
    }

    /// The ledger of a user verifyctl blocks now (marked managed, with `blocked_at`).
    pub fn marked_blocked(&self, at: OffsetDateTime) -> Ledger {
        let mut next = self.marked_managed(at);
        if let Some(mark) = &mut next.managed {
            mark.blocked_at = Some(format_timestamp(at));
        }
        next
    }

    /// The ledger of a user verifyctl unblocks (still managed, without `blocked_at`).
    pub fn marked_unblocked(&self, at: OffsetDateTime) -> Ledger {
        let mut next = self.marked_managed(at);
        if let Some(mark) = &mut next.managed {
            mark.blocked_at = None;
        }
        next
    }

    /// `app_metadata` patch that stores this ledger (Auth0 shallow-merges it, replacing the
    /// `verifyctl` key wholesale and leaving every other key alone).
    pub fn app_metadata_patch(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert(
            LEDGER_KEY.to_string(),
            serde_json::to_value(self).unwrap_or(Value::Null),
        );
        map
    }
}

fn add_send(record: Option<SendRecord>, at: &str, job_id: Option<String>) -> SendRecord {
    match record {
        None => SendRecord {
            count: 1,
            first_sent_at: at.to_string(),
            last_sent_at: at.to_string(),
            last_job_id: job_id,
        },
        Some(record) => SendRecord {
            count: record.count.saturating_add(1),
            first_sent_at: record.first_sent_at,
            last_sent_at: at.to_string(),
            last_job_id: job_id.or(record.last_job_id),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::Duration;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-01 10:00 UTC);

    fn metadata(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn reads_absent_present_and_unreadable_ledgers() {
        assert_eq!(LedgerRead::from_app_metadata(None), LedgerRead::Absent);
        assert_eq!(
            LedgerRead::from_app_metadata(Some(&metadata(json!({"team": "x"})))),
            LedgerRead::Absent
        );
        let present = LedgerRead::from_app_metadata(Some(&metadata(json!({
            "verifyctl": {"v": 1, "verification_email": {"count": 2, "first_sent_at": "2026-10-01T00:00:00.000Z", "last_sent_at": "2026-10-04T00:00:00.000Z"}}
        }))));
        assert_eq!(
            present
                .ledger()
                .unwrap()
                .verification_email
                .as_ref()
                .unwrap()
                .count,
            2
        );
        assert!(matches!(
            LedgerRead::from_app_metadata(Some(&metadata(json!({"verifyctl": "sent!"})))),
            LedgerRead::Unreadable(_)
        ));
        assert!(matches!(
            LedgerRead::from_app_metadata(Some(&metadata(json!({"verifyctl": {"v": 2}})))),
            LedgerRead::Unreadable(reason) if reason.contains("newer")
        ));
    }

    #[test]
    fn two_step_write_counts_once_and_pending_counts_as_sent() {
        let empty = Ledger::default();
        let intent = empty.with_pending(SendKind::VerificationEmail, T0);
        assert_eq!(intent.verification_email, None);
        assert_eq!(
            intent.effective(SendKind::VerificationEmail).unwrap().count,
            1
        );
        let done = intent.confirm_send(SendKind::VerificationEmail, T0, Some("job_1".into()));
        assert_eq!(done.pending, None);
        let record = done.verification_email.as_ref().unwrap();
        assert_eq!(
            (record.count, record.last_job_id.as_deref()),
            (1, Some("job_1"))
        );
        // An interrupted second send, settled later, counts as a second send.
        let later = T0 + Duration::days(4);
        let interrupted = done.with_pending(SendKind::VerificationEmail, later);
        let settled = interrupted.settle_pending();
        let record = settled.verification_email.unwrap();
        assert_eq!(record.count, 2);
        assert_eq!(record.first_sent_at, "2026-11-01T10:00:00.000Z");
        assert_eq!(record.last_sent_at, "2026-11-05T10:00:00.000Z");
        // A new send over an interrupted one counts both: the old intent may have gone out.
        let next = interrupted.with_pending(SendKind::VerificationEmail, later + Duration::days(3));
        let confirmed =
            next.confirm_send(SendKind::VerificationEmail, later + Duration::days(3), None);
        assert_eq!(confirmed.verification_email.unwrap().count, 3);
        assert_eq!(confirmed.pending, None);
    }

    #[test]
    fn the_managed_mark_survives_sends_and_records_blocking() {
        let marked = Ledger::default().marked_managed(T0);
        assert!(marked.is_managed() && !marked.blocked_by_verifyctl());
        // Marking again keeps the first time.
        let later = T0 + Duration::days(1);
        assert_eq!(marked.marked_managed(later), marked);
        let sent = marked.with_send(SendKind::VerificationEmail, later, None);
        assert_eq!(sent.managed, marked.managed);
        let blocked = sent.marked_blocked(later);
        assert!(blocked.blocked_by_verifyctl());
        assert_eq!(
            Value::Object(blocked.app_metadata_patch())["verifyctl"]["managed"],
            json!({"since": "2026-11-01T10:00:00.000Z", "blocked_at": "2026-11-02T10:00:00.000Z"})
        );
        let unblocked = blocked.marked_unblocked(later);
        assert_eq!(unblocked.managed, marked.managed);
        // A ledger written before the mark existed reads as unmanaged.
        let old = LedgerRead::from_app_metadata(Some(&metadata(json!({"verifyctl": {"v": 1}}))));
        assert!(!old.ledger().unwrap().is_managed());
    }

    #[test]
    fn patch_replaces_only_the_ledger_key() {
        let ledger = Ledger::default().with_send(SendKind::PasswordReset, T0, None);
        let patch = ledger.app_metadata_patch();
        assert_eq!(
            Value::Object(patch),
            json!({"verifyctl": {"v": 1, "password_reset": {"count": 1, "first_sent_at": "2026-11-01T10:00:00.000Z", "last_sent_at": "2026-11-01T10:00:00.000Z"}}})
        );
    }
}
