use std::time::{Duration, Instant};

use super::*;

fn thread(tid: u32, name: &str, cpu_ms: u64) -> ThreadTime {
    ThreadTime {
        tid,
        name: name.into(),
        cpu_ns: cpu_ms * 1_000_000,
    }
}

fn snapshot(
    at_ms: u64,
    generator_ms: u64,
    target_ms: u64,
    threads: Vec<ThreadTime>,
) -> CpuSnapshot {
    CpuSnapshot {
        at_ns: at_ms * 1_000_000,
        generator_ns: generator_ms * 1_000_000,
        machine_ticks: Some((at_ms / 10, at_ms / 5)),
        target_ns: Some(target_ms * 1_000_000),
        target_threads: Some(threads),
    }
}

#[test]
fn the_window_is_the_difference_of_its_two_snapshots_over_the_time_between_them() {
    // Whatever ran before the first snapshot (1 s of the target's, 300 ms of the generator's)
    // is in both and cancels; over the 2 s between them the target used 1.5 s, the generator
    // 200 ms, the machine half its ticks.
    let start = snapshot(
        10_000,
        300,
        1_000,
        vec![thread(1, "main", 900), thread(2, "worker", 100)],
    );
    let end = snapshot(
        12_000,
        500,
        2_500,
        vec![
            thread(1, "main", 900),
            thread(2, "worker", 2_000),
            thread(3, "late", 100),
        ],
    );
    let cpu = WindowCpu::between(&start, &end, Some(&Usage::Tree(1)));
    assert_eq!(cpu.target.cpu_pct.value, Some(75.0));
    assert_eq!(cpu.generator_cpu_pct.value, Some(10.0));
    assert_eq!(cpu.machine_cpu_pct.value, Some(50.0));
    let threads = cpu.target.threads.value.expect("threads ran");
    // `main` did not run in the window; `late` was born in it and counts from zero.
    assert_eq!(threads.count, 2);
    assert_eq!(threads.busiest_name, "worker");
    assert_eq!(threads.busiest_pct, 95.0);
    assert_eq!(threads.saturated, 1);
    assert_eq!(threads.total_pct, 100.0);
}

#[test]
fn a_target_that_is_gone_or_absent_is_missing_with_why() {
    let start = snapshot(0, 0, 0, Vec::new());
    let mut end = snapshot(1_000, 10, 10, Vec::new());
    end.target_ns = None;
    end.target_threads = None;
    let gone = WindowCpu::between(&start, &end, Some(&Usage::Tree(1)));
    assert!(gone.target.cpu_pct.value.is_none());
    assert!(gone
        .target
        .cpu_pct
        .reason
        .as_deref()
        .is_some_and(|r| r.contains("exited")));
    assert_eq!(gone.generator_cpu_pct.value, Some(1.0));
    let none = WindowCpu::between(&start, &end, None);
    assert!(none.target.cpu_pct.value.is_none());
    assert!(none.target.threads.value.is_none());
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill has no memory preconditions; `pid` is this test's own child.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(rc, 0, "signal {signal} to the test's child {pid}");
}

/// A live target whose CPU is known exactly: a busy shell loop, stopped (SIGSTOP uses no CPU) at
/// both instants of the window and read directly while stopped. It burns through the warmup, for
/// 100 ms inside the 400 ms window, and for 500 ms of "drain" after it; only the 100 ms count.
#[test]
fn cpu_before_the_window_starts_or_after_it_ends_does_not_count() {
    let mut child = std::process::Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .expect("sh runs");
    let pid = child.id();
    let started = Instant::now();
    let at = |ms: u64| {
        let when = started + Duration::from_millis(ms);
        std::thread::sleep(when.saturating_duration_since(Instant::now()));
    };
    let t0_ns = monotonic_ns();
    let probe = WindowProbe::start(
        t0_ns + 400_000_000,
        t0_ns + 800_000_000,
        Some(Usage::Tree(pid)),
    );
    at(370);
    signal(pid, libc::SIGSTOP);
    at(380);
    let before = proc::cpu_ns(pid).expect("the child's CPU time");
    at(430);
    signal(pid, libc::SIGCONT);
    at(530);
    signal(pid, libc::SIGSTOP);
    at(540);
    let after = proc::cpu_ns(pid).expect("the child's CPU time");
    at(830);
    signal(pid, libc::SIGCONT);
    at(1_330);
    let cpu = probe.finish();
    child.kill().expect("kill the test's child");
    child.wait().expect("reap the test's child");
    let in_window_pct = 100.0 * after.saturating_sub(before) as f64 / 400e6;
    let measured = cpu.target.cpu_pct.value.expect("the child's CPU was read");
    // /proc counts in 10 ms ticks: 2.5 points of a 400 ms window each.
    assert!(
        (measured - in_window_pct).abs() <= 5.0,
        "the window held {in_window_pct:.1}% of the child's CPU; read {measured:.1}%"
    );
    let threads = cpu
        .target
        .threads
        .value
        .expect("its thread ran in the window");
    assert!(
        (threads.total_pct - in_window_pct).abs() <= 5.0,
        "{threads:?}"
    );
}

#[test]
fn a_cancelled_probe_ends_at_once() {
    let far_ns = monotonic_ns() + 60_000_000_000;
    let probe = WindowProbe::start(far_ns, far_ns + 1, None);
    let started = Instant::now();
    let cpu = probe.cancel();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(cpu.generator_cpu_pct.value.is_none());
}
