"""Kubernetes' own e2e tests (e2e.test built from the same source) against the cluster, by ginkgo focus.

Selected:
- [sig-network] Networking Granular Checks: Pods (pod-to-pod HTTP and UDP, node-to-pod HTTP and UDP);
- the hostPort tests, in 1.20 `[sig-scheduling] SchedulerPredicates [Serial] validates that there ...
  hostPort ...` (a plain `HostPort` focus selects only an SCTP feature test);
- every `[sig-network] Services ... [Conformance]` test a single node can run.
Each selected test's result comes from ginkgo's junit report; a test skipped on purpose says why.
"""

import os
import re
import subprocess
import time
import xml.etree.ElementTree as ElementTree

from harness import say

FOCUS = {
    "granular": r"\[sig-network\] Networking Granular Checks: Pods",
    "hostport": r"\[sig-scheduling\] SchedulerPredicates \[Serial\] validates that there (is no|exists) conflict between pods with same hostPort",
    "services": r"\[sig-network\] Services .*\[Conformance\]",
}

# Never selected: feature-gated and disruptive specs the focus also matches (the two SCTP variants of
# the Granular Checks need the SCTPConnectivity feature and are [Disruptive]).
SKIP = r"\[Feature:|\[Disruptive\]"

# Selected tests this cluster cannot run, with the reason (reported as SKIP). Empty: every selected
# test runs.
SKIPS = {}


def run_e2e(cluster, out_dir, name, focus, skip=None, timeout=3600, parallel=1):
    """Runs e2e.test with `focus` (and `skip`) inside the node's network namespace; returns the parsed
    junit testcases [(name, status, seconds, message)] of the selected tests."""
    report_dir = os.path.join(out_dir, f"junit-{name}")
    os.makedirs(report_dir, exist_ok=True)
    e2e_args = [
        f"--kubeconfig={cluster.kubeconfig}", "--provider=local", "--num-nodes=1",
        f"--report-dir={report_dir}", "--ginkgo.noColor", "--ginkgo.v", "--ginkgo.trace",
        f"--ginkgo.focus={focus}", "--dump-logs-on-failure=false", "--disable-log-dump",
        "--allowed-not-ready-nodes=0", "--node-os-distro=debian", "--container-runtime=remote",
        "--minStartupPods=0", "--system-pods-startup-timeout=2m", f"--e2e-output-dir={report_dir}",
    ]
    if skip:
        e2e_args.append(f"--ginkgo.skip={skip}")
    bin_ = cluster.kube_bin
    if parallel > 1:
        command = [f"{bin_}/ginkgo", f"-nodes={parallel}", "-noColor", f"-focus={focus}"] + \
                  ([f"-skip={skip}"] if skip else []) + [f"{bin_}/e2e.test", "--"] + \
                  [a for a in e2e_args if not a.startswith("--ginkgo.")]
    else:
        command = [f"{bin_}/e2e.test"] + e2e_args
    log_path = os.path.join(out_dir, f"e2e-{name}.log")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "KUBECONFIG": cluster.kubeconfig,
           "KUBE_TEST_REPO_LIST": ""}
    say(f"k8s e2e {name}: focus {focus!r}, log {log_path}")
    t = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.run(["nsenter", f"--net={cluster.node_net}"] + command, stdout=log,
                                 stderr=subprocess.STDOUT, env=env, cwd=report_dir, timeout=timeout)
    elapsed = time.monotonic() - t
    cases = parse_junit(report_dir, focus, skip)
    if not cases:
        with open(log_path, errors="replace") as log:
            tail = log.read()[-3000:]
        cases = [(f"e2e.test {name} (no junit report)", "FAIL", elapsed, f"exit {process.returncode}: {tail}")]
    return cases, elapsed


def parse_junit(report_dir, focus, skip):
    focus_re = re.compile(focus)
    skip_re = re.compile(skip) if skip else None
    cases = []
    for entry in sorted(os.listdir(report_dir)):
        if not (entry.startswith("junit") and entry.endswith(".xml")):
            continue
        tree = ElementTree.parse(os.path.join(report_dir, entry))
        for case in tree.iter("testcase"):
            name = case.get("name", "")
            if not focus_re.search(name):
                continue  # not selected: ginkgo lists every spec it did not run as skipped
            seconds = float(case.get("time", "0") or 0)
            failure = case.find("failure")
            skipped = case.find("skipped")
            if skip_re and skip_re.search(name):
                continue
            if failure is not None:
                message = (failure.get("message") or "") + " " + (failure.text or "")
                cases.append((name, "FAIL", seconds, message.strip()))
            elif skipped is not None:
                cases.append((name, "SKIP", seconds, (skipped.get("message") or "skipped at run time").strip()))
            else:
                cases.append((name, "PASS", seconds, ""))
    return cases


def run_all(cluster, results, out_dir, extra_focus=""):
    sets = dict(FOCUS)
    if extra_focus:
        sets = {"extra": extra_focus}
    for name, focus in sets.items():
        skip = "|".join([SKIP] + [f"({pattern})" for pattern in SKIPS])
        cases, elapsed = run_e2e(cluster, out_dir, name, focus, skip)
        for case_name, status, seconds, message in cases:
            results.add("kubernetes e2e", case_name, status, seconds, message)
        for pattern, reason in SKIPS.items():
            if re.search(focus, pattern):
                results.add("kubernetes e2e", pattern, "SKIP", 0, reason)
        results.timing(f"kubernetes e2e {name}", elapsed)
