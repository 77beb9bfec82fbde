"""Process supervision: start a daemon with its output in a log file, know it again by PID and start
time (a PID alone may be reused once the daemon is gone), wait until it listens, stop it by PID,
read its log's last lines. Nothing is ever found or killed by name."""

import os
import signal
import socket
import subprocess
import time

from .commands import PATH_ENV, wait_until


def start(args, log_path, env=None, stdout=None, stdin=None, new_session=True):
    """Starts `args` with stderr (and stdout, unless given) appended to `log_path`. A session of its own
    (`new_session`) keeps a Ctrl-C of the terminal away from it: the caller stops it. Returns the Popen."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(args, stdout=stdout or log, stderr=log, stdin=stdin or subprocess.DEVNULL,
                                env=env or PATH_ENV, start_new_session=new_session)


def start_time(pid):
    """The process's start time (clock ticks since boot): with the PID, its identity. None when it is
    gone or a zombie (a daemon of an earlier run is reaped by init, not by us)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def process_table():
    """{pid: (ppid, argv)} of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                argv = [a.decode(errors="replace") for a in cmdline.read().split(b"\0") if a]
            table[int(entry)] = (ppid, argv)
        except (OSError, IndexError, ValueError):
            continue
    return table


def kill_pid(pid, sig=signal.SIGKILL):
    """Sends `sig`; False when the process is already gone."""
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def stop_process(process, grace=5.0):
    """A child (Popen) stopped: SIGTERM, then SIGKILL after `grace` seconds; always reaped."""
    if process is None or process.poll() is not None:
        return
    try:
        process.terminate()
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def log_tail(path, lines=30):
    """The last `lines` lines of a log file; "" when there is none."""
    try:
        with open(path, errors="replace") as log:
            return "".join(log.readlines()[-lines:])
    except OSError:
        return ""


def unix_socket_answers(path):
    """Whether something accepts connections on the Unix socket at `path` (a daemon listening)."""
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def wait_listening(path, timeout, what, exited=lambda: None, interval=0.2):
    """Waits until a daemon accepts connections on the Unix socket at `path`. `exited()` says why the daemon
    is gone (its log's tail), or None while it runs: a daemon that died fails the wait at once."""
    def listening():
        reason = exited()
        if reason is not None:
            raise RuntimeError(reason)
        return unix_socket_answers(path)
    wait_until(listening, timeout, interval=interval, what=what)


class Daemons:
    """Named daemons, each `logs/<name>.log`, recorded as [pid, start time, argv0] (the record a state
    file keeps, so another process can stop them later by PID); `on_change` is called after each change."""

    def __init__(self, log_dir, on_change=lambda: None):
        self.log_dir = log_dir
        self.entries = {}     # name -> [pid, start time, argv0]
        self.children = {}    # name -> Popen, for the daemons this process started
        self.on_change = on_change

    def log_path(self, name):
        return os.path.join(self.log_dir, f"{name}.log")

    def start(self, name, args, prefix=(), env=None):
        """Starts `prefix + args` (prefix: e.g. the nsenter into its namespaces) in its own session."""
        process = start(list(prefix) + list(args), self.log_path(name), env=env)
        self.adopt(name, process, args[0])
        return process.pid

    def adopt(self, name, process, what):
        """Records a child started elsewhere (a namespace's holder)."""
        self.entries[name] = [process.pid, start_time(process.pid), what]
        self.children[name] = process
        self.on_change()

    def alive(self, name):
        entry = self.entries.get(name)
        if not entry:
            return False
        child = self.children.get(name)
        if child is not None:
            return child.poll() is None
        return start_time(entry[0]) == entry[1]

    def pid(self, name):
        """The daemon's PID while it is the process recorded; else None."""
        entry = self.entries.get(name)
        return entry[0] if entry and start_time(entry[0]) == entry[1] else None

    def stop(self, name, sig=signal.SIGTERM, grace=10.0):
        """Stops one daemon by PID (checked against its start time), SIGKILL after `grace`."""
        entry = self.entries.get(name)
        if not entry:
            return
        pid, started = entry[0], entry[1]
        child = self.children.pop(name, None)
        if start_time(pid) == started:
            kill_pid(pid, sig)
            deadline = time.monotonic() + grace
            while start_time(pid) == started and time.monotonic() < deadline:
                if child is not None and child.poll() is not None:
                    break
                time.sleep(0.1)
            if start_time(pid) == started:
                kill_pid(pid, signal.SIGKILL)
        if child is not None:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.entries.pop(name, None)
        self.on_change()

    def log_tail(self, name, lines=30):
        return log_tail(self.log_path(name), lines)

