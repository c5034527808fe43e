//! `gatebench`: parse the command line and hand off to [`harness::cli`].

fn main() {
    std::process::exit(harness::cli::main());
}
