//! Client-side pacing, so a run stays under the tenant's rate limit and leaves room for the
//! tenant's own traffic (Auth0 allows 2 requests/s on free tenants, reference §11).
//!
//! Three brakes, all on tokio's clock (paused time in tests controls them):
//! - our own token bucket at `max_rps` (the budget the operator grants verifyctl);
//! - the server's budget from `x-ratelimit-limit/remaining/reset`: when `remaining` falls to
//!   the reserve kept for others (`limit × (1 − rate_share)`), requests wait for `reset`;
//! - after a 429, every request waits out the server's window (not just the one that was
//!   refused), with jitter so concurrent tasks do not wake in lockstep.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How hard verifyctl may use the tenant's Management API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingConfig {
    /// Requests per second verifyctl allows itself; `None` for no own limit.
    pub max_rps: Option<f64>,
    /// Share of the tenant's server-side budget verifyctl may consume (0 < share ≤ 1).
    pub rate_share: f64,
}

impl PacingConfig {
    /// No pacing beyond what the server's headers ask for.
    pub const UNLIMITED: PacingConfig = PacingConfig {
        max_rps: None,
        rate_share: 1.0,
    };
}

impl Default for PacingConfig {
    /// Conservative: the free plan's sustained rate, half of the server's budget.
    fn default() -> Self {
        PacingConfig {
            max_rps: Some(2.0),
            rate_share: 0.5,
        }
    }
}

/// Shared pacing state of one client.
#[derive(Debug)]
pub struct Pacer {
    config: PacingConfig,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Own bucket: available tokens and when they were counted.
    tokens: f64,
    counted_at: Instant,
    /// The server's budget as last reported.
    server: Option<ServerBudget>,
    /// Nobody sends before this (after a 429).
    blocked_until: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct ServerBudget {
    limit: u64,
    remaining: u64,
    reset_at: Instant,
}

/// The own bucket holds at most this many seconds' worth of requests (small bursts only).
const OWN_BURST_SECONDS: f64 = 1.0;

impl Pacer {
    pub fn new(config: PacingConfig) -> Pacer {
        let burst = own_burst(&config);
        Pacer {
            config,
            state: Mutex::new(State {
                tokens: burst,
                counted_at: Instant::now(),
                server: None,
                blocked_until: None,
            }),
        }
    }

    pub fn config(&self) -> PacingConfig {
        self.config
    }

    /// Waits until a request may be sent, and takes its slot.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock().await;
                let now = Instant::now();
                let wait = self.wait_needed(&mut state, now);
                if wait.is_zero() {
                    state.tokens -= 1.0;
                    if let Some(server) = state.server.as_mut() {
                        server.remaining = server.remaining.saturating_sub(1);
                    }
                    return;
                }
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn wait_needed(&self, state: &mut State, now: Instant) -> Duration {
        let mut wait = Duration::ZERO;
        if let Some(until) = state.blocked_until {
            if until > now {
                wait = wait.max(until - now);
            } else {
                state.blocked_until = None;
            }
        }
        if let Some(rate) = self.config.max_rps {
            let elapsed = now.duration_since(state.counted_at).as_secs_f64();
            state.tokens = (state.tokens + elapsed * rate).min(own_burst(&self.config));
            state.counted_at = now;
            if state.tokens < 1.0 {
                wait = wait.max(Duration::from_secs_f64((1.0 - state.tokens) / rate));
            }
        } else {
            state.tokens = 1.0;
        }
        if let Some(server) = state.server {
            let reserve = (server.limit as f64 * (1.0 - self.config.rate_share)).ceil() as u64;
            if server.remaining <= reserve && server.reset_at > now {
                wait = wait.max(server.reset_at - now);
            } else if server.reset_at <= now && server.remaining <= reserve {
                // The window passed: assume the server refilled until it says otherwise.
                state.server = None;
            }
        }
        wait
    }

    /// Records the server's budget from a response's `x-ratelimit-*` headers.
    pub async fn observe(&self, headers: &HeaderMap) {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        let (Some(limit), Some(remaining)) =
            (number("x-ratelimit-limit"), number("x-ratelimit-remaining"))
        else {
            return;
        };
        let reset_in = number("x-ratelimit-reset").map_or(Duration::from_secs(1), until_epoch);
        let mut state = self.state.lock().await;
        state.server = Some(ServerBudget {
            limit: limit.max(0.0) as u64,
            remaining: remaining.max(0.0) as u64,
            reset_at: Instant::now() + reset_in,
        });
    }

    /// After a 429: nobody sends for `wait` (plus jitter).
    pub async fn back_off(&self, wait: Duration) {
        let until = Instant::now() + wait + jitter(wait / 4 + Duration::from_millis(50));
        let mut state = self.state.lock().await;
        state.blocked_until = Some(state.blocked_until.map_or(until, |u| u.max(until)));
    }
}

fn own_burst(config: &PacingConfig) -> f64 {
    config
        .max_rps
        .map_or(1.0, |rate| (rate * OWN_BURST_SECONDS).max(1.0))
}

/// Time from now until the UNIX epoch second `at` (zero when past).
pub(crate) fn until_epoch(at: f64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    Duration::from_secs_f64((at - now).clamp(0.0, 3600.0))
}

/// A uniformly random duration below `max`.
pub(crate) fn jitter(max: Duration) -> Duration {
    use rand::RngExt;
    let fraction: f64 = rand::rng().random_range(0.0..1.0);
    max.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn timed_acquires(pacer: &Pacer, count: usize) -> Duration {
        let start = Instant::now();
        for _ in 0..count {
            pacer.acquire().await;
        }
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn own_bucket_paces_at_max_rps() {
        let pacer = Pacer::new(PacingConfig {
            max_rps: Some(10.0),
            rate_share: 1.0,
        });
        // A one-second burst of 10, then one every 100 ms.
        let elapsed = timed_acquires(&pacer, 30).await;
        assert!(
            elapsed >= Duration::from_millis(1990) && elapsed <= Duration::from_millis(2100),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_pacing_never_waits() {
        let pacer = Pacer::new(PacingConfig::UNLIMITED);
        assert_eq!(timed_acquires(&pacer, 100).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_servers_reserve_is_left_for_others() {
        let pacer = Pacer::new(PacingConfig {
            max_rps: None,
            rate_share: 0.5,
        });
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", "10".parse().unwrap());
        headers.insert("x-ratelimit-remaining", "7".parse().unwrap());
        let reset = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 30;
        headers.insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
        pacer.observe(&headers).await;
        // 7 remaining, 5 kept in reserve: two go now, the third waits for the reset.
        assert_eq!(timed_acquires(&pacer, 2).await, Duration::ZERO);
        let third = timed_acquires(&pacer, 1).await;
        assert!(third >= Duration::from_secs(28), "{third:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_blocks_every_request_for_the_window() {
        let pacer = Pacer::new(PacingConfig::UNLIMITED);
        pacer.back_off(Duration::from_secs(2)).await;
        let elapsed = timed_acquires(&pacer, 1).await;
        assert!(
            elapsed >= Duration::from_secs(2) && elapsed <= Duration::from_millis(2600),
            "{elapsed:?}"
        );
    }
}
