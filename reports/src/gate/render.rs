//! A [`GateDecision`] as Markdown (CI job summary, PR comment) and as terminal text.

use super::{bad_change, Evidence, Finding, GateDecision, Verdict};
use crate::text_table::{aligned, markdown, number};

/// The evidence in a few characters: `p = 0.004` or `CI [+1.2, +3.4]%`.
pub(super) fn evidence_text(evidence: &Evidence) -> String {
    match evidence {
        Evidence::MannWhitney { p_value, .. } => format!("rank test p = {p_value:.4}"),
        Evidence::RequestBootstrap {
            ci, unit, p_value, ..
        } => {
            let (scale, digits) = if *unit == "ms" {
                (1_000.0, 0)
            } else {
                (1.0, 1)
            };
            let unit = if *unit == "ms" { " µs" } else { "%" };
            format!(
                "p = {p_value:.4}, {:.0}% CI [{:+.digits$}, {:+.digits$}]{unit}",
                100.0 * ci.confidence,
                ci.low * scale,
                ci.high * scale,
            )
        }
        Evidence::Proportion { p_value, .. } => format!("z-test p = {p_value:.4}"),
        Evidence::Untested { .. } => "untested".to_string(),
    }
}

/// A finding's change for people: µs for added latency, points for the error rate, else percent.
pub(super) fn change_text(finding: &Finding) -> String {
    if finding.metric.is_overhead() {
        format!("{:+.0} µs", finding.change * 1_000.0)
    } else if finding.metric == crate::metric::Metric::ErrorRate {
        format!("{:+.2} pp", finding.change)
    } else {
        format!("{:+.1}%", finding.change_pct)
    }
}

impl GateDecision {
    /// One line: pass, fail or inconclusive, naming the metric, level and (when known) stage,
    /// or the levels not judged.
    pub fn summary_line(&self) -> String {
        if let (None, Some(lost)) = (self.worst_regression(), self.capacity_lost.first()) {
            return format!("FAIL: {lost}");
        }
        if self.verdict == Verdict::Inconclusive {
            return self.inconclusive_line();
        }
        match self.worst_regression() {
            Some(worst) => {
                let more = self.regressions().count() - 1;
                let more = if more > 0 {
                    format!(" (and {more} more regression(s))")
                } else {
                    String::new()
                };
                format!("FAIL: {}{more}", explain(worst))
            }
            None => {
                let largest = self
                    .findings
                    .iter()
                    .max_by(|a, b| bad_change(a).total_cmp(&bad_change(b)));
                let largest = self
                    .findings
                    .iter()
                    .filter(|f| f.primary)
                    .max_by(|a, b| bad_change(a).total_cmp(&bad_change(b)))
                    .or(largest);
                match largest {
                    Some(f) => format!(
                        "PASS: the gateway's own share did not regress significantly past its limit; \
                         largest adverse move: {} of {} at {} {} ({})",
                        f.metric.name(),
                        f.target,
                        f.load,
                        change_text(f),
                        f.reason
                    ),
                    None => "PASS: nothing regressed".to_string(),
                }
            }
        }
    }

    /// `INCONCLUSIVE: …`: how many gateway levels were not judged, the first and why, and what
    /// the judged ones showed.
    fn inconclusive_line(&self) -> String {
        let first = self.unjudged.first().map_or("", String::as_str);
        let more = match self.unjudged.len() {
            0 | 1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        let rest = if self.findings.is_empty() {
            "no other gateway level was judged"
        } else {
            "the levels judged did not regress"
        };
        format!(
            "INCONCLUSIVE: {} gateway level(s) not judged, their trials limited — {first}{more}; \
             {rest}. Rerun on a quieter machine (pool-limited: raise `[load] connections`).",
            self.unjudged.len()
        )
    }

    /// Markdown for a CI job summary or a PR comment.
    pub fn to_markdown(&self) -> String {
        let verdict = match self.verdict {
            Verdict::Pass => "✅ pass",
            Verdict::Fail => "❌ regression",
            Verdict::Inconclusive => "⚠️ inconclusive",
        };
        let mut out = format!(
            "## gatebench gate: {verdict}\n\n{}\n\n",
            self.summary_line()
        );
        out.push_str(&markdown(&HEADER, &self.rows()));
        for finding in self.regressions() {
            out.push_str(&format!("\n- {}\n", explain(finding)));
        }
        for (title, items) in [
            ("Capacity lost", &self.capacity_lost),
            ("Not judged (the gate is inconclusive)", &self.unjudged),
            ("Warnings", &self.warnings),
            ("Excluded from the decision", &self.excluded),
        ] {
            if !items.is_empty() {
                out.push_str(&format!("\n**{title}**\n\n"));
                for item in items {
                    out.push_str(&format!("- {item}\n"));
                }
            }
        }
        out.push_str(&format!("\n{}\n", self.method_note()));
        out
    }

    /// Plain text for the terminal.
    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n\n", self.summary_line());
        out.push_str(&aligned(&HEADER, &self.rows(), 3));
        for (title, items) in [
            ("capacity lost", &self.capacity_lost),
            ("not judged", &self.unjudged),
            ("warning", &self.warnings),
            ("excluded", &self.excluded),
        ] {
            for item in items {
                out.push_str(&format!("{title}: {item}\n"));
            }
        }
        out.push_str(&format!("{}\n", self.method_note()));
        out
    }

