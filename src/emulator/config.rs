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
