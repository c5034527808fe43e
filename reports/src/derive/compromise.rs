//! A limit is judged against what it distorts. The generator's and the mock's lateness is
//! compared with each figure it could distort, on its own:
//!
//! - **throughput** (achieved RPS, the plateau, the scaling verdict) is compromised only when the
//!   mean lateness is a material share ([`MATERIAL_SHARE`]) of the time one request holds its
//!   sender: the target's mean e2e, or in open loop the offered inter-arrival gap when that is
//!   longer. A closed-loop user's cycle is its request's latency plus the rig's lateness, so the
//!   mean lateness over the mean latency is the share by which the rig, not the target, slowed
//!   it.
//! - **latency, TTFT, ITL, added latency** are compromised when the lateness's tail is
//!   comparable ([`COMPARABLE_SHARE`]) to the figure's own p99 (added latency: its e2e p99).
//!
//! Lateness under the level's threshold (the calibrated timer noise, `[rig] lag_threshold_ms`,
//! `[rig] mock_lateness_ms`) distorts nothing. `rig_limited` and `mock_limited` mean the
//! throughput is compromised; the other figures a level's state distorts are listed in
//! `rig.compromised`, and the analysis leaves each one out where it reads that figure.

use crate::schema::{Figure, LatencySummary, LevelResult, OfferedLoad};
use crate::series::Series;

/// Mean lateness above this share of a request's time compromises throughput.
pub const MATERIAL_SHARE: f64 = 0.05;
/// A lateness tail above this share of a latency figure compromises that figure.
pub const COMPARABLE_SHARE: f64 = 0.10;

/// One source of lateness at a level, as measured.
pub struct Lateness<'a> {
    /// Who ran late, as the reason names it ("the generator's sends").
    pub who: &'a str,
    /// The tail compared with the threshold and with latency figures: its name and value, ms.
    pub tail: (&'static str, f64),
    /// Mean lateness, ms (what throughput loses).
    pub mean_ms: f64,
    /// Under this tail the lateness is noise, ms.
    pub threshold_ms: f64,
}

/// What one lateness distorts, and the reason that says it with the shares measured.
#[derive(Debug, Default)]
pub struct Judgement {
    pub figures: Vec<Figure>,
    /// `None` when the lateness was under its threshold.
    pub reason: Option<String>,
}

/// Judges `lateness` against each figure of `level` (added latency read from
/// `added_latency_ms`, so derive it first).
pub fn judge(lateness: &Lateness<'_>, level: &LevelResult) -> Judgement {
    let (tail_name, tail_ms) = lateness.tail;
    if tail_ms <= lateness.threshold_ms {
        return Judgement::default();
    }
    let mut figures = Vec::new();
    let mut parts = Vec::new();
    match throughput_budget_ms(level) {
        Some((budget_ms, what)) => {
            let share = lateness.mean_ms / budget_ms;
            let material = share > MATERIAL_SHARE;
            if material {
                figures.push(Figure::Throughput);
            }
            parts.push(format!(
                "mean {:.2} ms is {:.1}% of {what} {budget_ms:.2} ms ({} {:.0}%: throughput {})",
                lateness.mean_ms,
                share * 100.0,
                if material { "over" } else { "under" },
                MATERIAL_SHARE * 100.0,
                if material { "compromised" } else { "kept" }
            ));
        }
        None => {
            figures.push(Figure::Throughput);
            parts.push("no latency to weigh it against: throughput compromised".into());
        }
    }
    let mut distorted = Vec::new();
    for (figure, p99_ms) in latency_figures(level) {
        if tail_ms > COMPARABLE_SHARE * p99_ms.abs() {
            figures.push(figure);
            distorted.push(format!("{} (p99 {p99_ms:.2} ms)", figure.name()));
        }
    }
    parts.push(if distorted.is_empty() {
        format!(
            "{tail_name} under {:.0}% of every latency figure's p99",
            COMPARABLE_SHARE * 100.0
        )
    } else {
        format!(
            "comparable (over {:.0}%) to {}: compromised",
            COMPARABLE_SHARE * 100.0,
            distorted.join(", ")
        )
    });
    Judgement {
        figures,
        reason: Some(format!(
            "{} ran {tail_ms:.2} ms late at {tail_name} (> {:.2} ms threshold); {}",
            lateness.who,
            lateness.threshold_ms,
            parts.join("; ")
        )),
    }
}

