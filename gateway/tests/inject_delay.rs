//! `instrument.inject_delay` works for every one of the ten stages through the one timing
//! mechanism: the injected stage's histogram grows by the delay (per chunk for `relay`), and a
//! malformed value is refused.

mod common;

use common::*;
use mock_upstream::FaultConfig;

const DELAY_US: u64 = 300;

fn config(upstream: std::net::SocketAddr, inject: Option<&str>) -> String {
    let mut text = format!(
        "[[upstreams]]\nname = \"m\"\nurl = \"http://{upstream}\"\n[[routes]]\nupstreams = [\"m\"]\n"
    );
    if let Some(spec) = inject {
        text.push_str(&format!("[instrument]\ninject_delay = \"{spec}\"\n"));
    }
    text
}

/// p50 of every stage, µs, after `n` streamed requests.
async fn stage_p50s(gw: &gateway::Gateway, n: usize) -> Vec<(String, u64)> {
    admin(gw.admin_addr(), "/admin/stages?reset=1", None).await;
    for _ in 0..n {
        let (status, _, body) = send(gw.local_addr(), &[], STREAM).await;
        assert_eq!(status, 200);
        body.expect("whole stream");
    }
    let (status, json) = admin(gw.admin_addr(), "/admin/stages", None).await;
    assert_eq!(status, 200);
    json["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().expect("name").to_string(),
                s["p50_us"].as_u64().expect("p50"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stage_takes_the_injected_delay() {
    let mock = mock(4.0, FaultConfig::default()).await;
    let twin = gateway(&config(mock.local_addr(), None)).await;
    let baseline = stage_p50s(&twin, 20).await;
    assert_eq!(baseline.len(), 10, "{baseline:?}");
    for (stage, base_us) in &baseline {
        let gw = gateway(&config(
            mock.local_addr(),
            Some(&format!("{stage}:{DELAY_US}")),
        ))
        .await;
        let p50s = stage_p50s(&gw, 20).await;
        let (_, slow_us) = p50s
            .iter()
            .find(|(name, _)| name == stage)
            .expect("stage listed");
        let added = slow_us.saturating_sub(*base_us);
        if stage == "relay" {
            // Added to every chunk: a stream of several chunks pays it several times.
            assert!(
                added >= 2 * DELAY_US,
                "relay: +{added} µs, expected at least two chunks × {DELAY_US} µs"
            );
        } else {
            // A difference of two 20-request medians: on a loaded 2-core machine the baseline's
            // median alone moves by ~100 µs, so the band is wide; a delay in the wrong stage
            // adds ~0 here.
            assert!(
                (DELAY_US * 70 / 100..=DELAY_US + 300).contains(&added),
                "{stage}: p50 {base_us} → {slow_us} µs (+{added}), expected +{DELAY_US}"
            );
        }
        gw.shutdown().await;
    }
    twin.shutdown().await;
    mock.shutdown().await;
}

#[test]
fn malformed_values_are_refused_naming_the_value() {
    for bad in ["route", "rute:300", "route:abc", "route:-1", ":5"] {
        let text = format!(
            "[[upstreams]]\nname = \"m\"\nurl = \"http://127.0.0.1:9\"\n[[routes]]\nupstreams = [\"m\"]\n[instrument]\ninject_delay = \"{bad}\"\n"
        );
        let error = gateway::GatewayConfig::from_toml(&text, "test.toml")
            .expect_err(bad)
            .to_string();
        assert!(
            error.contains(bad) && error.contains("STAGE:MICROS") && !error.contains('\n'),
            "{error}"
        );
    }
    let ok = "[[upstreams]]\nname = \"m\"\nurl = \"http://127.0.0.1:9\"\n[[routes]]\nupstreams = [\"m\"]\n[instrument]\ninject_delay = \"relay:25\"\n";
    assert!(gateway::GatewayConfig::from_toml(ok, "ok.toml").is_ok());
}
