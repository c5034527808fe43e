//! A [`Comparison`] for terminals (aligned text) and for CI summaries (Markdown).

use super::{ChangeUnit, Comparison, ComparisonRow, Verdict};
use crate::text_table::{aligned, markdown, number};

impl Comparison {
    /// Aligned text, one table per later run; units in the metric column header.
    pub fn to_table(&self) -> String {
        self.render(|header, rows| aligned(header, rows, 3), "")
    }

    /// GitHub-flavoured Markdown, one table per later run.
    pub fn to_markdown(&self) -> String {
        self.render(markdown, "### ")
    }

    fn render(&self, table: impl Fn(&[&str], &[Vec<String>]) -> String, heading: &str) -> String {
        let confidence = format!("{:.0}% CI", 100.0 * self.options.bootstrap.confidence);
        let mut out = String::new();
        for label in self.labels.iter().skip(1) {
            let rows: Vec<&ComparisonRow> = self
                .rows
                .iter()
                .filter(|r| &r.candidate_label == label)
                .collect();
            out.push_str(&format!(
                "{heading}{label} vs {} (threshold ±{}%, error rate ±{} pp)\n\n",
                self.baseline_label,
                self.options.threshold_pct,
                self.options.error_rate_threshold_pp
            ));
            if rows.is_empty() {
                out.push_str("nothing in common to compare\n\n");
                continue;
            }
            let header = [
                "target",
                "level",
                "metric (unit)",
                self.baseline_label.as_str(),
                label.as_str(),
                "change",
                confidence.as_str(),
                "verdict",
            ];
            let cells: Vec<Vec<String>> = rows.iter().map(|r| row_cells(r)).collect();
            out.push_str(&table(&header, &cells));
            out.push('\n');
        }
        let caveats: Vec<String> = self
            .rows
            .iter()
            .filter(|r| !r.caveats.is_empty())
            .map(|r| {
                format!(
                    "{} {} {}: {}",
                    r.candidate_label,
                    r.candidate_target,
                    r.load,
                    r.caveats.join("; ")
                )
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for note in self.notes.iter().chain(&caveats) {
            out.push_str(&format!("note: {note}\n"));
        }
        if !caveats.is_empty() {
            out.push_str("* the rig or the mock was the bottleneck at this level (see notes)\n");
        }
        if self.rows.iter().any(|r| r.verdict == Verdict::Unconfirmed) {
            out.push_str(
                "unconfirmed: past the threshold, but one value per run gives no interval\n",
            );
        }
        out
    }
}

fn row_cells(row: &ComparisonRow) -> Vec<String> {
    let unit = match row.change_unit {
        ChangeUnit::Percent => "%",
        ChangeUnit::PercentagePoints => " pp",
    };
    let target = if row.baseline_target == row.candidate_target {
        row.baseline_target.clone()
    } else {
        format!("{} → {}", row.baseline_target, row.candidate_target)
    };
    let marker = if row.caveats.is_empty() { "" } else { "*" };
    vec![
        target,
        format!("{}{marker}", row.load),
        format!("{} ({})", row.metric.name(), row.unit),
        number(row.baseline),
        number(row.candidate),
        row.change
            .map_or_else(|| "n/a".to_string(), |c| format!("{c:+.1}{unit}")),
        row.ci.map_or_else(
            || "—".to_string(),
            |ci| format!("[{:+.1}, {:+.1}]{unit}", ci.low, ci.high),
        ),
        row.verdict.label().to_string(),
    ]
}
