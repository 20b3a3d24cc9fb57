#!/bin/sh
# coalescope namespace lab: two network namespaces joined by one veth pair, on which
# NAPI software deferral (napi_defer_hard_irqs, gro_flush_timeout) really acts.
#
#   lab/netns.sh up                 create cs-tx and cs-rx, the veth pair, addresses
#   lab/netns.sh deferral N NS      napi_defer_hard_irqs=N, gro_flush_timeout=NS (ns) on
#                                   the receiving veth (0 0 = deferral off)
#   lab/netns.sh gro-forwarding on|off
#                                   rx-udp-gro-forwarding on the receiving veth (up turns
#                                   it on; off leaves UDP datagrams out of GRO)
#   lab/netns.sh status             show addresses, features and the deferral knobs
#   lab/netns.sh down               delete both namespaces (and with them the veth pair)
#
# Needs root, iproute2 (`ip netns`) and ethtool.
#
# Addresses: 10.77.0.1/30 (cs-tx, dev cs-veth-tx) and 10.77.0.2/30 (cs-rx, dev
# cs-veth-rx). They exist only inside these two namespaces, which have no other
# interface than their own loopback: no route leads out, so no packet of the lab can
# reach any other network. MAC addresses are fixed (locally administered) and the
# neighbour entries are static, so no ARP exchange delays the first datagrams.
#
# Why veth needs setup to use NAPI at all: veth_xmit normally hands the skb straight to
# the peer's backlog (netif_rx), so there is no NAPI instance and the deferral knobs do
# nothing. Since Linux 5.13 ("veth: allow enabling NAPI even without XDP") veth uses a
# per-queue NAPI instance on the receiving device when GRO is enabled on it
# (`ethtool -K <rx> gro on`), but only for skbs eligible for GRO: veth_skb_is_eligible_for_gro()
# wants the sending device without TSO, or a locally generated skb with rx-gro-list /
# rx-udp-gro-forwarding on the receiver. We do both: TSO off on the sender and
# rx-udp-gro-forwarding on the receiver. NAPI then runs from veth_poll, and
# napi_complete_done() honours napi_defer_hard_irqs / gro_flush_timeout: while deferred,
# the "interrupt" (veth's rx_notify_masked) stays masked and new packets wait in the
# ring for the gro_flush_timeout hrtimer.
set -eu

TX_NS=cs-tx
RX_NS=cs-rx
TX_DEV=cs-veth-tx
RX_DEV=cs-veth-rx
TX_MAC=02:00:00:00:77:01
RX_MAC=02:00:00:00:77:02
TX_IP=10.77.0.1
RX_IP=10.77.0.2

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "netns.sh: '$1' not found (install $2)" >&2; exit 3; }
}

up() {
    need ip iproute2
    need ethtool ethtool
    down_quiet
    ip netns add "$TX_NS"
    ip netns add "$RX_NS"
    ip link add name "$TX_DEV" address "$TX_MAC" netns "$TX_NS" type veth \
        peer name "$RX_DEV" address "$RX_MAC" netns "$RX_NS"
    ip -n "$TX_NS" addr add "$TX_IP/30" dev "$TX_DEV"
    ip -n "$RX_NS" addr add "$RX_IP/30" dev "$RX_DEV"
    ip -n "$TX_NS" link set lo up
    ip -n "$RX_NS" link set lo up
    ip netns exec "$RX_NS" ethtool -K "$RX_DEV" gro on
    ip netns exec "$RX_NS" ethtool -K "$RX_DEV" rx-udp-gro-forwarding on 2>/dev/null || true
    ip netns exec "$TX_NS" ethtool -K "$TX_DEV" tso off
    ip -n "$TX_NS" link set "$TX_DEV" up
    ip -n "$RX_NS" link set "$RX_DEV" up
    ip -n "$TX_NS" neigh replace "$RX_IP" lladdr "$RX_MAC" dev "$TX_DEV" nud permanent
    ip -n "$RX_NS" neigh replace "$TX_IP" lladdr "$TX_MAC" dev "$RX_DEV" nud permanent
    deferral 0 0
}

deferral() {
    case "$1$2" in *[!0-9]*|'') echo "netns.sh: deferral needs two non-negative integers" >&2; exit 2;; esac
    # `ip netns exec` mounts the namespace's own /sys, where the rx veth is visible.
    ip netns exec "$RX_NS" sh -c "echo $1 > /sys/class/net/$RX_DEV/napi_defer_hard_irqs && \
        echo $2 > /sys/class/net/$RX_DEV/gro_flush_timeout"
}

gro_forwarding() {
    case "$1" in on|off) ;; *) echo "netns.sh: gro-forwarding needs on or off" >&2; exit 2;; esac
    ip netns exec "$RX_NS" ethtool -K "$RX_DEV" rx-udp-gro-forwarding "$1"
}

status() {
    ip -n "$TX_NS" -br addr show dev "$TX_DEV"
    ip -n "$RX_NS" -br addr show dev "$RX_DEV"
    ip netns exec "$RX_NS" ethtool -k "$RX_DEV" | grep -E 'generic-receive-offload|rx-udp-gro-forwarding'
    ip netns exec "$TX_NS" ethtool -k "$TX_DEV" | grep -E '^tcp-segmentation-offload'
    ip netns exec "$RX_NS" sh -c "echo napi_defer_hard_irqs=\$(cat /sys/class/net/$RX_DEV/napi_defer_hard_irqs) \
        gro_flush_timeout=\$(cat /sys/class/net/$RX_DEV/gro_flush_timeout)"
}

down_quiet() {
    ip netns del "$TX_NS" 2>/dev/null || true
    ip netns del "$RX_NS" 2>/dev/null || true
}

case "${1:-}" in
    up) up ;;
    down) down_quiet ;;
    deferral) [ $# -eq 3 ] || { echo "usage: netns.sh deferral DEFER_HARD_IRQS GRO_FLUSH_TIMEOUT_NS" >&2; exit 2; }
        deferral "$2" "$3" ;;
    gro-forwarding) [ $# -eq 2 ] || { echo "usage: netns.sh gro-forwarding on|off" >&2; exit 2; }
        gro_forwarding "$2" ;;
    status) status ;;
    *) echo "usage: netns.sh up | down | deferral N NS | gro-forwarding on|off | status" >&2; exit 2 ;;
esac
