#!/bin/sh
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# veth_txq.sh: does forwarded pod traffic spread over the TX queues of a multi-queue device?
#
# On kernels with edbea9220251 ("veth: Store queue_mapping independently of XDP prog presence") and without
# its fix 710ad98c363a ("veth: Do not record rx queue hint in veth_xmit"), veth_xmit() records the veth TX
# queue as the skb's rx queue; when the host forwards the packet, skb_tx_hash() on the physical device uses
# that recorded queue instead of the flow hash, so every packet from a single-queue pod veth leaves on TX
# queue 0 (netdev_pick_tx -> skb_tx_hash -> skb_get_rx_queue).
#
# Topology (two network namespaces of its own, removed on exit):
#
#   pod: eth0 198.51.100.2/24 (1 TX queue) <-veth-> node: veth0 198.51.100.1/24, ip_forward=1
#   node: egress "txq8" with 8 TX queues and mq: a dummy device where the module exists, else a veth
#         192.0.2.0/24 via 203.0.113.254 (permanent neighbour whose MAC nobody has: the peer drops it)
#
# Traffic: UDP flows with distinct source ports from txqlab-txgen (txqlab's vm-tests generator: $TXGEN, PATH,
# or next to this script), else ICMP echo flows with distinct source addresses from ping. XPS is cleared on
# the egress so that only the flow hash (or the recorded rx queue) decides.
#
# Tests (KTAP on stdout):
#   1 setup                        the topology could be built
#   2 host_traffic_spreads         the node's own flows use more than one TX queue (the control)
#   3 forwarded_traffic_spreads    the pod's forwarded flows use more than one TX queue (fails with the bug)
#
# Exit: 0 pass, 1 fail, 4 skip (kselftest codes: a missing capability, tool or kernel feature is a skip).
# Needs: root (CAP_SYS_ADMIN, CAP_NET_ADMIN), iproute2 (ip, tc), a POSIX shell with awk; CONFIG_NET_NS,
# CONFIG_VETH, CONFIG_NET_SCHED (mq), CONFIG_XPS optional, CONFIG_DUMMY optional.

KSFT_PASS=0
KSFT_FAIL=1
KSFT_SKIP=4

QUEUES=8
FLOWS=${FLOWS:-256}
PACKETS=${PACKETS:-4}
PING_FLOWS=${PING_FLOWS:-32}
POD=txq-pod-$$
NODE=txq-node-$$
EGRESS=txq8
DST=192.0.2.1
HERE=$(cd "$(dirname "$0")" 2>/dev/null && pwd)

testno=0
npass=0
nfail=0
nskip=0

ktap_ok() { testno=$((testno + 1)); npass=$((npass + 1)); echo "ok $testno $1"; }
ktap_fail() { testno=$((testno + 1)); nfail=$((nfail + 1)); echo "not ok $testno $1"; }
ktap_skip() { testno=$((testno + 1)); nskip=$((nskip + 1)); echo "ok $testno $1 # SKIP $2"; }
totals() { echo "# Totals: pass:$npass fail:$nfail xfail:0 xpass:0 skip:$nskip error:0"; }

# Nothing can run: the whole plan is a skip.
skip_all() {
	echo "1..0 # SKIP $*"
	exit $KSFT_SKIP
}

# shellcheck disable=SC2317 # called from the traps
cleanup() {
	"$IP" netns del "$POD" 2>/dev/null
	"$IP" netns del "$NODE" 2>/dev/null
}

echo "TAP version 13"

[ "$(id -u)" = 0 ] || skip_all "needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)"
command -v awk >/dev/null 2>&1 || skip_all "awk not found"

# iproute2's ip and tc, not a shell's built-in applets of the same name (busybox sh runs its own `ip` first,
# which has no netns support): the first one on PATH or in the sbin directories that says it is iproute2.
iproute2() {
	for d in $(echo "$PATH" | tr : ' ') /sbin /usr/sbin /bin /usr/bin; do
		if [ -x "$d/$1" ] && "$d/$1" -V 2>&1 | grep -q iproute2; then
			echo "$d/$1"
			return 0
		fi
	done
	return 1
}
IP=$(iproute2 ip) || skip_all "iproute2's ip not found (install iproute2)"
TC=$(iproute2 tc) || skip_all "iproute2's tc not found (install iproute2)"

