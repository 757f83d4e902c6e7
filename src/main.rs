//! The `verifyctl` binary: everything lives in the library; see [`verifyctl::run`].

fn main() -> std::process::ExitCode {
    verifyctl::run::main()
}
