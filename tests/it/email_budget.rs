//! The email budget: a run sends at most `emails.max_per_run` emails (or `--max-emails`), the
//! plan says what waits, creates still happen without their email, and the next runs continue
//! until everyone got exactly one.

use std::collections::BTreeMap;

use serde_json::json;
use verifyctl::emulator::TenantState;
use verifyctl::plan::{ActionKind, CreateEmail, Operation, Plan, WarningKind};

use crate::support::{TestTenant, desired};

fn tenant() -> TenantState {
    let users: Vec<_> = (0..30)
        .map(|i| {
            let id = format!("{i:024x}");
            json!({
                "user_id": format!("auth0|{id}"),
                "email": format!("member{i:02}@budget.example"),
                "email_verified": false,
                "identities": [{"connection": "members", "user_id": id, "provider": "auth0", "isSocial": false}],
            })
        })
        .collect();
    serde_json::from_value(json!({
        "domain": "budget.test",
        "clients": [{"client_id": "BudgetApp00000000000000000000001", "name": "Budget App"}],
        "connections": [{"id": "con_BudgetMembers001", "name": "members", "strategy": "auth0", "options": {}}],
        "users": users,
    }))
    .expect("tenant")
}

fn policy() -> String {
    let mut yaml = String::from(
        "emails:\n  max_per_run: 10\nconnections:\n  - name: members\n    email_verification: required\nusers:\n",
    );
    for i in 0..5 {
        yaml.push_str(&format!(
            "  - connection: members\n    email: new{i}@budget.example\n"
        ));
    }
    yaml
}

fn emails_in(plan: &Plan) -> usize {
    plan.actions
        .iter()
        .filter(|a| match &a.operation {
            Operation::SendVerificationEmail { .. } => true,
            Operation::CreateUser {
                onboarding_email, ..
            } => *onboarding_email != CreateEmail::None,
            _ => false,
        })
        .count()
}

#[tokio::test]
async fn a_budget_spreads_the_emails_over_runs_and_each_goes_out_once() {
    let tenant = TestTenant::start(tenant()).await;
    let desired = desired(&policy());
    let first = tenant.plan(&desired).await;
    assert_eq!(emails_in(&first), 10, "{first:#?}");
    let creates = first
        .actions
        .iter()
        .filter(|a| a.kind() == ActionKind::CreateUser)
        .count();
    assert_eq!(creates, 5, "creates happen whatever the budget");
    let budget = first
        .warnings
        .iter()
        .find(|w| w.kind == WarningKind::EmailBudget)
        .expect("the plan says what waits");
    assert!(
        budget
            .message
            .contains("defers 25 of this plan's 35 emails"),
        "{}",
        budget.message
    );
    let mut runs = 0;
    loop {
        let plan = tenant.plan(&desired).await;
        if plan.is_empty() {
            break;
        }
        assert!(emails_in(&plan) <= 10, "never more than the budget");
        let report = tenant.apply(&plan).await;
        assert_eq!(report.failed(), 0, "{:#?}", report.outcomes);
        runs += 1;
        assert!(runs <= 5, "the runs converge");
    }
    assert_eq!(runs, 4, "35 emails at 10 a run");
    let mut per_user: BTreeMap<String, usize> = BTreeMap::new();
    for message in tenant.emulator.outbox() {
        *per_user.entry(message.to).or_default() += 1;
    }
    assert_eq!(per_user.len(), 35);
    assert!(per_user.values().all(|n| *n == 1), "{per_user:?}");
}
