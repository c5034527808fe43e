//! The scaling verdict: the knee of a target's sweep, and what the target used there (off-CPU
//! lock waits, a saturated event loop or GIL, its CPU against the cores it may use). Each rule
//! adds the facts it read to the evidence, in the order they are checked.

use super::*;
use crate::schema::ThreadCpu;

/// The knee (the first clean step of ≥ [`KNEE_STEP`]× concurrency, or of offered rate in open
/// loop, that added under [`KNEE_GROWTH`] throughput) and the verdict from what the target used there.
pub(super) fn verdict(clean: &[&LevelResult], cores: usize, evidence: &mut Vec<String>) -> Verdict {
    if clean.len() < 2 {
        evidence.push(format!(
            "{} clean level(s): a knee needs two or more",
            clean.len()
        ));
        return Verdict::Inconclusive;
    }
    let knee = clean.windows(2).find(|pair| {
        let (a, b) = (pair[0], pair[1]);
        stepped_up(a, b)
            && a.achieved_rps > 0.0
            && b.achieved_rps < a.achieved_rps * (1.0 + KNEE_GROWTH)
    });
    let served: Vec<&&LevelResult> = clean.iter().filter(|l| l.achieved_rps > 0.0).collect();
    if served.len() < 2 {
        let failed: Vec<String> = clean
            .iter()
            .filter(|l| l.achieved_rps <= 0.0)
            .filter_map(|l| concurrency(l).map(|n| format!("{n:.0}")))
            .collect();
        evidence.push(format!(
            "{} clean level(s) served requests; none succeeded at N = {}: throughput cannot be read",
            served.len(),
            if failed.is_empty() { "-".into() } else { failed.join(", ") }
        ));
        return Verdict::Inconclusive;
    }
    let Some(pair) = knee else {
        let last = clean[clean.len() - 1];
        evidence.push(format!(
            "throughput kept growing with concurrency up to {:.0} req/s at N = {:.1}: no knee within the sweep",
            last.achieved_rps,
            concurrency(last).unwrap_or(f64::NAN)
        ));
        return Verdict::Scales;
    };
    let (before, at) = (pair[0], pair[1]);
    let offered = match (open_rate(before), open_rate(at)) {
        (Some(a), Some(b)) => format!("offered {a:.0} → {b:.0} req/s, "),
        _ => String::new(),
    };
    evidence.push(format!(
        "knee: {offered}N {:.1} → {:.1} took throughput {:.0} → {:.0} req/s ({:+.0}%)",
        concurrency(before).unwrap_or(f64::NAN),
        concurrency(at).unwrap_or(f64::NAN),
        before.achieved_rps,
        at.achieved_rps,
        100.0 * (at.achieved_rps / before.achieved_rps - 1.0)
    ));
    at_the_knee(at, cores, evidence)
}

/// Whether `b` asked for at least [`KNEE_STEP`]× what `a` did: its concurrency, or in open loop
/// its offered rate (past the knee the pool caps how many are in flight, so N stops growing
/// while the offered load still does).
fn stepped_up(a: &LevelResult, b: &LevelResult) -> bool {
    let more_in_flight = match (concurrency(a), concurrency(b)) {
        (Some(na), Some(nb)) => na > 0.0 && nb >= KNEE_STEP * na,
        _ => false,
    };
    let more_offered = match (open_rate(a), open_rate(b)) {
        (Some(ra), Some(rb)) => ra > 0.0 && rb >= KNEE_STEP * ra,
        _ => false,
    };
    more_in_flight || more_offered
}

/// An open-loop level's offered rate, req/s.
fn open_rate(level: &LevelResult) -> Option<f64> {
    match level.offered {
        OfferedLoad::Constant { rate_rps } | OfferedLoad::Poisson { rate_rps } => Some(rate_rps),
        OfferedLoad::Closed { .. } => None,
    }
}

/// What the target used at the knee decides: a serial runtime or lock first, then its CPU.
fn at_the_knee(at: &LevelResult, cores: usize, evidence: &mut Vec<String>) -> Verdict {
    let threads = at.resources.threads.value.as_ref();
    if let Some(threads) = threads {
        evidence.push(format!(
            "busiest thread `{}` at {:.0}% of a core; {} of {} threads at ≥ {THREAD_SATURATED_PCT:.0}%",
            threads.busiest_name, threads.busiest_pct, threads.saturated, threads.count
        ));
    }
    if lock_waits_dominate(at, evidence)
        || event_loop_saturated(at, evidence)
        || one_gil_saturated(at, evidence)
    {
        return Verdict::Serializes;
    }
    cpu_verdict(at, cores, threads, evidence)
}

