//! Writes `report.html` for a results directory: `cargo run -p reports --example write_report --
//! <results-dir> [base-gateway]`. The harness's `gatebench report` does the same; this is for
//! trying the renderer without it.

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: write_report <results-dir> [base-gateway]");
        std::process::exit(2);
    };
    let options = reports::html::ReportOptions {
        base_gateway: args.next(),
    };
    match reports::html::write_report(std::path::Path::new(&dir), &options) {
        Ok(path) => println!("{}", path.display()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
