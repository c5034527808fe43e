//! The HTML report in a real browser: headless Chromium loads `report.html` from disk, driven
//! over the DevTools protocol (`--remote-debugging-pipe`), and the test checks that no script
//! fails (page or flamegraph iframes, on load and on click/search), that every chart and
//! flamegraph is in the rendered DOM, and leaves a full-page screenshot for a human to look at.
//!
//! Errors are collected from `Runtime.exceptionThrown` (uncaught exceptions and rejections in any
//! frame), `Runtime.consoleAPICalled` of type `error` and `Log.entryAdded` at level `error`.
//! `an_injected_error_fails_the_check` proves the check can fail.
//!
//! Opt-in when absent: without Chromium (`GATEBENCH_CHROMIUM`, else `/usr/bin/chromium` or
//! `chromium` on `PATH`) the tests print why and pass, unless `CI` or
//! `GATEBENCH_REQUIRE_CHROMIUM=1` is set.

mod common;
mod devtools;
mod fixture;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use devtools::{Browser, STEP_TIMEOUT};
use reports::html::{write_report, ReportOptions};
use serde_json::json;

/// Viewport width of the checks and the screenshot, px.
const VIEWPORT_WIDTH_PX: u64 = 1280;

/// The Chromium binary, or `None` (after saying so) when the test should be skipped.
/// `GATEBENCH_CHROMIUM`, when set, is the only candidate; else `/usr/bin/chromium`, else
/// `chromium` on `PATH`.
fn chromium() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("GATEBENCH_CHROMIUM") {
        Some(binary) => vec![PathBuf::from(binary)],
        None => std::iter::once(PathBuf::from("/usr/bin/chromium"))
            .chain(std::env::var_os("PATH").into_iter().flat_map(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join("chromium"))
                    .collect::<Vec<_>>()
            }))
            .collect(),
    };
    let found = candidates.into_iter().find(|candidate| candidate.is_file());
    if found.is_none() {
        let required = std::env::var_os("CI").is_some()
            || std::env::var("GATEBENCH_REQUIRE_CHROMIUM").as_deref() == Ok("1");
        assert!(
            !required,
            "chromium not installed but required (CI or GATEBENCH_REQUIRE_CHROMIUM=1): \
             apt-get install chromium, or point GATEBENCH_CHROMIUM at a Chromium binary"
        );
        println!("skipping: chromium not installed (apt-get install chromium)");
    }
    found
}

/// What the browser made of one page.
struct PageCheck {
    /// Script errors, in order, from the page and its flamegraph iframes.
    errors: Vec<String>,
    /// `data-chart` ids of the inline charts that were laid out with a non-zero size.
    drawn_charts: Vec<String>,
    /// Flamegraph iframes in the DOM.
    flame_iframes: usize,
    /// Flamegraph documents whose script ran its `init` on load.
    initialized_flamegraphs: usize,
    /// Flamegraph documents where a click zoomed in and a search ran to the end.
    interactive_flamegraphs: usize,
}

