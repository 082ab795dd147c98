//! The ring of recent probes behind the status page and `/logs?id=N`: like blackbox's
//! prober/history.go, the last `--history.limit` results plus up to as many failures that have
//! aged out of it (a failure is what someone comes looking for).

use crate::page::PageEntry;
use std::collections::VecDeque;

/// Recent probes, oldest first.
#[derive(Debug, Default)]
pub struct History {
    limit: usize,
    next_id: u64,
    recent: VecDeque<PageEntry>,
    failures: VecDeque<PageEntry>,
}

impl History {
    /// An empty history keeping `limit` results (0 keeps none).
    pub fn new(limit: usize) -> History {
        History {
            limit,
            ..History::default()
        }
    }

    /// Adds an entry (its `id` is assigned here) and returns the id.
    pub fn add(&mut self, mut entry: PageEntry) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.limit == 0 {
            return id;
        }
        entry.id = id;
        self.recent.push_back(entry);
        while self.recent.len() > self.limit {
            if let Some(old) = self.recent.pop_front() {
                if !old.success {
                    self.failures.push_back(old);
                    while self.failures.len() > self.limit {
                        self.failures.pop_front();
                    }
                }
            }
        }
        id
    }

    /// Every kept entry, oldest first.
    pub fn entries(&self) -> Vec<PageEntry> {
        let mut all: Vec<PageEntry> = self.failures.iter().chain(&self.recent).cloned().collect();
        all.sort_by_key(|e| e.id);
        all
    }

    /// The entry with this id.
    pub fn get(&self, id: u64) -> Option<PageEntry> {
        self.recent
            .iter()
            .chain(&self.failures)
            .find(|e| e.id == id)
            .cloned()
    }

    /// The newest entry for a target (and module, when given).
    pub fn latest_for(&self, target: &str, module: Option<&str>) -> Option<PageEntry> {
        self.recent
            .iter()
            .chain(&self.failures)
            .filter(|e| e.target == target && module.is_none_or(|m| e.module == m))
            .max_by_key(|e| e.id)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(success: bool) -> PageEntry {
        PageEntry {
            id: 0,
            started_at: String::new(),
            target: "t".into(),
            module: "m".into(),
            success,
            duration_seconds: 0.0,
            report: None,
            debug_text: String::new(),
        }
    }

    #[test]
    fn keeps_the_limit_and_aged_out_failures() {
        let mut h = History::new(2);
        let failed = h.add(entry(false));
        for _ in 0..5 {
            h.add(entry(true));
        }
        let ids: Vec<u64> = h.entries().iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![failed, 4, 5]);
        assert!(h.get(failed).is_some());
        assert!(h.get(1).is_none());
        assert_eq!(h.latest_for("t", Some("m")).map(|e| e.id), Some(5));
        let mut none = History::new(0);
        none.add(entry(true));
        assert!(none.entries().is_empty());
    }
}
