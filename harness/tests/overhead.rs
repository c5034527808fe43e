//! The gateway's own cost, per request: a known 200 µs injected into the route stage shows as
//! +200 µs of added p50 over its delay-free twin (within 50 µs), and at one virtual user a
//! pass-through proxy's added p50, over five levels' requests, is positive with its whole
//! interval above zero.

mod common;

use common::*;
use reports::stats::{
    bootstrap_quantile_contrast, BootstrapOptions, Contrast, EmpiricalDistribution,
};

#[test]
fn a_known_delay_shows_in_added_latency_and_a_proxy_costs_more_than_nothing() {
    let (child, dir, out) = spawn_run(
        "overhead",
        "targets = [\"direct\", \"reference\", \"reference@inject-route-200us\"]\n[load]\nmodel = \"closed\"\nlevels = [1, 1, 1, 1, 1]\nwarmup_s = 0.3\nduration_s = 1.2\nstream = false\n[profile]\nenabled = false\n[mock]\nttft_ms = 5\nitl_ms = 0\noutput_tokens = 16\ntokens_per_chunk = 16\n",
    );
    let output = child.wait_with_output().expect("gatebench exits");
    assert_eq!(output.status.code(), Some(0));
    let run = read_run(&out);
    // Five identical levels: each runs direct, the twin and the slowed twin back to back, so
    // the machine's drift between targets seconds apart cancels in the median of the shifts.
    let level = |name: &str, index: usize| {
        run.levels
            .iter()
            .find(|l| l.target == name && l.level == index)
            .unwrap_or_else(|| panic!("{name} measured at level {index}"))
    };
    let added = |name: &str, index: usize, key: &str| {
        let l = level(name, index);
        let (value, ci) = (&l.added_latency_ms[key], &l.added_latency_ci_ms[key]);
        let why = |reason: &Option<String>| format!("{name} L{index} {key}: {reason:?}");
        let value = value
            .value
            .unwrap_or_else(|| panic!("{}", why(&value.reason)));
        let ci = ci.value.unwrap_or_else(|| panic!("{}", why(&ci.reason)));
        (value, ci)
    };
    let mut shifts_us: Vec<f64> = (0..5)
        .map(|i| {
            let (twin, twin_ci) = added("reference", i, "e2e_p50");
            let (slow, _) = added("reference@inject-route-200us", i, "e2e_p50");
            eprintln!(
                "level {i}: added p50 reference {:.0} µs [{:.0}, {:.0}], +200 µs twin {:.0} µs",
                twin * 1e3,
                twin_ci[0] * 1e3,
                twin_ci[1] * 1e3,
                slow * 1e3
            );
            (slow - twin) * 1e3
        })
        .collect();
    shifts_us.sort_by(f64::total_cmp);
    let shift_us = shifts_us[2];
    assert!(
        (150.0..=250.0).contains(&shift_us),
        "200 µs injected shows as +{shift_us:.0} µs (median of {shifts_us:?})"
    );
    // A proxy costs something: over the five levels' requests pooled (one level's ~200 requests
    // on this VM can catch a disturbance that puts direct above the proxy), its added p50 and
    // the whole of its interval are above zero.
    let pooled = |name: &str| {
        let mut all: Option<hdrhistogram::Histogram<u64>> = None;
        for i in 0..5 {
            let text = &level(name, i).histograms["outside_mock"];
            let h = contract::histogram::deserialize_histogram(text).expect("histogram");
            match all.as_mut() {
                None => all = Some(h),
                Some(a) => a.add(&h).expect("same bounds"),
            }
        }
        EmpiricalDistribution::from_histogram(&all.expect("five levels")).expect("samples")
    };
    let added_p50 = bootstrap_quantile_contrast(
        &pooled("direct"),
        &pooled("reference"),
        0.5,
        Contrast::Difference,
        &BootstrapOptions::default(),
    )
    .expect("an interval");
    eprintln!(
        "pooled: added p50 reference {:.0} µs [{:.0}, {:.0}]",
        added_p50.estimate, added_p50.ci.low, added_p50.ci.high
    );
    assert!(
        added_p50.estimate > 0.0 && added_p50.ci.low > 0.0,
        "pooled added p50 {} µs [{}, {}]",
        added_p50.estimate,
        added_p50.ci.low,
        added_p50.ci.high
    );
    // The tail of ~220 requests: its point stands, its interval is null saying how many
    // samples it needs (n·(1−q) ≥ 10), never a bootstrap of two or three values.
    let tail = &level("reference", 2).added_latency_ci_ms["e2e_p99"];
    assert!(level("reference", 2).added_latency_ms["e2e_p99"]
        .value
        .is_some());
    assert!(
        tail.value.is_none()
            && tail
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("≥ 1000 samples"),
        "{tail:?}"
    );
    let direct = level("direct", 0);
    assert_eq!(
        direct.added_latency_ms["e2e_p50"].reason.as_deref(),
        Some("baseline")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