/// Loads `page` in a fresh headless Chromium with every `<details>` opened, screenshots it to
/// `screenshot`, then clicks a frame and searches in each flamegraph.
fn check_page(binary: &Path, page: &Path, screenshot: &Path) -> PageCheck {
    let out_dir = screenshot.parent().expect("screenshot in a dir");
    let mut browser = Browser::launch(binary, out_dir);
    let viewport = |height: u64| {
        json!({
            "width": VIEWPORT_WIDTH_PX,
            "height": height,
            "deviceScaleFactor": 1,
            "mobile": false,
        })
    };
    browser.call("Emulation.setDeviceMetricsOverride", viewport(900));
    let url = format!("file://{}", page.display());
    let navigated = browser.call("Page.navigate", json!({"url": url}));
    let main_frame = navigated["frameId"].clone();
    browser.wait_for("the page's load event", |e| {
        e["method"] == "Page.loadEventFired"
    });

    // Open every collapsed flamegraph and make the viewport as tall as the page, so every
    // `loading="lazy"` iframe is in view and loads.
    let height = browser.evaluate(
        None,
        "document.querySelectorAll('details').forEach(d => d.open = true); \
         document.documentElement.scrollHeight",
    );
    let height = height.as_u64().expect("scrollHeight is a number");
    browser.call("Emulation.setDeviceMetricsOverride", viewport(height));
    let flame_iframes = browser
        .evaluate(None, "document.querySelectorAll('iframe.flame').length")
        .as_u64()
        .expect("a count") as usize;
    // Each flamegraph document gets its own default execution context once it loads.
    let deadline = Instant::now() + STEP_TIMEOUT;
    while browser.frame_contexts(&main_frame).len() < flame_iframes && Instant::now() < deadline {
        browser.settle(Duration::from_millis(100));
    }
    let flame_contexts = browser.frame_contexts(&main_frame);
    // `init` runs from the SVG's onload; give it and its setTimeout(0) a moment.
    browser.settle(Duration::from_millis(300));

    let png = browser.screenshot();
    std::fs::write(screenshot, png).expect("write the screenshot");

    let drawn_charts = browser.evaluate(
        None,
        "[...document.querySelectorAll('svg[data-chart]')] \
         .filter(s => { const r = s.getBoundingClientRect(); return r.width > 0 && r.height > 0; }) \
         .map(s => s.dataset.chart)",
    );
    let drawn_charts = serde_json::from_value(drawn_charts).expect("a list of ids");

    // `known_font_width` is a global inferno's `init` sets; then use the flamegraph as a reader
    // would: zoom into a frame, then search. Errors thrown from event handlers and timers are
    // uncaught, so they arrive as `Runtime.exceptionThrown`.
    let mut initialized_flamegraphs = 0;
    for context in &flame_contexts {
        let id = context["id"].as_i64();
        if browser.evaluate(id, "typeof known_font_width === 'number'") == true {
            initialized_flamegraphs += 1;
        }
        browser.evaluate(
            id,
            "document.querySelector('#frames g') \
               .dispatchEvent(new MouseEvent('click', {bubbles: true})); \
             setTimeout(() => search('stage_'), 0); true",
        );
    }
    browser.settle(Duration::from_millis(300));
    // Zoomed in ("Reset Zoom" shown) and the search finished ("Reset Search", match percentage).
    let mut interactive_flamegraphs = 0;
    for context in &flame_contexts {
        let finished = browser.evaluate(
            context["id"].as_i64(),
            "!unzoombtn.classList.contains('hide') \
             && searchbtn.firstChild.nodeValue === 'Reset Search' \
             && matchedtxt.firstChild.nodeValue.startsWith('Matched: ')",
        );
        if finished == true {
            interactive_flamegraphs += 1;
        }
    }
    PageCheck {
        errors: browser.errors(),
        drawn_charts,
        flame_iframes,
        initialized_flamegraphs,
        interactive_flamegraphs,
    }
}

/// The fixture's report.html and a directory for this test's browser output.
fn report(test: &str) -> (PathBuf, PathBuf) {
    let dir = fixture::results_dir(test);
    let page = write_report(&dir, &ReportOptions::default()).expect("writes report.html");
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("browser-{test}"));
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).expect("create the browser output dir");
    (page, out_dir)
}

#[test]
fn report_renders_without_script_errors() {
    let Some(binary) = chromium() else { return };
    let started = Instant::now();
    let (page, out_dir) = report("browser");
    let html = std::fs::read_to_string(&page).expect("read report.html");
    let screenshot = out_dir.join("report.png");
    let check = check_page(&binary, &page, &screenshot);
    println!("screenshot: {}", screenshot.display());
    println!(
        "browser check took {:.1} s",
        started.elapsed().as_secs_f64()
    );

    assert!(
        check.errors.is_empty(),
        "script errors: {:#?}",
        check.errors
    );
    let charts_in_file = html.matches(" data-chart=\"").count();
    assert!(charts_in_file > 0, "the fixture's report has charts");
    assert_eq!(
        check.drawn_charts.len(),
        charts_in_file,
        "every chart laid out with a size: {:?}",
        check.drawn_charts
    );
    // Each profiled level's flamegraph, and `other`'s diff against `reference` at level 0.
    let run = fixture::run();
    let profiled = run.levels.iter().filter(|l| l.flamegraph.is_some()).count();
    assert_eq!(check.flame_iframes, profiled + 1, "flamegraph iframes");
    assert_eq!(
        check.initialized_flamegraphs, check.flame_iframes,
        "every flamegraph loaded and ran its script"
    );
    assert_eq!(
        check.interactive_flamegraphs, check.flame_iframes,
        "click-to-zoom and search work in every flamegraph"
    );
}

