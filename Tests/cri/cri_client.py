"""A minimal CRI client: the calls kubelet makes to run and tear down pod sandboxes, over the
runtime.v1 stubs generated from api.proto (k8s.io/cri-api v0.25.0, what containerd 1.6 serves).
Every call has a deadline, so a hung runtime fails a test instead of stalling it."""

import json

import grpc

import api_pb2 as api
import api_pb2_grpc as api_grpc

PROTOCOLS = {"tcp": api.TCP, "udp": api.UDP, "sctp": api.SCTP}


class CriClient:
    def __init__(self, socket_path, timeout=60.0):
        self.timeout = timeout
        self.channel = grpc.insecure_channel("unix://" + socket_path)
        self.runtime = api_grpc.RuntimeServiceStub(self.channel)
        self.images = api_grpc.ImageServiceStub(self.channel)

    def close(self):
        self.channel.close()

    def version(self):
        return self.runtime.Version(api.VersionRequest(version="v1"), timeout=self.timeout)

    def network_ready(self):
        status = self.runtime.Status(api.StatusRequest(), timeout=self.timeout).status
        return any(c.type == "NetworkReady" and c.status for c in status.conditions)

    @staticmethod
    def sandbox_config(name, namespace="default", uid=None, attempt=0, port_mappings=(), log_directory="",
                       annotations=None):
        """A PodSandboxConfig as kubelet builds it; port_mappings: (container_port, host_port, protocol[, host_ip])."""
        mappings = [api.PortMapping(container_port=m[0], host_port=m[1], protocol=PROTOCOLS[m[2]],
                                    host_ip=m[3] if len(m) > 3 else "") for m in port_mappings]
        return api.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(name=name, namespace=namespace, uid=uid or f"uid-{name}", attempt=attempt),
            hostname=name,
            log_directory=log_directory,
            port_mappings=mappings,
            labels={"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": namespace},
            annotations=annotations or {},
            linux=api.LinuxPodSandboxConfig(),
        )

    def run_sandbox(self, config):
        return self.runtime.RunPodSandbox(api.RunPodSandboxRequest(config=config), timeout=self.timeout).pod_sandbox_id

    def run_sandbox_future(self, config):
        """RunPodSandbox without waiting: the churn test kills the runtime while it is in flight."""
        return self.runtime.RunPodSandbox.future(api.RunPodSandboxRequest(config=config), timeout=self.timeout)

    def sandbox_status(self, sandbox_id):
        """(PodSandboxStatus, verbose info as a dict)."""
        response = self.runtime.PodSandboxStatus(
            api.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=True), timeout=self.timeout)
        info = json.loads(response.info["info"]) if "info" in response.info else {}
        return response.status, info

    def list_sandboxes(self):
        return list(self.runtime.ListPodSandbox(api.ListPodSandboxRequest(), timeout=self.timeout).items)

    def stop_sandbox(self, sandbox_id):
        self.runtime.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=self.timeout)

    def remove_sandbox(self, sandbox_id):
        self.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=self.timeout)


READY = api.SANDBOX_READY
NOTREADY = api.SANDBOX_NOTREADY
