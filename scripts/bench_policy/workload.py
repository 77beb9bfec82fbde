"""The API objects the bench creates: pods of this and other nodes, and generated namespaces and
NetworkPolicies (selectors, namespace selectors, ipBlocks with except, numbered and named ports, egress)."""

from .settings import PORT


def pod_object(namespace, name, labels, node):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"nodeName": node, "automountServiceAccountToken": False,
                     "containers": [{"name": "c", "image": "busybox",
                                     "ports": [{"name": "http", "containerPort": PORT},
                                               {"name": "metrics", "containerPort": 9090},
                                               {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]}}


def policy_path(namespace):
    return f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies"


APPS = [f"app{i}" for i in range(12)]
ROLES = ["client", "server", "db", "cache", "batch"]
TIERS = ["front", "back", "data"]
TEAMS = ["t0", "t1", "t2"]


def namespaces(count=5):
    return [(f"bench-{i}", {"team": TEAMS[i % 3], "env": "prod" if i % 2 == 0 else "dev"}) for i in range(count)]


def random_labels(rng):
    return {"app": rng.choice(APPS), "role": rng.choice(ROLES), "tier": rng.choice(TIERS)}


def random_policies(rng, count, spaces):
    """`count` policies in the bench namespaces: pod selectors (labels, expressions, every pod),
    namespace selectors, ipBlocks with except, numbered and named ports, egress."""
    def peer():
        kind = rng.randrange(6)
        if kind == 0:
            return {"podSelector": {"matchLabels": {"role": rng.choice(ROLES)}}}
        if kind == 1:
            return {"namespaceSelector": {"matchLabels": {"team": rng.choice(TEAMS)}}}
        if kind == 2:
            return {"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]},
                    "podSelector": {"matchLabels": {"tier": rng.choice(TIERS)}}}
        if kind == 3:
            third = rng.randrange(2, 5)
            return {"ipBlock": {"cidr": "10.62.0.0/16", "except": [f"10.62.{third}.0/24", f"10.62.{third + 10}.128/25"]}}
        if kind == 4:
            return {"podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": rng.sample(APPS, 3)}]}}
        return {"ipBlock": {"cidr": f"192.168.{rng.randrange(256)}.0/24"}}

    def ports():
        kind = rng.randrange(5)
        if kind == 0:
            return [{"protocol": "TCP", "port": PORT}]
        if kind == 1:
            return [{"port": "http"}]
        if kind == 2:
            return [{"port": "metrics"}, {"protocol": "UDP", "port": "dns"}]
        if kind == 3:
            return [{"protocol": "TCP", "port": 443}, {"protocol": "UDP", "port": 53}]
        return []

    policies = []
    for i in range(count):
        namespace = spaces[i % len(spaces)][0]
        kind = rng.randrange(10)
        if kind < 6:
            selector = {"matchLabels": {"app": rng.choice(APPS)}}
        elif kind < 9:
            selector = {"matchExpressions": [{"key": "tier", "operator": "In", "values": rng.sample(TIERS, 2)},
                                             {"key": "role", "operator": "Exists"}]}
        else:
            selector = {}
        types = rng.choice([["Ingress"]] * 6 + [["Egress"]] * 1 + [["Ingress", "Egress"]] * 3)
        spec = {"podSelector": selector, "policyTypes": types}
        if "Ingress" in types:
            spec["ingress"] = [{"from": [peer() for _ in range(rng.randrange(1, 4))], "ports": ports()}
                               for _ in range(rng.randrange(1, 3))]
        if "Egress" in types:
            spec["egress"] = [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.62.0.0/16"]}}],
                               "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 443}]},
                              {"to": [peer()], "ports": ports()}]
        policies.append((namespace, {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                     "metadata": {"name": f"p{i:03d}", "namespace": namespace}, "spec": spec}))
    return policies
