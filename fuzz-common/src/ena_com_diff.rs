//! `ena_com_diff`: nic-model against the ENA driver's own `ena_eth_com.c` (see the `ena-oracle` crate) on an arbitrary
//! configuration and step sequence: the TX path (three inputs in four), or RX completions. The target panics when
//! the two differ in any byte of the submission queue, the doorbell, a counter, the queue state or a step's result.

use arbitrary::{Arbitrary, Result, Unstructured};
use ena_oracle::diff::{DiffError, PacketSpec, RxOp, TxOp, run_rx, run_tx};
use nic_model::desc::{RxStatus, TxOffload};
use nic_model::llq::{LlqConfig, LlqEntrySize, Placement};
use nic_model::{Offload, RxPacket, RxQueueConfig, TxQueueConfig};

fn config(u: &mut Unstructured<'_>) -> Result<TxQueueConfig> {
    let depth = 1u16 << u.int_in_range(1..=7u32)?;
    let placement = if u.ratio(1, 3)? {
        Placement::Host
    } else {
        Placement::Llq(LlqConfig {
            entry_size: *u.choose(&[LlqEntrySize::B128, LlqEntrySize::B192, LlqEntrySize::B256])?,
            descs_before_header: *u.choose(&[1u8, 2, 4, 8])?,
            disable_meta_caching: u.ratio(1, 4)?,
        })
    };
    Ok(TxQueueConfig {
        depth,
        placement,
        max_sg: u.int_in_range(1..=19)?,
        max_entries_in_tx_burst: if u.arbitrary()? {
            0
        } else {
            u.int_in_range(1..=32)?
        },
        max_header_size: u.arbitrary()?,
        bql_limit: if u.arbitrary()? {
            0
        } else {
            u.int_in_range(1..=100_000)?
        },
    })
}

fn packet(u: &mut Unstructured<'_>) -> Result<PacketSpec> {
    let nr_frags = u.int_in_range(0..=17u8)?;
    let mut frags = [0u32; 17];
    for f in frags.iter_mut().take(nr_frags as usize) {
        *f = u.int_in_range(1..=4096u32)?;
    }
    let offload = if u.arbitrary()? {
        Offload::default()
    } else {
        // Only the bits the descriptor defines: `TxOffload` arbitrary values may carry others.
        let mut o = Offload::arbitrary(u)?;
        o.flags = TxOffload::from_bits_truncate(o.flags.bits());
        o
    };
    Ok(PacketSpec {
        len: u.int_in_range(1..=65535u32)?,
        head_len: u.int_in_range(0..=2048u32)?,
        nr_frags,
        frags,
        even: u.arbitrary()?,
        offload,
        xmit_more: u.arbitrary()?,
    })
}

fn op(u: &mut Unstructured<'_>) -> Result<TxOp> {
    Ok(match u.int_in_range(0..=19u8)? {
        0..=10 => TxOp::Xmit(packet(u)?),
        11..=14 => TxOp::Device(u.int_in_range(1..=16)?),
        15..=18 => TxOp::Clean(u.int_in_range(1..=64)?),
        _ => TxOp::Completion {
            slot: u.arbitrary()?,
            req_id: u.arbitrary()?,
            status: u.arbitrary()?,
            flags: u.arbitrary()?,
        },
    })
}

/// Decodes a configuration and up to 512 steps, runs them on both sides, panics on any difference.
pub fn ena_com_diff(data: &[u8]) {
    if let Some(why) = ena_oracle::unavailable() {
        panic!("ena_com_diff was built without the ENA oracle: {why}");
    }
    let mut u = Unstructured::new(data);
    if let Ok(true) = u.ratio(1, 4) {
        rx(&mut u);
        return;
    }
    let Ok(cfg) = config(&mut u) else { return };
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < 512 {
        match op(&mut u) {
            Ok(o) => ops.push(o),
            Err(_) => break,
        }
    }
    match run_tx(&cfg, &ops) {
        Ok(_) | Err(DiffError::Config(_)) => {}
        Err(e) => panic!("{e}\nconfiguration: {cfg:?}"),
    }
}

fn rx_op(u: &mut Unstructured<'_>, depth: u16) -> Result<RxOp> {
    Ok(match u.int_in_range(0..=15u8)? {
        0..=5 => RxOp::Packet(RxPacket {
            len: u.int_in_range(1..=9000)?,
            hash: u.arbitrary()?,
            l3_proto: *u.choose(&[0u8, 8, 11])?,
            l4_proto: *u.choose(&[0u8, 1, 12, 13])?,
            csum: RxStatus::from_bits_truncate(u.arbitrary()?)
                & (RxStatus::L3_CSUM_ERR
                    | RxStatus::L4_CSUM_ERR
                    | RxStatus::IPV4_FRAG
                    | RxStatus::L4_CSUM_CHECKED),
        }),
        6..=8 => RxOp::Refill(depth),
        9..=13 => RxOp::Poll(u.int_in_range(1..=8)?),
        _ => RxOp::Mutate {
            back: u.int_in_range(1..=4)?,
            status_xor: u.arbitrary()?,
            length: u.arbitrary()?,
            hash: u.arbitrary()?,
            req_id_beyond: u.arbitrary()?,
        },
    })
}

/// RX completions: `RxQueue::poll` against `ena_com_rx_pkt` with `ena_clean_rx_irq`'s checks.
fn rx(u: &mut Unstructured<'_>) {
    let Ok(cfg) = (|| -> Result<RxQueueConfig> {
        Ok(RxQueueConfig {
            depth: 1 << u.int_in_range(2..=7u32)?,
            buf_size: *u.choose(&[256u16, 512, 1024, 2048, 3840])?,
            max_bufs_per_pkt: u.int_in_range(1..=19)?,
            rx_copybreak: u.arbitrary()?,
        })
    })() else {
        return;
    };
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < 512 {
        match rx_op(u, cfg.depth) {
            Ok(o) => ops.push(o),
            Err(_) => break,
        }
    }
    match run_rx(&cfg, &ops) {
        Ok(_) | Err(DiffError::Config(_)) => {}
        Err(e) => panic!("{e}\nconfiguration: {cfg:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn corpus() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ena_com_diff")
    }

    /// Replays the committed corpus (skipped, saying why, without the kernel source; required under `CI=true`).
    #[test]
    fn ena_com_diff_corpus_replays() {
        if let Some(why) = ena_oracle::unavailable() {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "ena_com_diff cannot run in CI: {why}"
            );
            println!("SKIPPED ena_com_diff corpus replay: {why}");
            return;
        }
        let mut n = 0;
        for e in
            std::fs::read_dir(corpus()).unwrap_or_else(|e| panic!("{}: {e}", corpus().display()))
        {
            let path = e.map(|e| e.path()).unwrap_or_default();
            ena_com_diff(&std::fs::read(&path).unwrap_or_default());
            n += 1;
        }
        assert!(n > 0, "empty ena_com_diff corpus");
        println!("replayed {n} ena_com_diff inputs");
    }

    /// Writes seed inputs: `cargo test -p txqlab-fuzz-common write_ena_com_diff_seeds -- --ignored`.
    #[test]
    #[ignore = "a tool, not a check: writes the ena_com_diff seed corpus"]
    fn write_ena_com_diff_seeds() {
        let dir = corpus();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        // Deterministic byte patterns of several lengths: each decodes to a different configuration and a
        // different mix of packets, devices, polls and completions.
        let mut state = 0x1234_5678_9abc_def0u64;
        for i in 0..24 {
            let len = 64 + i * 97 % 1500;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            std::fs::write(dir.join(format!("seed-{i:02}")), bytes)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
