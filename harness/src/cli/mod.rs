//! Command-line parsing and dispatch. Each subcommand lives in its own module; this file only
//! declares the command tree and maps results to exit codes.
//!
//! Exit codes: 0 success, 1 a check failed (e.g. a regression), 2 usage or input error,
//! 3 a run failed (a process would not start, results could not be written), 4 the gate was
//! inconclusive (a level it could not judge, no regression elsewhere), 130 interrupted.

mod compare;
mod gate;
mod gateway;
mod gateways;
mod history;
mod merge;
mod mock;
mod report;
mod run;
mod search;

use clap::{Parser, Subcommand};

use crate::error::Error;

/// gatebench — benchmark and flamegraph-profile AI gateways against a deterministic mock LLM.
#[derive(Parser)]
#[command(name = "gatebench", version, about, long_about, after_help = EXIT_CODES)]
struct Cli {
    /// The gatebench checkout holding gateways/ and scenarios/ (default: $GATEBENCH_HOME, else
    /// the nearest parent of the working directory with a gateways/ folder, else the checkout
    /// gatebench was built in).
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure targets (direct baseline + gateways) under load; write results/<run-id>/.
    ///
    /// With no flags, runs the embedded `quick` scenario: the mock, `direct` and the reference
    /// gateway, streaming, a short open-loop Poisson sweep (about a minute).
    ///
    /// Latency is measured from each request's *intended* send time (coordinated omission
    /// corrected); errors never enter latency percentiles; a level past the target's knee is
    /// SATURATED; one where the load generator was the bottleneck is flagged RIG_LIMITED, the
    /// connection pool (`[load] connections`) POOL_LIMITED, the mock MOCK_LIMITED.
    ///
    /// Examples:
    ///   gatebench run
    ///   gatebench run --scenario scenarios/seed-replica.toml --targets reference
    ///   gatebench run --pin-rig 0 --pin-target 1 --json > run.json
    #[command(verbatim_doc_comment)]
    Run(run::RunCommand),
    /// Capacity at an SLO: for each gateway, the highest load that meets the SLO, and its cost.
    ///
    /// Brackets by doubling from a start rate, then bisects to a precision (default 5%). Each
    /// probe is a level measured exactly like a `run` level (with `direct` at the same load when
    /// the SLO has an overhead term) and kept in run.json. A probe passes only when every term
    /// holds with its 95% interval (a bootstrap for percentiles, Wilson for the error rate), fails
    /// when the interval is past the bound, and is repeated when it straddles it. The answer is
    /// `[last pass, first fail)` with the term that bound it; a probe the rig, pool or mock
    /// limited stops the search at "≥ last pass", never a number that is the rig's. At the rate
    /// found: the gateway's core-seconds and GiB-hours per 1M requests, priced.
    ///
    /// Examples:
    ///   gatebench search --targets reference --slo 'ttft_p99<=500ms,error_rate<=0.1%'
    ///   gatebench search --scenario stream-knee --targets litellm,reference \
    ///       --slo 'ttft_p99<=500ms,itl_p99<=40ms,overhead_p99<=5ms' --start 10 --plan 5000
    #[command(verbatim_doc_comment)]
    Search(search::SearchCommand),
    /// Run the deterministic mock LLM upstream alone (until Ctrl-C).
    ///
    /// Examples:
    ///   gatebench mock --port 0                 # any free port; prints the address
    ///   gatebench mock --port 8080 --scenario quick
    #[command(verbatim_doc_comment)]
    Mock(mock::MockCommand),
    /// Run the reference gateway alone (until Ctrl-C).
    ///
    /// Example:
    ///   gatebench gateway --listen 127.0.0.1:0 --upstream http://127.0.0.1:8080
    #[command(verbatim_doc_comment)]
    Gateway(gateway::GatewayCommand),
    /// The gateways under test (gateways/<name>/gateway.toml): list, install, check.
    ///
    /// Examples:
    ///   gatebench gateways list
    ///   gatebench gateways install litellm     # runs gateways/litellm/install.sh
    ///   gatebench gateways check nginx         # start it before a mock; stream + non-stream
    #[command(verbatim_doc_comment)]
    Gateways(gateways::GatewaysCommand),
    /// Write report.html for a results directory (every run also writes one at its end).
    ///
    /// Example:
    ///   gatebench report results/20261125-120435-quick
    #[command(verbatim_doc_comment)]
    Report(report::ReportCommand),
    /// Compare runs: each metric's change vs the first run, its 95% CI, and a verdict.
    ///
    /// Examples:
    ///   gatebench compare results/A results/B
    ///   gatebench compare results/A results/B --pair reference,nginx --json
    #[command(verbatim_doc_comment)]
    Compare(compare::CompareCommand),
    /// Regression gate: exit 0 pass, 1 regression, 4 inconclusive, 2 error.
    ///
    /// Files mode compares existing results; run mode measures baseline and candidate itself in
    /// interleaved trials in ABBA order (A B, B A, A B, …) in one job, runs of different
    /// scenarios or mock settings refused. Fails only on a significant change
    /// (one-sided Mann-Whitney U on per-trial values, or a bootstrap CI over requests for single
    /// runs) that is also larger than the threshold. Writes a Markdown summary (also to
    /// $GITHUB_STEP_SUMMARY), names the metric, level and the stage that moved most, and writes
    /// a diff flamegraph of the worst regression.
    ///
    /// A gateway level it could not judge (too few clean trials a side: the rest were rig-, pool-
    /// or mock-limited) makes the gate inconclusive, exit 4 — never a pass; a regression found
    /// on another level still fails (exit 1). Levels saturated on both sides are excluded by rule.
    ///
    /// Examples:
    ///   gatebench gate --baseline results/main --candidate results/pr
    ///   gatebench gate --history ci-history/ --candidate results/pr/run.json
    ///   gatebench gate --scenario gate-smoke --baseline-target reference \
    ///       --candidate-target reference@inject-route-2ms --trials 6 --confirm 2
    ///   gatebench gate --scenario gate-smoke --baseline-target reference --candidate-target reference \
    ///       --baseline-exe base/gatebench --candidate-exe target/release/gatebench
    #[command(verbatim_doc_comment, after_help = GATE_EXIT_CODES)]
    Gate(gate::GateCommand),
    /// Merge the shards of a sharded run (`run --shard I/N`) into one run, exactly.
    ///
    /// Example:
    ///   gatebench merge results/20261125-130000-quick-shard*of4 --out results
    #[command(verbatim_doc_comment)]
    Merge(merge::MergeCommand),
    /// Run history: where each series (target × level × metric, over the same runs) changed
    /// level, by E-divisive means with a permutation test. Prints the change points and writes
    /// history.html (one chart per series, segments and change points marked, runs linked).
    ///
    /// Examples:
    ///   gatebench history results/                 # every run.json below; results/history.html
    ///   gatebench history ci-history/ --json --no-html | jq '.change_points'
    #[command(verbatim_doc_comment)]
    History(history::HistoryCommand),
}

