//! When the client sends a request again, and how long it waits first. The rules:
//!
//! - **429 Too Many Requests** is never a failure on its own: the wait comes from the
//!   answer (`Retry-After` seconds, else `x-ratelimit-reset`, else exponential), clamped to
//!   [100 ms, 60 s], and every request of the client waits it out, not only the refused one
//!   (the pacer's shared back-off). Nothing was applied, so any request may be repeated, up
//!   to [`MAX_THROTTLED_RETRIES`] times.
//! - **401 Unauthorized** with client credentials: the cached token may have expired early;
//!   it is dropped and fetched again, once per request.
//! - **Transient failures** (a 5xx answer, or no answer at all) are retried with exponential
//!   backoff and jitter (about 0.5 s, 1 s, 2 s, 4 s with the default base, capped at 8 s,
//!   each plus up to half again), at most [`MAX_TRANSIENT_RETRIES`] times, as far as the
//!   request's [`Replay`] allows:
//!   - [`Replay::Safe`] requests have the same effect however often they are sent (reads,
//!     the token request, PATCHes that set fields to given values, replacing a binding list,
//!     deploying the built draft): retried after any transient failure;
//!   - [`Replay::IfNotApplied`] requests are not idempotent (creating a user or an Action,
//!     sending an email): retried only after a 5xx other than 504, by which the server says
//!     it did nothing. A lost answer or a 504 is returned to the caller as an error whose
//!     outcome is unknown ([`super::ApiError::outcome_unknown`]), and the caller resolves it:
//!     apply looks the user up, or keeps the ledger's intent so no second email goes out.
//!
//! Everything here is pure: [`RetryState::decide`] looks at one attempt and says what to do
//! next; the client (`client.rs`) does it.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::pacing;

/// How many 429s one request waits out before giving up (each wait up to a minute).
pub const MAX_THROTTLED_RETRIES: u32 = 30;
/// How many times a request is repeated after a transient failure (5xx, no answer).
pub const MAX_TRANSIENT_RETRIES: u32 = 4;
/// Longest single wait for a rate-limit window.
pub const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(60);
/// The first backoff step is twice this.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(250);
/// Longest backoff step (before jitter).
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// How a request may be repeated after a failure (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Repeating has the same effect: retried after any transient failure.
    Safe,
    /// Not idempotent: retried only when the server answered that it did not do it.
    IfNotApplied,
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy)]
pub enum Attempt<'a> {
    /// No answer: connection refused or reset, or a timeout. It may have been applied.
    NoAnswer,
    /// An answer (any status).
    Answered {
        status: StatusCode,
        headers: &'a HeaderMap,
    },
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Hand the result to the caller: a success, or a final error.
    Done,
    /// A 429: every request waits this long (shared back-off), then this one is sent again.
    WaitOutRateLimit(Duration),
    /// Fetch a new token, then send again.
    RefreshToken,
    /// A transient failure: wait this long, then send again.
    Retry(Duration),
}

/// The retry bookkeeping of one logical request.
#[derive(Debug)]
pub struct RetryState {
    replay: Replay,
    /// A 401 can be cured by fetching a new token (client credentials, authenticated call).
    refreshable: bool,
    backoff_base: Duration,
    throttled: u32,
    failures: u32,
    refreshed: bool,
}

impl RetryState {
    pub fn new(replay: Replay, refreshable: bool, backoff_base: Duration) -> RetryState {
        RetryState {
            replay,
            refreshable,
            backoff_base,
            throttled: 0,
            failures: 0,
            refreshed: false,
        }
    }

    /// Transient failures retried so far (for logs).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Decides what follows `attempt`, counting it.
    pub fn decide(&mut self, attempt: Attempt<'_>) -> Decision {
        let status = match attempt {
            Attempt::NoAnswer => {
                return if self.replay == Replay::Safe {
                    self.transient()
                } else {
                    Decision::Done
                };
            }
            Attempt::Answered { status, headers } => {
                if status == StatusCode::TOO_MANY_REQUESTS && self.throttled < MAX_THROTTLED_RETRIES
                {
                    self.throttled += 1;
                    return Decision::WaitOutRateLimit(throttle_wait(headers, self.throttled));
                }
                status
            }
        };
        if status == StatusCode::UNAUTHORIZED && self.refreshable && !self.refreshed {
            self.refreshed = true;
            return Decision::RefreshToken;
        }
        // A gateway timeout says nothing about whether the request was applied; other 5xx
        // answers come from a server that did not do it.
        let not_applied = status.is_server_error() && status != StatusCode::GATEWAY_TIMEOUT;
        let retryable = match self.replay {
            Replay::Safe => status.is_server_error(),
            Replay::IfNotApplied => not_applied,
        };
        if retryable {
            self.transient()
        } else {
            Decision::Done
        }
    }