/// The time one request holds its sender, ms, and its name: the mean e2e of the level's
/// successful requests from their actual send (the generator's own queue is not the target's
/// time), or in open loop the offered inter-arrival gap when that is longer.
fn throughput_budget_ms(level: &LevelResult) -> Option<(f64, &'static str)> {
    let e2e_mean = summary(level, Series::E2eUncorrected)
        .or_else(|| summary(level, Series::E2e))
        .map(|s| s.mean_ms);
    let gap_ms = match level.offered {
        OfferedLoad::Constant { rate_rps } | OfferedLoad::Poisson { rate_rps }
            if rate_rps > 0.0 =>
        {
            Some(1_000.0 / rate_rps)
        }
        _ => None,
    };
    match (e2e_mean, gap_ms) {
        (Some(e2e), Some(gap)) if gap > e2e => Some((gap, "the offered inter-arrival gap")),
        (Some(e2e), _) if e2e > 0.0 => Some((e2e, "the mean e2e")),
        (_, Some(gap)) => Some((gap, "the offered inter-arrival gap")),
        _ => None,
    }
}

/// The latency figures of a level a lateness tail is compared with, with their p99s, ms.
fn latency_figures(level: &LevelResult) -> Vec<(Figure, f64)> {
    let mut figures = Vec::new();
    for (figure, series) in [
        (Figure::Latency, Series::E2e),
        (Figure::Ttft, Series::Ttft),
        (Figure::Itl, Series::Itl),
    ] {
        if let Some(s) = summary(level, series).filter(|s| s.count > 0) {
            figures.push((figure, s.p99_ms));
        }
    }
    if let Some(added) = level.added_latency_ms.get("e2e_p99").and_then(|m| m.value) {
        figures.push((Figure::AddedLatency, added));
    }
    figures
}

fn summary(level: &LevelResult, series: Series) -> Option<&LatencySummary> {
    level.latency.get(series.name())?.value.as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Measured, RunResult};
    use std::collections::BTreeMap;

    /// The golden ci-tiny run's reference level, made a closed-loop level whose only latency
    /// figure is an e2e with this mean (p99 1.5× it) and whose added e2e p99 is `added_p99_ms`.
    fn closed_level(e2e_mean_ms: f64, added_p99_ms: f64) -> LevelResult {
        let run: RunResult =
            serde_json::from_str(include_str!("../../tests/golden/ci-tiny.run.json")).unwrap();
        let mut level = run
            .levels
            .into_iter()
            .find(|l| l.target == "reference")
            .unwrap();
        level.offered = OfferedLoad::Closed { virtual_users: 10 };
        level.latency.retain(|name, _| name == "e2e");
        let e2e = level
            .latency
            .get_mut("e2e")
            .unwrap()
            .value
            .as_mut()
            .unwrap();
        (e2e.mean_ms, e2e.p99_ms) = (e2e_mean_ms, 1.5 * e2e_mean_ms);
        level.added_latency_ms = BTreeMap::from([("e2e_p99".into(), Measured::of(added_p99_ms))]);
        level
    }

    fn lateness(tail_ms: f64, mean_ms: f64) -> Lateness<'static> {
        Lateness {
            who: "the generator's runtime",
            tail: ("p99", tail_ms),
            mean_ms,
            threshold_ms: 2.0,
        }
    }

    #[test]
    fn under_the_threshold_distorts_nothing() {
        let level = closed_level(60.0, 1.7);
        let judged = judge(&lateness(1.9, 1.0), &level);
        assert!(judged.figures.is_empty() && judged.reason.is_none());
    }

    #[test]
    fn a_3ms_lag_keeps_a_3s_latency_and_compromises_a_2ms_added_latency() {
        let level = closed_level(3_500.0, 1.7);
        let judged = judge(&lateness(3.1, 0.6), &level);
        assert_eq!(judged.figures, vec![Figure::AddedLatency]);
        let reason = judged.reason.unwrap();
        assert!(reason.contains("throughput kept"), "{reason}");
        assert!(reason.contains("added_latency (p99 1.70 ms)"), "{reason}");
    }

    #[test]
    fn a_lag_material_to_the_request_compromises_throughput() {
        let level = closed_level(20.0, 1.7);
        let judged = judge(&lateness(6.0, 2.0), &level);
        assert!(judged.figures.contains(&Figure::Throughput));
        assert!(judged.figures.contains(&Figure::Latency));
    }

    #[test]
    fn open_loop_weighs_against_the_inter_arrival_gap_when_longer() {
        let mut level = closed_level(5.0, 40.0);
        level.offered = OfferedLoad::Poisson { rate_rps: 10.0 };
        let judged = judge(&lateness(3.0, 1.0), &level);
        assert!(
            !judged.figures.contains(&Figure::Throughput),
            "1 ms of a 100 ms gap"
        );
    }
}
