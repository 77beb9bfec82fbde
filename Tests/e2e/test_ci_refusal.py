"""run.refuse_narrowing: under CI=true a run narrowed by E2E_PARTS, E2E_SETS or E2E_FOCUS is refused,
and `CI=true make e2e E2E_PARTS=smoke` stops while make reads the Makefile, before building anything."""

import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import run  # noqa: E402

ALL = set(run.PARTS)


class RefusalTests(unittest.TestCase):
    def test_outside_ci_anything_goes(self):
        self.assertIsNone(run.refuse_narrowing({}, {"smoke"}, {"netpol"}, "x"))
        self.assertIsNone(run.refuse_narrowing({"CI": "false"}, {"smoke"}, set(), ""))

    def test_ci_full_run_is_accepted(self):
        self.assertIsNone(run.refuse_narrowing({"CI": "true"}, ALL, set(), ""))

    def test_ci_narrowed_run_is_refused(self):
        for parts, sets, focus in (({"smoke"}, set(), ""), (ALL, {"netpol"}, ""), (ALL, set(), "Services"),
                                   (ALL - {"leak"}, set(), "")):
            message = run.refuse_narrowing({"CI": "true"}, parts, sets, focus)
            self.assertIsNotNone(message, (parts, sets, focus))
            self.assertIn("refusing a narrowed e2e run", message)

    def test_make_refuses_before_building(self):
        env = dict(os.environ, CI="true")
        for variable in ("E2E_PARTS=smoke", "E2E_SETS=netpol", "E2E_FOCUS=Services"):
            # -n: were the refusal not at parse time, make would print the build's commands and exit 0.
            result = subprocess.run(["make", "-n", "-C", REPO, "e2e", variable], env=env, capture_output=True,
                                    text=True, timeout=60)
            self.assertNotEqual(result.returncode, 0, variable)
            self.assertIn("refusing a narrowed e2e run", result.stderr)
            self.assertNotIn("build", result.stdout)
        result = subprocess.run(["make", "-C", REPO, "e2e-ci-check"], env=dict(env, E2E_PARTS="smoke"),
                                capture_output=True, text=True, timeout=60)
        self.assertNotEqual(result.returncode, 0)


if __name__ == "__main__":
    unittest.main()
