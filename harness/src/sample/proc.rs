//! Reading /proc: a process's CPU time and RSS, the process tree under a pid, and this
//! process's own CPU time (the load generator's).

/// The machine's CPU time so far, in clock ticks summed over cores: (busy, total), from the
/// first line of /proc/stat (busy = total − idle − iowait).
pub fn machine_cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// CPU time (user + system) of this process so far, ns.
pub fn self_cpu_ns() -> u64 {
    // SAFETY: getrusage fills the struct we pass; RUSAGE_SELF is always valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time (user + system) of a process, ns; `None` if it is gone.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    stat_cpu_ns(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// utime + stime of a `/proc/…/stat` line, ns.
fn stat_cpu_ns(stat: &str) -> Option<u64> {
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(ticks * 1_000_000_000 / hz)
}

/// One thread's CPU time so far.
#[derive(Debug, Clone)]
pub struct ThreadTime {
    pub tid: u32,
    /// Its `comm` (name).
    pub name: String,
    /// user + system, ns.
    pub cpu_ns: u64,
}

/// Every thread of a process (`/proc/<pid>/task/*/stat`).
pub fn thread_times(pid: u32) -> Vec<ThreadTime> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|entry| {
            let tid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let name = stat.split_once('(')?.1.rsplit_once(')')?.0.to_string();
            Some(ThreadTime {
                tid,
                name,
                cpu_ns: stat_cpu_ns(&stat)?,
            })
        })
        .collect()
}

/// Resident set size of a process, bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Every live process as (pid, parent pid), from /proc.
pub fn parent_pids() -> Vec<(u32, u32)> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    parents
}

/// `root` and every live descendant of it (from /proc, by parent pid).
pub fn tree_pids(root: u32) -> Vec<u32> {
    let parents = parent_pids();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    tree
}
