#!/usr/bin/env bash
# txqlab against its peers, side by side in one run (issue 13 §1). Installs what is missing (Debian's libns3-dev
# 3.37, when root), builds our ns-3 program into ${XDG_CACHE_HOME:-$HOME/.cache}/txqlab/peers, runs it and
# `cargo bench -p txqlab-benches --bench peers` back to back, and prints the ratio table and the fq_codel
# cross-check. See benches/peers/README.md.
#
# Environment: PEERS_REPS (ns-3 and txqlab simulator repetitions, best taken; default 7),
#              PEERS_CRITERION (criterion options; default "--warm-up-time 1 --measurement-time 3").
# Exit status: 0 when the cross-check agrees within its tolerances (speed goals are reported, not enforced:
# the machine is shared), 1 when it does not, 2 when something could not be installed, built or run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/txqlab/peers"
reps="${PEERS_REPS:-7}"
crit="${PEERS_CRITERION:---warm-up-time 1 --measurement-time 3}"
target="${CARGO_TARGET_DIR:-$root/target}"

die() { echo "peers: $*" >&2; exit 2; }

# 1. ns-3 (Debian's package: headers and shared libraries) and a C++ compiler.
if ! dpkg-query -W -f='${Status}' libns3-dev 2>/dev/null | grep -q "install ok installed"; then
    if [ "$(id -u)" = 0 ]; then
        echo "peers: installing libns3-dev" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libns3-dev >&2 ||
            die "apt-get install libns3-dev failed"
    else
        die "libns3-dev is not installed; run: sudo apt-get install libns3-dev"
    fi
fi
command -v g++ >/dev/null || die "g++ is not installed; run: sudo apt-get install g++"
ns3_version=$(dpkg-query -W -f='${Version}' libns3-dev)
case "$ns3_version" in 3.37*) ;; *) echo "peers: warning: libns3-dev $ns3_version, written for 3.37" >&2 ;; esac

# 2. Our ns-3 program, rebuilt when its source changes.
mkdir -p "$cache"
src="$here/mq_fq_codel_link.cc"
bin="$cache/mq_fq_codel_link"
if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
    echo "peers: building $bin" >&2
    nice -n 10 g++ -O2 -std=c++17 -I/usr/include -o "$bin" "$src" \
        -lns3-traffic-control -lns3-network -lns3-core || die "building the ns-3 program failed"
fi

# 3. Build the Rust bench first, so that the two measurements run back to back.
(cd "$root" && nice -n 10 cargo bench -p txqlab-benches --bench peers --no-run >&2) || die "cargo bench --no-run failed"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# ns-3 on each of its event schedulers; the fastest counts (generous to the peer: the choice barely matters,
# its time goes to packets, items and per-flow CoDel objects, not to the event queue).
best_pps=0
for sched in ns3::MapScheduler ns3::HeapScheduler ns3::ListScheduler ns3::CalendarScheduler ns3::PriorityQueueScheduler; do
    echo "peers: ns-3 with $sched ($reps runs)" >&2
    nice -n 10 "$bin" "$reps" "$sched" >"$cache/ns3-$sched.out" ||
        die "the ns-3 program failed (output in $cache/ns3-$sched.out)"
    pps=$(sed -n 's/^packets_per_cpu_s //p' "$cache/ns3-$sched.out")
    if [ "${pps%.*}" -gt "$best_pps" ]; then
        best_pps=${pps%.*}
        cp "$cache/ns3-$sched.out" "$cache/ns3.out"
    fi
done
echo "peers: txqlab ($reps runs, then criterion)" >&2
# shellcheck disable=SC2086 # $crit is a list of options
(cd "$root" && PEERS_REPS="$reps" nice -n 10 cargo bench -p txqlab-benches --bench peers -- $crit) >"$cache/txqlab.out" ||
    die "cargo bench failed (output in $cache/txqlab.out)"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# 4. The tables.
python3 - "$cache/ns3.out" "$cache/txqlab.out" "$target/criterion" "$ns3_version" "$load_before" "$load_after" <<'EOF'
import json, os, subprocess, sys

ns3_out, tx_out, crit, ns3_version, load_before, load_after = sys.argv[1:]

def kv(path, prefix=""):
    d = {}
    for line in open(path):
        if prefix:
            if not line.startswith(prefix):
                continue
            line = line[len(prefix):]
        parts = line.split(None, 1)
        if len(parts) == 2:
            d.setdefault(parts[0], parts[1].strip())
    return d

ns3 = kv(ns3_out)
tx = kv(tx_out, "PEERS ")
if ns3.get("workload") != tx.get("workload"):
    print(f"peers: the two sides ran different workloads:\n  ns-3:   {ns3.get('workload')}\n  txqlab: {tx.get('workload')}", file=sys.stderr)
    sys.exit(2)

