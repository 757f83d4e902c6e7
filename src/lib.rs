//! verifyctl: email-verification policy for Auth0 tenants, reconciled from YAML.
//!
//! The crate is layered the way `DESIGN.md` §6 describes. Layers, bottom first; a module
//! uses only modules of lower layers (a test, `tests/it/architecture.rs`, reads this list and
//! checks every `use crate::…` against it):
//!
//! 1. [`auth0`], [`clock`], [`secret`], [`mask`], [`login_action`]: facts about Auth0, time,
//!    secrets, email masking, and the generated post-login Action's code.
//! 2. [`ledger`]: the send ledger verifyctl keeps in `app_metadata`.
//! 3. [`policy`]: YAML policy files to a validated desired state, with source locations.
//! 4. [`tenant`]: the Management API client (auth, pacing, retries, errors) and the live
//!    state it reads.
//! 5. [`plan`]: a pure function from (desired, live, now) to a [`plan::Plan`]; saved plans.
//! 6. [`apply`]: executes a plan through the client.
//! 7. [`report`]: one printer per output format (text, JSON, markdown).
//! 8. [`emulator`]: a stateful Management API emulator for tests and `--tenant-file`; it
//!    stands apart and uses only layer 1.
//! 9. [`session`], [`progress`], [`logging`], [`cli`]: a tenant connection (real, or a tenant
//!    file served by the emulator), terminal progress, logs, the command-line definitions.
//! 10. [`commands`]: each subcommand, composed from the layers below.
//! 11. [`run`]: the process entry point; `main.rs` only calls [`run::main`].
//!
//! `ARCHITECTURE.md` walks through the data path of `plan` and `apply`.

pub mod apply;
pub mod auth0;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod emulator;
pub mod ledger;
pub mod logging;
pub mod login_action;
pub mod mask;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod report;
pub mod run;
pub mod secret;
pub mod session;
pub mod tenant;
