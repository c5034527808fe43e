//! Past the knee: a target with a known capacity (the reference gateway with one mutex around
//! 2 ms of work: at most ~500 req/s) offered 3× that reports its capacity as achieved RPS, not
//! the offered rate, and is flagged `saturated`; offered 10×, the level still ends on time.

mod common;

use std::time::{Duration, Instant};

use common::*;
use harness::analysis::{level_result, LevelContext};
use harness::load::LevelMeasurement;
use mock_upstream::{MockConfig, MockServer};
use reports::OfferedLoad;
use rig_primitives::Distribution;

const WORK_US: u64 = 2_000;

/// A mock answering non-streamed at once, and the mutex-bound gateway in front of it, on a
/// runtime of their own.
fn capacity_limited() -> (tokio::runtime::Runtime, MockServer, gateway::Gateway) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (mock, gw) = rt.block_on(async {
        let config = MockConfig {
            ttft_ms: Distribution::Fixed(0.0),
            itl_ms: Distribution::Fixed(0.0),
            output_tokens: Distribution::Fixed(4.0),
            ..MockConfig::default()
        };
        let mock = MockServer::start("127.0.0.1:0".parse().expect("addr"), config)
            .await
            .expect("mock");
        let toml = format!(
            "[[upstreams]]\nname = \"m\"\nurl = \"http://{}\"\n[[routes]]\nupstreams = [\"m\"]\n[rate_limit]\nimpl = \"mutex\"\nwork_us = {WORK_US}\nrequests_per_s = 1000000\nburst = 1000000\n",
            mock.local_addr()
        );
        let config = gateway::GatewayConfig::from_toml(&toml, "test").expect("config");
        let gw = gateway::Gateway::start_with("127.0.0.1:0".parse().expect("addr"), config)
            .await
            .expect("gateway");
        (mock, gw)
    });
    (rt, mock, gw)
}

fn level(offered: OfferedLoad, warmup_s: f64, duration_s: f64) -> harness::load::LevelSpec {
    let mut spec = spec(offered, duration_s, false);
    spec.warmup = Duration::from_secs_f64(warmup_s);
    spec.connections = 64;
    spec.timeout = Duration::from_secs(2);
    spec.drain = Duration::from_secs(1);
    spec
}

fn result(offered: OfferedLoad, measurement: &LevelMeasurement) -> reports::LevelResult {
    level_result(LevelContext::standalone("gw", offered, false), measurement)
}

#[test]
fn past_the_knee_achieved_rps_is_capacity_and_the_level_ends_on_time() {
    let (rt, mock, gw) = capacity_limited();
    let addr = gw.local_addr();

    // The capacity, measured closed loop (no think time) in this test.
    let closed = OfferedLoad::Closed { virtual_users: 16 };
    let max = result(closed.clone(), &drive(addr, &level(closed, 0.5, 2.0)));
    let capacity = max.achieved_rps;
    assert!(
        (250.0..=520.0).contains(&capacity),
        "one request at a time through {WORK_US} µs: {capacity:.0}/s"
    );

    // 3× capacity, open loop: achieved is what completed, within 15% of the capacity.
    let triple = OfferedLoad::Poisson {
        rate_rps: 3.0 * capacity,
    };
    let over = result(triple.clone(), &drive(addr, &level(triple, 0.5, 2.0)));
    let ratio = over.achieved_rps / capacity;
    assert!(
        (0.85..=1.15).contains(&ratio),
        "offered {:.0}/s: achieved {:.0}/s vs capacity {capacity:.0}/s",
        3.0 * capacity,
        over.achieved_rps
    );
    assert!(over.saturated, "3× capacity is past the knee: {over:#?}");
    assert!(
        over.saturation_reasons
            .iter()
            .any(|r| r.contains("queue grew")),
        "{:?}",
        over.saturation_reasons
    );
    assert!(over.outstanding_at_end.value.unwrap_or(0) > 0);

    // 10× capacity: the level still ends within warmup + duration + drain + 2 s.
    let tenfold = OfferedLoad::Poisson {
        rate_rps: 10.0 * capacity,
    };
    let spec = level(tenfold.clone(), 0.5, 2.0);
    let started = Instant::now();
    let measurement = drive(addr, &spec);
    let wall_s = started.elapsed().as_secs_f64();
    let bound_s = 0.5 + 2.0 + 1.0 + 2.0;
    assert!(
        wall_s <= bound_s,
        "10× level took {wall_s:.1} s (bound {bound_s} s)"
    );
    let ten = result(tenfold, &measurement);
    eprintln!(
        "capacity (closed loop, 16 VUs) {capacity:.0}/s; offered 3×: achieved {:.0}/s ({:?}); offered 10×: achieved {:.0}/s, level wall {wall_s:.2} s",
        over.achieved_rps, over.saturation_reasons, ten.achieved_rps
    );
    assert!(ten.saturated);
    assert!(ten.achieved_rps <= 1.15 * capacity, "{}", ten.achieved_rps);
    // What the generator could not send in time is `not_sent`, in the error rate.
    assert!(
        ten.errors
            .get(&reports::ErrorClass::NotSent)
            .copied()
            .unwrap_or(0)
            > 0,
        "{:?}",
        ten.errors
    );
    rt.block_on(async {
        gw.shutdown().await;
        mock.shutdown().await;
    });
}

#[test]
fn below_the_knee_nothing_is_flagged_saturated() {
    let (rt, mock, gw) = capacity_limited();
    let offered = OfferedLoad::Poisson { rate_rps: 100.0 };
    let calm = result(
        offered.clone(),
        &drive(gw.local_addr(), &level(offered, 0.5, 2.0)),
    );
    assert!(!calm.saturated, "{:?}", calm.saturation_reasons);
    assert!(
        (75.0..=125.0).contains(&calm.achieved_rps),
        "{}",
        calm.achieved_rps
    );
    rt.block_on(async {
        gw.shutdown().await;
        mock.shutdown().await;
    });
}
