//! Token-bucket rate limiting (reference §11.1): the one global bucket in front of
//! `/api/v2/*`, the `x-ratelimit-*` headers on every Management API response, and the
//! 429 body. The bucket refills continuously on tokio's clock, so tests with paused time
//! control it; `x-ratelimit-reset` is an epoch second of the wall clock (clients compare it
//! with their own clocks, so it must not follow the emulator's data clock, which tests
//! freeze). The same
//! bucket type limits `/dbconnections/change_password` per source IP and email.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::Emulator;
use super::config::RateLimit;
use super::errors::ApiError;

/// What the headers say when no limit is configured.
const UNLIMITED: u32 = 1000;

/// The longest wait reported, for buckets that never refill.
const MAX_WAIT: Duration = Duration::from_secs(86_400);

/// A token bucket: starts full, holds at most `burst` tokens, gains `per_second`.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    last_refill: Option<Instant>,
}

/// The outcome of one request against a bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// How long until a token is available (zero when one is).
    pub reset_after: Duration,
}

impl TokenBucket {
    pub fn new(limit: RateLimit) -> TokenBucket {
        TokenBucket {
            limit,
            tokens: f64::from(limit.burst),
            last_refill: None,
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> Decision {
        self.refill(now);
        let allowed = self.tokens >= 1.0;
        if allowed {
            self.tokens -= 1.0;
        }
        Decision {
            allowed,
            limit: self.limit.burst,
            remaining: self.tokens.floor() as u32,
            reset_after: self.time_until_next_token(),
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last_refill {
            let gained = now.saturating_duration_since(last).as_secs_f64() * self.limit.per_second;
            self.tokens = (self.tokens + gained).min(f64::from(self.limit.burst));
        }
        self.last_refill = Some(now);
    }

    fn time_until_next_token(&self) -> Duration {
        if self.tokens >= 1.0 {
            return Duration::ZERO;
        }
        let seconds = (1.0 - self.tokens) / self.limit.per_second;
        Duration::try_from_secs_f64(seconds)
            .unwrap_or(MAX_WAIT)
            .min(MAX_WAIT)
    }
}

/// The global Management API limiter: a bucket, or nothing (unlimited).
#[derive(Clone, Debug, Default)]
pub struct ApiLimiter {
    bucket: Option<TokenBucket>,
}

impl ApiLimiter {
    pub fn new(limit: Option<RateLimit>) -> ApiLimiter {
        ApiLimiter {
            bucket: limit.map(TokenBucket::new),
        }
    }

    pub fn take(&mut self, now: Instant) -> Decision {
        match &mut self.bucket {
            Some(bucket) => bucket.take(now),
            None => Decision {
                allowed: true,
                limit: UNLIMITED,
                remaining: UNLIMITED,
                reset_after: Duration::ZERO,
            },
        }
    }

    /// The bucket size the headers report.
    pub fn limit(&self) -> u32 {
        self.bucket.as_ref().map_or(UNLIMITED, |b| b.limit.burst)
    }
}

/// Middleware for `/api/v2/*`: takes a token, answers 429 when there is none, and sets
/// the `x-ratelimit-*` headers on every response.
pub async fn limit_api(State(emulator): State<Emulator>, request: Request, next: Next) -> Response {
    let decision = emulator.with_world(|world| world.api_limiter.take(Instant::now()));
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        ApiError::too_many_requests().into_response()
    };
    set_headers(response.headers_mut(), &emulator, decision);
    response
}

/// A 429 with the global-limit body and an empty bucket's headers (for injected faults).
pub fn throttled_response(emulator: &Emulator) -> Response {
    let limit = emulator.with_world(|world| world.api_limiter.limit());
    let decision = Decision {
        allowed: false,
        limit,
        remaining: 0,
        reset_after: Duration::from_secs(1),
    };
    let mut response = ApiError::too_many_requests().into_response();
    set_headers(response.headers_mut(), emulator, decision);
    response
}

/// Writes `x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-reset` (UNIX
/// seconds of the wall clock, rounded up, when a token will be available).
pub fn set_headers(headers: &mut HeaderMap, _emulator: &Emulator, decision: Decision) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let wait = decision.reset_after.as_secs_f64().ceil() as i64;
    let values = [
        ("x-ratelimit-limit", i64::from(decision.limit)),
        ("x-ratelimit-remaining", i64::from(decision.remaining)),
        ("x-ratelimit-reset", now + wait),
    ];
    for (name, value) in values {
        headers.insert(name, HeaderValue::from(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(burst: u32, per_second: f64) -> RateLimit {
        RateLimit { burst, per_second }
    }

    #[test]
    fn a_full_bucket_allows_a_burst_then_refuses() {
        let mut bucket = TokenBucket::new(limit(2, 1.0));
        let now = Instant::now();
        let first = bucket.take(now);
        let second = bucket.take(now);
        let third = bucket.take(now);
        assert!(first.allowed && second.allowed && !third.allowed);
        assert_eq!((first.remaining, second.remaining), (1, 0));
        assert_eq!(third.reset_after, Duration::from_secs(1));
    }

    #[test]
    fn tokens_come_back_at_the_refill_rate() {
        let mut bucket = TokenBucket::new(limit(1, 4.0));
        let start = Instant::now();
        assert!(bucket.take(start).allowed);
        assert!(!bucket.take(start + Duration::from_millis(100)).allowed);
        assert!(bucket.take(start + Duration::from_millis(260)).allowed);
    }

    #[test]
    fn no_limit_reports_a_thousand() {
        let decision = ApiLimiter::new(None).take(Instant::now());
        assert!(decision.allowed);
        assert_eq!((decision.limit, decision.remaining), (1000, 1000));
    }
}