    fn rows(&self) -> Vec<Vec<String>> {
        self.findings
            .iter()
            .map(|f| {
                let sign = if f.metric.higher_is_better() {
                    "−"
                } else {
                    "+"
                };
                let verdict = match (f.primary, f.regression) {
                    (_, true) => "REGRESSION",
                    (true, false) => "ok",
                    (false, _) => "(secondary)",
                };
                let adjusted = f.p_adjusted.map_or("—".to_string(), |p| format!("{p:.4}"));
                vec![
                    f.target.clone(),
                    f.load.clone(),
                    format!("{} ({})", f.metric.name(), f.metric.unit()),
                    number(f.baseline),
                    number(f.candidate),
                    change_text(f),
                    evidence_text(&f.evidence),
                    adjusted,
                    format!("{sign}{}", f.limit_rule),
                    verdict.to_string(),
                ]
            })
            .collect()
    }

    fn method_note(&self) -> String {
        let t = &self.thresholds;
        let reach = match self.smallest_reachable_p {
            Some(p) => format!(" The smallest p these tests could reach: {p:.4}."),
            None => String::new(),
        };
        format!(
            "Decides: the gateway's added latency over direct (p50, p99), its error rate and RPS; \
             totals are secondary. Regression = significant after Holm's correction over {} \
             primary tests at α = {} (one-sided Mann-Whitney U on per-trial values; a bootstrap \
             over requests only when a side has a single run) AND a change past its limit.{reach} \
             Rig-, pool- or mock-limited trials are dropped; a gateway level left with fewer than \
             {} clean trials a side is not judged, which makes the gate inconclusive unless it \
             failed; `direct` does not decide.",
            self.primary_tests, t.alpha, t.min_trials,
        )
    }
}

const HEADER: [&str; 10] = [
    "target",
    "level",
    "metric (unit)",
    "baseline",
    "candidate",
    "change",
    "evidence",
    "Holm p",
    "limit",
    "verdict",
];

/// A regression in one sentence: metric, target, level, change, evidence, stage, flamegraphs.
fn explain(finding: &Finding) -> String {
    let mut text = format!(
        "{} of {} at {} moved {} ({} → {} {}; limit {}{}, {}{})",
        finding.metric.name(),
        finding.target,
        finding.load,
        change_text(finding),
        number(finding.baseline),
        number(finding.candidate),
        finding.metric.unit(),
        if finding.metric.higher_is_better() {
            "−"
        } else {
            "+"
        },
        finding.limit_rule,
        evidence_text(&finding.evidence),
        finding
            .p_adjusted
            .map_or(String::new(), |p| format!(", Holm p = {p:.4}"))
    );
    match &finding.stage {
        Some(stage) => {
            text.push_str(&format!(
                "; stage `{}` moved most ({:+.2} ms mean: {:.2} → {:.2} ms",
                stage.stage, stage.delta_ms, stage.baseline_mean_ms, stage.candidate_mean_ms
            ));
            // How much of a latency change the stage accounts for tells a cause from noise.
            let change_ms = finding.candidate - finding.baseline;
            if finding.metric.unit() == "ms" && change_ms > 0.0 {
                text.push_str(&format!(
                    ", {:.0}% of the {change_ms:+.2} ms change",
                    100.0 * stage.delta_ms / change_ms
                ));
            }
            text.push(')');
        }
        None => text.push_str("; no stage data points at a stage"),
    }
    if let (Some(base), Some(cand)) = (&finding.baseline_flamegraph, &finding.candidate_flamegraph)
    {
        text.push_str(&format!(
            "; diff flamegraph: base `{}/{}` vs candidate `{}/{}`",
            base.run_id, base.path, cand.run_id, cand.path
        ));
    }
    text
}
