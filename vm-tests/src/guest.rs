//! What runs inside the guest: an init script that sets up the matrix, sends the traffic, and reports per-queue
//! packet counts over the serial console as `TXQLAB-*` lines.

/// Flows and packets per flow the guest sends in each case.
pub const FLOWS: u32 = 256;
/// Packets per flow.
pub const PACKETS: u32 = 4;

/// The selftest, put into every initramfs as `/bin/veth_txq.sh`.
pub const SELFTEST: &str = include_str!("../selftest/veth_txq.sh");

/// The other judges the guest runs after the matrix, each in namespaces of its own (nothing of the matrix's
/// devices is in them): `txqlab probe --json` when the initramfs has `/bin/txqlab`, and the selftest with our
/// traffic generator. Their output goes to the console between `TXQLAB-BEGIN-*` and `TXQLAB-END-* rc=N`.
const OTHER_JUDGES: &str = r#"
if [ -x /bin/txqlab ]; then
  /bin/txqlab probe --json > /tmp/probe.out 2>&1; rc=$?
  echo TXQLAB-BEGIN-PROBE; cat /tmp/probe.out; echo "TXQLAB-END-PROBE rc=$rc"
fi
TXGEN=/bin/txgen sh /bin/veth_txq.sh > /tmp/selftest.out 2>&1; rc=$?
echo TXQLAB-BEGIN-SELFTEST; cat /tmp/selftest.out; echo "TXQLAB-END-SELFTEST rc=$rc"
"#;

/// The init script. `with_virtio` says whether QEMU attached the 8-queue virtio-net device.
pub fn init_script(with_virtio: bool) -> String {
    let mut s = String::from(INIT_HEAD);
    s.push_str("run_egress dummy dum8\n");
    if with_virtio {
        s.push_str("run_egress virtio eth0\n");
    }
    s.push_str(OTHER_JUDGES);
    s.push_str("echo TXQLAB-DONE\npoweroff -f\n");
    s
}

const INIT_HEAD: &str = r#"#!/bin/sh
# txqlab vm-tests guest: results go to the console as TXQLAB-* lines.
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null; mount -t tmpfs tmp /run
mkdir -p /run/netns
# The tools the selftest and the probe look for: iproute2's in /sbin, busybox's applets wherever it puts them.
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
/bin/busybox --install -s 2>/dev/null
fail() { echo "TXQLAB-ERROR $*"; echo TXQLAB-DONE; poweroff -f; }
echo "TXQLAB-KERNEL $(cat /proc/sys/kernel/osrelease)"
for f in /proc/sys/net/ipv6/conf/all/disable_ipv6 /proc/sys/net/ipv6/conf/default/disable_ipv6; do
  [ -e $f ] && echo 1 > $f
done
echo 1 > /proc/sys/net/ipv4/ip_forward || fail "missing CONFIG_PROC_SYSCTL or CONFIG_INET (no /proc/sys/net/ipv4/ip_forward)"
/sbin/ip link set lo up
/sbin/ip link add dum8 numtxqueues 8 type dummy 2>/dev/null || fail "missing CONFIG_DUMMY (cannot create a dummy device)"
/sbin/ip link set dum8 up
/sbin/ip addr add 203.0.113.1/25 dev dum8
/sbin/ip route add 192.0.2.0/25 dev dum8
/sbin/ip netns add ns1 2>/dev/null || fail "missing CONFIG_NET_NS (cannot create a network namespace)"
/sbin/ip link add veth0 type veth peer name veth1 2>/dev/null || fail "missing CONFIG_VETH (cannot create a veth pair)"
/sbin/ip link set veth1 netns ns1
/sbin/ip addr add 198.51.100.1/24 dev veth0; /sbin/ip link set veth0 up
/sbin/ip netns exec ns1 /sbin/ip addr add 198.51.100.2/24 dev veth1
/sbin/ip netns exec ns1 /sbin/ip link set veth1 up
/sbin/ip netns exec ns1 /sbin/ip link set lo up
/sbin/ip netns exec ns1 /sbin/ip route add default via 198.51.100.1
# A second pod, ns2, behind a veth with 8 TX and 8 RX queues on both ends (198.18.0.0/24, RFC 2544's range).
/sbin/ip netns add ns2
/sbin/ip link add vmq0 numtxqueues 8 numrxqueues 8 type veth peer name vmq1 numtxqueues 8 numrxqueues 8 || fail "cannot create a multi-queue veth pair"
/sbin/ip link set vmq1 netns ns2
/sbin/ip addr add 198.18.0.1/24 dev vmq0; /sbin/ip link set vmq0 up
/sbin/ip netns exec ns2 /sbin/ip addr add 198.18.0.2/24 dev vmq1
/sbin/ip netns exec ns2 /sbin/ip link set vmq1 up
/sbin/ip netns exec ns2 /sbin/ip link set lo up
/sbin/ip netns exec ns2 /sbin/ip route add default via 198.18.0.1
[ -e /sys/class/net/dum8/queues/tx-0/xps_cpus ] || fail "missing CONFIG_XPS (no xps_cpus)"
if [ -e /sys/class/net/eth0 ]; then
  /sbin/ethtool -L eth0 combined 8 >/dev/null 2>&1 || fail "virtio-net: ethtool -L eth0 combined 8 failed"
  /sbin/ip link set eth0 up
  /sbin/ip addr add 203.0.113.129/25 dev eth0
  /sbin/ip neigh replace 203.0.113.254 lladdr 02:00:00:00:00:fe dev eth0 nud permanent
  /sbin/ip route add 192.0.2.128/25 via 203.0.113.254
