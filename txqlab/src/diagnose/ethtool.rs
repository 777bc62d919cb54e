//! Reading `ethtool -S` snapshots of ENA and virtio_net devices.

use std::collections::HashMap;

use nic_model::ethtool::entries;

/// Which driver printed the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// ENA (`queue_N_tx_cnt`, the ENI allowance counters).
    Ena,
    /// virtio_net (`tx_queue_N_packets`).
    VirtioNet,
    /// Neither: only driver-independent findings apply.
    Unknown,
}

/// A snapshot: every counter with the line it was on.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Counters in input order.
    pub counters: Vec<(String, u64)>,
    index: HashMap<String, usize>,
    /// The driver the names point to.
    pub driver: Driver,
}

impl Snapshot {
    /// Parses `ethtool -S` text; `origin` names the input in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, String> {
        let mut counters = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut lines: HashMap<String, usize> = HashMap::new();
        for e in entries(text) {
            let e = e.map_err(|e| format!("{origin}: {e}"))?;
            if let Some(first) = lines.get(e.name) {
                return Err(format!(
                    "{origin}: line {}: counter `{}` appears twice (first on line {first})",
                    e.line, e.name
                ));
            }
            lines.insert(e.name.to_string(), e.line);
            index.insert(e.name.to_string(), counters.len());
            counters.push((e.name.to_string(), e.value));
        }
        if counters.is_empty() {
            return Err(format!(
                "{origin}: no counters found (expected `ethtool -S` output: `name: value` lines)"
            ));
        }
        let driver = if index.contains_key("queue_0_tx_cnt") {
            Driver::Ena
        } else if index.contains_key("tx_queue_0_packets") {
            Driver::VirtioNet
        } else {
            Driver::Unknown
        };
        Ok(Self {
            counters,
            index,
            driver,
        })
    }

    /// A counter's value.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.index.get(name).map(|i| self.counters[*i].1)
    }

    /// `self - before`, counter by counter (a counter missing before counts from 0; one that went down, as
    /// after a device reset, counts from 0 too).
    pub fn delta(&self, before: &Self) -> Self {
        let counters = self
            .counters
            .iter()
            .map(|(n, v)| {
                let b = before.get(n).unwrap_or(0);
                (n.clone(), if *v >= b { v - b } else { *v })
            })
            .collect();
        Self {
            counters,
            index: self.index.clone(),
            driver: self.driver,
        }
    }

    /// TX packets per queue, in queue order.
    pub fn tx_packets(&self) -> Vec<u64> {
        let name = |q: usize| match self.driver {
            Driver::Ena => format!("queue_{q}_tx_cnt"),
            _ => format!("tx_queue_{q}_packets"),
        };
        (0..).map_while(|q| self.get(&name(q))).collect()
    }

    /// Sum of a per-queue ENA counter over all queues, e.g. `tx_queue_stop`.
    pub fn sum_queue(&self, suffix: &str) -> u64 {
        self.counters
            .iter()
            .filter(|(n, _)| {
                n.starts_with("queue_")
                    && n.ends_with(suffix)
                    && n.split('_')
                        .nth(1)
                        .is_some_and(|q| q.parse::<u32>().is_ok())
            })
            .map(|(_, v)| v)
            .sum()
    }
}
