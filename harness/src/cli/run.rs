//! `gatebench run`: parse flags into [`RunOptions`], run, print the table (or JSON).

use std::path::PathBuf;

use crate::gateways::launch::Runtime;
use crate::run::{run, RunError, RunOptions, ShardPlan};
use crate::scenario;
use crate::table;

/// Arguments of `gatebench run`.
#[derive(Debug, clap::Args)]
pub struct RunCommand {
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
    json: bool,
    /// No progress bar, no table (results are still written).
    #[arg(long, short)]
    quiet: bool,
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
    /// Measure an already-running target (repeatable): --target-url gw=http://10.0.0.5:8080.
    /// It is not started, sampled or profiled by gatebench.
    #[arg(long, value_name = "NAME=URL")]
    target_url: Vec<String>,
    /// Use an already-running mock (gatebench mock) as `direct` and as the upstream of the
    /// gateways gatebench starts, instead of starting one.
    #[arg(long, value_name = "URL")]
    direct_url: Option<String>,
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

/// The common start from --start-at, or from --start-file (created by the first shard).
fn common_start(cmd: &RunCommand) -> Result<u64, String> {
    if let Some(at) = cmd.start_at {
        return Ok(at);
    }
    let Some(path) = &cmd.start_file else {
        return Err("--shard needs --start-at UNIX_MS or --start-file PATH".into());
    };
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    };
    let proposal = now_ms() + 20_000;
    // Whoever creates the file first sets the start; create_new makes that race safe.
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        use std::io::Write as _;
        writeln!(file, "{proposal}").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(at) = text.trim().parse::<u64>() {
                return Ok(at);
            }
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!(
                "{}: no start time in it after 60 s",
                path.display()
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Runs and returns the exit code: 0 complete, 2 bad input, 3 failure, 130 interrupted.
pub fn execute(cmd: RunCommand) -> i32 {
    let source = match scenario::resolve(&cmd.scenario) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("gatebench: error: {error}");
            return 2;
        }
    };
    let shard = match cmd.shard {
        Some((index, count)) => match common_start(&cmd) {
            Ok(start_at_unix_ms) => Some(ShardPlan {
                index,
                count,
                start_at_unix_ms,
            }),
            Err(error) => {
                eprintln!("gatebench: error: {error}");
                return 2;
            }
        },
        None => None,
    };
    let mut target_urls = Vec::new();
    for spec in &cmd.target_url {
        match spec.split_once('=') {
            Some((name, url)) if !name.is_empty() => {
                target_urls.push((name.to_string(), url.to_string()))
            }
            _ => {
                eprintln!(
                    "gatebench: error: --target-url `{spec}`: expected NAME=http://HOST:PORT"
                );
                return 2;
            }
        }
    }
    let options = RunOptions {
        source,
        targets: cmd.targets,
        out_dir: cmd.out,
        quiet: cmd.quiet,
        pin_rig: cmd.pin_rig,
        pin_target: cmd.pin_target,
        runtime: cmd.runtime,
        gateway_exe: None,
        write_report: true,
        warmup_s: cmd.warmup,
        duration_s: cmd.duration,
        shard,
        target_urls,
        direct_url: cmd.direct_url.clone(),
    };
    match run(options) {
        Ok(report) => {
            if cmd.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report.run).expect("run serializes")
                );
            } else if !cmd.quiet {
                print!("{}", table::render(&report.run));
                println!("results: {}", report.dir.join("run.json").display());
            }
            if report.interrupted {
                130
            } else {
                0
            }
        }
        Err(RunError::Input(message)) => {
            eprintln!("gatebench: error: {message}");
            2
        }
        Err(RunError::Failed(message)) => {
            eprintln!("gatebench: error: {message}");
            3
        }
    }
}
