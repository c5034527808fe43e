//! The HTML report of a synthetic run: every chart present, no network references, flags and
//! missing values shown, frontier evidence, flamegraphs and diffs embedded, atomic write.

mod common;
mod fixture;

use std::collections::BTreeSet;

use reports::analysis::{frontier, levels_of, stage_growth};
use reports::html::{read_run, render, write_report, ReportOptions};

fn report(test: &str, options: &ReportOptions) -> String {
    let dir = fixture::results_dir(test);
    render(&fixture::run(), &dir, options).expect("renders")
}

/// The `data-chart` ids of every inline chart, in page order.
fn chart_ids(html: &str) -> Vec<String> {
    html.split("<svg class=\"chart\" data-chart=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').expect("closing quote")].to_string())
        .collect()
}

/// The text of the `<section id="…">` with this id.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<section id=\"{id}\""))
        .unwrap_or_else(|| panic!("section {id}"));
    let end = html[start..].find("</section>").expect("section end");
    &html[start..start + end]
}

#[test]
fn every_chart_is_drawn_once() {
    let html = report("charts", &ReportOptions::default());
    let ids = chart_ids(&html);
    let mut expected: BTreeSet<String> = [
        "throughput",
        "latency-vs-load",
        "added-latency",
        "errors",
        "cpu",
        "rss",
        "frontier",
        "stage-share-gw-reference",
        "stage-growth-gw-reference",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for level in 0..3 {
        for metric in ["e2e", "ttft", "itl"] {
            expected.insert(format!("{metric}-l{level}"));
        }
    }
    assert_eq!(ids.len(), expected.len(), "no chart twice: {ids:?}");
    assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(
        html.matches("</svg>").count() - html.matches("<svg").count(),
        0,
        "every svg closed"
    );
}

#[test]
fn the_page_needs_no_network() {
    let html = report("offline", &ReportOptions::default());
    for needle in ["<link", "@import", "url(", "<script src", "<img"] {
        assert!(!html.contains(needle), "found {needle}");
    }
    // Every src/href is a data: URI or an in-page anchor.
    for attribute in ["src=\"", "href=\""] {
        for rest in html.split(attribute).skip(1) {
            assert!(
                rest.starts_with("data:") || rest.starts_with('#'),
                "{attribute}{}",
                &rest[..rest.len().min(60)]
            );
        }
    }
    // The only http(s) text outside the flamegraph data URIs is the SVG namespace.
    for scheme in ["http://", "https://"] {
        for rest in html.split(scheme).skip(1) {
            assert!(
                rest.starts_with("www.w3.org/2000/svg\""),
                "{scheme}{}",
                &rest[..40]
            );
        }
    }
    assert!(html.contains("name=\"viewport\""), "readable on a phone");
}

#[test]
fn flagged_levels_are_marked() {
    let html = report("flags", &ReportOptions::default());
    let levels = section(&html, "levels");
    let flagged: Vec<&str> = levels
        .split("<tr")
        .filter(|row| row.contains("class=\"flagged\""))
        .collect();
    assert_eq!(flagged.len(), 1, "one flagged row");
    assert!(flagged[0].contains(">other<") && flagged[0].contains("400 req/s"));
    assert!(flagged[0].contains("rig limited"));
    assert!(flagged[0].contains("send lag p99 12 ms above the 1 ms threshold"));
    assert!(
        section(&html, "load").contains("rig/mock limited"),
        "chart legend"
    );
    assert!(section(&html, "method").contains("rig limited</b>: the load generator"));
}

#[test]
fn missing_values_show_their_reason_not_zero() {
    let html = report("missing", &ReportOptions::default());
    let levels = section(&html, "levels");
    assert!(levels.contains("n/a: process exited before sampling"));
    assert!(levels.contains("n/a: direct: no gateway process"));
    assert!(levels.contains("n/a: scenario sets no SLO"));
    for row in levels.split("<tr").filter(|r| r.contains(">direct<")) {
        assert!(
            row.contains(">baseline<"),
            "direct has no added latency: {row}"
        );
    }
    assert!(section(&html, "method").contains("n/a: uname failed"));
    // `other`'s CPU cells hold the reason, never a number.
    for row in levels.split("<tr").filter(|r| r.contains(">other<")) {
        assert!(row.contains("process exited before sampling"), "{row}");
    }
}

#[test]
fn frontier_readings_carry_evidence_and_floor() {
    let run = fixture::run();
    let reference = levels_of(&run, "reference");
    let at_10 = frontier(&reference, 10.0).expect("reading");
    assert_eq!((at_10.level, at_10.p99_ms, at_10.floor), (2, 8.0, true));
    let at_5 = frontier(&reference, 5.0).expect("reading");
    assert_eq!((at_5.level, at_5.floor), (1, false));
    assert!(frontier(&reference, 1.0)
        .unwrap_err()
        .contains("3.000 ms at level 0"));
    // `other`'s top level is rig limited: the 50 ms reading is a floor from level 1.
    let other = levels_of(&run, "other");
    let at_50 = frontier(&other, 50.0).expect("reading");
    assert_eq!((at_50.level, at_50.floor), (1, true));
    let at_100 = frontier(&other, 100.0).expect("reading");
    assert_eq!(at_100.level, 1, "flagged level 2 never counts");

    let html = report("frontier", &ReportOptions::default());
    let table = section(&html, "frontier");
    let reference_row = table
        .split("<tr>")
        .find(|row| row.contains(">reference<"))
        .expect("reference row");
    assert!(reference_row.contains("≥ <b>396.0 req/s</b><br>at level 2 (400 req/s), p99 8.000 ms"));
    assert!(reference_row.contains(">floor</span>"));
    assert!(
        reference_row.contains("<b>198.0 req/s</b><br>at level 1 (200 req/s), p99 4.000 ms</td>")
    );
    assert!(reference_row.contains("n/a: p99 above 1 ms at every level"));
}

#[test]
fn serializing_stage_is_named() {
    let run = fixture::run();
    let (low, high, rows) = stage_growth(&levels_of(&run, "reference")).expect("two levels");
    assert_eq!((low, high), (0, 2));
    let verdicts: Vec<(&str, bool)> = rows
        .iter()
        .map(|r| (r.stage.as_str(), r.serializes))
        .collect();
    assert_eq!(
        verdicts,
        [("parse", false), ("forward", false), ("log", true)]
    );

    let html = report("serializes", &ReportOptions::default());
    let gateway = section(&html, "gw-reference");
    let log_row = gateway
        .split("<tr>")
        .find(|row| row.starts_with("<td class=\"l\">log</td>") && row.contains('×'))
        .expect("log growth row");
    assert!(log_row.contains("×4.00") && log_row.contains("serializes"));
    assert!(section(&html, "gw-other").contains("n/a: needs the gateway"));
}

#[test]
fn flamegraphs_and_diffs_are_embedded_as_documents() {
    let html = report("flames", &ReportOptions::default());
    // reference: levels 0 and 2; other: level 0 (re-rendered from folded); diff other vs
    // reference at level 0.
    assert_eq!(html.matches("<iframe class=\"flame\"").count(), 4);
    assert_eq!(html.matches("src=\"data:image/svg+xml;base64,").count(), 4);
    let other = section(&html, "gw-other");
    assert!(other.contains("title=\"other vs reference, level 0 (100 req/s)\""));
    assert!(section(&html, "gw-reference").contains("is the base"));

    let html = report(
        "flames-base",
        &ReportOptions {
            base_gateway: Some("other".into()),
        },
    );
    assert!(section(&html, "gw-reference").contains("title=\"reference vs other, level 0"));
    let err = render(
        &fixture::run(),
        &fixture::results_dir("flames-unknown"),
        &ReportOptions {
            base_gateway: Some("nginx".into()),
        },
    )
    .unwrap_err();
    assert!(matches!(err, reports::Error::UnknownBase { .. }));
    assert!(err.to_string().contains("reference, other"));
}

#[test]
fn write_report_replaces_the_file_atomically_and_stays_small() {
    let dir = fixture::results_dir("write");
    let path = write_report(&dir, &ReportOptions::default()).expect("writes");
    assert_eq!(path, dir.join("report.html"));
    assert!(!dir.join(".report.html.tmp").exists(), "temp file renamed");
    let size = std::fs::metadata(&path).expect("exists").len();
    assert!(size < 1_000_000, "report is {size} bytes");
    let html = std::fs::read_to_string(&path).expect("utf8");
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));

    std::fs::write(dir.join("run.json"), r#"{"schema_version": 99}"#).expect("overwrite");
    let err = read_run(&dir).unwrap_err();
    assert!(matches!(err, reports::Error::RunFile { .. }), "{err}");
    assert!(
        err.to_string().contains("run.json"),
        "names the file: {err}"
    );
}

