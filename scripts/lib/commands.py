"""Running commands and waiting for conditions, with deadlines: a hung tool or a condition that never
holds fails the caller instead of stalling it."""

import subprocess
import time

# The environment every tool and daemon gets: nothing of the caller's (a developer's PATH, locale or
# proxies) leaks into the namespaces.
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
PATH_ENV = {"PATH": PATH, "LANG": "C.UTF-8", "HOME": "/root"}


def run(args, check=True, timeout=60, input=None, env=None):
    """Runs `args` (text in and out, output captured); with `check`, a non-zero exit raises RuntimeError
    carrying the command's output."""
    result = subprocess.run(args, input=input, capture_output=True, text=True, timeout=timeout,
                            env=env or PATH_ENV)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result


def wait_until(predicate, timeout, interval=0.2, what="condition"):
    """Polls `predicate` every `interval` s until it returns a true value (returned); TimeoutError after
    `timeout` s. An exception from `predicate` ends the wait at once (a daemon found dead)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
