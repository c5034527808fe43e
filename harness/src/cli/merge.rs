//! `gatebench merge SHARD_DIR…`: one run from the shards of a sharded run (exact histogram
//! merge), written as `OUT/<run-id>/` with run.json, summary.csv and report.html.

use std::path::PathBuf;

use reports::html::{read_run, write_report, ReportOptions};
use reports::merge::merge;

use super::compare::run_dir;
use crate::error::{Error, Result};
use crate::results;

/// Arguments of `gatebench merge`.
#[derive(Debug, clap::Args)]
pub struct MergeCommand {
    /// The shard results directories (OUT/<run-id>-shardIofN), every shard of one run.
    #[arg(value_name = "SHARD_DIR", num_args = 1.., required = true)]
    shards: Vec<PathBuf>,
    /// Where the merged run goes: OUT/<run-id>/.
    #[arg(long, default_value = "results", value_name = "DIR")]
    out: PathBuf,
}

/// Merges and writes; prints the merged directory.
pub fn run(cmd: MergeCommand) -> Result<()> {
    let mut shards = Vec::new();
    for path in &cmd.shards {
        let dir = run_dir(path);
        let run = read_run(&dir)?;
        shards.push((dir.display().to_string(), run));
    }
    let merged = merge(&shards)?;
    let dir = cmd.out.join(&merged.run_id);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::failed(format!("cannot create {}", dir.display()), e))?;
    results::write_run(&dir, &merged)
        .map_err(|e| Error::failed(format!("cannot write {}", dir.display()), e))?;
    let report = write_report(&dir, &ReportOptions::default())?;
    let early: Vec<String> = merged
        .shards
        .iter()
        .filter_map(|s| {
            s.ended_early
                .as_ref()
                .map(|why| format!("shard {}/{}: {why}", s.index, s.count))
        })
        .collect();
    for line in &early {
        eprintln!("gatebench: warning: {line}");
    }
    println!(
        "merged {} shard(s) of {} → {}",
        merged.shards.len(),
        merged.run_id,
        report.display()
    );
    Ok(())
}
