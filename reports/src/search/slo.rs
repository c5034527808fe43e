//! An SLO: upper bounds on a few per-level figures, written `metric<=bound` and joined by
//! commas: `ttft_p99<=500ms,itl_p99<=40ms,overhead_p99<=5ms,error_rate<=0.1%`.
//!
//! Latency bounds take a unit (`ms`, `s`, `us` or `µs`) and are kept in ms; `error_rate` is a
//! percent, with or without `%`. `<` reads as `<=` (the figures are continuous); `>=`, `>` and
//! `=` are refused, since an SLO is an upper bound. Every error is one line naming the term and
//! the fix.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::metric::Metric;

/// The metrics an SLO may bound, in the order errors list them.
pub const SLO_METRICS: [Metric; 8] = [
    Metric::OverheadP50,
    Metric::OverheadP99,
    Metric::E2eP50,
    Metric::E2eP99,
    Metric::TtftP50,
    Metric::TtftP99,
    Metric::ItlP99,
    Metric::ErrorRate,
];

/// One bound: `metric` must be at most `bound`, in [`Metric::unit`] (ms, or % for
/// `error_rate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloTerm {
    /// The bounded figure.
    pub metric: Metric,
    /// Its upper bound, in the metric's unit.
    pub bound: f64,
}

impl SloTerm {
    /// The term in canonical text: `ttft_p99<=500ms`, `error_rate<=0.1%`.
    pub fn describe(&self) -> String {
        format!(
            "{}<={}{}",
            self.metric.name(),
            bound_text(self.bound),
            self.metric.unit()
        )
    }
}

/// Every bound a target must meet at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// The terms, in the order given; each metric at most once.
    pub terms: Vec<SloTerm>,
}

impl Slo {
    /// Parses `ttft_p99<=500ms,error_rate<=0.1%` (whitespace anywhere, an empty piece between
    /// commas ignored); [`Error::Slo`] names the offending term and the fix.
    pub fn parse(text: &str) -> Result<Slo, Error> {
        let mut terms: Vec<(SloTerm, &str)> = Vec::new();
        for piece in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let term = parse_term(piece)?;
            if let Some((_, first)) = terms.iter().find(|(t, _)| t.metric == term.metric) {
                return Err(term_error(
                    piece,
                    format!(
                        "{} is already bounded by \"{first}\"; give each metric once",
                        term.metric.name()
                    ),
                ));
            }
            terms.push((term, piece));
        }
        if terms.is_empty() {
            return Err(Error::Slo(format!(
                "empty SLO: give comma-separated terms like \"ttft_p99<=500ms,error_rate<=0.1%\" \
                 (accepted metrics: {})",
                accepted()
            )));
        }
        Ok(Slo {
            terms: terms.into_iter().map(|(t, _)| t).collect(),
        })
    }

    /// Whether a term bounds a gateway's added latency (`overhead_*`): the search must then
    /// measure `direct` at each probe too.
    pub fn needs_direct(&self) -> bool {
        self.terms.iter().any(|t| t.metric.is_overhead())
    }

    /// The SLO in canonical text, terms in the order given: `ttft_p99<=500ms,error_rate<=0.1%`
    /// (parses back to the same SLO).
    pub fn describe(&self) -> String {
        let terms: Vec<String> = self.terms.iter().map(SloTerm::describe).collect();
        terms.join(",")
    }
}

/// One `metric<=bound` piece (trimmed).
fn parse_term(piece: &str) -> Result<SloTerm, Error> {
    let Some(at) = piece.find(['<', '>', '=']) else {
        return Err(term_error(
            piece,
            "no <=; write metric<=bound, e.g. ttft_p99<=500ms".to_string(),
        ));
    };
    if !piece[at..].starts_with('<') {
        return Err(term_error(
            piece,
            "use <= (an SLO is an upper bound)".to_string(),
        ));
    }
    let operator = if piece[at..].starts_with("<=") { 2 } else { 1 };
    let name = piece[..at].trim();
    let metric = Metric::from_name(name)
        .filter(|m| SLO_METRICS.contains(m))
        .ok_or_else(|| {
            term_error(
                piece,
                format!("unknown metric \"{name}\"; accepted: {}", accepted()),
            )
        })?;
    let bound = parse_bound(piece, metric, piece[at + operator..].trim())?;
    Ok(SloTerm { metric, bound })
}

/// The bound `text` (`500ms`, `0.1%`, `0.1`) of `metric`'s term `piece`, in the metric's unit.
fn parse_bound(piece: &str, metric: Metric, text: &str) -> Result<f64, Error> {
    let unit_start = text
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphabetic() || *c == '%')
        .last()
        .map_or(text.len(), |(i, _)| i);
    let (number, unit) = (text[..unit_start].trim(), &text[unit_start..]);
    if number.is_empty() {
        return Err(term_error(
            piece,
            "give a number, e.g. ttft_p99<=500ms".to_string(),
        ));
    }
    let value: f64 = number.parse().map_err(|_| {
        term_error(
            piece,
            format!("\"{number}\" is not a number; write e.g. ttft_p99<=500ms"),
        )
    })?;
    if !(value.is_finite() && value > 0.0) {
        return Err(term_error(
            piece,
            format!("the bound must be a positive number, not {number}"),
        ));
    }
    if metric == Metric::ErrorRate {
        return match unit {
            "%" | "" => Ok(value),
            _ => Err(term_error(
                piece,
                "error_rate is a percent: give % (or a bare number, read as %)".to_string(),
            )),
        };
    }
    match unit {
        "ms" => Ok(value),
        "s" => Ok(value * 1_000.0),
        "us" | "µs" | "μs" => Ok(value / 1_000.0),
        "" => Err(term_error(piece, "give a unit (ms, s or us)".to_string())),
        other => Err(term_error(
            piece,
            format!("unknown unit \"{other}\"; use ms, s or us"),
        )),
    }
}

fn term_error(piece: &str, message: String) -> Error {
    Error::Slo(format!("SLO term \"{piece}\": {message}"))
}

/// The accepted metric names, comma-separated.
fn accepted() -> String {
    let names: Vec<&str> = SLO_METRICS.iter().map(|m| m.name()).collect();
    names.join(", ")
}

/// A bound without float noise (`0.3 s` is `300`, not `300.00000000000006`).
fn bound_text(bound: f64) -> String {
    let text = format!("{bound:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
