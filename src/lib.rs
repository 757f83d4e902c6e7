//! verifyctl: email-verification policy for Auth0 tenants, reconciled from YAML.
//!
//! The crate is layered the way `DESIGN.md` §6 describes; each layer only calls the ones
//! below it:
//!
//! - [`policy`]: YAML policy files to a validated desired state, with source locations.
//! - [`tenant`]: the Management API client (auth, paging, errors) and the live state it reads.
//! - [`plan`]: a pure function from (desired, live) to a [`plan::Plan`].
//! - [`report`]: one renderer per output format.
//! - [`apply`]: executes a plan through the client.
//! - [`emulator`]: a stateful Management API emulator used by tests and `--tenant-file`.
//! - [`cli`]: the command line; `main.rs` only calls [`cli::main`].

pub mod apply;
pub mod auth0;
pub mod cli;
pub mod clock;
pub mod commands;
// The emulator is being extended on its own branch; its pedantic lints are fixed when it lands.
#[allow(clippy::pedantic)]
pub mod emulator;
pub mod ledger;
pub mod logging;
pub mod login_action;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod report;
pub mod run;
pub mod secret;
pub mod session;
pub mod tenant;
