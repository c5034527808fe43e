//! What a run records about the machine and software it ran on.

use std::collections::BTreeMap;
use std::process::Command;

use reports::{Environment, Measured, Pinning};

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The revision of gatebench's home checkout (not of the working directory, which may be
/// anywhere).
fn git_revision() -> Measured<String> {
    let home = crate::home::root().display().to_string();
    let git = |args: &[&str]| {
        let mut all = vec!["-C", home.as_str()];
        all.extend_from_slice(args);
        command_output("git", &all)
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(rev) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            Measured::of(if dirty { format!("{rev}-dirty") } else { rev })
        }
        None => Measured::missing(format!(
            "{home} is not a git checkout, or git is not installed"
        )),
    }
}

/// Reads the environment (cheap: /proc, uname, git).
pub fn collect(pinning: Option<Pinning>) -> Environment {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        });
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let kib: u64 = text
                .lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some(kib * 1024)
        });
    let mut tool_versions = BTreeMap::new();
    if let Some(rustc) = command_output("rustc", &["--version"]) {
        tool_versions.insert("rustc".to_string(), rustc);
    }
    Environment {
        cpu_model: cpu_model.map_or_else(
            || Measured::missing("no model name in /proc/cpuinfo"),
            Measured::of,
        ),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        memory_bytes: memory_bytes.map_or_else(
            || Measured::missing("no MemTotal in /proc/meminfo"),
            Measured::of,
        ),
        kernel: read_trimmed("/proc/sys/kernel/osrelease").map_or_else(
            || Measured::missing("no /proc/sys/kernel/osrelease"),
            Measured::of,
        ),
        git_revision: git_revision(),
        gatebench_version: env!("CARGO_PKG_VERSION").to_string(),
        tool_versions,
        pinning,
    }
}

/// This host's name (`/proc/sys/kernel/hostname`; in a Kubernetes pod, the pod name).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// `YYYYMMDD-HHMMSS` in UTC for a unix time in seconds.
pub fn utc_stamp(unix_s: u64) -> String {
    let (year, month, day, hour, minute, second) = reports::level::utc_parts(unix_s);
    format!("{year:04}{month:02}{day:02}-{hour:02}{minute:02}{second:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_stamp_known_dates() {
        assert_eq!(super::utc_stamp(0), "19700101-000000");
        assert_eq!(super::utc_stamp(1_700_000_000), "20231114-221320");
        assert_eq!(super::utc_stamp(951_782_400), "20000229-000000");
    }
}