    fn transient(&mut self) -> Decision {
        if self.failures < MAX_TRANSIENT_RETRIES {
            self.failures += 1;
            Decision::Retry(backoff(self.backoff_base, self.failures))
        } else {
            Decision::Done
        }
    }
}

/// How long to wait after a 429: `Retry-After` seconds, else until `x-ratelimit-reset`
/// (epoch seconds), else exponential; always at least a hundred milliseconds.
pub fn throttle_wait(headers: &HeaderMap, attempt: u32) -> Duration {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let wait = if let Some(seconds) = number("retry-after") {
        Duration::from_secs_f64(seconds.max(0.0))
    } else if let Some(reset) = number("x-ratelimit-reset") {
        pacing::until_epoch(reset)
    } else {
        backoff(DEFAULT_BACKOFF_BASE, attempt)
    };
    wait.clamp(Duration::from_millis(100), MAX_THROTTLE_WAIT)
}

/// Exponential backoff with jitter: with the default base about 0.5 s, 1 s, 2 s, 4 s (capped
/// at 8 s), each plus up to half again at random so that concurrent retries spread out.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let delay = base.saturating_mul(1 << attempt.min(5)).min(MAX_BACKOFF);
    delay + pacing::jitter(delay / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, headers: &HeaderMap) -> Attempt<'_> {
        Attempt::Answered {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
        }
    }

    #[test]
    fn throttle_waits_follow_headers_within_bounds() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(throttle_wait(&headers, 1), Duration::from_secs(3));
        headers.insert("retry-after", "100000".parse().unwrap());
        assert_eq!(throttle_wait(&headers, 1), MAX_THROTTLE_WAIT);
        let empty = HeaderMap::new();
        let backoff = throttle_wait(&empty, 1);
        assert!(
            backoff >= Duration::from_millis(500) && backoff <= Duration::from_millis(750),
            "{backoff:?}"
        );
    }

    #[test]
    fn safe_requests_retry_transient_failures_a_bounded_number_of_times() {
        let headers = HeaderMap::new();
        let mut state = RetryState::new(Replay::Safe, false, Duration::from_millis(1));
        for _ in 0..MAX_TRANSIENT_RETRIES {
            assert!(matches!(
                state.decide(Attempt::NoAnswer),
                Decision::Retry(_)
            ));
        }
        assert_eq!(state.decide(answered(503, &headers)), Decision::Done);
        let mut fresh = RetryState::new(Replay::Safe, false, Duration::from_millis(1));
        assert!(matches!(
            fresh.decide(answered(504, &headers)),
            Decision::Retry(_)
        ));
        assert_eq!(fresh.decide(answered(404, &headers)), Decision::Done);
    }

    #[test]
    fn writes_are_repeated_only_when_the_server_says_it_did_nothing() {
        let headers = HeaderMap::new();
        let mut state = RetryState::new(Replay::IfNotApplied, false, Duration::from_millis(1));
        assert_eq!(state.decide(Attempt::NoAnswer), Decision::Done);
        assert_eq!(state.decide(answered(504, &headers)), Decision::Done);
        assert!(matches!(
            state.decide(answered(502, &headers)),
            Decision::Retry(_)
        ));
        assert!(matches!(
            state.decide(answered(429, &headers)),
            Decision::WaitOutRateLimit(_)
        ));
    }

    #[test]
    fn an_expired_token_is_refreshed_once() {
        let headers = HeaderMap::new();
        let mut state = RetryState::new(Replay::Safe, true, Duration::from_millis(1));
        assert_eq!(
            state.decide(answered(401, &headers)),
            Decision::RefreshToken
        );
        assert_eq!(state.decide(answered(401, &headers)), Decision::Done);
        let mut static_token = RetryState::new(Replay::Safe, false, Duration::from_millis(1));
        assert_eq!(static_token.decide(answered(401, &headers)), Decision::Done);
    }
}
