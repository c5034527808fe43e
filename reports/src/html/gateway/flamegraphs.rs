//! A gateway's flamegraphs: per profiled level, on CPU and off CPU side by side with the notes on
//! its waits (off-CPU classes, a Node event loop's utilization, a Python gateway's py-spy waits),
//! and the diff flamegraphs against the run's base gateway.

use std::fmt::Write as _;
use std::path::Path;

use crate::analysis::offered_text;
use crate::html::{escape, flame, not_available};
use crate::schema::{LevelResult, OffCpu, PythonWaits, RunResult};

/// Per profiled level, the CPU flamegraph and the off-CPU one side by side (the first level
/// open, the rest folded away), with the stage colours' legend.
pub(super) fn flamegraphs(dir: &Path, name: &str, levels: &[&LevelResult]) -> String {
    let mut out = String::from("<h3>Flamegraphs</h3>");
    let profiled: Vec<&&LevelResult> = levels
        .iter()
        .filter(|l| l.flamegraph.is_some() || l.offcpu_flamegraph.is_some())
        .collect();
    if profiled.is_empty() {
        let why = levels
            .iter()
            .find_map(|l| l.flamegraph_missing.as_deref())
            .unwrap_or("this gateway was not profiled at any level");
        out.push_str(&not_available(why));
        return out;
    }
    out.push_str(
        "<p class=\"note\">Both sampled during each level's warmup, at the measured level's load. \
         Left, on CPU: where its threads spend CPU (samples). Right, off CPU: where they wait, \
         weighted by the time blocked (a switch-out to its switch-in), the wait class as the root \
         frame (<code>lock</code>, <code>preempted</code>, <code>io_poll</code>, <code>io</code>, \
         <code>park</code>, <code>sleep</code>). Click a frame to zoom, “Search” (top right) to \
         highlight frames by regex.</p>",
    );
    out.push_str(&stage_legend());
    for (i, level) in profiled.iter().enumerate() {
        let title = format!(
            "{name}, level {} ({})",
            level.level,
            offered_text(&level.offered)
        );
        let body = level_flamegraphs(dir, level, &title);
        out.push_str(&details(i == 0, &title, &body));
    }
    out
}

/// One level's on- and off-CPU flamegraphs (or why each is missing), then its wait notes.
fn level_flamegraphs(dir: &Path, level: &LevelResult, title: &str) -> String {
    let on = match flame::level_svg(dir, level) {
        Ok(svg) => flame::embed(&svg, &format!("{title}, on CPU")),
        Err(_) => not_available(
            level
                .flamegraph_missing
                .as_deref()
                .unwrap_or("no CPU profile at this level"),
        ),
    };
    let off_title = format!("{title}, off CPU");
    let off = match flame::svg_at(dir, level.offcpu_flamegraph.as_deref(), &off_title) {
        Ok(svg) => flame::embed(&svg, &off_title),
        Err(_) => not_available(
            level
                .offcpu
                .reason
                .as_deref()
                .unwrap_or("no off-CPU profile at this level"),
        ),
    };
    let waits = level
        .offcpu
        .value
        .as_ref()
        .map_or(String::new(), offcpu_note);
    let elu = level.event_loop_utilization.map_or(String::new(), |elu| {
        format!(
            "<p class=\"note\">Event loop utilization over the CPU window: {:.0}% (near 100%: \
             its one JavaScript thread is saturated).</p>",
            100.0 * elu
        )
    });
    let python = level
        .python_waits
        .as_ref()
        .map_or(String::new(), |py| python_waits(dir, title, py));
    format!(
        "<div class=\"grid\"><div><h4>On CPU</h4>{on}</div><div><h4>Off CPU</h4>{off}</div></div>{waits}{elu}{python}"
    )
}

/// Wait classes with their shares: `lock 40%, io 10%`.
fn wait_classes(waits: &OffCpu) -> String {
    let classes: Vec<String> = waits
        .waits
        .iter()
        .map(|(class, share)| format!("{class} {:.0}%", 100.0 * share))
        .collect();
    classes.join(", ")
}