# A program on PATH or in the sbin directories, as a path (`ip netns exec` needs one, not a shell applet).
find_prog() {
	for d in $(echo "$PATH" | tr : ' ') /sbin /usr/sbin /bin /usr/bin; do
		[ -x "$d/$1" ] && { echo "$d/$1"; return 0; }
	done
	return 1
}

# The traffic generator: txqlab-txgen (UDP, one source port per flow), else ping (ICMP, one source address per
# flow), iputils' or busybox's.
gen=""
if [ -n "$TXGEN" ] && [ -x "$TXGEN" ]; then
	gen=$TXGEN
elif gen=$(find_prog txqlab-txgen); then
	:
elif [ -x "$HERE/txqlab-txgen" ]; then
	gen=$HERE/txqlab-txgen
elif PING=$(find_prog ping); then
	gen=ping
elif bb=$(find_prog busybox) && "$bb" ping 2>&1 | grep -q Usage; then
	gen=ping
	PING="$bb ping"
else
	skip_all "no traffic generator: neither txqlab-txgen nor ping found"
fi

trap cleanup EXIT
trap 'cleanup; exit $KSFT_FAIL' INT TERM

"$IP" netns add "$POD" 2>/dev/null || skip_all "cannot create a network namespace (CONFIG_NET_NS, CAP_SYS_ADMIN, writable /run/netns)"
"$IP" netns add "$NODE" 2>/dev/null || skip_all "cannot create a second network namespace"

in_node() { "$IP" netns exec "$NODE" "$@"; }
sysctl_w() { # NS KEY VALUE: write /proc/sys in NS; absent IPv6 keys are fine
	"$IP" netns exec "$1" sh -c "f=/proc/sys/$(echo "$2" | tr . /); [ ! -e \$f ] || echo $3 > \$f"
}

for ns in "$POD" "$NODE"; do
	sysctl_w "$ns" net.ipv6.conf.default.disable_ipv6 1
	sysctl_w "$ns" net.ipv6.conf.all.disable_ipv6 1
	"$IP" -n "$ns" link set lo up
done
sysctl_w "$NODE" net.ipv4.ip_forward 1
sysctl_w "$NODE" net.ipv4.conf.all.rp_filter 0
sysctl_w "$NODE" net.ipv4.conf.default.rp_filter 0

"$IP" -n "$NODE" link add veth0 numtxqueues 1 numrxqueues 1 type veth peer name eth0 numtxqueues 1 \
	numrxqueues 1 netns "$POD" 2>/dev/null || skip_all "cannot create a veth pair (CONFIG_VETH)"

if "$IP" -n "$NODE" link add $EGRESS numtxqueues $QUEUES numrxqueues $QUEUES type dummy 2>/dev/null; then
	egress_kind="dummy"
elif "$IP" -n "$NODE" link add $EGRESS numtxqueues $QUEUES numrxqueues $QUEUES type veth peer name ${EGRESS}p \
	numtxqueues $QUEUES numrxqueues $QUEUES 2>/dev/null; then
	egress_kind="veth (no dummy module)"
	"$IP" -n "$NODE" link set ${EGRESS}p up
else
	skip_all "cannot create a multi-queue egress device (CONFIG_DUMMY or CONFIG_VETH)"
fi

setup() {
	"$IP" -n "$NODE" addr add 198.51.100.1/24 dev veth0 &&
	"$IP" -n "$NODE" link set veth0 up &&
	"$IP" -n "$NODE" addr add 203.0.113.1/24 dev $EGRESS &&
	"$IP" -n "$NODE" link set $EGRESS up || return 1
	if [ "$egress_kind" = dummy ]; then
		# dummy is IFF_NOARP and swallows everything: a link-scope route, no neighbour.
		"$IP" -n "$NODE" route add 192.0.2.0/24 dev $EGRESS || return 1
	else
		"$IP" -n "$NODE" neigh replace 203.0.113.254 lladdr 02:00:00:00:00:fe dev $EGRESS nud permanent &&
		"$IP" -n "$NODE" route add 192.0.2.0/24 via 203.0.113.254 dev $EGRESS || return 1
	fi
	"$IP" -n "$POD" addr add 198.51.100.2/24 dev eth0 &&
	"$IP" -n "$POD" link set eth0 up &&
	"$IP" -n "$POD" route add default via 198.51.100.1 || return 1
	if [ "$gen" = ping ]; then
		# One source address per ICMP flow, on each sender.
		i=1
		while [ $i -le "$PING_FLOWS" ]; do
			"$IP" -n "$POD" addr add 198.51.100.$((100 + i))/24 dev eth0 || return 1
			"$IP" -n "$NODE" addr add 203.0.113.$((100 + i))/24 dev $EGRESS || return 1
			i=$((i + 1))
		done
	fi
	# XPS off: only the flow hash or a recorded rx queue may decide (get_xps_queue runs first).
	in_node sh -c "for f in /sys/class/net/$EGRESS/queues/tx-*/xps_cpus /sys/class/net/$EGRESS/queues/tx-*/xps_rxqs; do
		[ ! -e \$f ] || echo 0 > \$f; done"
}

