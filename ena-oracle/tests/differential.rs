//! nic-model's TX path against the ENA driver's own `ena_eth_com.c` (linux-source-6.1), byte for byte.
//!
//! Skipped, saying why, where the kernel source is missing; under `CI=true` a missing source fails (the same rule as
//! `nic-model/tests/kernel_header.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ena_oracle::diff::random::{self, Rng};
use ena_oracle::diff::{PacketSpec, TxOp, TxReport, run_tx};
use nic_model::defs::{L3_PROTO_IPV4, L4_PROTO_TCP};
use nic_model::desc::TxOffload;
use nic_model::llq::{LlqConfig, LlqEntrySize, Placement};
use nic_model::{Offload, TxQueueConfig};

fn oracle_or_skip(what: &str) -> bool {
    match ena_oracle::unavailable() {
        None => true,
        Some(why) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED {what}: {why}");
            println!("SKIPPED {what}: {why}");
            false
        }
        Some(why) => panic!("{what} cannot run in CI: {why}"),
    }
}

fn llq(entry_size: LlqEntrySize, before: u8) -> Placement {
    Placement::Llq(LlqConfig {
        entry_size,
        descs_before_header: before,
        ..LlqConfig::default()
    })
}

use nic_model::mock::tso_offload as tso;

fn frags(len: u32, head_len: u32, sizes: &[u32], offload: Offload, xmit_more: bool) -> TxOp {
    let mut f = [0; 17];
    f[..sizes.len()].copy_from_slice(sizes);
    TxOp::Xmit(PacketSpec {
        len,
        head_len,
        nr_frags: sizes.len() as u8,
        frags: f,
        even: false,
        offload,
        xmit_more,
    })
}

fn linear(len: u32, offload: Offload, xmit_more: bool) -> TxOp {
    TxOp::Xmit(PacketSpec {
        len,
        head_len: len,
        offload,
        xmit_more,
        ..PacketSpec::default()
    })
}

fn run(cfg: TxQueueConfig, ops: &[TxOp]) -> TxReport {
    match run_tx(&cfg, ops) {
        Ok(r) => r,
        Err(e) => panic!("{e}\nconfiguration: {cfg:?}"),
    }
}

/// Packets of the issue and the kernel code paths around them, over several wraps of small rings.
#[test]
fn scripted_packets_agree_byte_for_byte_over_ring_wraps() {
    if !oracle_or_skip("ena_com differential (scripted)") {
        return;
    }
    let configs = [
        TxQueueConfig {
            depth: 64,
            ..TxQueueConfig::default()
        },
        TxQueueConfig {
            depth: 32,
            max_header_size: 128,
            ..TxQueueConfig::default()
        },
        TxQueueConfig {
            depth: 32,
            placement: llq(LlqEntrySize::B128, 2),
            ..TxQueueConfig::default()
        },
        TxQueueConfig {
            depth: 32,
            placement: llq(LlqEntrySize::B128, 2),
            max_entries_in_tx_burst: 4,
            ..TxQueueConfig::default()
        },
        TxQueueConfig {
            depth: 16,
            placement: llq(LlqEntrySize::B192, 1),
            ..TxQueueConfig::default()
        },
        TxQueueConfig {
            depth: 16,
            placement: llq(LlqEntrySize::B256, 4),
            max_sg: 4,
            ..TxQueueConfig::default()
        },
        TxQueueConfig {
            depth: 32,
            placement: Placement::Llq(LlqConfig {
                disable_meta_caching: true,
                ..LlqConfig::default()
            }),
            ..TxQueueConfig::default()
        },
        TxQueueConfig {
            depth: 64,
            bql_limit: 5000,
            ..TxQueueConfig::default()
        },
    ];
    let mut round = vec![
        // The TSO packet: 66-byte linear part and 3 fragments.
        frags(3066, 66, &[1000, 1000, 1000], tso(), true),
        // Two buffers, req_id in the first only.
        frags(3000, 1000, &[2000], Offload::default(), true),
        // 17 fragments, short linear part; and a long one.
        frags(17_054, 54, &[1000; 17], tso(), true),
        frags(17_200, 200, &[1000; 17], tso(), false),
        // Short packets, one all header under LLQ.
        linear(60, Offload::default(), true),
        linear(96, Offload::default(), true),
        linear(97, tso(), false),
        // Fragments swallowed by the pushed header.
        frags(100, 10, &[5, 5, 80], Offload::default(), false),
    ];
    round.extend([TxOp::Device(16), TxOp::Clean(64)]);
    let mut total = TxReport::default();
    for cfg in configs {
        let ops: Vec<TxOp> = round
            .iter()
            .copied()
            .cycle()
            .take(round.len() * 12)
            .collect();
        total += run(cfg, &ops);
    }
    assert!(total.sent > 500, "{total:?}");
    println!("scripted differential: {total:?}");
}

