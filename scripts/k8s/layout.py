"""What every part of the e2e cluster (scripts/k8s/cluster.py) shares: the nodes' names and addresses on
the underlay, the pod and service ranges of both families, and the log line. Importing it puts
scripts/ on sys.path, for scripts/lib."""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if os.path.dirname(HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(HERE))  # scripts/lib, for every module of the cluster
# Node 1 (the control plane's too), then the others; OUTSIDE_IP is the underlay bridge's own address.
NODE_NAMES = ["weft-node", "weft-node-2", "weft-node-3", "weft-node-4"]
NODE_IPS = ["192.0.2.1", "192.0.2.3", "192.0.2.4", "192.0.2.5"]
NODE_NAME, NODE_IP, OUTSIDE_IP = NODE_NAMES[0], NODE_IPS[0], "192.0.2.2"
UPLINK = "eth0"
UNDERLAY_BRIDGE = "underlay"
SERVICE_CIDR, API_SERVICE_IP, DNS_SERVICE_IP = "10.96.0.0/16", "10.96.0.1", "10.96.0.10"
CLUSTER_CIDR = "10.244.0.0/16"
# A dual-stack cluster (Cluster(dual_stack=True)) adds the IPv6 half of each: every node's eth0 an
# IPv6 address on the underlay's /64 (the bridge's own ::2 its default route), an IPv6 pod network
# (each Node a /MASK6 of it as its second podCIDR) and an IPv6 service range. Kubernetes 1.20 has
# dual-stack behind the IPv6DualStack feature gate (alpha): apiserver, controller-manager, kubelet and
# kube-proxy each get it.
NODE_IPS6 = ["2001:db8::1", "2001:db8::3", "2001:db8::4", "2001:db8::5"]
OUTSIDE_IP6 = "2001:db8::2"
SERVICE_CIDR6 = "fd00:10:96::/112"
CLUSTER_CIDR6 = "fd00:10:244::/56"
DUAL_STACK_GATE = "--feature-gates=IPv6DualStack=true"


def log(message):
    print(f"[cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)
