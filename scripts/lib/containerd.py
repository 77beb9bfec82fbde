"""The one containerd configuration Weft's tests run: containerd 1.6 (Debian's, CRI plugin built in) as a
node's runtime, private to the node (own root, state, socket) and reading the node's CNI directories.

- restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE; without it runc fails with "can't get final
  child's PID from pipe" (GUIDE §6).
- netns_mounts_under_state_dir: the pods' netns files under the private state directory, not the host's
  /var/run/netns.
- max_conf_num = 1: containerd loads only the first network config of conf_dir (by file name), the one
  the node's pods get."""


def config(root, state, socket, sandbox_image, bin_dir, conf_dir):
    """The config.toml text (version 2) for one private containerd."""
    return f'''version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{bin_dir}"
    conf_dir = "{conf_dir}"
    max_conf_num = 1
'''


def write_config(path, **settings):
    """Writes config(**settings) to `path`."""
    with open(path, "w") as out:
        out.write(config(**settings))
    return path
