"""The Services bench's parts (scripts/bench-services.py is the entry point and has the whole description):
settings, the prober, the API objects, the node, the two proxies, the measurements, the statistics, the
report and the plot."""
