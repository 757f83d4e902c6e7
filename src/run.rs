//! The process entry point: parse the command line, set up logging and the async runtime,
//! run the command and map its result to an exit code. `main.rs` only calls [`main`]; the
//! command line itself is defined in [`crate::cli`], the commands in [`crate::commands`].

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{ActionCommand, Cli, Command};
use crate::commands::{self, EXIT_ERROR};
use crate::logging;

/// Parses arguments, runs the command and maps the result to an exit code.
pub fn main() -> ExitCode {
    // Usage errors exit 1, not clap's 2: 2 means "changes present" (plan --detailed-exitcode).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { EXIT_ERROR } else { 0 });
        }
    };
    logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let result = runtime.block_on(dispatch(cli.command));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprint!("{error}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

async fn dispatch(command: Command) -> commands::CommandResult {
    match command {
        Command::Validate(args) => commands::validate(&args),
        Command::Completions { shell } => commands::completions(shell),
        Command::Plan(args) => commands::plan(args).await,
        Command::Apply(args) => commands::apply(args).await,
        Command::Schema => commands::schema(),
        Command::Action(ActionCommand::Render(args)) => commands::render_action(args).await,
        Command::Export(args) => commands::export(args).await,
        Command::Emulator(args) => commands::emulator(args).await,
    }
}