"$TC" -n "$NODE" qdisc replace dev $EGRESS root handle 1: mq 2>/dev/null ||
	skip_all "cannot attach mq to a multi-queue device (CONFIG_NET_SCHED)"

# Per-queue packets of the egress device, from the mq classes 1:1 .. 1:8 (mq_dump_class_stats).
counts() {
	"$TC" -n "$NODE" -s class show dev $EGRESS | awk -v n=$QUEUES '
		/^class mq/ { split($3, h, ":"); q = h[2] + 0 }
		/ Sent / { c[q] = $4 }
		END { s = ""; for (i = 1; i <= n; i++) s = s (i > 1 ? " " : "") (c[i] + 0); print s }'
}

# send NS SRC_PREFIX: the flows from NS.
send() {
	if [ "$gen" = ping ]; then
		i=1
		while [ $i -le "$PING_FLOWS" ]; do
			# shellcheck disable=SC2086 # $PING may be two words ("busybox ping")
			"$IP" netns exec "$1" $PING -q -c "$PACKETS" -i 0.01 -W 1 -w 1 -I "$2.$((100 + i))" $DST >/dev/null 2>&1 &
			i=$((i + 1))
		done
		wait
	else
		"$IP" netns exec "$1" "$gen" $DST 9000 "$FLOWS" "$PACKETS" >/dev/null
	fi
}

# used "BEFORE" "AFTER": prints "TOTAL USED per-queue-deltas".
used() {
	echo "$1 | $2" | awk '{
		n = (NF - 1) / 2; t = 0; u = 0; s = ""
		for (i = 1; i <= n; i++) { d = $(n + 1 + i) - $i; t += d; if (d > 0) u++; s = s " " d }
		print t, u, s }'
}

echo "1..3"
if [ "$gen" = ping ]; then
	what="$PING: $PING_FLOWS ICMP flows (one source address each) x $PACKETS"
else
	what="$gen: $FLOWS UDP flows (one source port each) x $PACKETS"
fi
echo "# kernel $(uname -r); egress $egress_kind with $QUEUES TX queues + mq; traffic from $what"
if setup; then
	ktap_ok setup
else
	ktap_fail setup
	ktap_skip host_traffic_spreads "setup failed"
	ktap_skip forwarded_traffic_spreads "setup failed"
	totals
	exit $KSFT_FAIL
fi

check() { # NAME NS SRC_PREFIX WHAT
	before=$(counts)
	send "$2" "$3"
	after=$(counts)
	# shellcheck disable=SC2046 # split on purpose: total, queues used, per-queue deltas
	set -- "$1" "$4" $(used "$before" "$after")
	echo "# $2: $3 packets, $4 of $QUEUES TX queues used; per queue:$(shift 4; echo " $*")"
	if [ "$3" -eq 0 ]; then
		ktap_fail "$1"
		echo "# no packet reached the egress device"
	elif [ "$4" -gt 1 ]; then
		ktap_ok "$1"
	else
		ktap_fail "$1"
	fi
}

check host_traffic_spreads "$NODE" 203.0.113 "node's own traffic"
host_failed=$nfail
check forwarded_traffic_spreads "$POD" 198.51.100 "forwarded pod traffic"
if [ $host_failed -eq 0 ] && [ $nfail -gt 0 ]; then
	echo "# forwarded traffic on one TX queue while the node's own spreads: veth_xmit records its TX queue as the"
	echo "# rx queue (edbea9220251 without the fix 710ad98c363a, \"veth: Do not record rx queue hint in veth_xmit\")"
fi
totals
[ $nfail -eq 0 ] && exit $KSFT_PASS
exit $KSFT_FAIL
