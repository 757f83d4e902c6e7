//! `verifyctl emulator`: serve a tenant file with the built-in emulator, with optional
//! rate limits and injected faults.

use super::{CliError, CommandResult, EXIT_OK, clock_from_env};
use crate::cli::{EmulatorArgs, FaultArgs};
use crate::emulator::{
    Emulator, EmulatorConfig, Fault, FaultConfig, RateLimit, RouteFilter, TenantState, Trigger,
    load_tenant_file, save_tenant_file,
};

/// The faults `verifyctl emulator` flags ask for.
fn fault_config(args: &FaultArgs) -> Result<FaultConfig, CliError> {
    let route = match &args.fault_route {
        None => RouteFilter::All,
        Some(text) => {
            let (method, path) = text.trim().split_once(' ').ok_or_else(|| {
                CliError::new(
                    format!("--fault-route `{text}` needs a method and a path"),
                    Some("e.g. --fault-route 'POST /api/v2/users'".into()),
                )
            })?;
            RouteFilter::route(&method.to_uppercase(), path.trim())
        }
    };
    let mut faults = FaultConfig::none();
    if let Some((min, max)) = args.latency {
        faults = faults.with(
            route.clone(),
            Fault::Latency {
                min: std::time::Duration::from_millis(min),
                max: std::time::Duration::from_millis(max),
            },
        );
    }
    if args.throttle_rate > 0.0 {
        faults = faults.with(
            route.clone(),
            Fault::TooManyRequests {
                when: Trigger::Probability(args.throttle_rate),
            },
        );
    }
    if args.fail_rate > 0.0 {
        // The rules are tried in order: spread the rate evenly over the three statuses.
        let third = args.fail_rate / 3.0;
        for (index, status) in [500u16, 502, 503].into_iter().enumerate() {
            let taken = third * index as f64;
            let conditional = (third / (1.0 - taken)).min(1.0);
            faults = faults.with(
                route.clone(),
                Fault::ServerError {
                    status,
                    when: Trigger::Probability(conditional),
                },
            );
        }
    }
    if args.drop_rate > 0.0 {
        faults = faults.with(
            route,
            Fault::DropAfterApply {
                when: Trigger::Probability(args.drop_rate),
            },
        );
    }
    Ok(faults)
}

/// `verifyctl emulator`
pub async fn emulator(args: EmulatorArgs) -> CommandResult {
    let state = match &args.tenant_file {
        Some(path) => load_tenant_file(path).map_err(|e| CliError::new(e, None))?,
        None => TenantState::default(),
    };
    let clients: Vec<String> = state
        .clients
        .iter()
        .filter(|c| c.client_secret.is_some() || !c.credentials.is_empty())
        .map(|c| format!("{} ({})", c.client_id, c.name))
        .collect();
    let emulator = Emulator::new(
        state,
        EmulatorConfig {
            clock: clock_from_env()?,
            seed: args.faults.seed,
            rate_limit: args.faults.rate_limit.map(|rps| RateLimit {
                burst: args.faults.burst.unwrap_or(rps.ceil().max(1.0) as u32),
                per_second: rps,
            }),
            faults: fault_config(&args.faults)?,
            capture_bodies: false,
        },
    );
    let running = emulator
        .spawn(args.listen)
        .await
        .map_err(|e| CliError::new(format!("cannot listen on {}: {e}", args.listen), None))?;
    eprintln!("verifyctl emulator listening on {}", running.base_url());
    if clients.is_empty() {
        eprintln!(
            "  no client in the tenant file has a client_secret or credentials (a public key for private-key JWT); add one (with `grants`) to get tokens at /oauth/token"
        );
    } else {
        eprintln!(
            "  clients that can get tokens at /oauth/token: {}",
            clients.join(", ")
        );
    }
    eprintln!(
        "  press Ctrl-C (or send SIGTERM) to stop{}",
        if args.save {
            " and save the tenant file"
        } else {
            ""
        }
    );
    // Ctrl-C, or SIGTERM (what `docker stop`, `timeout` and CI runners send).
    if !super::wait_for_signal().await {
        return Err(CliError::new("cannot wait for Ctrl-C or SIGTERM", None));
    }
    running.shutdown().await;
    if let (true, Some(path)) = (args.save, &args.tenant_file) {
        save_tenant_file(path, &emulator.snapshot()).map_err(|e| CliError::new(e, None))?;
        eprintln!("saved {}", path.display());
    }
    Ok(EXIT_OK)
}
