//! verifyctl's one integration-test binary.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
#![allow(clippy::needless_pass_by_value)] // fixtures take `json!(...)` values
mod apply_flow;
mod architecture;
mod auth;
mod bulk_creates;
mod cli;
mod client;
mod defects;
mod email_budget;
mod emulator;
mod exactly_once;
mod export;
mod fuzz;
mod install;
mod lists;
mod login_action_js;
mod login_enforcement;
mod offboarding;
mod plan_modes;
mod policy_errors;
mod policy_files;
mod pr_outputs;
mod pr_workflow;
mod resilience;
mod schema;
mod schema_agreement;
mod secrets;
mod support;
mod user_reads;
mod variables;
