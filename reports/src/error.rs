//! The one error type of `reports`: why a results file could not be read or written, a report
//! or chart drawn, a gate decided, shards merged, or a statistic computed. Each variant names
//! the file, run, target, level or metric at fault.

use std::path::PathBuf;

use crate::schema::{OLDEST_READABLE_VERSION, SCHEMA_VERSION};

/// Why a `reports` operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- run.json ----
    /// Not JSON of the run.json shape.
    #[error("not a gatebench run.json: {0}")]
    Malformed(String),
    /// Written by a build with a schema this one does not read.
    #[error("run.json has schema_version {found}, this build reads {OLDEST_READABLE_VERSION} to {SCHEMA_VERSION} (use the gatebench that wrote it)")]
    Version { found: u64 },
    /// A run.json that could not be used, with the path it came from.
    #[error("{}: {source}", path.display())]
    RunFile {
        path: PathBuf,
        #[source]
        source: Box<Error>,
    },

    // ---- files, the report and its charts ----
    /// A results file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `report.html` (or another output) could not be written.
    #[error("cannot write {}: {source} (is the results directory writable?)", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The base gateway asked for is not a gateway of this run.
    #[error("base gateway `{name}` is not a gateway in this run (gateways: {known})")]
    UnknownBase { name: String, known: String },
    /// A chart could not be drawn.
    #[error("cannot draw chart `{chart}`: {message}")]
    Chart { chart: String, message: String },
    /// A stage-map pattern is not a regex.
    #[error("stage map pattern `{pattern}` for stage {stage} is not a valid regex: {message}")]
    Pattern {
        stage: String,
        pattern: String,
        message: String,
    },
    /// inferno could not render a flamegraph.
    #[error("cannot render flamegraph: {0}")]
    Render(String),

    // ---- gate ----
    /// One side has no runs.
    #[error("no {side} runs given")]
    NoRuns { side: &'static str },
    /// Runs that measured different things (scenario, load model, levels, streaming, mock).
    #[error("{0}")]
    NotSameRuns(String),
    /// No gateway target × level could be compared.
    #[error("nothing to compare: {0}")]
    NothingToCompare(String),
    /// Per-trial values could not be tested.
    #[error("target {target}, level {level}, {metric}: {message}")]
    Statistic {
        target: String,
        level: usize,
        metric: &'static str,
        message: String,
    },
    /// A serialized histogram does not decode.
    #[error("run {run_id}, target {target}, level {level}, histogram `{metric}`: {message}")]
    Histogram {
        run_id: String,
        target: String,
        level: usize,
        metric: String,
        message: String,
    },

    // ---- merge ----
    /// No shard directories given.
    #[error("nothing to merge: give the shard directories of one sharded run")]
    NothingToMerge,
    /// A run that is not a shard.
    #[error("{0} is not a shard (it was not run with --shard i/n)")]
    NotAShard(String),
    /// Shards that disagree on what must be common.
    #[error("{label}: {what} differs from {first}'s; shards of one run share it")]
    ShardMismatch {
        label: String,
        what: &'static str,
        first: String,
    },
    /// The same shard index twice.
    #[error("{label} and {other} are both shard {index}")]
    DuplicateShard {
        label: String,
        other: String,
        index: u32,
    },
    /// Not every shard given.
    #[error("shard(s) {missing} missing (have {have}): merge needs all {count}")]
    MissingShards {
        missing: String,
        count: u32,
        have: String,
    },
    /// A shard's histogram does not decode or merge.
    #[error("{label}: histogram `{metric}` of {target} level {level}: {message}")]
    ShardHistogram {
        label: String,
        target: String,
        level: usize,
        metric: String,
        message: String,
    },
    /// A shard written before schema 3 has no raw section to derive a merged level from.
    #[error("{label}: {target} level {level} has no raw section (written by a gatebench before schema 3): re-run the shard with this gatebench to merge it")]
    ShardWithoutRaw {
        label: String,
        target: String,
        level: usize,
    },

    // ---- capacity search ----
    /// An SLO (`--slo`) that does not parse: names the term and the fix.
    #[error("{0}")]
    Slo(String),

    // ---- statistics ----
    /// A sample (or histogram) holds no values.
    #[error("the {which} sample is empty")]
    EmptySample { which: &'static str },
    /// A value is NaN or infinite.
    #[error("the {which} sample holds a value that is not a finite number")]
    NotFinite { which: &'static str },
    /// A relative change from a baseline of zero is undefined.
    #[error("the baseline {statistic} is 0: a relative change is undefined")]
    ZeroBaseline { statistic: String },
    /// An option is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
}
