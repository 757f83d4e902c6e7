//! The resend policy applied to a user's send ledger: whether another verification email may
//! go out now, and why (not). Pure.

use time::OffsetDateTime;

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
    /// Too soon since the last one.
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
    let next_at = last + resend.after;
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
    use crate::ledger::{Ledger, SendKind};
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
}
