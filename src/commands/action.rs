//! `verifyctl action render`: the login Action's code for the policies.

use super::{
    CliError, CommandResult, EXIT_OK, clock_from_env, emulator_config, pace, plan_errors,
    tenant_source,
};
use crate::cli::RenderArgs;
use crate::login_action;
use crate::plan::{login_rules, login_rules_offline};
use crate::session::TenantSession;
use crate::tenant::{LiveState, ManagementClient};

/// `verifyctl action render`
pub async fn render_action(args: RenderArgs) -> CommandResult {
    let desired = super::load_policies(&args.policy_dir, &args.variables)?;
    let has_tenant = args.tenant.tenant_file.is_some() || args.tenant.domain.is_some();
    let rules = match login_rules_offline(&desired) {
        Some(rules) if !has_tenant => rules,
        _ => {
            let source = tenant_source(&args.tenant).map_err(|_| {
                CliError::new(
                    "the policies name applications (or verification clients) whose client ids only the tenant knows",
                    Some("pass --tenant-file FILE or set AUTH0_DOMAIN and credentials; or name applications by client_id".into()),
                )
            })?;
            let clock = clock_from_env()?;
            let session =
                TenantSession::open(&source, emulator_config(&clock), pace(&args.tenant)).await?;
            let live = read_names(session.client()).await;
            session.close(false).await?;
            login_rules(&desired, &live?).map_err(|errors| plan_errors(&errors))?
        }
    };
    if !rules.enforces_anything() {
        eprintln!(
            "note: no policy blocks unverified logins (no `block_unverified_login: true` connection, no `required` application), so apply deploys no Action"
        );
    }
    print!("{}", login_action::render(&rules));
    Ok(EXIT_OK)
}

/// Just the connections and applications (what resolving policy names needs).
async fn read_names(client: &ManagementClient) -> Result<LiveState, CliError> {
    Ok(LiveState {
        connections: client
            .list_connections()
            .await?
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect(),
        clients: client.list_clients().await?,
        ..LiveState::default()
    })
}
