"""The API objects the bench creates: Services (ClusterIP, one TCP port) and their EndpointSlices
(`discovery.k8s.io/v1beta1`, Kubernetes 1.20's), written as the EndpointSlice controller would (no
controller-manager runs here), with the trigger-time annotation kube-proxy's programming latency reads."""

import datetime
from concurrent.futures import ThreadPoolExecutor

from kube_lab import Api

from .settings import ENDPOINTS_PER_SERVICE, NAMESPACE, SERVICE_PORT, TARGET_PORT, TOKEN

SERVICES = f"/api/v1/namespaces/{NAMESPACE}/services"
SLICES = f"/apis/discovery.k8s.io/v1beta1/namespaces/{NAMESPACE}/endpointslices"
TRIGGER = "endpoints.kubernetes.io/last-change-trigger-time"


def background_ip(i):
    """The ClusterIP of background Service i (0 ≤ i < 62,500): 10.96.1.1 onwards, set explicitly so the
    probe Services' addresses (10.96.255.x) are never taken by allocation."""
    return f"10.96.{1 + i // 250}.{1 + i % 250}"


def probe_ip(i):
    return f"10.96.255.{1 + i % 250}"


def trigger_time():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def service(name, cluster_ip):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip,
                     "ports": [{"name": "http", "protocol": "TCP", "port": SERVICE_PORT, "targetPort": TARGET_PORT}]}}


def endpoints(addresses, ready=None):
    """EndpointSlice endpoints: `ready` (a list of booleans) defaults to all ready."""
    ready = ready or [True] * len(addresses)
    return [{"addresses": [a], "conditions": {"ready": r}} for a, r in zip(addresses, ready)]


def endpoint_slice(service_name, endpoint_list):
    return {"apiVersion": "discovery.k8s.io/v1beta1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service_name}-1", "namespace": NAMESPACE,
                         "labels": {"kubernetes.io/service-name": service_name,
                                    "endpointslice.kubernetes.io/managed-by": "bench-services"},
                         "annotations": {TRIGGER: trigger_time()}},
            "addressType": "IPv4", "endpoints": endpoint_list,
            "ports": [{"name": "http", "protocol": "TCP", "port": TARGET_PORT}]}


def background_endpoints(servers, i):
    """Ten endpoints drawn from the open servers, rotated per Service (the set repeats: what counts is the
    number of endpoints the proxy programs)."""
    return [servers[(i + k) % len(servers)] for k in range(ENDPOINTS_PER_SERVICE)]


def create_background(servers, first, last, workers=4):
    """Background Services first … last-1 with their slices, `workers` API connections at a time (this
    process's thread is in the node namespace, and so are the threads it starts)."""
    def make(chunk):
        api = Api("127.0.0.1", TOKEN)
        for i in chunk:
            name = f"svc-{i}"
            api.create(SERVICES, service(name, background_ip(i)))
            api.create(SLICES, endpoint_slice(name, endpoints(background_endpoints(servers, i))))

    indices = list(range(first, last))
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(make, [indices[k::workers] for k in range(workers)]))  # raises the first failure


def set_endpoints(api, service_name, endpoint_list):
    """The slice's endpoints replaced (a merge patch replaces the list), with a new trigger time."""
    api.call("PATCH", f"{SLICES}/{service_name}-1",
             {"metadata": {"annotations": {TRIGGER: trigger_time()}}, "endpoints": endpoint_list},
             content_type="application/merge-patch+json")


def delete_service(api, name):
    api.delete(f"{SERVICES}/{name}")
    api.delete(f"{SLICES}/{name}-1")
