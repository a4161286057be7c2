#!/usr/bin/env bash
# A NAT lab in network namespaces on one machine (needs root, iproute2 and iptables).
#
#   netlab.sh up TAG [cone|symmetric] [cone|symmetric] [LOSS_PERCENT]
#   netlab.sh down TAG
#   netlab.sh link TAG HOME up|down      # cut or restore a home's uplink (HOME: 1 or 2)
#
# Topology (TAG keeps several labs apart; names stay under 15 characters):
#
#   ${TAG}w    "wan": a bridge on 100.64.0.0/24 (carrier-grade NAT space: private, as many
#              homes really see their "internet")
#   ${TAG}r    the relay host, 100.64.0.10
#   ${TAG}g1   home 1's router: 100.64.0.11 on the wan, 192.168.1.1 at home, NAT between
#   ${TAG}h1   home 1's device, 192.168.1.2 (default route via its router)
#   ${TAG}g2   home 2's router: 100.64.0.12 / 192.168.2.1
#   ${TAG}h2   home 2's device, 192.168.2.2
#
# NAT kinds, per home: `cone` is iptables MASQUERADE, which keeps a connection's source port
# when it can (one mapping for every destination: endpoint-independent mapping, so hole
# punching works); `symmetric` is MASQUERADE --random-fully, a new random port per
# destination (hole punching cannot work). LOSS_PERCENT drops that share of the packets each
# router forwards, both ways (iptables' statistic match: this kernel has no tc netem).
set -euo pipefail

cmd=${1:?usage: netlab.sh up|down|link TAG ...}
tag=${2:?TAG}
w="${tag}w"; r="${tag}r"

ns() { ip netns exec "$1" "${@:2}"; }

down() {
  for n in "$w" "$r" "${tag}g1" "${tag}h1" "${tag}g2" "${tag}h2"; do
    ip netns del "$n" 2>/dev/null || true
  done
}

# A veth pair named $3/$4 between namespaces $1 and $2.
pair() {
  ip link add "$3" type veth peer name "$4"
  ip link set "$3" netns "$1"
  ip link set "$4" netns "$2"
  ns "$1" ip link set "$3" up
  ns "$2" ip link set "$4" up
}

up() {
  local nat1=${1:-cone} nat2=${2:-cone} loss=${3:-0}
  down
  for n in "$w" "$r" "${tag}g1" "${tag}h1" "${tag}g2" "${tag}h2"; do
    ip netns add "$n"
    ns "$n" ip link set lo up
  done
  ns "$w" ip link add br0 type bridge
  ns "$w" ip link set br0 up
  # The relay on the wan.
  pair "$r" "$w" "${tag}rw" "${tag}wr"
  ns "$w" ip link set "${tag}wr" master br0
  ns "$r" ip addr add 100.64.0.10/24 dev "${tag}rw"
  for i in 1 2; do
    local g="${tag}g$i" h="${tag}h$i" nat
    nat=$([ "$i" = 1 ] && echo "$nat1" || echo "$nat2")
    pair "$g" "$w" "${tag}g${i}w" "${tag}w${i}"
    ns "$w" ip link set "${tag}w${i}" master br0
    ns "$g" ip addr add "100.64.0.1$i/24" dev "${tag}g${i}w"
    pair "$h" "$g" "${tag}h${i}l" "${tag}g${i}l"
    ns "$g" ip addr add "192.168.$i.1/24" dev "${tag}g${i}l"
    ns "$h" ip addr add "192.168.$i.2/24" dev "${tag}h${i}l"
    ns "$h" ip route add default via "192.168.$i.1"
    # /proc/sys/net is per namespace for the process reading it (no procps needed).
    ns "$g" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
    if [ "$nat" = symmetric ]; then
      ns "$g" iptables -t nat -A POSTROUTING -o "${tag}g${i}w" -j MASQUERADE --random-fully
    else
      ns "$g" iptables -t nat -A POSTROUTING -o "${tag}g${i}w" -j MASQUERADE
    fi
    # Nothing from the wan reaches the home, or the router itself, unless the home started it
    # (a NAT router's stateful firewall). Dropping unsolicited packets to the router matters
    # for hole punching: one that arrived before the home's own first packet would otherwise
    # leave a conntrack entry on the router's port, and the home's mapping would move to
    # another port.
    ns "$g" iptables -A FORWARD -i "${tag}g${i}w" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    ns "$g" iptables -A FORWARD -i "${tag}g${i}w" -j DROP
    ns "$g" iptables -A INPUT -i "${tag}g${i}w" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    ns "$g" iptables -A INPUT -i "${tag}g${i}w" -j DROP
    if [ "$loss" != 0 ]; then
      local p
      p=$(awk "BEGIN { printf \"%.4f\", $loss / 100 }")
      ns "$g" iptables -I FORWARD 1 -m statistic --mode random --probability "$p" -j DROP
    fi
  done
}

link() {
  local i=${1:?HOME} state=${2:?up|down}
  ns "${tag}g$i" ip link set "${tag}g${i}w" "$state"
}

case "$cmd" in
  up) up "${@:3}" ;;
  down) down ;;
  link) link "${@:3}" ;;
  *) echo "usage: netlab.sh up|down|link TAG ..." >&2; exit 2 ;;
esac
