//! Links the model crates into a `#![no_std]`, `#![no_main]` binary with its own panic handler. If any of them
//! (or their dependencies) pulled in `std`, the build would fail with a duplicate `panic_impl` lang item.
#![no_std]
#![no_main]

use core::panic::PanicInfo;

use nic_model::shaper::{AllowanceConfig, BandwidthConfig, Direction, OverLimit, Shaper};
use nic_model::{TxPacket, TxQueue, TxQueueConfig};

// The C library provides the process entry (`_start` -> `__libc_start_main` -> `main`) and `memcpy`/`memset`;
// nothing of Rust's `std` is linked.
#[link(name = "c")]
unsafe extern "C" {}

/// The precompiled `core` refers to the unwinding personality even when this binary aborts on panic.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}

fn exercise() -> u64 {
    let mut total = 0u64;
    if let Ok(mut q) = TxQueue::<256>::new(TxQueueConfig { depth: 256, ..TxQueueConfig::default() }) {
        let pkt = TxPacket { len: 1500, frags: 1, xmit_more: false, ..TxPacket::default() };
        let _ = q.xmit(&pkt);
        let _ = q.device_process(8, |p| total += p.bytes as u64);
        let _ = q.clean_tx_irq(8);
    }
    let cfg = AllowanceConfig {
        bw_out: BandwidthConfig::flat(1_000_000_000, 1_000_000),
        bw_in: BandwidthConfig::flat(1_000_000_000, 1_000_000),
        pps: 1_000_000,
        pps_burst: 1000,
        linklocal_pps: 1024,
        linklocal_burst: 1024,
        conntrack_max: 8,
        conntrack_idle_timeout_ns: 1_000_000_000,
        over_limit: OverLimit::Drop,
    };
    if let Ok(mut s) = Shaper::<8>::new(cfg) {
        let _ = s.shape(0, Direction::Egress, 1500, false);
        total += s.stats().bw_out_allowance_exceeded;
    }
    if let Ok(stats) = nic_model::ethtool::NicStats::parse("queue_0_tx_cnt: 3\n") {
        total += stats.tx[0].cnt;
    }
    if let Ok(dev) = qdisc::NetDev::new(8)
        && let Ok(r) = qdisc::RefSelector::new(dev, qdisc::PickRules::default(), 1)
        && let Ok(f) = qdisc::FastSelector::from_ref(&r)
    {
        let mut a = qdisc::Skb::new(1500, 42);
        a.record_rx_queue(0);
        let mut b = a;
        let ctx = qdisc::XmitCtx::default();
        // The veth bug: a recorded rx queue 0 pins TX queue 0, in both selectors.
        if r.select(&mut a, ctx).queue == 0 && f.select(&mut b, ctx) == 0 {
            total += 3;
        }
    }
    total
}

/// The C entry point (the C runtime calls it; no Rust `std` runtime is involved).
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    // Exit 0 when the models did real work (1500 bytes moved, 3 packets parsed, the bug reproduced), 1 otherwise.
    if core::hint::black_box(exercise()) == 1506 { 0 } else { 1 }
}
