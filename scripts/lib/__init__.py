"""scripts/lib: what Weft's Python tools share (the e2e cluster, the benches, the demo's nodes, the CRI tier).

- `commands`: running a command with a deadline, polling until a condition holds.
- `processes`: daemons started in sessions of their own with their output in a log file, waited for until
  they listen, found again by PID and start time, stopped by PID (SIGTERM, then SIGKILL), their logs' last
  lines.
- `netns`: network namespaces (`ip netns`), setns(2) for this process, commands entered into one.
- `mount_namespace`: a private mount namespace held by a `sleep`, set up by a shell script.
- `apiserver`: the one bring-up of etcd and Kubernetes' kube-apiserver, with either client certificates
  (the e2e cluster) or a bearer token (the benches and the demo).
- `containerd`: the one containerd configuration (CRI plugin) a node or a CRI test runs.
- `prober`: the benches' prober (new TCP connections at an interval, each outcome read without blocking,
  until a state holds) and the listener it connects to.

Importers put the scripts directory on sys.path (`sys.path.insert(0, <repo>/scripts)`), then
`from lib import ...`.
"""
