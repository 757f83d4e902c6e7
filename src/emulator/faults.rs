//! Fault injection: deciding, per request, whether a [`FaultConfig`] rule fires (with
//! its own seeded RNG, so a seed reproduces the same faults), the middleware that delays
//! or short-circuits requests, and the connection plumbing behind drop-after-apply: a
//! listener whose streams can be cut, so a request is applied and then the connection
//! closes without a response. Drops need [`super::Emulator::spawn`]; a router served
//! by other means answers normally instead.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Extension;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::Emulator;
use super::config::{Fault, FaultConfig, RouteFilter, Trigger};
use super::errors::ApiError;
use super::ratelimit;

/// Keeps fault sampling independent of id generation for the same seed.
const FAULT_STREAM: u64 = 0xFA17_5EED;

/// The active fault rules, how often each `Trigger::Next` rule has fired, and the RNG.
#[derive(Debug)]
pub struct FaultState {
    config: FaultConfig,
    fired: Vec<u32>,
    seed: Option<u64>,
    rng: StdRng,
}

/// What to do with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Proceed,
    ServerError(u16),
    TooManyRequests,
    DropAfterApply,
}

impl FaultState {
    pub fn new(config: FaultConfig, seed: Option<u64>) -> FaultState {
        FaultState {
            fired: vec![0; config.rules.len()],
            config,
            seed,
            rng: fault_rng(seed),
        }
    }

    /// Replaces the rules; counters and (with a seed) the RNG start over.
    pub fn replace(&mut self, config: FaultConfig) {
        *self = FaultState::new(config, self.seed);
    }

    /// Samples the rules for one request: the total added latency and the outcome.
    pub fn decide(&mut self, method: &str, path: &str) -> (Duration, Outcome) {
        let mut latency = Duration::ZERO;
        for index in 0..self.config.rules.len() {
            let rule = &self.config.rules[index];
            if !route_matches(&rule.route, method, path) {
                continue;
            }
            let (outcome, when) = match rule.fault {
                Fault::Latency { min, max } => {
                    latency += self.sample_latency(min, max);
                    continue;
                }
                Fault::ServerError { status, when } => (Outcome::ServerError(status), when),
                Fault::TooManyRequests { when } => (Outcome::TooManyRequests, when),
                Fault::DropAfterApply { when } => (Outcome::DropAfterApply, when),
            };
            if self.fires(index, when) {
                return (latency, outcome);
            }
        }
        (latency, Outcome::Proceed)
    }

    fn fires(&mut self, index: usize, when: Trigger) -> bool {
        match when {
            Trigger::Next(count) => {
                let fired = &mut self.fired[index];
                let fires = *fired < count;
                if fires {
                    *fired += 1;
                }
                fires
            }
            Trigger::Probability(p) => self.rng.random_bool(p.clamp(0.0, 1.0)),
        }
    }

    fn sample_latency(&mut self, min: Duration, max: Duration) -> Duration {
        if max <= min {
            return min;
        }
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.random_range(nanos(min)..=nanos(max)))
    }
}

fn fault_rng(seed: Option<u64>) -> StdRng {
    match seed {
        Some(seed) => StdRng::seed_from_u64(seed ^ FAULT_STREAM),
        None => rand::make_rng(),
    }
}

/// Whether `filter` covers a request; `{..}` pattern segments match any one segment.
pub fn route_matches(filter: &RouteFilter, method: &str, path: &str) -> bool {
    let RouteFilter::Route {
        method: wanted,
        pattern,
    } = filter
    else {
        return true;
    };
    if wanted != "*" && !wanted.eq_ignore_ascii_case(method) {
        return false;
    }
    let mut actual = path.split('/');
    let mut expected = pattern.split('/');
    loop {
        match (expected.next(), actual.next()) {
            (None, None) => return true,
            (Some(e), Some(a)) if e.starts_with('{') && e.ends_with('}') && !a.is_empty() => {}
            (Some(e), Some(a)) if e == a => {}
            _ => return false,
        }
    }
}

/// Marks a response whose connection must be cut instead of answered.
#[derive(Clone)]
pub struct DropConnection(ConnectionHandle);

/// Middleware around every route: sleeps, fails, or marks the response for dropping.
pub async fn inject(State(emulator): State<Emulator>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let (latency, outcome) =
        emulator.with_world(|world| world.faults.decide(&method, request.uri().path()));
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match outcome {
        Outcome::Proceed => next.run(request).await,
        Outcome::ServerError(status) => server_error(status),
        Outcome::TooManyRequests => ratelimit::throttled_response(&emulator),
        Outcome::DropAfterApply => {
            let connection = request
                .extensions()
                .get::<ConnectInfo<ConnectionHandle>>()
                .map(|info| info.0.clone());
            let mut response = next.run(request).await;
            // Without `spawn`'s listener there is no connection to cut: answer normally.
            if let Some(connection) = connection {
                response.extensions_mut().insert(DropConnection(connection));
            }
            response
        }
    }
}

