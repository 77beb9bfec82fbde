"""Kubernetes' own e2e tests (e2e.test built from the same source) against the cluster, by ginkgo focus.

The sets (SETS; `make e2e E2E_SETS=a,b` picks some, the default runs every set marked default):
- granular: [sig-network] Networking Granular Checks: Pods (pod-to-pod HTTP and UDP, node-to-pod HTTP
  and UDP);
- hostport: the scheduler's hostPort spec that starts pods, in 1.20 `[sig-scheduling]
  SchedulerPredicates [Serial] validates that there is no conflict between pods with same hostPort but
  different hostIP and protocol` (three pods on one hostPort with different hostIPs and protocols,
  each reached through Weft's port mappings);
- hostport-hostip (not run by default): `... validates that there exists conflict between pods with
  same hostPort and protocol but one using 0.0.0.0 hostIP`: the scheduler refuses the second pod and
  the spec waits out a 300 s timeout to see it stay Pending; no packet of Weft's is involved;
- services: every `[sig-network] Services ... [Conformance]` test a single node can run;
- netpol: the whole `[sig-network] NetworkPolicy` suite of 1.20 (enforced by weftd): every one of its
  specs is tagged `[Feature:NetworkPolicy]`, so this set skips only the SCTP connectivity specs;
- dualstack (cluster B's, not a default set: it needs a dual-stack cluster): the 1.20 e2e's
  `[Feature:IPv6DualStackAlphaFeature]` specs, among them the "Granular Checks: Services Secondary IP
  Family" (pod, node and endpoint to a Service's IPv6 ClusterIP and the nodes' IPv6 NodePort, HTTP and
  UDP, endpoints updated, session affinity, large requests), the pods' and Nodes' addresses and podCIDRs
  of both families, and pods reached on both; what it leaves out is in DUALSTACK_EXCLUDED, each with
  its reason.

The truth of a set's run (judge(), a pure function, tested by test_kube_e2e.py): a ginkgo dry run lists
the specs the focus selects; those its skip pattern leaves out are reported as SKIP with the reason
from EXCLUDED; every other one must have exactly one result in this run's junit report (the report
directory is wiped first) and have passed. A selected spec without a result, one that failed or
skipped itself at run time (unless ALLOWED_RUNTIME_SKIPS names it), a failed BeforeSuite or
AfterSuite (ginkgo 1.x records them as testcases named so; after a failed BeforeSuite it runs no
spec), a spec that ran
but was not selected, a set that selects nothing, and a non-zero exit of ginkgo or e2e.test each
fail the run.
"""

import collections
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ElementTree

from harness import say

