//! The `verifyctl` binary: everything lives in the library; see [`verifyctl::cli`].

fn main() -> std::process::ExitCode {
    verifyctl::cli::main()
}
