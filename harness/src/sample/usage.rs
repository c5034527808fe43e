//! What a target uses: CPU time and resident memory of a process tree (from /proc) or of a
//! container's cgroup (v2, or v1 `cpuacct` + `memory`).

use std::path::{Path, PathBuf};

use super::proc;

/// Where CPU and memory are read from.
#[derive(Debug, Clone)]
pub enum Usage {
    /// A process and all its descendants, from /proc.
    Tree(u32),
    /// A container's cgroup v2 directory.
    Cgroup(PathBuf),
    /// A container's cgroup v1 `cpuacct` and `memory` directories.
    CgroupV1 { cpuacct: PathBuf, memory: PathBuf },
}

impl Usage {
    /// CPU time used so far (user + system), ns.
    pub fn cpu_ns(&self) -> Option<u64> {
        match self {
            Usage::Tree(root) => {
                let pids = proc::tree_pids(*root);
                let times: Vec<u64> = pids.iter().filter_map(|p| proc::cpu_ns(*p)).collect();
                (!times.is_empty()).then(|| times.iter().sum())
            }
            Usage::Cgroup(dir) => {
                let stat = std::fs::read_to_string(dir.join("cpu.stat")).ok()?;
                let usec: u64 = stat
                    .lines()
                    .find_map(|l| l.strip_prefix("usage_usec "))?
                    .trim()
                    .parse()
                    .ok()?;
                Some(usec * 1_000)
            }
            Usage::CgroupV1 { cpuacct, .. } => read_u64(&cpuacct.join("cpuacct.usage")),
        }
    }

    /// CPU time so far of every thread of the process tree; `None` for containers.
    pub fn thread_times(&self) -> Option<Vec<proc::ThreadTime>> {
        match self {
            Usage::Tree(root) => {
                let threads: Vec<proc::ThreadTime> = proc::tree_pids(*root)
                    .iter()
                    .flat_map(|p| proc::thread_times(*p))
                    .collect();
                (!threads.is_empty()).then_some(threads)
            }
            Usage::Cgroup(_) | Usage::CgroupV1 { .. } => None,
        }
    }

    /// Resident memory now, bytes (cgroup: `memory.current`, which includes page cache).
    pub fn rss_bytes(&self) -> Option<u64> {
        match self {
            Usage::Tree(root) => {
                let sizes: Vec<u64> = proc::tree_pids(*root)
                    .iter()
                    .filter_map(|p| proc::rss_bytes(*p))
                    .collect();
                (!sizes.is_empty()).then(|| sizes.iter().sum())
            }
            Usage::Cgroup(dir) => read_u64(&dir.join("memory.current")),
            Usage::CgroupV1 { memory, .. } => read_u64(&memory.join("memory.usage_in_bytes")),
        }
    }

    /// `proc tree` or `cgroup`.
    pub fn source(&self) -> &'static str {
        match self {
            Usage::Tree(_) => "proc tree",
            Usage::Cgroup(_) => "cgroup",
            Usage::CgroupV1 { .. } => "cgroup v1",
        }
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The cgroup of `pid` (a container's init process): v2 when it has `memory.current`, else the
/// v1 `cpuacct` and `memory` hierarchies.
pub fn cgroup_usage(pid: u32) -> Option<Usage> {
    if pid == 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let dir = |hierarchy: &str, relative: &str| {
        Path::new("/sys/fs/cgroup")
            .join(hierarchy)
            .join(relative.trim_start_matches('/'))
    };
    let mut v1_cpu = None;
    let mut v1_memory = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, relative) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.is_empty() {
            let v2 = dir("", relative);
            if v2.join("memory.current").is_file() {
                return Some(Usage::Cgroup(v2));
            }
        } else if controllers.split(',').any(|c| c == "cpuacct") {
            v1_cpu = Some(dir(controllers, relative));
        } else if controllers.split(',').any(|c| c == "memory") {
            v1_memory = Some(dir(controllers, relative));
        }
    }
    match (v1_cpu, v1_memory) {
        (Some(cpuacct), Some(memory))
            if cpuacct.join("cpuacct.usage").is_file()
                && memory.join("memory.usage_in_bytes").is_file() =>
        {
            Some(Usage::CgroupV1 { cpuacct, memory })
        }
        _ => None,
    }
}