#[test]
fn a_version_1_run_reads_with_the_new_fields_null_and_renders() {
    let dir = fixture::results_dir("v1");
    fixture::schema_v1::rewrite_as_version_1(&dir.join("run.json"));
    let run = read_run(&dir).expect("a version-1 run reads");
    assert_eq!(run.schema_version, 1);
    let level = &run.levels[0];
    assert!(!level.saturated);
    assert_eq!(level.outstanding_at_end.value, None);
    assert_eq!(
        level.rig.mock_lateness.reason.as_deref(),
        Some("not recorded (schema version 1)")
    );
    write_report(&dir, &ReportOptions::default()).expect("a version-1 run still renders");
}

#[test]
fn a_thin_p99_is_marked_with_its_n_and_a_null_p999_says_why() {
    // The fixture's summaries hold 100 samples: p99 needs 1,000, p99.9 10,000.
    let html = report("thin", &ReportOptions::default());
    let levels = section(&html, "levels");
    assert!(
        levels.contains("title=\"p99 needs ≥ 1000 samples (n·(1−q) ≥ 10); this has 100\">~</sup>"),
        "{levels}"
    );
    assert!(levels.contains("<sup>~</sup> a percentile from too few samples"));
    // The stage table's p99.9 column: n/a, with what it needs and has.
    assert!(
        html.contains("n/a: p99.9 needs ≥ 10000 samples (n·(1−q) ≥ 10); this has 100"),
        "stage p99.9"
    );
}