/// Off-CPU at the knee: lock waits at least [`LOCK_DOMINATES`] of the blocked time that held
/// up work.
fn lock_waits_dominate(at: &LevelResult, evidence: &mut Vec<String>) -> bool {
    let Some(off) = at.offcpu.value.as_ref() else {
        return false;
    };
    let mut waits: Vec<(&String, &f64)> = off.waits.iter().collect();
    waits.sort_by(|a, b| b.1.total_cmp(a.1));
    let top: Vec<String> = waits
        .iter()
        .take(3)
        .map(|(class, share)| format!("{class} {:.0}%", 100.0 * *share))
        .collect();
    evidence.push(format!(
        "off-CPU at the knee: {:.0}% of the blocked time that held up work was lock waits ({:.1} threads blocked on average; {})",
        100.0 * off.lock_share_of_working,
        off.blocked_threads,
        top.join(", ")
    ));
    off.lock_share_of_working >= LOCK_DOMINATES
}

/// A Node target's one JavaScript thread saturated at the knee.
fn event_loop_saturated(at: &LevelResult, evidence: &mut Vec<String>) -> bool {
    let Some(elu) = at.event_loop_utilization else {
        return false;
    };
    evidence.push(format!(
        "event loop utilization at the knee: {:.0}% (one JavaScript thread)",
        100.0 * elu
    ));
    if elu >= THREAD_SATURATED_PCT / 100.0 {
        evidence.push("its event loop is saturated: a serial runtime".into());
        return true;
    }
    false
}

/// One interpreter at its GIL's limit while no other does real work is a serial runtime;
/// several saturated interpreters are the CPU rule's to judge.
fn one_gil_saturated(at: &LevelResult, evidence: &mut Vec<String>) -> bool {
    let Some(py) = &at.python_waits else {
        return false;
    };
    let shares: Vec<String> = py
        .gil_held
        .iter()
        .map(|share| format!("{:.0}%", 100.0 * share))
        .collect();
    evidence.push(format!(
        "GIL held at the knee (share of py-spy's snapshots, per interpreter): {}",
        shares.join(", ")
    ));
    let busy = py.gil_held.iter().filter(|&&s| s >= GIL_BUSY).count();
    let busiest = py.gil_held.first().copied().unwrap_or(0.0);
    if busiest >= THREAD_SATURATED_PCT / 100.0 && busy == 1 {
        evidence.push(
            "one interpreter's GIL is saturated while the others idle: a serial runtime".into(),
        );
        return true;
    }
    false
}

/// The target's CPU at the knee against the cores it may use (the machine's, minus what the rig
/// used): well under them, or one thread pegged, serializes; the machine busy is CPU-bound.
fn cpu_verdict(
    at: &LevelResult,
    cores: usize,
    threads: Option<&ThreadCpu>,
    evidence: &mut Vec<String>,
) -> Verdict {
    let cpu = at.resources.cpu_pct.value;
    let machine = at.rig.machine_cpu_pct.value;
    // The cores it may use: the machine's, minus what the rig (generator + mock) used.
    let available = match (cpu, machine) {
        (Some(cpu), Some(machine)) => {
            let rig = (machine * cores as f64 - cpu).max(0.0);
            Some((100.0 * cores as f64 - rig).max(1.0))
        }
        _ => None,
    };
    match (cpu, available, machine) {
        (Some(cpu), Some(available), Some(machine)) => {
            evidence.push(format!(
                "at the knee it used {cpu:.0}% CPU of the {available:.0}% it may use (machine {machine:.0}% busy)"
            ));
            let one_thread_pegged = threads.is_some_and(|t| {
                t.busiest_pct >= THREAD_SATURATED_PCT && cpu < WELL_UNDER * available
            });
            if cpu < WELL_UNDER * available || one_thread_pegged {
                Verdict::Serializes
            } else if machine >= MACHINE_BUSY_PCT {
                Verdict::CpuBound
            } else {
                evidence.push("neither well under its cores nor the machine busy".into());
                Verdict::Inconclusive
            }
        }
        _ => {
            evidence.push("no CPU figures at the knee (an external target?)".into());
            Verdict::Inconclusive
        }
    }
}
