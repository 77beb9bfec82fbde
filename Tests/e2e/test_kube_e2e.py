"""kube_e2e.judge: a Kubernetes e2e set passes only if every spec its dry run selected ran and passed
(`python3 -m unittest discover -s Tests/e2e -p 'test_*.py'`; no cluster, no root).

The junit below is what ginkgo 1.x's JUnitReporter (vendored in Kubernetes 1.20) writes: one testcase
per spec, `<skipped/>` for specs not run (not selected, or skipped at run time), `<failure>` for failed
ones, and a testcase named BeforeSuite or AfterSuite, with a failure, when that node failed. Each case
is also run through the rule the e2e tier used before (`old_rule`, kept here as it was) to show that
it passed there."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kube_e2e  # noqa: E402
from kube_e2e import judge, parse_junit, partition  # noqa: E402

FOCUS = r"\[sig-network\] NetworkPolicy"
SKIP = r"\[Feature:SCTPConnectivity\]|\[Disruptive\]"
A = "[sig-network] NetworkPolicy [LinuxOnly] NetworkPolicy between server and client should support allow-all policy [Feature:NetworkPolicy]"
B = "[sig-network] NetworkPolicy [LinuxOnly] NetworkPolicy between server and client should enforce policy based on Ports [Feature:NetworkPolicy]"
SCTP_TCP = ("[sig-network] NetworkPolicy [LinuxOnly] NetworkPolicy between server and client should not allow "
            "access by TCP when a policy specifies only SCTP [Feature:NetworkPolicy] [Feature:SCTP]")
SCTP_CONN = ("[sig-network] NetworkPolicy [Feature:SCTPConnectivity][LinuxOnly][Disruptive] NetworkPolicy between "
             "server and client using SCTP should support a 'default-deny' policy [Feature:NetworkPolicy]")
OTHER = "[sig-apps] Deployment deployment should support rollover [Conformance]"


def junit(*cases):
    """A junit file as ginkgo 1.x writes it; cases: (name, "passed"|"failed"|"skipped")."""
    body = []
    for name, state in cases:
        inner = {"passed": "", "skipped": "\n          <skipped></skipped>\n      ",
                 "failed": '\n          <failure type="Failure">/go/src/x.go:1\nexpected true\n/go/src/x.go:2</failure>\n      '}[state]
        body.append(f'      <testcase name="{name}" classname="Kubernetes e2e suite" time="12.5">{inner}</testcase>')
    failures = sum(1 for _, state in cases if state == "failed")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'  <testsuite name="Kubernetes e2e suite" tests="{len(cases)}" failures="{failures}" errors="0" time="99.1">\n'
            + "\n".join(body) + "\n  </testsuite>")


def old_rule(texts, focus, skip, exit_code):
    """The e2e tier's former verdict: junit cases matching the focus and not the skip, FAIL only on a
    <failure>; a <skipped/> was a SKIP, which did not fail the run; the exit status was not read; and
    only an empty list (no report at all) failed."""
    import xml.etree.ElementTree as ElementTree
    statuses = []
    for text in texts:
        for case in ElementTree.fromstring(text).iter("testcase"):
            name = case.get("name", "")
            if not re.search(focus, name) or re.search(skip, name):
                continue
            statuses.append("FAIL" if case.find("failure") is not None else
                            "SKIP" if case.find("skipped") is not None else "PASS")
    return bool(statuses) and "FAIL" not in statuses


def verdict(texts, exit_code, selected=(A, B, SCTP_TCP)):
    rows = judge(list(selected), parse_junit(texts), exit_code)
    return rows, not any(status == "FAIL" for _, status, _, _ in rows)


class JudgeTests(unittest.TestCase):
    def test_everything_ran_and_passed(self):
        texts = [junit((A, "passed"), (B, "passed"), (SCTP_TCP, "passed"), (SCTP_CONN, "skipped"), (OTHER, "skipped"))]
        rows, ok = verdict(texts, 0)
        self.assertTrue(ok, rows)
        self.assertEqual(sorted(status for _, status, _, _ in rows), ["PASS"] * 3)

    def test_selected_spec_without_a_result_fails(self):
        texts = [junit((A, "passed"), (SCTP_TCP, "passed"), (OTHER, "skipped"))]
        self.assertTrue(old_rule(texts, FOCUS, SKIP, 0))
        rows, ok = verdict(texts, 0)
        self.assertFalse(ok)
        self.assertIn((B, "FAIL"), [(n, s) for n, s, _, _ in rows])

    def test_spec_skipped_at_run_time_fails(self):
        texts = [junit((A, "passed"), (B, "skipped"), (SCTP_TCP, "passed"))]
        self.assertTrue(old_rule(texts, FOCUS, SKIP, 0))
        rows, ok = verdict(texts, 0)
        self.assertFalse(ok)
        self.assertIn("skipped itself at run time", dict((n, m) for n, _, _, m in rows)[B])

    def test_listed_runtime_skip_is_a_skip(self):
        rows, ok = verdict([junit((A, "passed"), (B, "passed"), (SCTP_TCP, "skipped"))], 0)
        self.assertTrue(ok, rows)
        self.assertEqual(dict((n, s) for n, s, _, _ in rows)[SCTP_TCP], "SKIP")

    def test_before_suite_failure_on_one_node_fails(self):
        # ginkgo -nodes=2: node 2's BeforeSuite failed (it then ran no spec), node 1 ran them all.
        texts = [junit((A, "passed"), (B, "passed"), (SCTP_TCP, "passed")), junit(("BeforeSuite", "failed"))]
        self.assertTrue(old_rule(texts, FOCUS, SKIP, 1))
        rows, ok = verdict(texts, 1)
        self.assertFalse(ok)
        self.assertIn("ginkgo BeforeSuite", [n for n, s, _, _ in rows if s == "FAIL"])

    def test_before_suite_failure_alone_fails(self):
        rows, ok = verdict([junit(("BeforeSuite", "failed"))], 1)
        self.assertFalse(ok)
        self.assertEqual(sorted(n for n, s, _, _ in rows if s == "FAIL"),
                         sorted([A, B, SCTP_TCP, "ginkgo BeforeSuite", "ginkgo/e2e.test exit status"]))

    def test_after_suite_failure_fails(self):
        texts = [junit((A, "passed"), (B, "passed"), (SCTP_TCP, "passed"), ("AfterSuite", "failed"))]
        self.assertTrue(old_rule(texts, FOCUS, SKIP, 1))
        rows, ok = verdict(texts, 1)
        self.assertFalse(ok)
        self.assertIn("ginkgo AfterSuite", [n for n, s, _, _ in rows if s == "FAIL"])

    def test_nonzero_exit_with_every_spec_passed_fails(self):
        texts = [junit((A, "passed"), (B, "passed"), (SCTP_TCP, "passed"))]
        self.assertTrue(old_rule(texts, FOCUS, SKIP, 1))
        rows, ok = verdict(texts, 1, )
        self.assertFalse(ok)
        self.assertEqual([n for n, s, _, _ in rows if s == "FAIL"], ["ginkgo/e2e.test exit status"])
        rows, ok = verdict(texts, "killed after 3600 s")
        self.assertFalse(ok)

    def test_spec_that_ran_unselected_fails(self):
        rows, ok = verdict([junit((A, "passed"), (B, "passed"), (SCTP_TCP, "passed"), (OTHER, "passed"))], 0)
        self.assertFalse(ok)
        self.assertIn(OTHER, [n for n, s, _, _ in rows if s == "FAIL"])

    def test_a_result_twice_fails(self):
        rows, ok = verdict([junit((A, "passed"), (B, "passed"), (SCTP_TCP, "passed")), junit((A, "passed"))], 0)
        self.assertFalse(ok)

    def test_a_set_that_selects_nothing_fails(self):
        rows, ok = verdict([junit((OTHER, "skipped"))], 0, selected=())
        self.assertFalse(ok)

    def test_partition_by_skip(self):
        selected, left_out = partition(sorted([A, B, SCTP_TCP, SCTP_CONN]), SKIP)
        self.assertEqual(selected, sorted([A, B, SCTP_TCP]))
        self.assertEqual([n for n, _ in left_out], [SCTP_CONN])
        self.assertIn("sctp kernel module", left_out[0][1])


class RealGinkgoTests(unittest.TestCase):
    """testdata/: the junit files Kubernetes 1.20's e2e.test wrote under `ginkgo -nodes=2` with the
    focus `\\[sig-network\\] NetworkPolicy API` and an API server that refuses connections (exit 1)."""

    def test_before_suite_failure_as_ginkgo_writes_it(self):
        data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")
        texts = []
        for name in sorted(os.listdir(data)):
            if name.startswith("ginkgo2-beforesuite-failed-"):
                with open(os.path.join(data, name)) as f:
                    texts.append(f.read())
        self.assertEqual(len(texts), 2)
        cases = parse_junit(texts)
        self.assertEqual([(c.name, c.state) for c in cases], [("BeforeSuite", "failed")] * 2)
        spec = "[sig-network] NetworkPolicy API should support creating NetworkPolicy API operations"
        rows = judge([spec], cases, 1)
        failed = [n for n, s, _, _ in rows if s == "FAIL"]
        self.assertIn(spec, failed)
        self.assertEqual(failed.count("ginkgo BeforeSuite"), 2)
        self.assertIn("ginkgo/e2e.test exit status", failed)


class SetTests(unittest.TestCase):
    def test_default_sets_leave_out_the_hostip_timeout_spec(self):
        self.assertEqual(sorted(kube_e2e.sets_to_run(set())), ["granular", "hostport", "netpol", "services"])
        self.assertEqual(list(kube_e2e.sets_to_run({"hostport-hostip"})), ["hostport-hostip"])
        with self.assertRaises(ValueError):
            kube_e2e.sets_to_run({"nope"})

    def test_node_override(self):
        self.assertEqual(kube_e2e.sets_to_run(set(), nodes=kube_e2e.parse_nodes("netpol=4"))["netpol"].nodes, 4)
        self.assertEqual(kube_e2e.sets_to_run(set())["netpol"].nodes, kube_e2e.SETS["netpol"].nodes)
        for bad in ("netpol", "nope=2", "netpol=0", "netpol=x"):
            with self.assertRaises(ValueError):
                kube_e2e.parse_nodes(bad)


# The 22 specs of `--ginkgo.focus=IPv6DualStack` in 1.20's e2e.test (its dry run).
DS = "[sig-network] [Feature:IPv6DualStackAlphaFeature] [LinuxOnly] "
DS_GRANULAR = DS + "Granular Checks: Services Secondary IP Family "
DUALSTACK_SPECS = [DS_GRANULAR + rest for rest in (
    "should be able to handle large requests: http", "should be able to handle large requests: udp",
    "should function for client IP based session affinity: http [LinuxOnly]",
    "should function for client IP based session affinity: udp [LinuxOnly]",
    "should function for endpoint-Service: http", "should function for endpoint-Service: udp",
    "should function for node-Service: http", "should function for node-Service: udp",
    "should function for pod-Service: http", "should function for pod-Service: sctp [Feature:SCTPConnectivity][Disruptive]",
    "should function for pod-Service: udp", "should update endpoints: http", "should update endpoints: udp")] + [DS + rest for rest in (
    "should be able to reach pod on ipv4 and ipv6 ip [Feature:IPv6DualStackAlphaFeature:Phase2]",
    "should create a single stack service with cluster ip from primary service range [Feature:IPv6DualStackAlphaFeature:Phase2]",
    "should create pod, add ipv6 and ipv4 ip to pod ips",
    "should create service with ipv4 cluster ip [Feature:IPv6DualStackAlphaFeature:Phase2]",
    "should create service with ipv4,v6 cluster ip [Feature:IPv6DualStackAlphaFeature:Phase2]",
    "should create service with ipv6 cluster ip [Feature:IPv6DualStackAlphaFeature:Phase2]",
    "should create service with ipv6,v4 cluster ip [Feature:IPv6DualStackAlphaFeature:Phase2]",
    "should have ipv4 and ipv6 internal node ip", "should have ipv4 and ipv6 node podCIDRs")]


class DualStackSetTests(unittest.TestCase):
    def test_not_a_default_set(self):
        self.assertNotIn("dualstack", kube_e2e.DEFAULT_SETS)

    def test_focus_matches_every_dual_stack_spec_and_no_other(self):
        spec = kube_e2e.SETS["dualstack"]
        self.assertTrue(all(re.search(spec.focus, name) for name in DUALSTACK_SPECS))
        self.assertFalse(re.search(spec.focus, A) or re.search(spec.focus, OTHER))

    def test_every_spec_left_out_has_the_sets_own_reason(self):
        spec = kube_e2e.SETS["dualstack"]
        selected, left_out = partition(DUALSTACK_SPECS, spec.skip, spec.excluded)
        own = [why for _, why in spec.excluded]
        self.assertTrue(left_out)
        for name, reason in left_out:
            self.assertIn(reason, own, name)
        self.assertEqual(sorted(selected + [n for n, _ in left_out]), sorted(DUALSTACK_SPECS))
        # The granular checks of the secondary family run, but for SCTP.
        granular = [n for n in selected if n.startswith(DS_GRANULAR)]
        self.assertEqual(len(granular), 12)
        self.assertEqual(len(selected), 20)
        self.assertFalse(any("sctp" in n for n in selected))

    def test_a_sets_own_reason_comes_before_the_general_ones(self):
        _, left_out = partition([SCTP_CONN], SKIP, excluded=((r"SCTP", "the set's own reason"),))
        self.assertEqual(left_out, [(SCTP_CONN, "the set's own reason")])


class RetryTests(unittest.TestCase):
    """kube_e2e.retry_reason: a set runs again once only when it failed and its log shows the known
    cause that is not the network's."""
    LOG = 'Events: Warning OutOfnodeAffinity: Pod Predicate NodeAffinity failed\n'
    FAILED = [("spec", "FAIL", 1.0, "timed out"), ("other", "PASS", 1.0, "")]

    def test_hostport_failing_on_the_kubelet_race_is_run_again(self):
        self.assertIn("NodeAffinity", kube_e2e.retry_reason("hostport", self.FAILED, self.LOG))

    def test_anything_else_is_not(self):
        passed = [("spec", "PASS", 1.0, "")]
        self.assertIsNone(kube_e2e.retry_reason("hostport", passed, self.LOG))      # it passed
        self.assertIsNone(kube_e2e.retry_reason("hostport", self.FAILED, "i/o timeout\n"))   # another cause
        self.assertIsNone(kube_e2e.retry_reason("netpol", self.FAILED, self.LOG))   # not a retried set


class SideBySideTests(unittest.TestCase):
    def test_every_set_of_either_proxy_is_a_line(self):
        import run
        lines = run.side_by_side({"kube-proxy": {"services": (16, 0, 0), "granular": (4, 0, 0)},
                                  "weftd": {"services": (15, 1, 0), "dualstack": (20, 0, 2)}})
        self.assertEqual(lines, ["Kubernetes e2e sets by Service proxy (passed/failed/skipped): kube-proxy | weftd",
                                 "  dualstack: not run | 20/0/2", "  granular: 4/0/0 | not run",
                                 "  services: 16/0/0 | 15/1/0"])
        self.assertEqual(run.side_by_side({"weftd": {"services": (1, 0, 0)}}), [])


if __name__ == "__main__":
    unittest.main()
