//! Logging: `tracing` to stderr, filtered by `VERIFYCTL_LOG` (default `warn`). Data never goes
//! through it (plans and reports are printed on stdout by the commands).

/// Installs the subscriber once per process (later calls do nothing).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VERIFYCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
