//! Where and when a lab run ran.

use std::time::{SystemTime, UNIX_EPOCH};

/// What a report says about its run besides the outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    /// When it ran, `YYYY-MM-DD HH:MM UTC`.
    pub date: String,
    /// The machine it ran on, in a line.
    pub machine: String,
    /// Runs per arm asked for.
    pub runs: usize,
    /// Nodes in the DHT scenarios.
    pub nodes: usize,
    /// The plain arm's stack and the policy arm's, a sentence each.
    pub arms: [&'static str; 2],
}

impl About {
    /// This machine, now, and the run's options.
    pub fn now(runs: usize, nodes: usize) -> Self {
        Self {
            date: utc(SystemTime::now()),
            machine: machine(),
            runs,
            nodes,
            arms: crate::stack::ARMS,
        }
    }
}

/// `time` as `YYYY-MM-DD HH:MM UTC`.
fn utc(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// The Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The CPU, the cores, the memory and the kernel, from `/proc`; what is
/// missing is left out.
fn machine() -> String {
    let read = |path| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let field = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    let mut parts = Vec::new();
    if let Some(cpu) = field(&cpuinfo, "model name") {
        parts.push(cpu);
    }
    if let Ok(cores) = std::thread::available_parallelism() {
        parts.push(format!("{cores} cores"));
    }
    let memory = field(&read("/proc/meminfo"), "MemTotal")
        .and_then(|kib| kib.trim_end_matches(" kB").trim().parse::<u64>().ok());
    if let Some(kib) = memory {
        parts.push(format!("{:.0} GiB", kib as f64 / (1024.0 * 1024.0)));
    }
    let kernel = read("/proc/sys/kernel/osrelease");
    if !kernel.trim().is_empty() {
        parts.push(format!("Linux {}", kernel.trim()));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dates_are_gregorian_utc() {
        let at = |secs| utc(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01 00:00 UTC");
        assert_eq!(at(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(at(1_796_286_600), "2026-12-03 08:30 UTC");
    }
}
