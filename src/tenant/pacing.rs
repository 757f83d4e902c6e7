//! Client-side pacing, so a run uses the tenant's Management API budget as far as it is
//! allowed to and leaves the rest to the tenant's own traffic (reference §11).
//!
//! The budget comes from the tenant itself: every answer's `x-ratelimit-limit` (the bucket),
//! `x-ratelimit-remaining` and `x-ratelimit-reset`. From how `remaining` moves between
//! answers, allowing for the requests verifyctl itself sent, the pacer estimates the rate
//! at which the bucket refills for verifyctl (the sustained rate, less whatever else is
//! using it). Then, all on tokio's clock (paused time in tests controls it):
//!
//! - with `rate_share` S below 1, verifyctl's own token bucket runs at S × that rate (burst
//!   S × the bucket), and `remaining` is never taken below (1 − S) × the bucket, so 1 − S of
//!   the sustained rate and of the burst are left for others;
//! - with S = 1 (the default), the own bucket runs at the whole measured rate, and requests
//!   wait for the next token when `remaining` (less the requests still in flight) is spent;
//! - before the rate is measured, below the reserve, one request goes now and then (a
//!   second apart at first, sooner while the bucket fills up in between) so that answers
//!   show the refill; buckets of at most four tokens (Auth0's free plan: 2, refilled 2 per
//!   second) are taken to refill their size every second, being too small to measure;
//! - until the first answer, one request at a time (nothing is known about the bucket);
//! - `max_rps`, when given, is a hard cap on top;
//! - after a 429, every request waits out the server's window (not just the one that was
//!   refused), with jitter so concurrent tasks do not wake in lockstep.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How hard verifyctl may use the tenant's Management API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingConfig {
    /// A hard cap in requests per second; `None` for none.
    pub max_rps: Option<f64>,
    /// Share of the tenant's sustained rate (and bucket) verifyctl may use (0 < S ≤ 1).
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
    /// The tenant's whole budget as its headers give it, no cap of verifyctl's own.
    fn default() -> Self {
        PacingConfig::UNLIMITED
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
    /// The server's budget as last reported, and counted down as requests leave.
    server: Option<ServerBudget>,
    estimate: RefillEstimate,
    /// Requests sent and not answered yet: the server's `remaining` does not count them.
    in_flight: f64,
    /// Whether any request has ended: until then one goes at a time, as nothing is known
    /// about the tenant's bucket (a free tenant holds 2 tokens).
    answered: bool,
    /// Before the refill is measured, below the reserve: the gap between probing requests.
    probe: Option<Duration>,
    last_sent: Option<Instant>,
    /// Nobody sends before this (after a 429).
    blocked_until: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct ServerBudget {
    limit: f64,
    /// As last reported, counted down by requests sent and up by the measured refill since
    /// `counted_at`.
    remaining: f64,
    counted_at: Instant,
}

/// The refill rate the bucket shows, from `remaining` between answers: over a window in
/// which the bucket was never full, refill = (remaining at its end − remaining at its start
/// + the requests the server accepted in between) / its length.
#[derive(Debug, Default)]
struct RefillEstimate {
    /// Requests per second (smoothed), once measured.
    rate: Option<f64>,
    /// The first answer of the current measuring window.
    anchor: Option<(Instant, f64)>,
    /// Requests the server accepted since the anchor (tokens they took).
    accepted: f64,
}

/// Buckets of at most this many tokens are not measured (see [`RefillEstimate::observe`]).
const SMALL_BUCKET: f64 = 4.0;

/// The gap between probing requests before the refill is measured: the first, the least.
const FIRST_PROBE: Duration = Duration::from_secs(1);
const MIN_PROBE: Duration = Duration::from_millis(50);

/// How often requests look again while the first one is waiting for its answer.
const FIRST_ANSWER_POLL: Duration = Duration::from_millis(10);
/// The longest the others wait for the first answer before going ahead regardless.
const FIRST_ANSWER_WAIT: Duration = Duration::from_secs(10);

/// Shortest window a rate is measured over, and the fewest accepted requests in it (the
/// reported `remaining` is a whole number, so short windows are coarse).
const MEASURE_OVER: Duration = Duration::from_secs(2);
const MEASURE_ACROSS: f64 = 6.0;

impl RefillEstimate {
    fn observe(&mut self, now: Instant, limit: f64, remaining: f64, accepted: bool) {
        if limit <= SMALL_BUCKET {
            // Too few tokens to see a refill in whole-number `remaining`s: a bucket this
            // small is Auth0's free plan, which refills its size every second (2 and 2/s).
            self.rate = Some(limit.max(1.0));
            return;
        }
        if accepted {
            self.accepted += 1.0;
        } else if let Some(rate) = self.rate.as_mut() {
            // Refused: whatever was measured is too high.
            *rate *= 0.8;
        }
        // Right after a request, a full bucket reads one below its size.
        if remaining + 1.0 >= limit {
            // A full bucket says nothing about its refill: start a new window (the rate
            // measured so far stays).
            self.anchor = None;
            self.accepted = 0.0;
            return;
        }
        let Some((since, before)) = self.anchor else {
            self.anchor = Some((now, remaining));
            self.accepted = 0.0;
            return;
        };
        let elapsed = now.duration_since(since);
        if elapsed < MEASURE_OVER || self.accepted < MEASURE_ACROSS {
            return;
        }
        let seconds = elapsed.as_secs_f64();
        let measured = ((remaining - before + self.accepted) / seconds).max(0.0);
        // Longer windows weigh more.
        let weight = (seconds / 10.0).min(0.7);
        self.rate = Some(match self.rate {
            Some(rate) => rate + weight.max(0.3) * (measured - rate),
            None => measured,
        });
        self.anchor = Some((now, remaining));
        self.accepted = 0.0;
    }
}

impl Pacer {
    pub fn new(config: PacingConfig) -> Pacer {
        Pacer {
            config,
            state: Mutex::new(State {
                // A cap's bucket starts full (one second's worth).
                tokens: config.max_rps.map_or(1.0, |cap| cap.max(1.0)),
                counted_at: Instant::now(),
                server: None,
                estimate: RefillEstimate::default(),
                in_flight: 0.0,
                answered: false,
                probe: None,
                last_sent: None,
                blocked_until: None,
            }),
        }
    }

    pub fn config(&self) -> PacingConfig {
        self.config
    }

    /// The refill rate measured so far (requests per second), for reports.
    pub async fn measured_rate(&self) -> Option<f64> {
        self.state.lock().await.estimate.rate
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
                    state.in_flight += 1.0;
                    state.last_sent = Some(now);
                    if let Some(server) = state.server.as_mut() {
                        server.remaining -= 1.0;
                    }
                    return;
                }
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The own bucket's rate and size: S × the measured rate and bucket, under the hard cap.
    fn own_bucket(&self, state: &State) -> Option<(f64, f64)> {
        let share = self.config.rate_share;
        let shared = state
            .estimate
            .rate
            .filter(|rate| *rate > 0.0)
            .map(|rate| (rate * share, state.server.map_or(1.0, |s| s.limit * share)));
        let capped = self.config.max_rps.map(|cap| (cap, cap));
        match (shared, capped) {
            (Some(shared), Some(capped)) => Some((shared.0.min(capped.0), shared.1.min(capped.1))),
            (one, other) => one.or(other),
        }
        .map(|(rate, burst)| (rate, burst.max(1.0)))
    }

    fn wait_needed(&self, state: &mut State, now: Instant) -> Duration {
        let mut wait = Duration::ZERO;
        let first_out_for = state.last_sent.map(|sent| now.duration_since(sent));
        if !state.answered
            && state.in_flight >= 1.0
            && first_out_for.is_some_and(|out| out < FIRST_ANSWER_WAIT)
        {
            // The first request is out; its answer will say what the bucket holds. (Bounded,
            // so a request whose answer is never recorded cannot hold the others forever.)
            wait = FIRST_ANSWER_POLL;
        }
        if let Some(until) = state.blocked_until {
            if until > now {
                wait = wait.max(until - now);
            } else {
                state.blocked_until = None;
            }
        }
        if let Some((rate, burst)) = self.own_bucket(state) {
            let elapsed = now.duration_since(state.counted_at).as_secs_f64();
            state.tokens = (state.tokens + elapsed * rate).min(burst);
            state.counted_at = now;
            if state.tokens < 1.0 {
                wait = wait.max(Duration::from_secs_f64((1.0 - state.tokens) / rate));
            }
        } else {
            state.tokens = 1.0;
            state.counted_at = now;
        }
        let rate = state.estimate.rate.filter(|r| *r > 0.0);
        if let Some(server) = state.server.as_mut() {
            if let Some(rate) = rate {
                let elapsed = now.duration_since(server.counted_at).as_secs_f64();
                server.remaining = (server.remaining + rate * elapsed).min(server.limit);
                server.counted_at = now;
            }
            let reserve = (server.limit * (1.0 - self.config.rate_share)).ceil();
            if server.remaining < reserve + 1.0 {
                if let Some(rate) = rate {
                    // Wait for the next token at the measured refill.
                    let next = (reserve + 1.0 - server.remaining) / rate;
                    wait = wait.max(Duration::from_secs_f64(next).max(Duration::from_millis(1)));
                } else {
                    // Not measured yet: send one request now and then; each answer shows
                    // how far the bucket refilled. The gap starts at a second and halves
                    // whenever the bucket filled up in it (which hides the refill), so
                    // probing never takes more than the refill.
                    let probe = *state.probe.get_or_insert(FIRST_PROBE);
                    let since = state.last_sent.map_or(probe, |at| now.duration_since(at));
                    wait = wait.max(probe.saturating_sub(since));
                }
            }
        }
        wait
    }

    /// A request that got no answer: it no longer counts as in flight.
    pub async fn unanswered(&self) {
        let mut state = self.state.lock().await;
        state.in_flight = (state.in_flight - 1.0).max(0.0);
        state.answered = true;
    }

    /// Records the server's budget from a response's `x-ratelimit-*` headers (`accepted`:
    /// the server took a token for it, i.e. it was not a 429).
    pub async fn observe(&self, headers: &HeaderMap, accepted: bool) {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        let now = Instant::now();
        let mut state = self.state.lock().await;
        state.in_flight = (state.in_flight - 1.0).max(0.0);
        state.answered = true;
        let (Some(limit), Some(remaining)) =
            (number("x-ratelimit-limit"), number("x-ratelimit-remaining"))
        else {
            return;
        };
        let (limit, remaining) = (limit.max(0.0), remaining.max(0.0));
        state.estimate.observe(now, limit, remaining, accepted);
        // Probing: the bucket filled up between two probes, probe sooner; a probe was
        // refused, probe later.
        if let Some(probe) = state.probe
            && state.estimate.rate.is_none()
        {
            if !accepted {
                state.probe = Some((probe * 2).min(FIRST_PROBE));
            } else if remaining + 1.0 >= limit {
                state.probe = Some((probe / 2).max(MIN_PROBE));
            }
        }
        // The answer does not count the requests still in flight: they will take tokens too.
        let reported = remaining - state.in_flight;
        // `remaining` is a whole number: the bucket holds between it and one more. Where the
        // count kept since the last answer (with the measured refill) lies in that range,
        // it is the better figure; dropping its fraction at every answer would idle
        // up to a token's refill each time (a tenth of a free tenant's rate).
        let rate = state.estimate.rate.filter(|r| *r > 0.0);
        let remaining = match (state.server, rate) {
            (Some(previous), Some(rate)) if (previous.limit - limit).abs() < f64::EPSILON => {
                let elapsed = now.duration_since(previous.counted_at).as_secs_f64();
                let counted = (previous.remaining + rate * elapsed).min(limit);
                counted.clamp(reported, reported + 0.999)
            }
            _ => reported,
        };
        state.server = Some(ServerBudget {
            limit,
            remaining,
            counted_at: now,
        });
    }

    /// After a 429: nobody sends for `wait` (plus jitter).
    pub async fn back_off(&self, wait: Duration) {
        let until = Instant::now() + wait + jitter(wait / 4 + Duration::from_millis(50));
        let mut state = self.state.lock().await;
        state.blocked_until = Some(state.blocked_until.map_or(until, |u| u.max(until)));
    }
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
            // Answered at once, without rate-limit headers.
            pacer.observe(&HeaderMap::new(), true).await;
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
    async fn before_the_refill_is_measured_the_reserve_is_kept_and_probed() {
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
        pacer.observe(&headers, true).await;
        // 7 remaining, 5 kept in reserve: two go now; with no answer since, the third is a
        // probe a second later (its answer will show how far the bucket refilled).
        assert_eq!(timed_acquires(&pacer, 2).await, Duration::ZERO);
        let third = timed_acquires(&pacer, 1).await;
        assert_eq!(third, FIRST_PROBE, "{third:?}");
    }

    /// A server bucket refilling at `rate` per second, as the emulator's: the headers after
    /// each request taken at `now`.
    struct Bucket {
        limit: f64,
        rate: f64,
        tokens: f64,
        at: Instant,
    }

    impl Bucket {
        /// The headers of the answer, and whether a token was taken (else a 429).
        fn take(&mut self) -> (HeaderMap, bool) {
            let now = Instant::now();
            self.tokens = (self.tokens + self.rate * now.duration_since(self.at).as_secs_f64())
                .min(self.limit);
            self.at = now;
            let accepted = self.tokens >= 1.0;
            if accepted {
                self.tokens -= 1.0;
            }
            let mut headers = HeaderMap::new();
            headers.insert("x-ratelimit-limit", self.limit.to_string().parse().unwrap());
            headers.insert(
                "x-ratelimit-remaining",
                self.tokens.max(0.0).floor().to_string().parse().unwrap(),
            );
            (headers, accepted)
        }
    }

    /// Sends `count` requests through the pacer against `bucket`; the seconds it took and
    /// the requests the bucket refused.
    async fn run(pacer: &Pacer, bucket: &mut Bucket, count: usize) -> (f64, usize) {
        let start = Instant::now();
        let mut refused = 0;
        let mut sent = 0;
        while sent < count {
            pacer.acquire().await;
            let (headers, accepted) = bucket.take();
            pacer.observe(&headers, accepted).await;
            if accepted {
                sent += 1;
            } else {
                refused += 1;
                pacer.back_off(Duration::from_secs(1)).await;
            }
        }
        (start.elapsed().as_secs_f64(), refused)
    }

    #[tokio::test(start_paused = true)]
    async fn the_whole_sustained_rate_is_used_by_default() {
        let pacer = Pacer::new(PacingConfig::default());
        let mut bucket = Bucket {
            limit: 10.0,
            rate: 10.0,
            tokens: 10.0,
            at: Instant::now(),
        };
        let (seconds, refused) = run(&pacer, &mut bucket, 310).await;
        // 10 from the full bucket, then 300 at 10 per second: about 30 s.
        assert!((28.0..=33.5).contains(&seconds), "{seconds}s");
        assert_eq!(refused, 0);
        let measured = pacer.measured_rate().await.expect("measured");
        assert!((9.0..=11.0).contains(&measured), "{measured}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_share_leaves_the_rest_of_the_sustained_rate() {
        let pacer = Pacer::new(PacingConfig {
            max_rps: None,
            rate_share: 0.5,
        });
        let mut bucket = Bucket {
            limit: 10.0,
            rate: 10.0,
            tokens: 10.0,
            at: Instant::now(),
        };
        let (seconds, refused) = run(&pacer, &mut bucket, 155).await;
        // About 5 at once, then 5 per second: about 30 s, never the whole rate.
        assert!(seconds >= 27.0, "{seconds}s: more than half the rate");
        assert!(seconds <= 36.0, "{seconds}s: much less than half the rate");
        assert_eq!(refused, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_free_tenant_is_used_to_its_whole_rate() {
        let pacer = std::sync::Arc::new(Pacer::new(PacingConfig::default()));
        let bucket = std::sync::Arc::new(std::sync::Mutex::new(Bucket {
            limit: 2.0,
            rate: 2.0,
            tokens: 2.0,
            at: Instant::now(),
        }));
        // 8 workers, 2 from the full bucket, then 2 per second, each answer 30 + 7k ms
        // after its request: the whole-number `remaining` must not cost a token's refill
        // per answer.
        let start = Instant::now();
        let mut workers = Vec::new();
        for worker in 0..8u64 {
            let (pacer, bucket) = (pacer.clone(), bucket.clone());
            workers.push(tokio::spawn(async move {
                let mut refused = 0;
                for _ in 0..13 {
                    loop {
                        pacer.acquire().await;
                        tokio::time::sleep(Duration::from_millis(15 + 7 * worker)).await;
                        let (headers, accepted) = bucket.lock().unwrap().take();
                        tokio::time::sleep(Duration::from_millis(15)).await;
                        pacer.observe(&headers, accepted).await;
                        if accepted {
                            break;
                        }
                        refused += 1;
                        pacer.back_off(Duration::from_secs(1)).await;
                    }
                }
                refused
            }));
        }
        let mut refused = 0;
        for worker in workers {
            refused += worker.await.unwrap();
        }
        let seconds = start.elapsed().as_secs_f64();
        // 104 requests: 2 at once, 102 at 2 per second.
        assert!((50.0..=53.0).contains(&seconds), "{seconds}s");
        assert_eq!(refused, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_share_of_a_small_bucket_is_measured_too() {
        let pacer = Pacer::new(PacingConfig {
            max_rps: None,
            rate_share: 0.5,
        });
        let mut bucket = Bucket {
            limit: 2.0,
            rate: 2.0,
            tokens: 2.0,
            at: Instant::now(),
        };
        let (seconds, refused) = run(&pacer, &mut bucket, 31).await;
        // A free tenant: 2 per second; half of it is about one a second.
        assert!((24.0..=40.0).contains(&seconds), "{seconds}s");
        assert_eq!(refused, 0);
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
