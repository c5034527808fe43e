//! How often does `gatebench gate` fail when nothing changed? Runs GATES real A/A gates in run
//! mode (the reference gateway against itself, default trials, the short `gate-stream` scenario
//! unless SCENARIO says otherwise) one after another and prints the false-positive rate with its
//! exact (Clopper–Pearson) 95% interval, and each gate's smallest Holm-adjusted p and largest
//! adverse move. About 80 s a gate on 2 cores.
//!
//!   cargo bench -p harness --bench gate_aa                 # 10 gates
//!   GATES=20 SCENARIO=gate-smoke cargo bench -p harness --bench gate_aa

use std::process::Command;

use serde_json::Value;

fn main() {
    let gates: u32 = std::env::var("GATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let scenario = std::env::var("SCENARIO").unwrap_or_else(|_| "gate-stream".into());
    let out = std::env::temp_dir().join(format!("gatebench-gate-aa-{}", std::process::id()));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut failed = 0u32;
    let mut errors = 0u32;
    println!(
        "A/A gates: {gates} × `gate --scenario {scenario}` reference vs reference, default trials"
    );
    for gate in 1..=gates {
        let started = std::time::Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_gatebench"))
            .current_dir(&root)
            .args(["gate", "--scenario", &scenario])
            .args([
                "--baseline-target",
                "reference",
                "--candidate-target",
                "reference",
            ])
            .arg("--json")
            .arg("--out")
            .arg(&out)
            .env_remove("GITHUB_STEP_SUMMARY")
            .output()
            .expect("run gatebench gate");
        let seconds = started.elapsed().as_secs_f64();
        let code = output.status.code();
        let json: Option<Value> = serde_json::from_slice(&output.stdout).ok();
        let decision = json
            .as_ref()
            .and_then(|j| j["decisions"].as_array()?.last().cloned());
        let (smallest, adverse) = decision.as_ref().map_or((f64::NAN, String::new()), summary);
        match code {
            Some(0) => {}
            Some(1) => failed += 1,
            _ => {
                errors += 1;
                let stderr = String::from_utf8_lossy(&output.stderr);
                println!(
                    "gate {gate}: error (exit {code:?}): {}",
                    stderr.lines().last().unwrap_or("")
                );
                continue;
            }
        }
        println!(
            "gate {gate:>2}: {} in {seconds:.0} s; smallest Holm p {smallest:.4}; largest adverse move {adverse}",
            if code == Some(0) { "pass" } else { "FAIL" }
        );
    }
    let _ = std::fs::remove_dir_all(&out);
    let decided = gates - errors;
    if decided == 0 {
        println!("no gate decided");
        return;
    }
    let (low, high) = clopper_pearson(failed, decided, 0.95);
    println!(
        "false positives: {failed} of {decided} A/A gates ({:.1}%, 95% CI [{:.1}%, {:.1}%]){}",
        100.0 * f64::from(failed) / f64::from(decided),
        100.0 * low,
        100.0 * high,
        if errors > 0 {
            format!("; {errors} gate(s) errored and are left out")
        } else {
            String::new()
        }
    );
}

/// The decision's smallest Holm-adjusted p over the primary findings, and its largest adverse
/// primary move (metric and change).
fn summary(decision: &Value) -> (f64, String) {
    let findings = decision["findings"].as_array().cloned().unwrap_or_default();
    let primary: Vec<&Value> = findings.iter().filter(|f| f["primary"] == true).collect();
    let smallest = primary
        .iter()
        .filter_map(|f| f["p_adjusted"].as_f64())
        .fold(f64::INFINITY, f64::min);
    let adverse = primary
        .iter()
        .filter_map(|f| {
            let limit = f["limit"].as_f64()?;
            let change = f["change"].as_f64()?;
            let bad = if f["metric"] == "achieved_rps" {
                -change
            } else {
                change
            };
            Some((bad / limit.max(1e-12), f))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(share, f)| {
            format!(
                "{} {:+.4} ({:.0}% of its limit)",
                f["metric"].as_str().unwrap_or("?"),
                f["change"].as_f64().unwrap_or(f64::NAN),
                100.0 * share
            )
        })
        .unwrap_or_default();
    (smallest, adverse)
}

/// Exact binomial interval for `k` successes of `n` at `confidence`, by bisection on the
/// binomial tail probabilities.
fn clopper_pearson(k: u32, n: u32, confidence: f64) -> (f64, f64) {
    let tail = (1.0 - confidence) / 2.0;
    // P(X ≥ k) and P(X ≤ k) for X ~ Binomial(n, p).
    let at_least = |p: f64| (k..=n).map(|i| pmf(i, n, p)).sum::<f64>();
    let at_most = |p: f64| (0..=k).map(|i| pmf(i, n, p)).sum::<f64>();
    let solve = |f: &dyn Fn(f64) -> f64, rising: bool| {
        let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
        for _ in 0..100 {
            let mid = (lo + hi) / 2.0;
            if (f(mid) < tail) == rising {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (lo + hi) / 2.0
    };
    let low = if k == 0 { 0.0 } else { solve(&at_least, true) };
    let high = if k == n { 1.0 } else { solve(&at_most, false) };
    (low, high)
}

fn pmf(i: u32, n: u32, p: f64) -> f64 {
    let ln_choose: f64 = (1..=i)
        .map(|j| f64::from(n - i + j).ln() - f64::from(j).ln())
        .sum();
    (ln_choose + f64::from(i) * p.ln() + f64::from(n - i) * (1.0 - p).ln()).exp()
}