def est(group, bench):
    p = os.path.join(crit, group, bench, "new", "estimates.json")
    with open(p) as f:
        return json.load(f)["mean"]["point_estimate"]

tb = est("peers_admission", "txqlab_token_bucket") / 1024
gov = est("peers_admission", "governor_direct") / 1024
ena = est("peers_ring", "add_consume_complete_64/txqlab_ena_host") / 64
vq = est("peers_ring", "add_consume_complete_64/virtio_queue_split") / 64
tx_pps = float(tx["packets_per_wall_s"])
ns_pps = float(ns3["packets_per_wall_s"])
tx_cpu = float(tx["packets_per_cpu_s"])
ns_cpu = float(ns3["packets_per_cpu_s"])

cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p' | head -1"], capture_output=True, text=True).stdout.strip()
print(f"# Peers, one run: {cpu}, nproc {os.cpu_count()}, load average {load_before} before, {load_after} after")
print("# (a shared machine: absolute figures move with the load; the ratios are measured back to back)")
print()
print("| measure | txqlab | peer | ratio | goal | met |")
print("|---|---|---|---|---|---|")
peer = f"ns-3 {ns3_version}, {ns3.get('scheduler')}"
r = tx_cpu / ns_cpu
print(f"| mq + 8 fq_codel + 100 Mbit/s link, 20 s simulated: packets per on-CPU second, per core (best of {ns3.get('reps', 'N')}) | {tx_cpu/1e6:.2f} M | {ns_cpu/1e6:.3f} M ({peer}) | {r:.1f}x | >= 10x | {'yes' if r >= 10 else 'no'} |")
r = tx_pps / ns_pps
print(f"| the same, packets per wall-clock second (best of runs; the load inflates it) | {tx_pps/1e6:.2f} M | {ns_pps/1e6:.3f} M | {r:.1f}x | - | - |")
r = tb / gov
print(f"| admission, ns per decision (1 M/s, burst 10 000, one decision per 700 ns) | {tb:.2f} | {gov:.2f} (governor) | {r:.2f} | <= 0.33 | {'yes' if r <= 1/3 else 'no'} |")
r = ena / vq
print(f"| ring, ns per packet (add, consume, complete; 64 per doorbell) | {ena:.1f} (ENA TX ring) | {vq:.1f} (virtio-queue split) | {r:.2f} | context: a different device | - |")
print()
print(f"admission cross-check, decisions admitted of 1 000 000: {tx.get('admission_admitted_of_1000000', '?')}")
print()

# fq_codel outcome cross-check. Tolerances (README): arrivals and sent exact; drops within 5 %; sojourn percentiles
# within 10 %; per-queue shares within 0.01. The backlog left at the end is printed, not judged: it is
# arrivals - sent - drops at one instant, so it repeats the drops' difference as a large share of a small number.
rows = [("arrivals", "exact"), ("sent", "exact"), ("drops", 0.05), ("drops_codel", 0.05),
        ("drops_overlimit", "exact"), ("backlog_end", "info"),
        ("sojourn_p50_ns", 0.10), ("sojourn_p90_ns", 0.10), ("sojourn_p99_ns", 0.10)] + \
       [(f"share_q{q}", ("abs", 0.01)) for q in range(8)]
bad = []
print("| fq_codel outcome | txqlab (qdisc::sched) | ns-3 | difference | tolerance | within |")
print("|---|---|---|---|---|---|")
for key, tol in rows:
    a, b = float(tx[key]), float(ns3[key])
    if tol == "info":
        diff, ok, t = f"{a - b:+.0f}", True, "not judged"
    elif tol == "exact":
        diff, ok, t = f"{a - b:+.0f}", a == b, "exact"
    elif isinstance(tol, tuple):
        diff, ok, t = f"{a - b:+.4f}", abs(a - b) <= tol[1], f"+-{tol[1]}"
    else:
        rel = (a - b) / b if b else (0.0 if a == 0 else float("inf"))
        diff, ok, t = f"{rel*100:+.1f} %", abs(rel) <= tol, f"+-{tol*100:.0f} %"
    fmt = (lambda v: f"{v/1e6:.2f} ms") if key.startswith("sojourn") else \
          (lambda v: f"{v:.4f}") if key.startswith("share") else (lambda v: f"{v:.0f}")
    within = "-" if tol == "info" else ("yes" if ok else "NO")
    print(f"| {key} | {fmt(a)} | {fmt(b)} | {diff} | {t} | {within} |")
    if not ok:
        bad.append(key)
print()
if bad:
    print(f"cross-check: txqlab and ns-3 DISAGREE beyond the tolerance on: {', '.join(bad)}")
    sys.exit(1)
print("cross-check: txqlab and ns-3 agree within the stated tolerances")
EOF