/// The exit codes of every command (README: "Exit codes"; [`Error::exit_code`] maps them).
const EXIT_CODES: &str = "Exit codes: 0 success, 1 regression (gate) or failed check (gateways check), \
2 bad input, 3 run failure, 4 inconclusive (gate: a level's trials were rig-, pool- or \
mock-limited and nothing else regressed; never a pass), 130 interrupted (finished levels are kept).";

/// The exit codes of `gatebench gate`.
const GATE_EXIT_CODES: &str = "Exit codes: 0 pass, 1 regression (or lost capacity), 2 bad input \
(or nothing to compare), 3 run failure, 4 inconclusive (a gateway level not judged, its trials \
rig-, pool- or mock-limited, and no regression elsewhere), 130 interrupted.";

/// Parses arguments, runs the command, and returns the process exit code
/// ([`Error::exit_code`]).
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match &cli.home {
        Some(dir) => crate::home::set(dir),
        None => Ok(()),
    }
    .and_then(|()| match cli.command {
        Command::Run(cmd) => run::execute(cmd),
        Command::Search(cmd) => search::execute(cmd),
        Command::Mock(cmd) => mock::run(cmd),
        Command::Gateway(cmd) => gateway::run(cmd),
        Command::Gateways(cmd) => gateways::execute(cmd),
        Command::Report(cmd) => report::run(cmd),
        Command::Compare(cmd) => compare::run(cmd),
        Command::Gate(cmd) => gate::run_gate(cmd),
        Command::Merge(cmd) => merge::run(cmd),
        Command::History(cmd) => history::run(cmd),
    });
    match result {
        Ok(()) => 0,
        Err(error) => {
            match &error {
                Error::Interrupted(message)
                | Error::Check(message)
                | Error::Inconclusive(message) => {
                    eprintln!("gatebench: {message}")
                }
                _ => eprintln!("gatebench: error: {error}"),
            }
            error.exit_code()
        }
    }
}
