"""The two proxies the bench compares, each started on the bench node, measured, stopped and its rules
removed before the other starts (they would both DNAT the same ClusterIPs):

- kube-proxy 1.20 (`make k8s-build`'s cache), iptables mode, in the node's network namespace and in a
  private mount namespace with a tmpfs /run, so its /run/xtables.lock is its own, not the host's; flags
  that would change global state (conntrack table size and timeouts, OOM score) left at "as is"; on
  iptables-legacy unless KUBE_PROXY_IPTABLES says otherwise. Removed with its own `--cleanup`.
- weftd, started as scripts/bench_policy starts it for policy, plus `--services` (issue #27). Its tables
  (`inet weft-…`) are deleted after it stops, so the next kube-proxy starts on a clean node."""

import json
import os
import subprocess
import time

import kube_lab
from lib import mount_namespace, netns
from lib.commands import PATH

from .settings import CLUSTER_CIDR, KUBE_PROXY_PROGRAMMING_METRIC, NODE, WEFT_PROGRAMMING_METRIC, log


def has_children(pid):
    """Whether a process of `pid` runs (kube-proxy's iptables-restore or iptables)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        return True
            except (OSError, ValueError, IndexError):
                continue
    return False


def default_kube_proxy(kube_bin):
    return os.environ.get("KUBE_PROXY_BIN") or os.path.join(kube_bin, "kube-proxy")


class KubeProxy:
    name = "kube-proxy"
    metrics_address = ("127.0.0.1", "10249")
    programming_metric = KUBE_PROXY_PROGRAMMING_METRIC

    def __init__(self, lab):
        self.lab = lab
        self.binary = default_kube_proxy(lab.kube_bin)
        if not os.access(self.binary, os.X_OK):
            raise SystemExit(f"bench-services: needs {self.binary} (make k8s-build)")
        self.holder = None
        self.process = None
        self.path = self.iptables_path(os.environ.get("KUBE_PROXY_IPTABLES", "legacy"))
        version = subprocess.run(["env", f"PATH={self.path}", "iptables", "-V"], capture_output=True, text=True, timeout=60).stdout.strip()
        self.label = f"kube-proxy 1.20, iptables mode ({version or 'iptables'})"

    def iptables_path(self, backend):
        """kube-proxy runs `iptables`, `iptables-save` and `iptables-restore` from its PATH: a directory of
        links to KUBE_PROXY_IPTABLES's backend goes first. `legacy` by default: 1.20's kube-proxy image
        picks it on a node without nf_tables rules, and iptables-nft 1.8.9's restore of 5,000 Services
        (160,000 rules) took over 7 minutes here, one sync (`nft`: 10 s at 1,000). `node`: the node's own
        `iptables` (Debian's alternatives, nf_tables here)."""
        if backend == "node":
            return PATH
        if backend not in ("legacy", "nft"):
            raise SystemExit(f"bench-services: KUBE_PROXY_IPTABLES is legacy, nft or node, not {backend}")
        directory = os.path.join(self.lab.work, f"iptables-{backend}")
        os.makedirs(directory, exist_ok=True)
        for tool in ("iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"):
            os.symlink(f"/usr/sbin/xtables-{backend}-multi", os.path.join(directory, tool))
        return f"{directory}:{PATH}"

    def prefix(self):
        """nsenter into the node's network namespace and kube-proxy's mount namespace (made once), with
        kube-proxy's PATH (env execs the program: the PID is still kube-proxy's)."""
        if self.holder is None:
            # Copies of the host's `ip netns` mounts would pin those namespaces: unmounted here first.
            self.holder = mount_namespace.start_holder(
                ["if mountpoint -q /run/netns; then umount -l /run/netns; fi", "mount -t tmpfs -o mode=0755 tmpfs /run"],
                "kube-proxy's /run", net=netns.path(self.lab.node_ns))
            self.lab.processes.append(("kube-proxy-mounts", self.holder))
        return netns.enter(netns.path(self.lab.node_ns), mount=f"/proc/{self.holder.pid}/ns/mnt") + ["env", f"PATH={self.path}"]

    def flags(self):
        return [f"--kubeconfig={self.lab.kubeconfig}", "--proxy-mode=iptables", f"--hostname-override={NODE}",
                f"--cluster-cidr={CLUSTER_CIDR}", "--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0",
                "--conntrack-tcp-timeout-close-wait=0", "--oom-score-adj=0",
                f"--metrics-bind-address={':'.join(self.metrics_address)}", "--healthz-bind-address=127.0.0.1:10256", "--v=1"]

    def start(self):
        self.process = self.lab.spawn("kube-proxy", self.prefix() + [self.binary] + self.flags())
        return self.process

    def stop(self):
        self.lab.stop(self.process)
        self.process = None
        # --cleanup also tears down ipvs and ipset state and exits 1 when the ipset tool is missing (it is
        # here: iptables mode never needs it), after removing its iptables rules: those are checked.
        result = subprocess.run(self.prefix() + [self.binary, "--cleanup"] + self.flags(), capture_output=True, text=True, timeout=120)
        # KUBE-MARK-MASQ and KUBE-MARK-DROP stay: they are kubelet's chains too, and --cleanup leaves them.
        left = [line for line in self.rules().splitlines()
                if line.startswith("-A ") and "KUBE-" in line and not line.startswith("-A KUBE-MARK-")]
        if left:
            raise RuntimeError(f"kube-proxy --cleanup ({result.returncode}) left {len(left)} rules, e.g. {left[0]}: {result.stderr[-400:]}")
        # Then the rest (KUBE-MARK-*, empty chains): the node namespace had no iptables state before, and
        # the next proxy starts on the same node as this one did.
        for tool in ("iptables", "ip6tables"):
            for table in ("nat", "filter", "mangle"):
                for flag in ("-F", "-X"):
                    subprocess.run(self.prefix() + [tool, "-w", "-t", table, flag], capture_output=True, timeout=60)

    def rules(self):
        """iptables-save of the node namespace (the nat and filter tables kube-proxy writes)."""
        return subprocess.run(self.prefix() + ["iptables-save"], capture_output=True, text=True, timeout=120).stdout

    def rule_count(self):
        return sum(1 for line in self.rules().splitlines() if line.startswith("-A "))

    def metrics(self):
        return kube_lab.metrics(*self.metrics_address)

    def quiet_gap(self, timeout=300):
        """kube-proxy syncs at most once per --iptables-min-sync-period (1 s by default): a change within
        that second of the last sync waits for it, and a Service and its slice arriving apart can make two
        syncs, the second a second after the first. Before each measured change the bench waits until
        kube-proxy is idle: nothing queued since its last sync, that sync over a second old, no
        iptables-restore child, no CPU used for 0.3 s. The figures start from an idle kube-proxy; under
        steady churn up to a second more is kube-proxy's behaviour."""
        deadline = time.monotonic() + timeout
        pid = self.process.pid
        while time.monotonic() < deadline:
            m = self.metrics()
            last = m.get("kubeproxy_sync_proxy_rules_last_timestamp_seconds", 0)
            queued = m.get("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", 0)
            wait = last + 1.05 - time.time()
            if wait > 0 or queued > last:
                time.sleep(min(max(wait, 0.05), 1.05))
                continue
            cpu = self.lab.cpu_seconds(pid)
            time.sleep(0.3)
            busy = self.lab.cpu_seconds(pid) - cpu > 0.011 or has_children(pid)
            if not busy and self.metrics().get("kubeproxy_sync_proxy_rules_last_timestamp_seconds", 0) == last:
                return
        raise TimeoutError("kube-proxy never went idle")

    def kernel_messages(self, before, after):
        return None


class Weftd:
    name = "weft"
    label = "weftd --services"
    metrics_address = ("127.0.0.1", "9410")
    programming_metric = WEFT_PROGRAMMING_METRIC

    def __init__(self, lab, kernel_messages_metric):
        self.lab = lab
        self.process = None
        self.kernel_messages_metric = kernel_messages_metric
        self.sock = os.path.join(lab.work, "run", "policy.sock")
        usage = subprocess.run([lab.weftd, "run", "--help"], capture_output=True, text=True, timeout=60)
        if "--services" not in usage.stdout + usage.stderr:
            raise SystemExit(f"bench-services: {lab.weftd} has no --services yet (issue #27); "
                             "SERVICES_PROXIES=kube-proxy runs the kube-proxy half alone")

    def start(self):
        for stale in (self.sock, f"{self.lab.work}/state.json"):  # a fresh start at every size
            if os.path.exists(stale):
                os.unlink(stale)
        self.process = self.lab.spawn("weftd", [
            self.lab.weftd, "run", "--backend", "none", "--network-policy", "--kubeconfig", self.lab.kubeconfig,
            "--node-name", NODE, "--policy-socket", self.sock, "--metrics-address", ":".join(self.metrics_address),
            "--state-file", f"{self.lab.work}/state.json", "--services"])
        return self.process

    def stop(self):
        self.lab.stop(self.process)
        self.process = None
        for table in self.tables():
            subprocess.run(["nft", "delete", "table", table["family"], table["name"]], capture_output=True, timeout=60)
        left = self.tables()
        if left:
            raise RuntimeError(f"weftd's tables are still there after it stopped: {left}")

    def tables(self):
        """weftd's nftables tables in the node namespace (this process is in it)."""
        listed = subprocess.run(["nft", "-j", "list", "tables"], capture_output=True, text=True, timeout=60)
        if listed.returncode != 0:
            return []
        return [item["table"] for item in json.loads(listed.stdout).get("nftables", [])
                if "table" in item and item["table"]["name"].startswith("weft")]

    def rule_count(self):
        return None

    def metrics(self):
        return kube_lab.metrics(*self.metrics_address)

    def quiet_gap(self):
        time.sleep(0.1)

    def kernel_messages(self, before, after):
        """Netlink messages of one change, from weftd's counter (None while weftd does not publish it)."""
        name = self.kernel_messages_metric
        if name not in after:
            return None
        return after[name] - before.get(name, 0)


def make_proxies(lab, names, kernel_messages_metric):
    made = {"kube-proxy": lambda: KubeProxy(lab), "weft": lambda: Weftd(lab, kernel_messages_metric)}
    proxies = [made[name]() for name in names]
    log("proxies: " + ", ".join(p.label for p in proxies))
    return proxies
