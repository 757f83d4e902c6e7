//! The resend policy applied to a user's send ledger: whether another verification email may
//! go out now, and why (not). Pure.

use time::{OffsetDateTime, PrimitiveDateTime};

use crate::clock::parse_timestamp;
use crate::ledger::SendRecord;
use crate::policy::Resend;

/// Whether the resend policy allows another verification email now, and why (not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResendDecision {
    /// Never sent: send the first one.
    First,
    /// Sent before, the wait is over and the maximum not reached.
    Again { sent: u32, last: String },
    /// The maximum was reached.
    Exhausted { sent: u32 },
    /// Too soon since the last one. `next_at` is the latest representable time when the
    /// next one would lie beyond it (a ledger dated near year 9999): never again.
    Wait {
        sent: u32,
        last: String,
        next_at: OffsetDateTime,
    },
}

/// Applies `resend` to the sends recorded so far.
pub fn resend_decision(
    record: Option<&SendRecord>,
    resend: Resend,
    now: OffsetDateTime,
) -> ResendDecision {
    let Some(record) = record else {
        return ResendDecision::First;
    };
    if record.count >= resend.max {
        return ResendDecision::Exhausted { sent: record.count };
    }
    // An unparseable timestamp is treated as "just now": wait rather than risk a burst.
    let last = parse_timestamp(&record.last_sent_at).unwrap_or(now);
    // Checked: an overflow (a ledger dated near the end of time, or an interval no policy
    // validates) means "never again", never a panic.
    let next_at = last
        .checked_add(resend.after)
        .unwrap_or_else(|| PrimitiveDateTime::MAX.assume_utc());
    if now >= next_at {
        ResendDecision::Again {
            sent: record.count,
            last: record.last_sent_at.clone(),
        }
    } else {
        ResendDecision::Wait {
            sent: record.count,
            last: record.last_sent_at.clone(),
            next_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Ledger, SendKind, SendRecord};
    use time::Duration;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-01 10:00 UTC);

    #[test]
    fn resend_policy_waits_then_sends_until_the_maximum() {
        let policy = Resend {
            after: Duration::hours(72),
            max: 2,
        };
        assert_eq!(resend_decision(None, policy, T0), ResendDecision::First);
        let one = Ledger::default().with_send(SendKind::VerificationEmail, T0, None);
        let record = one.verification_email.as_ref();
        assert!(matches!(
            resend_decision(record, policy, T0 + Duration::hours(71)),
            ResendDecision::Wait { sent: 1, .. }
        ));
        assert!(matches!(
            resend_decision(record, policy, T0 + Duration::hours(72)),
            ResendDecision::Again { sent: 1, .. }
        ));
        let two = one.with_send(SendKind::VerificationEmail, T0 + Duration::hours(80), None);
        assert_eq!(
            resend_decision(
                two.verification_email.as_ref(),
                policy,
                T0 + Duration::days(30)
            ),
            ResendDecision::Exhausted { sent: 2 }
        );
        assert_eq!(
            resend_decision(record, Resend::ONCE, T0 + Duration::days(30)),
            ResendDecision::Exhausted { sent: 1 }
        );
    }

    #[test]
    fn a_next_send_beyond_the_representable_future_is_never() {
        let policy = Resend {
            after: Duration::hours(72),
            max: 3,
        };
        let record = SendRecord {
            count: 1,
            first_sent_at: "9999-12-31T23:00:00Z".into(),
            last_sent_at: "9999-12-31T23:00:00Z".into(),
            last_job_id: None,
        };
        assert!(matches!(
            resend_decision(Some(&record), policy, T0),
            ResendDecision::Wait { sent: 1, .. }
        ));
        let huge = Resend {
            after: Duration::MAX,
            max: 3,
        };
        let recent = Ledger::default().with_send(SendKind::VerificationEmail, T0, None);
        assert!(matches!(
            resend_decision(
                recent.verification_email.as_ref(),
                huge,
                T0 + Duration::days(400)
            ),
            ResendDecision::Wait { sent: 1, .. }
        ));
    }
}
