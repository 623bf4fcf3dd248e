#!/usr/bin/env python3
"""Draw bench-compare's chart: maximum throughput and p99 produce latency per
scenario and broker, from the JSON that bench/compare writes.

usage: plot.py RESULTS.json OUT.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

COLORS = {"kafka": "#4c72b0", "samsa": "#dd8452", "samsa-fsync": "#55a868"}


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def label(medium, sc):
    size = "1KB" if sc["size"] == 1024 else "%dB" % sc["size"]
    return "%s\n%s acks=%s\n%dp" % (medium, size, sc["acks"], sc["partitions"])


def main():
    res = json.load(open(sys.argv[1]))
    flavors = res["flavors"]
    rows = []
    for m in res["media"]:
        for s in m["scenarios"]:
            rows.append((label(m["name"], s["scenario"]), s))
    if not rows:
        sys.exit("plot.py: no scenarios in %s" % sys.argv[1])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(9, 1.25 * len(rows) + 3), 9.5))
    width = 0.8 / len(flavors)
    xs = range(len(rows))
    for i, f in enumerate(flavors):
        off = [x - 0.4 + width * (i + 0.5) for x in xs]
        thr = [mean([r["mb_per_sec"] for r in s["franz_max"].get(f) or []]) for _, s in rows]
        pp = [mean([r["mb_per_sec"] for r in (s.get("producer_performance") or {}).get(f) or []]) for _, s in rows]
        bars = ax1.bar(off, thr, width, label=f + " (franz-go)", color=COLORS.get(f))
        ax1.bar_label(bars, fmt="%.0f", fontsize=7)
        ax1.scatter(off, pp, marker="x", color="black", zorder=3,
                    label="ProducerPerformance" if i == 0 else None)
        p99 = [mean([r["p99_ms"] for r in s["franz_fixed_rate"].get(f) or []]) for _, s in rows]
        bars = ax2.bar(off, p99, width, label=f, color=COLORS.get(f))
        ax2.bar_label(bars, fmt="%.3g", fontsize=7)
    ax1.set_title("Maximum throughput, MB/s (higher is better)\nbars: franz-go; x: Kafka's ProducerPerformance")
    ax1.set_ylabel("MB/s (10^6 B payload)")
    ax2.set_title("p99 produce latency at %d%% of Kafka's max\n(franz-go, from intended send time; ms, lower is better)"
                  % round(100 * res["params"]["load_fraction"]))
    ax2.set_ylabel("ms (log scale)")
    ax2.set_yscale("log")
    ax2.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "%g" % v))
    ax2.yaxis.set_minor_formatter(NullFormatter())
    for ax in (ax1, ax2):
        ax.set_xticks(list(xs))
        ax.set_xticklabels([r[0] for r in rows], fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
        ax.title.set_fontsize(10)
    m = res["machine"]
    # Runs before kafka_version was recorded were all against 4.1.2.
    kafka = res.get("kafka_version") or "4.1.2"
    fig.suptitle("samsa vs Apache Kafka %s (%s, %d cores, %s run)" % (kafka, m["cpu"], m["nproc"], res["mode"]), fontsize=11)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