fi

# Per-queue packets of DEV from `tc -s class show` (mq classes 1:1 .. 1:8).
counts() {
  /sbin/tc -s class show dev $1 | awk '/^class mq/ {split($3, h, ":"); q = h[2] + 0} / Sent / {c[q] = $4} END {s = ""; for (i = 1; i <= 8; i++) s = s (i > 1 ? "," : "") (c[i] + 0); print s}'
}

# run_case EGRESS DEV PATH XPS DST
run_case() {
  # The decisive virtio case also records `ethtool -S` before and after, for txqlab diagnose's fixtures.
  snap=""; [ "$1" = virtio ] && [ "$3" = veth ] && [ "$4" = cleared ] && snap=1
  [ -n "$snap" ] && { echo TXQLAB-BEGIN-ETHTOOL-BEFORE; /sbin/ethtool -S $2; echo TXQLAB-END-ETHTOOL-BEFORE; }
  before=$(counts $2)
  if [ "$3" = "vethmq" ]; then
    /sbin/ip netns exec ns2 /bin/taskset 1 /bin/txgen $5 9000 FLOWS PACKETS >/dev/null || fail "txgen failed ($1 $3 $4)"
  elif [ "$3" = "veth" ]; then
    /sbin/ip netns exec ns1 /bin/taskset 1 /bin/txgen $5 9000 FLOWS PACKETS >/dev/null || fail "txgen failed ($1 $3 $4)"
  else
    /bin/taskset 1 /bin/txgen $5 9000 FLOWS PACKETS >/dev/null || fail "txgen failed ($1 $3 $4)"
  fi
  after=$(counts $2)
  [ -n "$snap" ] && { echo TXQLAB-BEGIN-ETHTOOL-AFTER; /sbin/ethtool -S $2; echo TXQLAB-END-ETHTOOL-AFTER; }
  echo "TXQLAB-CASE egress=$1 path=$3 xps=$4 before=$before after=$after"
}

# run_egress EGRESS DEV: the driver's default XPS first, then XPS cleared.
run_egress() {
  /sbin/tc qdisc replace dev $2 root handle 1: mq || fail "missing CONFIG_NET_SCHED (no mq qdisc on $2)"
  if [ "$1" = dummy ]; then dst=192.0.2.1; else dst=192.0.2.129; fi
  for path in host veth vethmq; do run_case $1 $2 $path default $dst; done
  for q in /sys/class/net/$2/queues/tx-*; do
    echo 0 > $q/xps_cpus
    [ -e $q/xps_rxqs ] && echo 0 > $q/xps_rxqs
  done
  for path in host veth vethmq; do run_case $1 $2 $path cleared $dst; done
}
"#;

/// The script with the flow counts filled in.
pub fn script(with_virtio: bool) -> String {
    init_script(with_virtio)
        .replace("FLOWS", &FLOWS.to_string())
        .replace("PACKETS", &PACKETS.to_string())
}

/// The script the virtme-ng runner executes in a guest that boots the host's filesystem: the same cases as the
/// QEMU initramfs, on the dummy device only (no tap-backed virtio-net there), using the host's tools.
pub fn vng_script(txgen: &std::path::Path) -> String {
    let head = INIT_HEAD
        .lines()
        // The guest boots the host's own filesystem: no busybox applets installed into it, the host's PATH.
        .filter(|l| {
            !l.starts_with("mount -t proc")
                && !l.starts_with("mkdir -p /run/netns")
                && !l.starts_with("export PATH=")
                && !l.starts_with("/bin/busybox --install")
                && !l.starts_with("# The tools the selftest")
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "echo TXQLAB-DONE; poweroff -f; }",
            "echo TXQLAB-DONE; exit 1; }",
        )
        .replace("/bin/txgen", &txgen.display().to_string())
        .replace("/bin/taskset", "taskset")
        .replace("/sbin/", "");
    format!("{head}\nmkdir -p /run/netns\nrun_egress dummy dum8\necho TXQLAB-DONE\n")
        .replace("FLOWS", &FLOWS.to_string())
        .replace("PACKETS", &PACKETS.to_string())
}
