//! `gatebench compare A B [C…]`: each metric of every target × level of the later runs against
//! the first, with the change, its confidence interval and a verdict.

use std::path::PathBuf;

use reports::compare::{compare, CompareOptions};
use reports::html::{escape, read_run};

use crate::error::{Error, Result};

/// Arguments of `gatebench compare`.
#[derive(Debug, clap::Args)]
pub struct CompareCommand {
    /// Results directories (or their run.json); the first is the baseline.
    #[arg(value_name = "RUN", num_args = 2.., required = true)]
    runs: Vec<PathBuf>,
    /// Smallest change, percent, that counts as better or worse.
    #[arg(long, default_value_t = 5.0, value_name = "PCT")]
    threshold: f64,
    /// Compare target BASE of the first run with target CAND of the others (e.g. two gateways
    /// measured in different runs): --pair reference,nginx
    #[arg(long, value_delimiter = ',', num_args = 2, value_name = "BASE,CAND")]
    pair: Option<Vec<String>>,
    /// Print the comparison as JSON.
    #[arg(long)]
    json: bool,
    /// Also write the comparison as a self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Print Markdown instead of the terminal table.
    #[arg(long)]
    markdown: bool,
}

/// A results directory, or a run.json inside one.
pub fn run_dir(path: &std::path::Path) -> PathBuf {
    if path.is_file() {
        path.parent()
            .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf)
    } else {
        path.to_path_buf()
    }
}

/// Prints the comparison.
pub fn run(cmd: CompareCommand) -> Result<()> {
    let mut runs = Vec::new();
    for path in &cmd.runs {
        let dir = run_dir(path);
        let run = read_run(&dir)?;
        runs.push((dir.display().to_string(), run));
    }
    let every: Vec<&reports::RunResult> = runs.iter().map(|(_, run)| run).collect();
    reports::same::all_same(&every).map_err(Error::Input)?;
    let options = CompareOptions {
        threshold_pct: cmd.threshold,
        pair: cmd.pair.map(|p| (p[0].clone(), p[1].clone())),
        ..CompareOptions::default()
    };
    let comparison = compare(&runs, &options);
    if cmd.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&comparison).expect("a comparison serializes")
        );
    } else if cmd.markdown {
        print!("{}", comparison.to_markdown());
    } else {
        print!("{}", comparison.to_table());
    }
    if let Some(path) = cmd.html {
        let page = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
             content=\"width=device-width\"><title>gatebench compare</title><style>body{{font:14px \
             sans-serif;margin:1em}}pre{{overflow-x:auto}}</style></head><body><h1>gatebench \
             compare</h1><pre>{}</pre></body></html>\n",
            escape(&comparison.to_table())
        );
        std::fs::write(&path, page)
            .map_err(|e| Error::failed(format!("cannot write {}", path.display()), e))?;
        eprintln!("gatebench: comparison written to {}", path.display());
    }
    Ok(())
}
