//! Logging: `tracing` to stderr, filtered by `VERIFYCTL_LOG` (default `warn`). A bare level
//! (`VERIFYCTL_LOG=debug`) applies to verifyctl itself, while the libraries under it stay at
//! `warn` (their debug lines are connection-pool noise); a full filter
//! (`VERIFYCTL_LOG=verifyctl=debug,hyper=trace`) is taken as written. Colour only when stderr
//! is a terminal and `NO_COLOR` is unset. At `debug`, the client logs one line per Management
//! API request (method, path, status, attempt, duration; email addresses in queries masked;
//! never a token or a body). Data never goes through it: plans and reports are printed on
//! stdout by the commands.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the subscriber once per process (later calls do nothing).
pub fn init() {
    let filter = std::env::var("VERIFYCTL_LOG")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .map_or_else(|| EnvFilter::new("warn"), |value| filter_for(&value));
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .try_init();
}

/// The filter for a `VERIFYCTL_LOG` value (see the module doc).
fn filter_for(value: &str) -> EnvFilter {
    let value = value.trim();
    let directives = if is_bare_level(value) {
        format!("warn,verifyctl={value}")
    } else {
        value.to_string()
    };
    EnvFilter::try_new(&directives).unwrap_or_else(|error| {
        eprintln!("warning: VERIFYCTL_LOG `{value}` is not a log filter ({error}); using `warn`");
        EnvFilter::new("warn")
    })
}

fn is_bare_level(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "trace" | "debug" | "info" | "warn" | "error" | "off"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_level_concerns_verifyctl_only() {
        assert!(is_bare_level("debug") && is_bare_level("INFO"));
        assert!(!is_bare_level("verifyctl=debug"));
        let filter = filter_for("debug").to_string();
        assert!(
            filter.contains("verifyctl=debug") && filter.contains("warn"),
            "{filter}"
        );
        assert_eq!(filter_for("hyper=trace").to_string(), "hyper=trace");
    }
}
