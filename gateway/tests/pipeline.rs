//! The ten-stage pipeline against the real mock: every error path, retry and fallback, a stream
//! broken upstream, metering, model aliasing, the admin endpoints, and the log-mode switch.

mod common;

use std::time::Instant;

use common::*;
use mock_upstream::FaultConfig;

fn config(upstreams: &[(&str, std::net::SocketAddr)], extra: &str) -> String {
    let mut text = String::from("[[keys]]\nkey = \"sk-a\"\ntenant = \"a\"\n");
    let names: Vec<String> = upstreams.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    for (name, addr) in upstreams {
        text.push_str(&format!(
            "[[upstreams]]\nname = \"{name}\"\nurl = \"http://{addr}\"\napi_key = \"sk-up\"\n"
        ));
    }
    text.push_str(&format!("[[routes]]\nupstreams = [{}]\n", names.join(", ")));
    text.push_str(extra);
    text
}

const KEY: (&str, &str) = ("authorization", "Bearer sk-a");

#[tokio::test]
async fn rejects_bad_body_missing_key_and_over_limit() {
    let mock = mock(4.0, FaultConfig::default()).await;
    let gw = gateway(&config(&[("m", mock.local_addr())], "[auth]\nrequired = true\n[rate_limit]\nimpl = \"atomic\"\nrequests_per_s = 0.5\nburst = 2\n")).await;
    let (status, _, body) = send(gw.local_addr(), &[KEY], "not json").await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body.expect("body")).contains("invalid_request_error"));
    let (status, _, _) = send(gw.local_addr(), &[KEY], r#"{"model":"m","messages":[]}"#).await;
    assert_eq!(status, 400);
    let (status, _, _) = send(gw.local_addr(), &[], PLAIN).await;
    assert_eq!(status, 401);
    let (status, _, _) = send(gw.local_addr(), &[("authorization", "Bearer wrong")], PLAIN).await;
    assert_eq!(status, 401);
    // Burst of 2: the third request in a row is limited.
    for _ in 0..2 {
        assert_eq!(send(gw.local_addr(), &[KEY], PLAIN).await.0, 200);
    }
    let (status, headers, _) = send(gw.local_addr(), &[KEY], PLAIN).await;
    assert_eq!(status, 429);
    assert!(headers.contains_key("retry-after"));
    gw.shutdown().await;
    mock.shutdown().await;
}

#[tokio::test]
async fn retries_5xx_and_falls_back_to_the_next_upstream() {
    let failing = mock(
        4.0,
        FaultConfig {
            rate_500: 1.0,
            ..FaultConfig::default()
        },
    )
    .await;
    let healthy = mock(4.0, FaultConfig::default()).await;
    let gw = gateway(&config(
        &[
            ("bad", failing.local_addr()),
            ("good", healthy.local_addr()),
        ],
        "[retry]\nattempts = 2\nbackoff_ms = 1\n",
    ))
    .await;
    for _ in 0..3 {
        let (status, _, _) = send(gw.local_addr(), &[KEY], PLAIN).await;
        assert_eq!(status, 200, "fallback answers");
    }
    assert!(
        failing.stats().faults.status_500 >= 1,
        "the failing upstream was tried"
    );
    assert_eq!(healthy.stats().non_stream_completed, 3);
    gw.shutdown().await;
    failing.shutdown().await;
    healthy.shutdown().await;
}

#[tokio::test]
async fn dead_upstream_falls_back_and_all_dead_is_502() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = free.local_addr().expect("addr");
    drop(free);
    let healthy = mock(4.0, FaultConfig::default()).await;
    let gw = gateway(&config(
        &[("dead", dead), ("good", healthy.local_addr())],
        "",
    ))
    .await;
    assert_eq!(send(gw.local_addr(), &[KEY], PLAIN).await.0, 200);
    gw.shutdown().await;
    let only_dead = gateway(&config(&[("dead", dead)], "")).await;
    assert_eq!(send(only_dead.local_addr(), &[KEY], PLAIN).await.0, 502);
    only_dead.shutdown().await;
    healthy.shutdown().await;
}

