"""scripts/lib without root: a daemon supervised by PID and start time (alive, stopped, its log), a wait
that ends in a timeout, the one containerd config and the one kube-apiserver command for both of its
callers (the e2e cluster's client certificates, the benches' bearer token)."""

import os
import json
import contextlib
import io
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "scripts"))

from lib import apiserver, containerd, netns, processes  # noqa: E402
from lib.commands import run, wait_until  # noqa: E402


class ProcessesTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="weft-test-lib-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.changes = 0

        def changed():
            self.changes += 1
        self.daemons = processes.Daemons(os.path.join(self.dir, "logs"), on_change=changed)
        self.addCleanup(self.stop_all)

    def stop_all(self):
        for name in list(self.daemons.entries):
            self.daemons.stop(name, grace=1)

    def test_a_daemon_is_alive_until_stopped_by_its_pid_and_its_log_is_kept(self):
        pid = self.daemons.start("talker", ["sh", "-c", "echo first; echo second >&2; exec sleep 60"])
        self.assertTrue(self.daemons.alive("talker"))
        self.assertEqual(self.daemons.pid("talker"), pid)
        self.assertEqual(self.daemons.entries["talker"][:2], [pid, processes.start_time(pid)])
        self.assertIn(pid, processes.process_table())
        wait_until(lambda: "second" in self.daemons.log_tail("talker"), 10, interval=0.05, what="the log")
        self.assertEqual(self.daemons.log_tail("talker").split(), ["first", "second"])
        self.daemons.stop("talker", grace=5)
        self.assertFalse(self.daemons.alive("talker"))
        self.assertIsNone(processes.start_time(pid))  # reaped: no zombie left
        self.assertNotIn("talker", self.daemons.entries)
        self.assertEqual(self.changes, 2)  # recorded once started, once stopped (what the state file follows)

    def test_a_daemon_deaf_to_sigterm_is_killed_after_the_grace(self):
        pid = self.daemons.start("stubborn", ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"])
        wait_until(lambda: "ready" in self.daemons.log_tail("stubborn"), 10, interval=0.05, what="the trap set")
        self.daemons.stop("stubborn", sig=signal.SIGTERM, grace=0.5)
        self.assertIsNone(processes.start_time(pid))

    def test_a_record_of_another_process_is_checked_against_its_start_time(self):
        """A PID alone may be reused: a record whose start time differs is not the daemon."""
        sleeper = subprocess.Popen(["sleep", "60"])
        self.addCleanup(processes.stop_process, sleeper)
        self.daemons.entries["old"] = [sleeper.pid, processes.start_time(sleeper.pid) + 1, "sleep"]
        self.assertFalse(self.daemons.alive("old"))
        self.assertIsNone(self.daemons.pid("old"))
        self.daemons.stop("old", grace=0.1)
        self.assertIsNone(sleeper.poll(), "a process the record does not name must not be signalled")
        self.daemons.entries["current"] = [sleeper.pid, processes.start_time(sleeper.pid), "sleep"]
        self.assertTrue(self.daemons.alive("current"))
        self.assertEqual(self.daemons.pid("current"), sleeper.pid)

    def test_unix_socket_answers_only_while_something_listens(self):
        import socket
        path = os.path.join(self.dir, "s.sock")
        self.assertFalse(processes.unix_socket_answers(path))
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.listen(1)
        self.assertTrue(processes.unix_socket_answers(path))
        listener.close()
        self.assertFalse(processes.unix_socket_answers(path))


class CommandsTests(unittest.TestCase):
    def test_run_raises_with_the_output_of_a_failed_command(self):
        self.assertEqual(run(["sh", "-c", "echo out"]).stdout, "out\n")
        with self.assertRaisesRegex(RuntimeError, r"failed \(3\): boom"):
            run(["sh", "-c", "echo boom >&2; exit 3"])
        self.assertEqual(run(["sh", "-c", "exit 3"], check=False).returncode, 3)

    def test_wait_until_returns_the_value_or_times_out(self):
        values = iter([None, 0, "done"])
        self.assertEqual(wait_until(lambda: next(values), 5, interval=0.01), "done")
        with self.assertRaisesRegex(TimeoutError, "waiting for nothing"):
            wait_until(lambda: False, 0.05, interval=0.01, what="nothing")


class ContainerdConfigTests(unittest.TestCase):
    def test_one_config_for_the_e2e_node_and_the_cri_tier(self):
        node = containerd.config(root="/r/containerd-root", state="/run/containerd", socket="/run/containerd/containerd.sock",
                                 sandbox_image="k8s.gcr.io/pause:3.2", bin_dir="/opt/cni/bin", conf_dir="/etc/cni/net.d")
        for line in ('root = "/r/containerd-root"', 'state = "/run/containerd"', 'address = "/run/containerd/containerd.sock"',
                     'address = "/run/containerd/containerd.sock.ttrpc"', 'sandbox_image = "k8s.gcr.io/pause:3.2"',
                     'bin_dir = "/opt/cni/bin"', 'conf_dir = "/etc/cni/net.d"', "restrict_oom_score_adj = true",
                     "netns_mounts_under_state_dir = true", "max_conf_num = 1"):
            self.assertIn(line, [x.strip() for x in node.splitlines()])
        cri = containerd.config(root="/t/root", state="/t/state", socket="/t/containerd.sock", sandbox_image="weft.test/pause:1",
                                bin_dir="/t/bin", conf_dir="/t/net.d")
        self.assertNotIn("/run/containerd", cri)
        self.assertIn('address = "/t/containerd.sock"', [x.strip() for x in cri.splitlines()])


class ApiserverCommandTests(unittest.TestCase):
    def test_the_e2e_cluster_with_client_certificates(self):
        argv = apiserver.apiserver_command("/k/bin", "192.0.2.1", "10.96.0.0/16", ("/p/sa.key", "/p/sa.pub"),
                                           "https://kubernetes.default.svc.cluster.local", apiserver.certificate_access("/p"),
                                           bind="0.0.0.0", extra=["--feature-gates=IPv6DualStack=true"])
        self.assertEqual(argv[0], "/k/bin/kube-apiserver")
        for flag in ("--etcd-servers=http://127.0.0.1:2379", "--bind-address=0.0.0.0", "--advertise-address=192.0.2.1",
                     "--secure-port=6443", "--insecure-port=0", "--client-ca-file=/p/ca.crt",
                     "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
                     "--service-account-key-file=/p/sa.pub", "--service-account-signing-key-file=/p/sa.key",
                     "--v=1", "--feature-gates=IPv6DualStack=true"):
            self.assertIn(flag, argv)
        self.assertFalse([a for a in argv if a.startswith("--token-auth-file")])

    def test_the_benches_with_a_bearer_token(self):
        work = tempfile.mkdtemp(prefix="weft-test-lib-")
        self.addCleanup(shutil.rmtree, work, ignore_errors=True)
        access = apiserver.token_access(work, "t0ken", "bench")
        with open(os.path.join(work, "tokens.csv")) as tokens:
            self.assertEqual(tokens.read(), "t0ken,bench,bench,system:masters\n")
        argv = apiserver.apiserver_command("/k/bin", "127.0.0.1", "10.96.0.0/16", ("/w/sa.key", "/w/sa.pub"),
                                           "https://kubernetes.default.svc", access, verbosity=0)
        for flag in ("--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--authorization-mode=AlwaysAllow",
                     f"--token-auth-file={work}/tokens.csv", "--disable-admission-plugins=ServiceAccount", "--v=0"):
            self.assertIn(flag, argv)
        self.assertFalse([a for a in argv if a.startswith("--client-ca-file")])

    def test_etcd_serves_clients_on_loopback_only(self):
        argv = apiserver.etcd_command("/usr/bin/etcd", "/d/etcd")
        self.assertEqual(argv[:5], ["/usr/bin/etcd", "--name", "node", "--data-dir", "/d/etcd"])
        self.assertEqual(argv[argv.index("--listen-client-urls") + 1], "http://127.0.0.1:2379")
        self.assertEqual(argv[argv.index("--initial-cluster") + 1], "node=http://127.0.0.1:2380")

    def test_the_command_line_the_swift_policy_lab_reads(self):
        work = tempfile.mkdtemp(prefix="weft-test-lib-")
        self.addCleanup(shutil.rmtree, work, ignore_errors=True)
        for name in ("sa.key", "sa.pub"):  # present: kept, not made again
            open(os.path.join(work, name), "w").close()
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            apiserver.main(["commands", "--kube-bin", "/k/bin", "--dir", work, "--tokens", "/w/tokens.csv",
                            "--authorization", "RBAC"])
        commands = json.loads(printed.getvalue())
        self.assertEqual(commands["etcd"][:5], ["/usr/bin/etcd", "--name", "node", "--data-dir", f"{work}/etcd"])
        for flag in ("--authorization-mode=RBAC", "--token-auth-file=/w/tokens.csv", f"--service-account-key-file={work}/sa.pub",
                     "--bind-address=127.0.0.1", "--disable-admission-plugins=ServiceAccount"):
            self.assertIn(flag, commands["apiserver"])
        self.assertEqual(os.path.getsize(os.path.join(work, "sa.key")), 0)

    def test_bring_up_waits_for_etcd_before_kube_apiserver_when_asked(self):
        calls = []
        seconds = apiserver.bring_up(lambda name, argv: calls.append(("start", name)),
                                     lambda predicate, timeout, what: calls.append(("wait", what)) or predicate(),
                                     etcd=["etcd"], apiserver=["kube-apiserver"], apiserver_ready=lambda: True,
                                     etcd_healthy=lambda: True)
        self.assertEqual(calls, [("start", "etcd"), ("wait", "etcd"), ("start", "kube-apiserver"),
                                 ("wait", "kube-apiserver /readyz")])
        self.assertGreaterEqual(seconds, 0)


class NetnsTests(unittest.TestCase):
    def test_the_nsenter_prefix(self):
        self.assertEqual(netns.enter(netns.path("n1")), ["nsenter", "--net=/var/run/netns/n1"])
        self.assertEqual(netns.enter("/proc/7/ns/net", mount="/proc/7/ns/mnt"),
                         ["nsenter", "--mount=/proc/7/ns/mnt", "--net=/proc/7/ns/net"])


if __name__ == "__main__":
    unittest.main()
