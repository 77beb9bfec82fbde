"""The policy bench's fixed names and addresses, its knobs from the environment, its log line."""

import os
import sys
import time

SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENTRY = os.path.join(SCRIPTS, "bench-policy.py")   # run again as the prober (`--probe`) inside a pod

TOKEN = "benchtoken"
NODE = "n1"
PORT = 8080
SUBNET = "10.61.0.0/22"
PROBE_NS = "probe"


def log(message):
    print(f"[bench-policy {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def env_int(name, default):
    return int(os.environ.get(name, default))


def now_ns():
    return time.monotonic_ns()
