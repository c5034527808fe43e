//! A [`History`] as the terminal table `gatebench history` prints: one line per change point,
//! then what was searched and what was left out.

use super::{History, Segment};

impl History {
    /// The terminal table: one line per change point, then a summary line.
    pub fn to_table(&self) -> String {
        let header = [
            "scenario",
            "target",
            "level",
            "metric",
            "from run",
            "git",
            "before (mean ± sd, n)",
            "after",
            "change",
            "p",
        ];
        let mut rows: Vec<Vec<String>> = Vec::new();
        for c in &self.change_points {
            let seg = |s: &Segment| format!("{:.3} ± {:.3} ({})", s.mean, s.sd, s.runs);
            rows.push(vec![
                c.scenario.clone(),
                c.target.clone(),
                c.level_label.clone(),
                format!("{} ({})", c.metric, c.unit),
                c.run_id.clone(),
                c.git_revision
                    .as_deref()
                    .map_or("-".to_string(), |g| g.chars().take(10).collect()),
                seg(&c.before),
                seg(&c.after),
                format!(
                    "{:+.1}%{}",
                    c.change_pct,
                    if c.regression { " worse" } else { " better" }
                ),
                format!("{:.3}", c.p_value),
            ]);
        }
        let families = self
            .runs
            .iter()
            .map(|r| r.family)
            .max()
            .map_or(0, |f| f + 1);
        let mut out = if self.change_points.is_empty() {
            String::new()
        } else {
            crate::text_table::aligned(&header, &rows, 4)
        };
        out.push_str(&format!(
            "{} run(s) in {families} famil{} of the same runs, {} series, {} change point(s) (E-divisive means, α = {}, {} permutations, ≥ {} runs a segment)\n",
            self.runs.len(),
            if families == 1 { "y" } else { "ies" },
            self.series.len(),
            self.change_points.len(),
            self.settings.alpha,
            self.settings.permutations,
            self.settings.min_segment,
        ));
        out.push_str(&self.excluded_line());
        out
    }

    /// `N limited level(s) left out …`, naming the first and why; empty when none was.
    fn excluded_line(&self) -> String {
        let mut left_out: Vec<(usize, &str, usize, &str)> = Vec::new();
        for series in &self.series {
            for excluded in &series.excluded {
                let key = (
                    excluded.run,
                    series.target.as_str(),
                    series.level,
                    excluded.reason.as_str(),
                );
                if !left_out.contains(&key) {
                    left_out.push(key);
                }
            }
        }
        let Some((run, target, level, reason)) = left_out.first() else {
            return String::new();
        };
        format!(
            "{} limited level(s) left out of their series (e.g. {target} L{level} of run {}: {reason}; `--json` lists each under series[].excluded)\n",
            left_out.len(),
            self.runs[*run].run_id
        )
    }
}