# nodes: ginkgo parallel nodes. [Serial] specs (hostport) need 1; the others are parallel upstream too.
# granular and services on 4 nodes, measured on this harness's cluster networked by the reference
# plugins on a loaded 2-core machine: granular 63.6 s -> 29.1 s (4/4), services 356.2 s -> 213.5 s
# (16/16); services on 6, with kube-proxy on cluster A: 201 s on 4 in CI (make test beside it) -> 119 s
# on 6 in a run of its own (16/16). netpol, measured with Weft's DaemonSet (weftd not privileged) on a loaded machine:
# 1248 s on 2 nodes in the last full run -> 640 s on 4 (30/30) -> 469 s on 6 (30/30, load average 8-10
# from Swift builds beside it; every node ran 60-66 pod sandboxes; 442 s in CI). On 8: 434 s alone (30/30,
# load average 9-11 from three Swift builds beside it) but 471.6 s in CI (30/30): within the runs' noise,
# so 6, the lighter load on the nodes. dualstack on 6, measured on cluster B
# (Weft's DaemonSet, host-gw) on the loaded 2-core machine: 20 specs in 171 s, most of them waiting on
# dials (the two "update endpoints" specs, about 115 s each, are its floor).
# excluded: ((pattern, reason), ...) of a set that names what it leaves out itself (its skip is their
# union); the reasons come before EXCLUDED's.
Set = collections.namedtuple("Set", "focus skip nodes default excluded", defaults=((),))
SKIP_DEFAULT = r"\[Feature:|\[Disruptive\]"
DUALSTACK_EXCLUDED = (
    (r"\[Feature:SCTPConnectivity\]", "SCTP to a Service's IPv6 ClusterIP: needs the sctp kernel module loaded on the "
                                       "node ([Feature:SCTPConnectivity], [Disruptive])"),
    (r"should be able to reach pod on ipv4 and ipv6 ip", "covered, and not worth its 184 s (the set's longest spec, "
                                                        "18 ten-second Consistently polls of curl from a client on each "
                                                        "node to each server's two addresses): part hostgw's 'host-gw "
                                                        "over IPv6' check has a pod on each node reach every other over "
                                                        "both families, and the Secondary IP Family checks reach "
                                                        "endpoints on every node over IPv6"),
)
SETS = {
    "granular": Set(r"\[sig-network\] Networking Granular Checks: Pods", SKIP_DEFAULT, 4, True),
    "hostport": Set(r"\[sig-scheduling\] SchedulerPredicates \[Serial\] validates that there is no conflict "
                    r"between pods with same hostPort but different hostIP and protocol", SKIP_DEFAULT, 1, True),
    "hostport-hostip": Set(r"\[sig-scheduling\] SchedulerPredicates \[Serial\] validates that there exists "
                           r"conflict between pods with same hostPort and protocol but one using 0\.0\.0\.0 hostIP",
                           SKIP_DEFAULT, 1, False),
    "services": Set(r"\[sig-network\] Services .*\[Conformance\]", SKIP_DEFAULT, 6, True),
    "netpol": Set(r"\[sig-network\] NetworkPolicy", r"\[Feature:SCTPConnectivity\]|\[Disruptive\]", 6, True),
    "dualstack": Set(r"\[sig-network\] \[Feature:IPv6DualStackAlphaFeature\] ",
                     "|".join(pattern for pattern, _ in DUALSTACK_EXCLUDED), 6, False, DUALSTACK_EXCLUDED),
}
DEFAULT_SETS = [name for name, spec in SETS.items() if spec.default]

# Why a set leaves out a spec its focus matches: the first pattern that matches the spec's name.
EXCLUDED = [
    (r"\[Feature:SCTPConnectivity\]", "SCTP between pods: needs the sctp kernel module loaded on the node "
                                      "([Feature:SCTPConnectivity], [Disruptive])"),
    (r"\[Disruptive\]", "[Disruptive]: restarts or breaks cluster components"),
    (r"\[Feature:", "feature-gated ([Feature:...]) and not part of what this set checks"),
]

# Selected specs that may skip themselves at run time, with the reason (reported as SKIP). Anything
# else that skips itself fails the run. Keep this short.
ALLOWED_RUNTIME_SKIPS = [
    (r"\[Feature:SCTP\]", "SCTP on a kernel without it: the spec skips itself when the node cannot open SCTP "
                          "sockets (this machine's kernel has no sctp module)"),
]

Case = collections.namedtuple("Case", "name state seconds message")   # state: passed, failed, skipped
SUITE_NODES = ("BeforeSuite", "AfterSuite")


def list_specs(kube_bin, focus):
    """The spec names `focus` selects, from a ginkgo dry run (nothing touches the cluster): the e2e
    progress reporter prints a JSON line `{"msg":"PASSED <name>",...}` for each."""
    with tempfile.TemporaryDirectory(prefix="weft-e2e-dry-") as scratch:
        result = subprocess.run([f"{kube_bin}/e2e.test", "--ginkgo.dryRun", "--ginkgo.noColor",
                                 "--ginkgo.v", f"--ginkgo.focus={focus}", "--provider=local"],
                                capture_output=True, text=True, timeout=300, cwd=scratch)
    names = set()
    for line in result.stdout.splitlines():
        start = line.find('{"msg":"PASSED ')
        if start >= 0:
            names.add(json.loads(line[start:])["msg"][len("PASSED "):])
    if result.returncode != 0:
        raise AssertionError(f"e2e.test dry run for {focus!r} exited {result.returncode}: {result.stderr[-1500:]}")
    return sorted(names)


def partition(names, skip, excluded=()):
    """(selected, [(name, reason)] left out by `skip`) of the names a focus matches; the reason is the
    first of `excluded` (the set's own) and EXCLUDED whose pattern matches."""
    selected, left_out = [], []
    for name in names:
        if skip and re.search(skip, name):
            reason = next((why for pattern, why in list(excluded) + EXCLUDED if re.search(pattern, name)),
                          f"matches skip {skip!r}")
            left_out.append((name, reason))
        else:
            selected.append(name)
    return selected, left_out


