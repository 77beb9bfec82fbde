#!/usr/bin/env bash
# Counts the netlink sockets one plugin ADD opens, per netlink family and network namespace: a pod with
# a hostPort (tcp and udp) and bandwidth limits, in a throwaway node namespace, traced by strace
# (socket and setns calls of every thread). Nothing touches the host's root namespace.
#   scripts/count-netlink-sockets.sh [WEFT_BINARY]     (default: .build/debug/weft)
# KEEP_TRACE=FILE keeps strace's output. NETNS_PREFIX=NAME names the namespaces NAME-node and NAME-pod
# (the privileged test NetlinkSocketCountTests passes its unique wt-<8 hex> prefix).
# Prints one line per namespace and family ("node NETLINK_ROUTE 1") and exits 1 when any count passes 1.
set -euo pipefail
weft=$(realpath "${1:-.build/debug/weft}")
command -v strace > /dev/null || { echo "strace is missing (apt-get install strace)" >&2; exit 2; }
id="${NETNS_PREFIX:-wcnt$$}"
node="$id-node" pod="$id-pod"
work=$(mktemp -d)
cleanup() { [ -z "${KEEP_TRACE:-}" ] || cp "$work/trace" "$KEEP_TRACE" 2> /dev/null || true; ip netns delete "$pod" 2> /dev/null || true; ip netns delete "$node" 2> /dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$node"
ip netns add "$pod"
ip -n "$node" link set lo up

printf 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n' > "$work/subnet.env"
runtime='"runtimeConfig":{"portMappings":[{"hostPort":18080,"containerPort":80,"protocol":"tcp"},{"hostPort":18053,"containerPort":53,"protocol":"udp"}],"bandwidth":{"ingressRate":16000000,"ingressBurst":1600000,"egressRate":8000000,"egressBurst":800000}}'
printf '{"cniVersion":"1.0.0","name":"cbr0","type":"weft","subnetFile":"%s","dataDir":"%s","delegate":{"hairpinMode":true,"isDefaultGateway":true,"ipMasq":true},%s}' \
  "$work/subnet.env" "$work/store" "$runtime" > "$work/config.json"

nsenter --net="/var/run/netns/$node" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND=ADD CNI_CONTAINERID="$id" \
  CNI_NETNS="/var/run/netns/$pod" CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin \
  strace -f -qq -y -e trace=socket,setns -o "$work/trace" "$weft" < "$work/config.json" > "$work/result" \
  || { echo "ADD failed:" >&2; cat "$work/result" >&2; exit 2; }

# The namespaces by inode; each thread starts in the node's (the plugin's threads are created there)
# and moves with setns; strace -y names the descriptor it is given: "net:[INODE]" for one opened through
# /proc, the bind mount's path for /run/netns/NAME.
node_inode=$(stat -L -c %i "/var/run/netns/$node")
pod_inode=$(stat -L -c %i "/var/run/netns/$pod")
awk -v node="$node_inode" -v pod="$pod_inode" -v nodeName="$node" -v podName="$pod" '
  function where(tid) { return (tid in ns) ? ns[tid] : node }
  function name(inode) { return inode == node ? "node" : inode == pod ? "pod" : "namespace:" inode }
  / setns\(/ && / = 0$/ {
    if (match($0, /net:\[[0-9]+\]/)) ns[$1] = substr($0, RSTART + 5, RLENGTH - 6)
    else if (index($0, "netns/" podName ">")) ns[$1] = pod
    else if (index($0, "netns/" nodeName ">")) ns[$1] = node
    else ns[$1] = "unknown"
  }
  / socket\(AF_NETLINK/ && !/ = -1 / {
    family = $0; sub(/.*, /, "", family); sub(/\).*/, "", family)
    count[name(where($1)) " " family]++
  }
  END { bad = 0; for (key in count) { print key, count[key]; if (count[key] > 1) bad = 1 } exit bad }
' "$work/trace" | sort
