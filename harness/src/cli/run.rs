//! `gatebench run`: parse flags into [`RunOptions`], run, print the table (or JSON).

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::gateways::launch::Runtime;
use crate::run::{common_start, run, RunOptions, RunReport, ShardPlan};
use crate::scenario;
use crate::table;

/// The flags every measuring command shares (`run`, `search`).
#[derive(Debug, clap::Args)]
pub struct MeasureArgs {
    /// Scenario file, or the name of an embedded/`scenarios/` one.
    #[arg(long, short, default_value = "quick", value_name = "PATH|NAME")]
    scenario: String,
    /// Targets to measure, comma-separated (`direct` is always included). Default: the scenario's.
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    targets: Option<Vec<String>>,
    /// Results root; the run writes OUT/<run-id>/run.json and summary.csv.
    #[arg(long, default_value = "results", value_name = "DIR")]
    out: PathBuf,
    /// Print run.json to stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress bar, no table (results are still written).
    #[arg(long, short)]
    pub quiet: bool,
    /// Pin the load generator's threads to these cores, e.g. 0 or 0,1.
    #[arg(long, value_delimiter = ',', value_name = "CORES")]
    pin_rig: Option<Vec<usize>>,
    /// Pin the mock and gateway processes to these cores.
    #[arg(long, value_delimiter = ',', value_name = "CORES")]
    pin_target: Option<Vec<usize>>,
    /// How third-party gateways (gateways/<name>/) start: a local process, or a container with
    /// host networking (the image must be present; nothing is pulled).
    #[arg(long, value_enum, default_value = "process")]
    runtime: Runtime,
    /// Override the scenario's warmup per level, seconds (>= 1.7 leaves room for a profile).
    #[arg(long, value_name = "S")]
    warmup: Option<f64>,
    /// Override the scenario's measured window per level, seconds.
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
}

impl MeasureArgs {
    /// The run's options from these flags, measuring gatebench-started targets only.
    pub fn run_options(&self) -> Result<RunOptions> {
        Ok(RunOptions {
            source: scenario::resolve(&self.scenario)?,
            targets: self.targets.clone(),
            out_dir: self.out.clone(),
            quiet: self.quiet,
            pin_rig: self.pin_rig.clone(),
            pin_target: self.pin_target.clone(),
            runtime: self.runtime,
            gateway_exe: None,
            write_report: true,
            warmup_s: self.warmup,
            duration_s: self.duration,
            shard: None,
            target_urls: Vec::new(),
            direct_url: None,
            export_requests: false,
        })
    }
}

/// Arguments of `gatebench run`.
#[derive(Debug, clap::Args)]
pub struct RunCommand {
    #[command(flatten)]
    measure: MeasureArgs,
    /// Measure an already-running target (repeatable): --target-url gw=http://10.0.0.5:8080.
    /// It is not started, sampled or profiled by gatebench.
    #[arg(long, value_name = "NAME=URL")]
    target_url: Vec<String>,
    /// Use an already-running mock (gatebench mock) as `direct` and as the upstream of the
    /// gateways gatebench starts, instead of starting one.
    #[arg(long, value_name = "URL")]
    direct_url: Option<String>,
    /// Also write every request of each level's window, one JSON object per line, to
    /// OUT/<run-id>/requests/<target>-l<level>.jsonl: intended and actual send, first byte,
    /// first token, end (ns from the window's start), status or error class, chunks, tokens, the
    /// mock's stamps joined by request id, and the time outside the mock. Up to 2M a level.
    #[arg(long)]
    export_requests: bool,
    /// Run as shard I of N: drive 1/N of each level's rate (or virtual users) and write
    /// OUT/<run-id>-shardIofN/ for `gatebench merge`. Needs --start-at or --start-file.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<(u32, u32)>,
    /// Common start of every shard, unix ms; level slot k starts at
    /// START + k × (warmup + duration + 5 s).
    #[arg(long, value_name = "UNIX_MS", requires = "shard")]
    start_at: Option<u64>,
    /// A file holding the common start (on a volume all shards see): the first shard to get
    /// there writes now + 20 s into it; the others read it.
    #[arg(
        long,
        value_name = "PATH",
        requires = "shard",
        conflicts_with = "start_at"
    )]
    start_file: Option<PathBuf>,
}

fn parse_shard(text: &str) -> Result<(u32, u32), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}`: expected I/N, e.g. 0/4"))?;
    let i: u32 = i
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: bad index"))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: bad count"))?;
    if n == 0 || i >= n {
        return Err(format!("`{text}`: the index must be below the count"));
    }
    Ok((i, n))
}

/// Runs and prints the table (or JSON); an interrupted run still prints what it finished.
pub fn execute(cmd: RunCommand) -> Result<()> {
    let shard = match cmd.shard {
        Some((index, count)) => Some(ShardPlan {
            index,
            count,
            start_at_unix_ms: common_start(cmd.start_at, cmd.start_file.as_deref())?,
        }),
        None => None,
    };
    let mut target_urls = Vec::new();
    for spec in &cmd.target_url {
        match spec.split_once('=') {
            Some((name, url)) if !name.is_empty() => {
                target_urls.push((name.to_string(), url.to_string()))
            }
            _ => {
                return Err(Error::input(
                    format!("--target-url `{spec}`"),
                    "expected NAME=http://HOST:PORT",
                ))
            }
        }
    }
    let options = RunOptions {
        shard,
        target_urls,
        direct_url: cmd.direct_url.clone(),
        export_requests: cmd.export_requests,
        ..cmd.measure.run_options()?
    };
    let report = run(options)?;
    print_run(&report, &cmd.measure, table::render)
}

/// Prints run.json (`--json`) or the table `render` makes of the run, and the results path;
/// an interrupted run is exit 130 after printing what it finished.
pub fn print_run(
    report: &RunReport,
    measure: &MeasureArgs,
    render: fn(&reports::RunResult) -> String,
) -> Result<()> {
    if measure.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.run).expect("run.json serializes")
        );
    } else if !measure.quiet {
        print!("{}", render(&report.run));
        println!("results: {}", report.dir.join("run.json").display());
    }
    if report.interrupted {
        return Err(Error::Interrupted(format!(
            "interrupted; {} finished level(s) kept in {}",
            report.run.levels.len(),
            report.dir.display()
        )));
    }
    Ok(())
}
