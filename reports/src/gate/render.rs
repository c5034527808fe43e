//! A [`GateDecision`] as Markdown (CI job summary, PR comment) and as terminal text.

use super::{bad_change, Evidence, Finding, GateDecision};
use crate::text_table::{aligned, markdown, number};

/// The evidence in a few characters: `p = 0.004` or `CI [+1.2, +3.4]%`.
pub(super) fn evidence_text(evidence: &Evidence) -> String {
    match evidence {
        Evidence::MannWhitney { p_value, .. } => format!("p = {p_value:.3}"),
        Evidence::RequestBootstrap { ci_pct, .. } => format!(
            "{:.0}% CI [{:+.1}, {:+.1}]%",
            100.0 * ci_pct.confidence,
            ci_pct.low,
            ci_pct.high
        ),
        Evidence::Untested { .. } => "untested".to_string(),
    }
}

impl GateDecision {
    /// One line: pass or fail, naming the metric, level and (when known) stage.
    pub fn summary_line(&self) -> String {
        if let (None, Some(lost)) = (self.worst_regression(), self.capacity_lost.first()) {
            return format!("FAIL: {lost}");
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
                match largest {
                    Some(f) => format!(
                        "PASS: no gated metric regressed significantly past its threshold; \
                         largest adverse move: {} of {} at {} {:+.1}% ({})",
                        f.metric.name(),
                        f.target,
                        f.load,
                        f.change_pct,
                        f.reason
                    ),
                    None => "PASS: nothing regressed".to_string(),
                }
            }
        }
    }

    /// Markdown for a CI job summary or a PR comment.
    pub fn to_markdown(&self) -> String {
        let verdict = if self.passed {
            "✅ pass"
        } else {
            "❌ regression"
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
                vec![
                    f.target.clone(),
                    f.load.clone(),
                    format!("{} ({})", f.metric.name(), f.metric.unit()),
                    number(f.baseline),
                    number(f.candidate),
                    format!("{:+.1}%", f.change_pct),
                    evidence_text(&f.evidence),
                    format!("{sign}{}%", f.threshold_pct),
                    if f.regression { "REGRESSION" } else { "ok" }.to_string(),
                ]
            })
            .collect()
    }

    fn method_note(&self) -> String {
        let t = &self.thresholds;
        format!(
            "Regression = significant (one-sided Mann-Whitney U on per-trial values at α = {} \
             with ≥ {} trials per side, else a {:.0}% bootstrap interval over requests excluding 0) \
             AND a change past the threshold. Rig- or mock-limited levels and `direct` do not decide.",
            t.alpha,
            t.min_trials,
            100.0 * t.bootstrap.confidence
        )
    }
}

const HEADER: [&str; 9] = [
    "target",
    "level",
    "metric (unit)",
    "baseline",
    "candidate",
    "change",
    "p-value / CI",
    "threshold",
    "verdict",
];

/// A regression in one sentence: metric, target, level, change, evidence, stage, flamegraphs.
fn explain(finding: &Finding) -> String {
    let mut text = format!(
        "{} of {} at {} moved {:+.1}% ({} → {} {}; threshold {}{}%, {})",
        finding.metric.name(),
        finding.target,
        finding.load,
        finding.change_pct,
        number(finding.baseline),
        number(finding.candidate),
        finding.metric.unit(),
        if finding.metric.higher_is_better() {
            "−"
        } else {
            "+"
        },
        finding.threshold_pct,
        evidence_text(&finding.evidence)
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
