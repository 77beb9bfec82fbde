"""The policy bench's parts (scripts/bench-policy.py is the entry point and has the whole description):
settings, the prober, the generated API objects, the node, the measurements, the statistics and the report."""