#[tokio::test]
async fn stream_broken_upstream_reaches_the_client_and_is_counted() {
    let mock = mock(20.0, FaultConfig::default()).await;
    let gw = gateway(&config(&[("m", mock.local_addr())], "")).await;
    let (status, _, body) = send(
        gw.local_addr(),
        &[KEY, ("x-mock-fault", "disconnect")],
        STREAM,
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.is_err(), "the client sees a terminated stream");
    let (_, health) = admin(gw.admin_addr(), "/admin/health", None).await;
    assert_eq!(health["relay_errors"], 1);
    gw.shutdown().await;
    mock.shutdown().await;
}

#[tokio::test]
async fn usage_is_metered_per_key_and_model_renamed() {
    let mock = mock(7.0, FaultConfig::default()).await;
    let gw = gateway(
        &config(&[("m", mock.local_addr())], "")
            .replace("[[routes]]\n", "[[routes]]\nrename = \"aliased\"\n"),
    )
    .await;
    for _ in 0..2 {
        let (status, _, body) = send(gw.local_addr(), &[KEY], STREAM).await;
        assert_eq!(status, 200);
        assert!(String::from_utf8_lossy(&body.expect("stream")).contains("\"model\":\"aliased\""));
    }
    assert_eq!(send(gw.local_addr(), &[KEY], PLAIN).await.0, 200);
    let (_, meter) = admin(gw.admin_addr(), "/admin/meter", None).await;
    assert_eq!(meter["keys"]["sk-a"]["requests"], 3);
    assert_eq!(meter["keys"]["sk-a"]["completion_tokens"], 21);
    gw.shutdown().await;
    mock.shutdown().await;
}

#[tokio::test]
async fn admin_stages_cover_every_stage_and_token_is_enforced() {
    let mock = mock(4.0, FaultConfig::default()).await;
    let gw = gateway(&config(
        &[("m", mock.local_addr())],
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"t0k\"\n",
    ))
    .await;
    for _ in 0..5 {
        assert_eq!(send(gw.local_addr(), &[KEY], STREAM).await.0, 200);
    }
    assert_eq!(admin(gw.admin_addr(), "/admin/stages", None).await.0, 401);
    let (status, stages) = admin(gw.admin_addr(), "/admin/stages?reset=1", Some("t0k")).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = stages["stages"]
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["stage"].as_str().expect("name"))
        .collect();
    assert_eq!(names, contract::STAGES);
    for stage in stages["stages"].as_array().expect("array") {
        assert_eq!(stage["count"], 5, "{}", stage["stage"]);
    }
    let (_, after_reset) = admin(gw.admin_addr(), "/admin/stages", Some("t0k")).await;
    assert_eq!(after_reset["stages"][0]["count"], 0);
    gw.shutdown().await;
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_returns_folded_stacks_under_load() {
    let mock = mock(4.0, FaultConfig::default()).await;
    let gw = gateway(&config(&[("m", mock.local_addr())], "")).await;
    let (addr, admin_addr) = (gw.local_addr(), gw.admin_addr());
    let profile = tokio::spawn(async move {
        let response = open(
            admin_addr,
            "POST",
            "/admin/profile?seconds=1&hz=499",
            &[],
            "",
        )
        .await;
        let status = response.status().as_u16();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("profile body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    });
    let load = tokio::spawn(async move {
        let started = Instant::now();
        while started.elapsed().as_millis() < 1_200 {
            let batch: Vec<_> = (0..16)
                .map(|_| tokio::spawn(async move { send(addr, &[KEY], PLAIN).await.0 }))
                .collect();
            for request in batch {
                assert_eq!(request.await.expect("request"), 200);
            }
        }
    });
    let (status, folded) = profile.await.expect("profile task");
    load.await.expect("load task");
    assert_eq!(status, 200, "{folded}");
    let lines: Vec<&str> = folded.lines().collect();
    assert!(!lines.is_empty(), "no samples");
    for line in &lines {
        let (stack, count) = line.rsplit_once(' ').expect("`stack count`");
        assert!(
            stack.contains(';') && count.parse::<u64>().is_ok(),
            "{line}"
        );
    }
    gw.shutdown().await;
    mock.shutdown().await;
}