fn server_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Server Error");
    ApiError::new(status, reason).into_response()
}

/// Whether the response was marked by [`inject`] for dropping.
pub fn is_dropped(response: &Response) -> bool {
    response.extensions().get::<DropConnection>().is_some()
}

/// Cuts the connection of a response marked by [`inject`]; the server's attempt to
/// write the response then fails and the client sees the connection close.
pub fn cut_if_dropped(response: Response) -> Response {
    if let Some(DropConnection(connection)) = response.extensions().get() {
        connection.cut();
    }
    response
}

/// The per-connection information handlers and middleware can read: the peer address
/// (for per-IP limits) and the switch that cuts the connection.
#[derive(Clone, Debug)]
pub struct ConnectionHandle {
    pub peer: SocketAddr,
    cut: Arc<AtomicBool>,
}

impl ConnectionHandle {
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }
}

/// The peer address of a request served by [`super::Emulator::spawn`], if known.
pub fn peer(connection: Option<Extension<ConnectInfo<ConnectionHandle>>>) -> Option<SocketAddr> {
    connection.map(|Extension(ConnectInfo(handle))| handle.peer)
}

/// A TCP listener whose connections can be cut from inside a request.
pub struct CuttableListener(pub TcpListener);

impl Listener for CuttableListener {
    type Io = CuttableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (CuttableStream, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((stream, peer)) => {
                    let stream = CuttableStream {
                        inner: stream,
                        cut: Arc::new(AtomicBool::new(false)),
                    };
                    return (stream, peer);
                }
                // Like axum's own listener: transient accept errors (EMFILE, ...) retry.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl Connected<IncomingStream<'_, CuttableListener>> for ConnectionHandle {
    fn connect_info(stream: IncomingStream<'_, CuttableListener>) -> Self {
        ConnectionHandle {
            peer: *stream.remote_addr(),
            cut: stream.io().cut.clone(),
        }
    }
}

/// A TCP stream that fails every read and write once cut.
pub struct CuttableStream {
    inner: TcpStream,
    cut: Arc<AtomicBool>,
}

impl CuttableStream {
    fn check(&self) -> io::Result<()> {
        if self.cut.load(Ordering::SeqCst) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection dropped by fault injection",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for CuttableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(error) = this.check() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CuttableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(error) = this.check() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(error) = this.check() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_patterns_match_one_segment_per_placeholder() {
        let filter = RouteFilter::route("PATCH", "/api/v2/users/{id}");
        assert!(route_matches(&filter, "PATCH", "/api/v2/users/auth0%7Cabc"));
        assert!(!route_matches(&filter, "GET", "/api/v2/users/auth0%7Cabc"));
        assert!(!route_matches(&filter, "PATCH", "/api/v2/users"));
        assert!(!route_matches(&filter, "PATCH", "/api/v2/users/a/b"));
        assert!(route_matches(&RouteFilter::All, "GET", "/anything"));
        assert!(route_matches(
            &RouteFilter::route("*", "/oauth/token"),
            "POST",
            "/oauth/token"
        ));
    }

    #[test]
    fn next_n_fires_exactly_n_times() {
        let config = FaultConfig::none().with(
            RouteFilter::All,
            Fault::TooManyRequests {
                when: Trigger::Next(2),
            },
        );
        let mut state = FaultState::new(config, Some(1));
        let outcomes: Vec<_> = (0..3).map(|_| state.decide("GET", "/x").1).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::TooManyRequests,
                Outcome::TooManyRequests,
                Outcome::Proceed
            ]
        );
    }

    #[test]
    fn a_seed_reproduces_the_same_sequence() {
        let config = FaultConfig::none().with(
            RouteFilter::All,
            Fault::ServerError {
                status: 503,
                when: Trigger::Probability(0.5),
            },
        );
        let sample = |seed| {
            let mut state = FaultState::new(config.clone(), Some(seed));
            (0..64)
                .map(|_| state.decide("GET", "/x").1)
                .collect::<Vec<_>>()
        };
        assert_eq!(sample(7), sample(7));
        assert!(sample(7).contains(&Outcome::Proceed));
        assert!(sample(7).contains(&Outcome::ServerError(503)));
    }

    #[test]
    fn latency_adds_up_and_does_not_stop_later_rules() {
        let config = FaultConfig::none()
            .with(
                RouteFilter::All,
                Fault::Latency {
                    min: Duration::from_millis(5),
                    max: Duration::from_millis(5),
                },
            )
            .with(
                RouteFilter::All,
                Fault::DropAfterApply {
                    when: Trigger::Next(1),
                },
            );
        let mut state = FaultState::new(config, None);
        assert_eq!(
            state.decide("POST", "/y"),
            (Duration::from_millis(5), Outcome::DropAfterApply)
        );
    }
}