def parse_junit(texts):
    """[Case] of every testcase in the junit XML `texts` (ginkgo 1.x's JUnitReporter: one testcase per
    spec, selected or not, `<failure>` for failed, timed out or panicked specs, `<skipped/>` for specs
    not run or skipped at run time; a failed BeforeSuite or AfterSuite is a testcase of that name)."""
    cases = []
    for text in texts:
        root = ElementTree.fromstring(text)
        for case in root.iter("testcase"):
            seconds = float(case.get("time", "0") or 0)
            failure = case.find("failure")
            if failure is None:
                failure = case.find("error")
            if failure is not None:
                message = " ".join(x for x in ((failure.get("message") or ""), (failure.text or "")) if x)
                cases.append(Case(case.get("name", ""), "failed", seconds, message.strip()))
            elif case.find("skipped") is not None:
                cases.append(Case(case.get("name", ""), "skipped", seconds,
                                  (case.find("skipped").get("message") or "").strip()))
            else:
                cases.append(Case(case.get("name", ""), "passed", seconds, ""))
    return cases


def judge(selected, cases, exit_code, allowed_skips=ALLOWED_RUNTIME_SKIPS, log_tail=""):
    """[(name, PASS|FAIL|SKIP, seconds, message)]: one row for each selected spec, one for each problem of
    the run as a whole. The run passed only if no row is FAIL."""
    rows = []
    by_name = collections.defaultdict(list)
    for case in cases:
        by_name[case.name].append(case)
    if not selected:
        rows.append(("dry run", "FAIL", 0.0, "the set's focus and skip select no spec"))
    for name in selected:
        found = by_name.get(name, [])
        if not found:
            rows.append((name, "FAIL", 0.0, "selected by the dry run, but no result in this run's junit report"))
            continue
        if len(found) > 1:
            rows.append((name, "FAIL", sum(c.seconds for c in found), f"{len(found)} results in the junit report: "
                         f"{[c.state for c in found]}"))
            continue
        case = found[0]
        if case.state == "failed":
            rows.append((name, "FAIL", case.seconds, case.message))
        elif case.state == "skipped":
            reason = next((why for pattern, why in allowed_skips if re.search(pattern, name)), None)
            if reason:
                rows.append((name, "SKIP", case.seconds, f"skipped at run time: {reason}"))
            else:
                rows.append((name, "FAIL", case.seconds, "skipped itself at run time " + (case.message or
                             "(not on ALLOWED_RUNTIME_SKIPS)")))
        else:
            rows.append((name, "PASS", case.seconds, ""))
    wanted = set(selected)
    for case in cases:
        if case.name in wanted:
            continue
        if case.name in SUITE_NODES or case.state == "failed":
            rows.append((f"ginkgo {case.name}", "FAIL", case.seconds, case.message or case.state))
        elif case.state == "passed":
            rows.append((case.name, "FAIL", case.seconds, "ran, but the dry run did not select it"))
    if exit_code != 0:
        rows.append(("ginkgo/e2e.test exit status", "FAIL", 0.0, f"exit {exit_code}: {log_tail[-2000:]}"))
    return rows