/// The off-CPU window in one note: threads blocked, wait classes, the lock share.
fn offcpu_note(off: &OffCpu) -> String {
    format!(
        "<p class=\"note\">Off CPU over {:.1} s: {:.1} threads blocked on average; {}; \
         lock waits {:.0}% of the waits that held up work.</p>",
        off.window_s,
        off.blocked_threads,
        escape(&wait_classes(off)),
        100.0 * off.lock_share_of_working
    )
}

/// A Python gateway's py-spy waits: their flamegraph, and the GIL held per interpreter.
fn python_waits(dir: &Path, title: &str, py: &PythonWaits) -> String {
    let py_title = format!("{title}, Python waits (py-spy)");
    let graph = flame::svg_at(dir, py.flamegraph.as_deref(), &py_title)
        .map_or_else(|_| String::new(), |svg| flame::embed(&svg, &py_title));
    let gil: Vec<String> = py
        .gil_held
        .iter()
        .map(|share| format!("{:.0}%", 100.0 * share))
        .collect();
    format!(
        "<h4>Python waits (py-spy)</h4>{graph}<p class=\"note\">{} snapshot(s) of {} \
         interpreter(s), {} ms apart. GIL held, per interpreter: {} (near 100%: that \
         interpreter cannot use a second core). Idle threads' Python stacks, one sample \
         each: {}.</p>",
        py.snapshots,
        py.interpreters,
        py.interval_ms,
        gil.join(", "),
        escape(&wait_classes(&py.waits))
    )
}

/// The stage colours of the flamegraphs.
fn stage_legend() -> String {
    let items: String = crate::flamegraph::STAGE_COLOURS
        .iter()
        .map(|(stage, colour)| {
            format!(
                "<span class=\"swatch\" style=\"background:{colour}\"></span>{} ",
                escape(stage)
            )
        })
        .collect();
    format!(
        "<p class=\"note legend\">Stage colours (frames a gateway's stage map names, and frames \
         found only beneath them; the rest keep the red–yellow palette): {items}</p>"
    )
}

/// A collapsible section (`open` for the first of a list) titled `title`.
fn details(open: bool, title: &str, body: &str) -> String {
    format!(
        "<details{}><summary>{}</summary>{body}</details>",
        if open { " open" } else { "" },
        escape(title)
    )
}

/// Diff flamegraphs of this gateway against `base` at each level both profiled.
pub(super) fn diffs(
    run: &RunResult,
    dir: &Path,
    name: &str,
    levels: &[&LevelResult],
    base: Option<&str>,
) -> String {
    let mut out = String::from("<h3>Diff flamegraphs</h3>");
    let Some(base) = base else {
        out.push_str(&not_available("no gateway in this run has a flamegraph"));
        return out;
    };
    if base == name {
        out.push_str("<p class=\"note\">This gateway is the base the other gateways' diff flamegraphs compare against.</p>");
        return out;
    }
    let pairs: Vec<(&LevelResult, &LevelResult)> = levels
        .iter()
        .filter(|l| l.flamegraph.is_some())
        .filter_map(|l| {
            let other = run
                .levels
                .iter()
                .find(|b| b.target == base && b.level == l.level && b.flamegraph.is_some())?;
            Some((*l, other))
        })
        .collect();
    if pairs.is_empty() {
        out.push_str(&not_available(&format!(
            "no level where both {name} and the base {base} were profiled"
        )));
        return out;
    }
    let _ = write!(
        out,
        "<p class=\"note\">Frame width: {0}'s samples. Colour: change from {1} at the same level, \
         {1} normalized to the same sample total: <b style=\"color:#c00\">red</b> = more samples \
         in {0}, <b style=\"color:#00c\">blue</b> = fewer. Frames only one side has are \
         meaningful only where both run the same code.</p>",
        escape(name),
        escape(base)
    );
    for (i, (level, base_level)) in pairs.into_iter().enumerate() {
        let title = format!(
            "{name} vs {base}, level {} ({})",
            level.level,
            offered_text(&level.offered)
        );
        let body = flame::level_folded(dir, base_level)
            .and_then(|base_folded| {
                let folded = flame::level_folded(dir, level)?;
                flame::diff_svg(
                    &base_folded,
                    &folded,
                    &title,
                    &format!("red: more samples than {base}; blue: fewer"),
                )
            })
            .map_or_else(|why| not_available(&why), |svg| flame::embed(&svg, &title));
        out.push_str(&details(i == 0, &title, &body));
    }
    out
}
