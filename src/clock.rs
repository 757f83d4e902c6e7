//! Time as verifyctl sees it: a [`Clock`] that is the system clock in production and a
//! fixed, manually advanced instant in tests, plus the one timestamp format Auth0 uses
//! for users, jobs and connections (`2023-01-25T19:00:26.187Z`, UTC, milliseconds).

use std::sync::{Arc, Mutex, PoisonError};

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

/// A source of "now". Cloning a fixed clock shares it: advancing one advances all clones.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The operating system's wall clock.
    #[default]
    System,
    /// A fixed instant that only moves when [`Clock::advance`] is called.
    Fixed(Arc<Mutex<OffsetDateTime>>),
}

impl Clock {
    /// A clock frozen at `at` until advanced.
    pub fn fixed(at: OffsetDateTime) -> Self {
        Clock::Fixed(Arc::new(Mutex::new(at)))
    }

    /// The current instant, in UTC.
    pub fn now(&self) -> OffsetDateTime {
        match self {
            Clock::System => OffsetDateTime::now_utc(),
            Clock::Fixed(at) => *at.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Moves a fixed clock forward; the system clock cannot be moved and ignores this.
    pub fn advance(&self, by: Duration) {
        if let Clock::Fixed(at) = self {
            let mut at = at.lock().unwrap_or_else(PoisonError::into_inner);
            *at += by;
        }
    }
}

/// Formats an instant the way the Management API does: RFC 3339, UTC, milliseconds, `Z`.
pub fn format_timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// Formats an instant the way the Actions API does: UTC with nanoseconds
/// (`2026-05-29T10:45:58.888947671Z`).
pub fn format_timestamp_nanos(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.nanosecond()
    )
}

/// Parses any RFC 3339 timestamp (Auth0 uses milliseconds for users and nanoseconds for
/// Actions; both parse).
pub fn parse_timestamp(text: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(text, &Rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_like_auth0_with_milliseconds() {
        let at = datetime!(2023-01-25 19:00:26.187_654 UTC);
        assert_eq!(format_timestamp(at), "2023-01-25T19:00:26.187Z");
    }

    #[test]
    fn parses_both_millisecond_and_nanosecond_precision() {
        let millis = parse_timestamp("2023-01-25T19:00:26.187Z").unwrap();
        let nanos = parse_timestamp("2023-01-25T17:41:51.460334808Z").unwrap();
        assert_eq!(millis.millisecond(), 187);
        assert_eq!(nanos.nanosecond(), 460_334_808);
    }

    #[test]
    fn fixed_clock_advances_for_every_clone() {
        let clock = Clock::fixed(datetime!(2026-01-01 00:00 UTC));
        let other = clock.clone();
        clock.advance(Duration::hours(3));
        assert_eq!(other.now(), datetime!(2026-01-01 03:00 UTC));
    }
}
