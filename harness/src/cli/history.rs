//! `gatebench history DIR [DIR…]`: every run under the folders, one series per family of the same
//! runs × target × level × metric, and where each series changed level (E-divisive means).

use std::path::PathBuf;

use reports::history::{analyze, edivisive::Settings, load};

use crate::error::{Error, Result};

/// Arguments of `gatebench history`.
#[derive(Debug, clap::Args)]
pub struct HistoryCommand {
    /// Results folders (or run.json files), searched at any depth for `<run-id>/run.json`.
    #[arg(value_name = "DIR", num_args = 1.., required = true)]
    dirs: Vec<PathBuf>,
    /// Print the history as JSON: `runs`, `series` (points per target × level × metric, and the
    /// runs left out as limited, with the reason, under `excluded`) and `change_points` (one entry per change: the series, the run and git revision where it
    /// starts, mean ± sd before and after, the change in %, the permutation p).
    #[arg(long)]
    json: bool,
    /// Fewest runs on each side of a change point.
    #[arg(long, default_value_t = Settings::default().min_segment, value_name = "RUNS")]
    min_segment: usize,
    /// Significance level of each permutation test.
    #[arg(long, default_value_t = Settings::default().alpha, value_name = "P")]
    alpha: f64,
    /// Shuffles per permutation test (the smallest p is 1 / (1 + this)).
    #[arg(long, default_value_t = Settings::default().permutations, value_name = "N")]
    permutations: usize,
    /// Where to write `history.html` (one chart per series, change points marked, linked to each
    /// run's report). Default: `history.html` in the first DIR.
    #[arg(long, value_name = "FILE", conflicts_with = "no_html")]
    html: Option<PathBuf>,
    /// Write no `history.html`.
    #[arg(long)]
    no_html: bool,
}

/// Prints the history's change points.
pub fn run(cmd: HistoryCommand) -> Result<()> {
    if !(cmd.alpha > 0.0 && cmd.alpha < 1.0) {
        return Err(Error::Input(format!(
            "--alpha {} must be between 0 and 1",
            cmd.alpha
        )));
    }
    if cmd.min_segment < 2 {
        return Err(Error::Input(
            "--min-segment must be at least 2 (a segment's spread needs two runs)".into(),
        ));
    }
    let smallest_p = 1.0 / (1.0 + cmd.permutations as f64);
    if smallest_p > cmd.alpha {
        return Err(Error::Input(format!(
            "--permutations {} cannot reach p ≤ {} (smallest p {smallest_p:.3}): use at least {}",
            cmd.permutations,
            cmd.alpha,
            (1.0 / cmd.alpha).ceil() as usize
        )));
    }
    let runs = load(&cmd.dirs).map_err(Error::Input)?;
    let settings = Settings {
        min_segment: cmd.min_segment,
        alpha: cmd.alpha,
        permutations: cmd.permutations,
    };
    let history = analyze(&runs, &settings);
    if !cmd.no_html {
        let path = cmd.html.clone().unwrap_or_else(|| {
            let first = &cmd.dirs[0];
            let folder = if first.is_dir() {
                first.as_path()
            } else {
                first.parent().unwrap_or(std::path::Path::new("."))
            };
            folder.join("history.html")
        });
        let written = reports::html::write_history(&history, &path)?;
        eprintln!("history: {}", written.display());
    }
    if cmd.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&history).expect("a history serializes")
        );
    } else {
        print!("{}", history.to_table());
    }
    Ok(())
}
