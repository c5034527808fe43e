//! The pure core of `gatebench search`: the highest load at which a target still meets an SLO
//! (issue 31). The harness runs the probes; everything it decides with them is here, without
//! I/O or clocks, so the search can be driven by a synthetic measurer in tests.
//!
//! - [`slo`]: an SLO, `ttft_p99<=500ms,error_rate<=0.1%`, parsed once into [`Slo`] terms.
//! - [`judge`](mod@judge): one probe (a fully derived [`crate::LevelResult`]) against the SLO:
//!   each term passes only when its whole confidence interval is within the bound, fails when
//!   the whole interval is past it, and straddles otherwise; a rig-, pool- or mock-limited
//!   level is `Limited`, never the target's verdict.
//! - [`bracket`]: the search: double from the start rate while probes pass, bisect between the
//!   last pass and the first fail to a precision, repeat a straddling probe, stop on a limited
//!   one; [`CapacityAtSlo`] is the answer with every probe behind it.
//! - [`cost`]: what serving a million requests costs at that capacity, and how many instances
//!   a target rate needs.

pub mod bracket;
pub mod cost;
pub mod judge;
pub mod slo;

pub use bracket::{CapacityAtSlo, Probe, Search, SearchOptions};
pub use cost::{cost_at, plan, CapacityPlan, CostAtSlo, Prices, DEFAULT_PRICES};
pub use judge::{judge, samples_needed, ProbeJudgement, ProbeVerdict, TermReading, TermVerdict};
pub use slo::{Slo, SloTerm, SLO_METRICS};

/// `value` for people: thousands grouped (`1,850`), at most two decimals, trailing zeros
/// dropped (`12.5`, `0.78`).
pub fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let text = format!("{:.2}", value.abs());
    let (whole, fraction) = text.split_once('.').expect("{:.2} has a point");
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let fraction = fraction.trim_end_matches('0');
    let sign = if value < 0.0 && text != "0.00" {
        "-"
    } else {
        ""
    };
    if fraction.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::format_number;

    #[test]
    fn numbers_group_thousands_and_drop_trailing_zeros() {
        assert_eq!(format_number(1_850.0), "1,850");
        assert_eq!(format_number(1_234_567.0), "1,234,567");
        assert_eq!(format_number(100.0), "100");
        assert_eq!(format_number(12.5), "12.5");
        assert_eq!(format_number(0.78125), "0.78");
        assert_eq!(format_number(-2_500.25), "-2,500.25");
        assert_eq!(format_number(-0.001), "0");
    }
}