def run_e2e(cluster, out_dir, name, focus, skip=None, timeout=3600, nodes=1):
    """Runs e2e.test with `focus` (and `skip`) inside the node's network namespace, on `nodes` ginkgo
    nodes; returns ([Case] from the junit report, exit status, log tail, seconds)."""
    report_dir = os.path.join(out_dir, f"junit-{name}")
    shutil.rmtree(report_dir, ignore_errors=True)   # an old run's junit is never read again
    os.makedirs(report_dir)
    e2e_args = [
        f"--kubeconfig={cluster.kubeconfig}", "--provider=local", f"--num-nodes={len(cluster.nodes)}",
        f"--report-dir={report_dir}", "--ginkgo.noColor", "--ginkgo.v", "--ginkgo.trace",
        f"--ginkgo.focus={focus}", "--dump-logs-on-failure=false", "--disable-log-dump",
        "--allowed-not-ready-nodes=0", "--node-os-distro=debian", "--container-runtime=remote",
        "--minStartupPods=0", "--system-pods-startup-timeout=2m", f"--e2e-output-dir={report_dir}",
    ]
    if skip:
        e2e_args.append(f"--ginkgo.skip={skip}")
    bin_ = cluster.kube_bin
    if nodes > 1:
        command = [f"{bin_}/ginkgo", f"-nodes={nodes}", "-noColor", f"-focus={focus}"] + \
                  ([f"-skip={skip}"] if skip else []) + [f"{bin_}/e2e.test", "--"] + \
                  [a for a in e2e_args if not a.startswith("--ginkgo.")]
    else:
        command = [f"{bin_}/e2e.test"] + e2e_args
    log_path = os.path.join(out_dir, f"e2e-{name}.log")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "KUBECONFIG": cluster.kubeconfig,
           "KUBE_TEST_REPO_LIST": ""}
    say(f"k8s e2e {name}: focus {focus!r}, {nodes} ginkgo node(s), log {log_path}")
    t = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.Popen(["nsenter", f"--net={cluster.node_net}"] + command, stdout=log,
                                   stderr=subprocess.STDOUT, env=env, cwd=report_dir, start_new_session=True)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)   # ginkgo and its e2e.test nodes: its own session
            process.wait()
            code = f"killed after {timeout} s"
    elapsed = time.monotonic() - t
    with open(log_path, errors="replace") as log:
        log_tail = log.read()[-3000:]
    texts = []
    for entry in sorted(os.listdir(report_dir)):
        if entry.startswith("junit") and entry.endswith(".xml"):
            with open(os.path.join(report_dir, entry), errors="replace") as f:
                texts.append(f.read())
    return parse_junit(texts), code, log_tail, elapsed


def parse_nodes(text):
    """{set: ginkgo nodes} from "netpol=4,services=2" (E2E_NODES: what runs is the same, only how many
    ginkgo nodes run it)."""
    nodes = {}
    for item in filter(None, (x.strip() for x in (text or "").split(","))):
        name, _, count = item.partition("=")
        if name.strip() not in SETS or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(f"E2E_NODES: {item!r} is not SET=COUNT with a set of {sorted(SETS)}")
        nodes[name.strip()] = int(count)
    return nodes


def sets_to_run(only, extra_focus="", nodes=None):
    """{name: Set} of the sets named in `only` (default: DEFAULT_SETS), or just `extra_focus`; `nodes`
    overrides sets' ginkgo node counts."""
    if extra_focus:
        return {"extra": Set(extra_focus, SKIP_DEFAULT, 1, False)}
    unknown = sorted(set(only or ()) - set(SETS))
    if unknown:
        raise ValueError(f"unknown e2e sets {unknown}; known: {sorted(SETS)}")
    return {name: spec._replace(nodes=(nodes or {}).get(name, spec.nodes)) for name, spec in SETS.items()
            if (name in only if only else spec.default)}


# Sets whose pods must land on several nodes of a multi-node cluster (what makes them cross-node tests).
SPREAD_SETS = ("granular", "services", "netpol", "dualstack")
SANDBOX_LINE = re.compile(r"RunPodSandbox for &PodSandboxMetadata\{Name:[^,]*,Uid:([0-9a-f-]+),")


def _containerd_log(cluster, node):
    return cluster.path("logs", f"{node.prefix}containerd.log")


def _kubelet_log(cluster, node):
    return cluster.path("logs", f"{node.prefix}kubelet.log")


def sandbox_log_offsets(cluster, log=_containerd_log):
    """Where each node's containerd log (or `log`) ends now."""
    offsets = {}
    for node in cluster.nodes:
        try:
            offsets[node.name] = os.path.getsize(log(cluster, node))
        except OSError:
            offsets[node.name] = 0
    return offsets


def logged_since(cluster, offsets, log=_kubelet_log):
    """What each node's kubelet log (or `log`) gained since `offsets`, concatenated."""
    texts = []
    for node in cluster.nodes:
        try:
            with open(log(cluster, node), errors="replace") as f:
                f.seek(offsets.get(node.name, 0))
                texts.append(f.read())
        except OSError:
            pass
    return "".join(texts)


