"""Kubernetes' own e2e tests (e2e.test built from the same source) against the cluster, by ginkgo focus.

Selected:
- [sig-network] Networking Granular Checks: Pods (pod-to-pod HTTP and UDP, node-to-pod HTTP and UDP);
- the hostPort tests, in 1.20 `[sig-scheduling] SchedulerPredicates [Serial] validates that there ...
  hostPort ...` (a plain `HostPort` focus selects only an SCTP feature test);
- every `[sig-network] Services ... [Conformance]` test a single node can run;
- the whole `[sig-network] NetworkPolicy` suite of 1.20 (enforced by weftd): every one of its specs
  is tagged `[Feature:NetworkPolicy]`, so this set skips only the SCTP connectivity specs.
Each selected test's result comes from ginkgo's junit report. Every spec a focus matches but the set
leaves out (a dry run lists them) or SKIPS names is reported as SKIP with its reason.
"""

import json
import os
import re
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ElementTree

from harness import say

# name -> (focus, skip, ginkgo parallel nodes)
SETS = {
    "granular": (r"\[sig-network\] Networking Granular Checks: Pods", r"\[Feature:|\[Disruptive\]", 1),
    "hostport": (r"\[sig-scheduling\] SchedulerPredicates \[Serial\] validates that there (is no|exists) conflict "
                 r"between pods with same hostPort", r"\[Feature:|\[Disruptive\]", 1),
    "services": (r"\[sig-network\] Services .*\[Conformance\]", r"\[Feature:|\[Disruptive\]", 1),
    "netpol": (r"\[sig-network\] NetworkPolicy", r"\[Feature:SCTPConnectivity\]|\[Disruptive\]", 2),
}

# Why a set leaves out a spec its focus matches: the first pattern that matches the spec's name.
EXCLUDED = [
    (r"\[Feature:SCTPConnectivity\]", "SCTP between pods: needs the sctp kernel module loaded on the node "
                                      "([Feature:SCTPConnectivity], [Disruptive])"),
    (r"\[Disruptive\]", "[Disruptive]: restarts or breaks cluster components"),
    (r"\[Feature:", "feature-gated ([Feature:...]) and not part of what this set checks"),
]

# Selected tests this cluster cannot run, with the reason (reported as SKIP). Empty: every selected
# test runs.
SKIPS = {}


def list_specs(cluster, focus):
    """The spec names `focus` selects, from a ginkgo dry run (nothing touches the cluster): the e2e
    progress reporter prints a JSON line `{"msg":"PASSED <name>",...}` for each."""
    with tempfile.TemporaryDirectory(prefix="weft-e2e-dry-") as scratch:
        result = subprocess.run([f"{cluster.kube_bin}/e2e.test", "--ginkgo.dryRun", "--ginkgo.noColor",
                                 "--ginkgo.v", f"--ginkgo.focus={focus}", "--provider=local"],
                                capture_output=True, text=True, timeout=300, cwd=scratch)
    names = set()
    for line in result.stdout.splitlines():
        start = line.find('{"msg":"PASSED ')
        if start >= 0:
            names.add(json.loads(line[start:])["msg"][len("PASSED "):])
    return sorted(names)


def excluded(cluster, focus, skip):
    """[(spec name, reason)] for each spec `focus` matches that `skip` leaves out."""
    found = []
    for name in list_specs(cluster, focus):
        if not re.search(skip, name):
            continue
        reason = next((why for pattern, why in EXCLUDED if re.search(pattern, name)), f"matches skip {skip!r}")
        found.append((name, reason))
    return found


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


def run_all(cluster, results, out_dir, extra_focus="", only=None):
    """Runs every set (or the sets named in `only`), or just `extra_focus` when given."""
    sets = {name: spec for name, spec in SETS.items() if not only or name in only}
    if extra_focus:
        sets = {"extra": (extra_focus, r"\[Feature:|\[Disruptive\]", 1)}
    for name, (focus, skip, parallel) in sets.items():
        for spec, reason in excluded(cluster, focus, skip):
            results.add("kubernetes e2e", spec, "SKIP", 0, f"not selected: {reason}")
        skip = "|".join([skip] + [f"({pattern})" for pattern in SKIPS])
        cases, elapsed = run_e2e(cluster, out_dir, name, focus, skip, parallel=parallel)
        for case_name, status, seconds, message in cases:
            results.add("kubernetes e2e", case_name, status, seconds, message)
        for pattern, reason in SKIPS.items():
            if re.search(focus, pattern):
                results.add("kubernetes e2e", pattern, "SKIP", 0, reason)
        results.timing(f"kubernetes e2e {name}" + (f" ({parallel} ginkgo nodes)" if parallel > 1 else ""), elapsed)