#[test]
fn an_injected_error_fails_the_check() {
    let Some(binary) = chromium() else { return };
    let (page, out_dir) = report("browser-injected");
    let html = std::fs::read_to_string(&page).expect("read report.html");
    let broken = html.replacen(
        "</body>",
        "<script>throw new Error(\"injected for the test\")</script></body>",
        1,
    );
    assert_ne!(broken, html, "the page has a </body> to inject before");
    let broken_page = out_dir.join("broken.html");
    std::fs::write(&broken_page, broken).expect("write the broken page");
    let check = check_page(&binary, &broken_page, &out_dir.join("broken.png"));
    assert!(
        check
            .errors
            .iter()
            .any(|e| e.contains("injected for the test")),
        "the thrown error is reported: {:#?}",
        check.errors
    );
}

/// history.html in the browser: twelve synthetic runs of one gateway, the last six 1 ms slower.
/// No script error, every series' chart drawn, the change point found where the slow runs start
/// and marked, and every run link resolving to that run's report.
#[test]
fn history_renders_every_series_with_working_links() {
    use reports::history::{analyze, edivisive::Settings, load};
    let Some(binary) = chromium() else { return };
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-history");
    let _ = std::fs::remove_dir_all(&root);
    for i in 0..12u64 {
        let mut spec = common::TrialSpec::new(500 + i);
        if i >= 6 {
            spec.e2e_shift_ms = 1.0;
        }
        let mut run = common::run(&spec);
        run.run_id = format!("20260101-{:06}-history", i * 100);
        run.started_unix_ms = 1_767_225_600_000 + i * 60_000;
        let dir = root.join("results").join(&run.run_id);
        std::fs::create_dir_all(&dir).expect("run dir");
        std::fs::write(
            dir.join("run.json"),
            serde_json::to_string(&run).expect("serializes"),
        )
        .expect("run.json");
        std::fs::write(dir.join("report.html"), format!("<p>{}</p>", run.run_id))
            .expect("report.html");
    }
    let runs = load(&[root.join("results")]).expect("loads");
    let history = analyze(&runs, &Settings::default());
    let first_slow = &runs[6].1.run_id;
    assert!(
        history
            .change_points
            .iter()
            .any(|c| c.metric == "overhead_p50" && &c.run_id == first_slow),
        "the overhead step is found at the first slow run: {:?}",
        history.change_points
    );
    let page = reports::html::write_history(&history, &root.join("history.html"))
        .expect("writes history.html");
    let html = std::fs::read_to_string(&page).expect("read history.html");
    let check = check_page(&binary, &page, &root.join("history.png"));
    println!("screenshot: {}", root.join("history.png").display());
    assert!(
        check.errors.is_empty(),
        "script errors: {:#?}",
        check.errors
    );
    assert_eq!(
        html.matches(" data-chart=\"").count(),
        history.series.len(),
        "one chart per series"
    );
    assert_eq!(
        check.drawn_charts.len(),
        history.series.len(),
        "every chart laid out with a size: {:?}",
        check.drawn_charts
    );
    assert!(
        html.contains("change point (new segment)"),
        "the change is marked in its chart's legend"
    );
    // Every link is relative to history.html's folder and opens a run's report.
    let hrefs: Vec<&str> = html
        .split("<a class=\"run\" href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(
        hrefs.len() > runs.len(),
        "the run table links every run, the change table and charts the first slow one: {hrefs:?}"
    );
    for href in &hrefs {
        assert!(
            !href.starts_with('/') && !href.starts_with("file:"),
            "{href}"
        );
        assert!(root.join(href).is_file(), "{href} opens a report");
    }
    assert!(
        hrefs.iter().any(|h| h.contains(first_slow.as_str())),
        "the first slow run is linked"
    );
}