def pods_started_since(cluster, offsets):
    """{node: pods (UIDs) whose sandbox containerd was asked to start since `offsets`}: where a set's pods ran."""
    spread = {}
    for node in cluster.nodes:
        uids = set()
        try:
            with open(_containerd_log(cluster, node), errors="replace") as log:
                log.seek(offsets.get(node.name, 0))
                uids = set(SANDBOX_LINE.findall(log.read()))
        except OSError:
            pass
        spread[node.name] = len(uids)
    return spread


# A set run again once, whole, when its first run failed for a reason that is Kubernetes' own and not
# the network's: {set: (pattern in the e2e log, reason)}. The first run's failures are kept in the
# results as a note naming the reason; the second run's rows are the verdict. Keep this short.
RETRIED = {
    "hostport": (r"Predicate NodeAffinity failed",
                 "the kubelet refused the spec's pod with \"Predicate NodeAffinity failed\": its Node cache had not "
                 "yet seen the label the spec put on the node a moment before (a kubelet race on a loaded node; "
                 "the pod never reached the network)"),
}


def retry_reason(set_name, rows, log_text):
    """Why the set's run is to be repeated once (RETRIED), or None: only when it failed and `log_text`
    (the kubelets' logs written during the run) shows the known non-network cause."""
    if set_name not in RETRIED or not any(row[1] == "FAIL" for row in rows):
        return None
    pattern, reason = RETRIED[set_name]
    return reason if re.search(pattern, log_text) else None


def run_all(cluster, results, out_dir, extra_focus="", only=None, nodes=None, tag="", section="kubernetes e2e"):
    """Runs the default sets (or the sets named in `only`), or just `extra_focus` when given. `tag`
    prefixes the sets' file names (a second cluster's run keeps the first's reports). Returns
    {set: (passed, failed, skipped)} as reported."""
    counts = {}
    for set_name, spec in sets_to_run(only, extra_focus, nodes).items():
        name = tag + set_name
        try:
            selected, left_out = partition(list_specs(cluster.kube_bin, spec.focus), spec.skip, spec.excluded)
        except Exception as error:
            results.add(section, f"{name}: dry run", "FAIL", 0, f"{type(error).__name__}: {error}")
            counts[set_name] = (0, 1, 0)
            continue
        for spec_name, reason in left_out:
            results.add(section, spec_name, "SKIP", 0, f"not selected: {reason}")
        offsets = sandbox_log_offsets(cluster)
        kubelets = sandbox_log_offsets(cluster, _kubelet_log)
        cases, code, log_tail, elapsed = run_e2e(cluster, out_dir, name, spec.focus, spec.skip, nodes=spec.nodes)
        rows = judge(selected, cases, code, log_tail=log_tail)
        reason = retry_reason(set_name, rows, logged_since(cluster, kubelets))
        if reason:
            failed = "; ".join(row[0] for row in rows if row[1] == "FAIL")
            shutil.copy(os.path.join(out_dir, f"e2e-{name}.log"), os.path.join(out_dir, f"e2e-{name}-first.log"))
            results.note(f"{section} {name}: run again once: its first run failed ({failed[:300]}) because {reason}; "
                         f"first log e2e-{name}-first.log")
            cases, code, log_tail, again = run_e2e(cluster, out_dir, name, spec.focus, spec.skip, nodes=spec.nodes)
            elapsed += again
            rows = judge(selected, cases, code, log_tail=log_tail)
        for row in rows:
            results.add(section, *row)
        counts[set_name] = (sum(1 for r in rows if r[1] == "PASS"), sum(1 for r in rows if r[1] == "FAIL"),
                            len(left_out) + sum(1 for r in rows if r[1] == "SKIP"))
        if len(cluster.nodes) > 1:
            spread = pods_started_since(cluster, offsets)
            results.note(f"{section} {name}: pod sandboxes started per node {spread}")
            if set_name in SPREAD_SETS:
                used = [node for node, count in spread.items() if count]
                results.add(section, f"{name}: its pods ran on more than one node", "PASS" if len(used) > 1 else "FAIL",
                            0, f"pod sandboxes per node {spread}")
        results.timing(f"{section} {name}" + (f" ({spec.nodes} ginkgo nodes)" if spec.nodes > 1 else ""), elapsed)
    return counts