/// Random configurations and step sequences (reproducible seeds).
#[test]
fn random_cases_agree_byte_for_byte() {
    if !oracle_or_skip("ena_com differential (random)") {
        return;
    }
    let cases = 4000u64;
    let mut total = TxReport::default();
    let mut refused = 0;
    for seed in 0..cases {
        let mut r = Rng::new(seed);
        let cfg = random::config(&mut r);
        let n = 50 + r.below(250) as usize;
        let ops: Vec<TxOp> = (0..n).map(|_| random::op(&mut r)).collect();
        match run_tx(&cfg, &ops) {
            Ok(rep) => total += rep,
            Err(ena_oracle::diff::DiffError::Config(_)) => refused += 1,
            Err(e) => panic!("seed {seed}: {e}\nconfiguration: {cfg:?}"),
        }
    }
    assert!(refused < cases / 10, "{refused} configurations refused");
    assert!(total.sent > 10_000 && total.completed > 5_000, "{total:?}");
    println!("random differential: {cases} cases ({refused} configurations refused): {total:?}");
}

/// A completion whose reserved flag bits are set: the driver ignores them, and so does the model.
#[test]
fn hostile_completions_agree() {
    if !oracle_or_skip("ena_com differential (completions)") {
        return;
    }
    let cfg = TxQueueConfig {
        depth: 16,
        ..TxQueueConfig::default()
    };
    let ops = [
        linear(100, Offload::default(), false),
        linear(100, Offload::default(), false),
        TxOp::Completion {
            slot: 0,
            req_id: 0,
            status: 0x55,
            flags: 0xff,
        },
        TxOp::Clean(8),
        TxOp::Completion {
            slot: 1,
            req_id: 1,
            status: 0,
            flags: 0x81,
        },
        TxOp::Clean(8),
        TxOp::Completion {
            slot: 2,
            req_id: 1,
            status: 0,
            flags: 1,
        },
        TxOp::Clean(8),
    ];
    run(cfg, &ops);
    let beyond = [
        linear(100, Offload::default(), false),
        TxOp::Completion {
            slot: 0,
            req_id: 16,
            status: 0,
            flags: 1,
        },
        TxOp::Clean(8),
        linear(100, Offload::default(), false),
    ];
    run(cfg, &beyond);
}

/// `ena_com_is_doorbell_needed` counts `num_bufs` descriptors plus the meta descriptor; a packet short enough to be
/// all header has `num_bufs` 0 but still takes one data descriptor. With one descriptor before the header and a
/// new meta context it needs two lines where the check counted one: the second line finds the burst budget spent,
/// `ena_com_prepare_tx` fails with -ENOSPC and the driver resets. The model does the same.
#[test]
fn an_all_header_packet_with_a_new_meta_context_can_overrun_the_burst_budget() {
    if !oracle_or_skip("ena_com differential (burst budget)") {
        return;
    }
    let cfg = TxQueueConfig {
        depth: 16,
        placement: llq(LlqEntrySize::B128, 1),
        max_entries_in_tx_burst: 2,
        ..TxQueueConfig::default()
    };
    let csum = Offload {
        l3_proto: L3_PROTO_IPV4,
        l4_proto: L4_PROTO_TCP,
        flags: TxOffload::L4_CSUM_EN | TxOffload::L4_CSUM_PARTIAL,
        l3_hdr_len: 20,
        l3_hdr_off: 14,
        ..Offload::default()
    };
    let ops = [
        linear(100, Offload::default(), true),
        linear(60, csum, true),
        linear(60, Offload::default(), true),
    ];
    run(cfg, &ops);
    let mut q = nic_model::TxQueue::<256>::new(cfg).unwrap();
    let pkt = |offload| nic_model::TxPacket {
        len: 0,
        frags: 1,
        offload,
        xmit_more: true,
        head_len: 0,
    };
    q.xmit(&nic_model::TxPacket {
        len: 100,
        ..pkt(Offload::default())
    })
    .unwrap();
    assert_eq!(
        q.xmit(&nic_model::TxPacket {
            len: 60,
            ..pkt(csum)
        }),
        Err(nic_model::Error::TxBurstExceeded)
    );
    assert_eq!((q.stats().prepare_ctx_err, q.stats().doorbells), (1, 0));
    assert!(q.reset_pending());
}

/// RX completions (honest, and rewritten by a hostile device) through nic-model's `RxQueue::poll` and through the
/// real `ena_com_rx_pkt` with `ena_clean_rx_irq`'s checks and counters.
#[test]
fn rx_completions_agree() {
    if !oracle_or_skip("ena_com_rx_pkt differential") {
        return;
    }
    let mut total = ena_oracle::diff::RxReport::default();
    for seed in 0..2000u64 {
        let mut r = Rng::new(seed ^ 0x5258);
        let cfg = random::rx_config(&mut r);
        let n = 20 + r.below(200) as usize;
        let ops: Vec<_> = (0..n).map(|_| random::rx_op(&mut r, cfg.depth)).collect();
        match ena_oracle::diff::run_rx(&cfg, &ops) {
            Ok(rep) => total += rep,
            Err(e) => panic!("seed {seed}: {e}\nconfiguration: {cfg:?}"),
        }
    }
    assert!(total.delivered > 20_000 && total.errors > 50, "{total:?}");
    println!("rx differential: 2000 cases: {total:?}");
}
