//! How an emulator runs, as opposed to what the tenant holds: the clock, the seed for
//! ids and fault sampling, the Management API rate limit and the injected faults.
//! Nothing here is written to the tenant file except [`RateLimit`], which the file's
//! `settings.rate_limit` also uses.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;

/// Settings for [`super::Emulator::new`]. The default is the system clock, a random seed,
/// the tenant file's rate limit and no faults.
#[derive(Clone, Debug, Default)]
pub struct EmulatorConfig {
    /// Source of every timestamp the emulator writes (`created_at`, job times, token expiry).
    pub clock: Clock,
    /// Makes generated ids and fault sampling deterministic when set.
    pub seed: Option<u64>,
    /// Overrides the tenant file's `settings.rate_limit` when `Some`.
    pub rate_limit: Option<RateLimit>,
    /// Faults injected from the first request on (see [`super::Emulator::set_faults`]).
    pub faults: FaultConfig,
    /// Keep every request body in [`super::Emulator::requests`]. For tests that inspect
    /// what a client sent (including secrets it must never print); never on in the CLI.
    pub capture_bodies: bool,
}

/// A token bucket for `/api/v2/*`: `burst` requests at once, refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub burst: u32,
    pub per_second: f64,
}

/// Faults to inject, as an ordered list of rules. For each request every matching
/// [`Fault::Latency`] rule adds its delay; the first matching rule of another kind that
/// triggers decides the outcome, and the rules after it are not consulted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultConfig {
    pub rules: Vec<FaultRule>,
}

impl FaultConfig {
    /// No faults at all (the same as `FaultConfig::default()`).
    pub fn none() -> FaultConfig {
        FaultConfig::default()
    }

    /// Appends a rule; reads well when chained:
    /// `FaultConfig::none().with(RouteFilter::All, Fault::TooManyRequests { when: Trigger::Next(3) })`.
    pub fn with(mut self, route: RouteFilter, fault: Fault) -> FaultConfig {
        self.rules.push(FaultRule { route, fault });
        self
    }
}

/// One fault and the requests it applies to.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRule {
    pub route: RouteFilter,
    pub fault: Fault,
}

/// Which requests a fault rule applies to.
#[derive(Clone, Debug, PartialEq)]
pub enum RouteFilter {
    /// Every request, including `/oauth/token` and `/dbconnections/change_password`.
    All,
    /// Requests whose method equals `method` (`"*"` for any) and whose path matches
    /// `pattern`, written like an axum route: `/api/v2/users/{id}` (a `{..}` segment
    /// matches any one segment).
    Route { method: String, pattern: String },
}

impl RouteFilter {
    /// Shorthand for [`RouteFilter::Route`].
    pub fn route(method: &str, pattern: &str) -> RouteFilter {
        RouteFilter::Route {
            method: method.to_owned(),
            pattern: pattern.to_owned(),
        }
    }
}

/// What happens to a matching request.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with this 5xx status (500, 502 or 503) without touching the tenant.
    ServerError { status: u16, when: Trigger },
    /// Answer 429 with Auth0's global-limit body, without touching the tenant.
    TooManyRequests { when: Trigger },
    /// Wait before handling the request: `min` when `min == max`, else a uniform pick.
    Latency { min: Duration, max: Duration },
    /// Apply the request to the tenant, then close the connection without answering.
    DropAfterApply { when: Trigger },
}

/// When a fault fires.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trigger {
    /// On the next `n` matching requests (counted from construction or `set_faults`).
    Next(u32),
    /// On each matching request with this probability, sampled from the seeded RNG.
    Probability(f64),
}

/// How long the emulator's asynchronous work takes, on the emulator's [`Clock`] (so a
/// fixed test clock only moves when advanced). The default is instant: a bulk job reads
/// `pending` in the response that creates it and `completed` from the first `GET`, and
/// log events are visible at once. A tenant file sets them in `settings.timings`
/// ([`super::TimingSettings`]); [`super::Emulator::set_timings`] replaces them.
///
/// UNCONFIRMED: Auth0 documents none of these durations; [`Timings::auth0_like`] is a
/// plausible guess, not a measurement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timings {
    /// How long a new users-export or users-import job reads `pending`.
    pub job_pending: Duration,
    /// Users exported per second while an export job is `processing`; `None`: no time.
    pub export_users_per_second: Option<f64>,
    /// Users imported per second while an import job is `processing`; `None`: no time.
    pub import_users_per_second: Option<f64>,
    /// How long a tenant log event takes to appear in `/api/v2/logs`.
    pub log_lag: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings::instant()
    }
}

impl Timings {
    /// No waiting at all (the default).
    pub fn instant() -> Timings {
        Timings {
            job_pending: Duration::ZERO,
            export_users_per_second: None,
            import_users_per_second: None,
            log_lag: Duration::ZERO,
        }
    }

    /// A guess at a real tenant's pace (UNCONFIRMED): jobs wait a second before they
    /// start, exports go at 5,000 users a second, imports at 200, logs lag 3 seconds.
    pub fn auth0_like() -> Timings {
        Timings {
            job_pending: Duration::from_secs(1),
            export_users_per_second: Some(5_000.0),
            import_users_per_second: Some(200.0),
            log_lag: Duration::from_secs(3),
        }
    }
}
