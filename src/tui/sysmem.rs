//! System memory, swap and this process's resident size, for the gauges.

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SystemMemory {
    pub total: u64,
    pub used: u64,
    pub swap_total: u64,
    pub swap_used: u64,
    /// Resident set size of this process.
    pub rss: u64,
}

/// Keeps one `System` so refreshes only re-read what changed.
pub struct MemoryProbe {
    system: System,
    pid: Option<Pid>,
}

impl Default for MemoryProbe {
    fn default() -> Self {
        MemoryProbe {
            system: System::new(),
            pid: sysinfo::get_current_pid().ok(),
        }
    }
}

impl MemoryProbe {
    pub fn sample(&mut self) -> SystemMemory {
        self.system.refresh_memory();
        let rss = self.pid.map_or(0, |pid| {
            self.system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                false,
                ProcessRefreshKind::nothing().with_memory(),
            );
            self.system.process(pid).map_or(0, |p| p.memory())
        });
        SystemMemory {
            total: self.system.total_memory(),
            used: self.system.used_memory(),
            swap_total: self.system.total_swap(),
            swap_used: self.system.used_swap(),
            rss,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_real_numbers() {
        let m = MemoryProbe::default().sample();
        assert!(m.total > 0 && m.used <= m.total, "{m:?}");
        assert!(m.rss > 0 && m.rss < m.total, "{m:?}");
    }
}
