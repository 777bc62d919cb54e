use txqlab::scenario::Scenario;
fn main() {
    let s = Scenario::incident().unwrap();
    for i in 0..s.stage_names().len() {
        let st = s.stage(i).unwrap();
        let t = std::time::Instant::now();
        let r = txqlab::sim::run_stage(&st.name, &st.params, |_| {}).unwrap();
        println!(
            "{:18} p50 {:7.1} p99 {:7.1} p999 {:7.1} | roll p99 {:7.1} out p99 {:7.1} | req {} fail {} to {} rej {} rtx {} qdrop {} sdrop {} maxshare {:.2} bw_in {} bw_out {} pps {} thr {} term {} pkts {} {:.2}s",
            r.name,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.rollout.p99_ms,
            r.outside.p99_ms,
            r.requests,
            r.failed,
            r.timeouts,
            r.proxy_rejects,
            r.retransmits,
            r.qdisc_drops,
            r.shaper_drops,
            r.max_tx_queue_share,
            r.allowance_exceeded.bw_in,
            r.allowance_exceeded.bw_out,
            r.allowance_exceeded.pps,
            r.throttled_periods,
            r.requests_to_terminating,
            r.packets_simulated,
            t.elapsed().as_secs_f64()
        );
    }
}
