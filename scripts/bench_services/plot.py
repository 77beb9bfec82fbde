"""The PNG beside BENCHMARKS.md, drawn from this run's own rows: update latency and first-packet latency
against the number of Services, one line per proxy (medians, the band up to p90)."""

import os

from .stats import median, p90

COLOURS = {"kube-proxy": "#c0392b", "weft": "#2471a3"}


def draw(rows, path, note):
    """Writes the plot to `path`; returns False (and draws nothing) when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")  # no display: a file only
        import matplotlib.pyplot as plt
        from matplotlib.ticker import ScalarFormatter
    except ImportError:
        return False
    figure, (updates, first) = plt.subplots(1, 2, figsize=(11, 4.4))
    for proxy in sorted({r["proxy"] for r in rows}):
        mine = sorted((r for r in rows if r["proxy"] == proxy), key=lambda r: r["services"])
        colour = COLOURS.get(proxy)
        for what, style in (("change", "-"), ("create", "--")):
            points = [(r["services"], [u["from_call"] for u in r["updates"] if u["what"] == what]) for r in mine if "updates" in r]
            if points:
                xs = [x for x, _ in points]
                updates.plot(xs, [median(v) for _, v in points], style, marker="o", color=colour,
                             label=f"{proxy}: {'change one endpoint' if what == 'change' else 'create a Service'}")
                updates.fill_between(xs, [median(v) for _, v in points], [p90(v) for _, v in points], color=colour, alpha=0.12)
        xs = [r["services"] for r in mine]
        first.plot(xs, [median(r["first_packet_us"]) for r in mine], "-", marker="o", color=colour, label=f"{proxy} (median)")
        first.fill_between(xs, [median(r["first_packet_us"]) for r in mine], [p90(r["first_packet_us"]) for r in mine],
                           color=colour, alpha=0.12)
    updates.set(xscale="log", yscale="log", xlabel="Services (10 endpoints each)", ylabel="ms, API call to served",
                title="Update latency (median, band to p90)")
    first.set(xscale="log", xlabel="Services (10 endpoints each)", ylabel="µs, TCP connect through a ClusterIP",
              title="First-packet latency (median, band to p90)")
    first.set_ylim(bottom=0)
    updates.yaxis.set_major_formatter(ScalarFormatter())  # 1000, not 10^3
    for axes in (updates, first):
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
    figure.text(0.01, 0.01, note, fontsize=7, color="#555555")
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
