#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Render bench/RESULTS.md's recorded figures as SVG plots in bench/plots/.

  bench/plot.py [--results bench/RESULTS.md] [--out bench/plots]

The numbers come from the tables themselves: a table preceded by a comment
`<!-- plot: NAME -->` (sync-ferry, sync-kube-proxy, latency, failover) is read, so a plot cannot drift from the text it
illustrates. Plain SVG, no plotting library needed. What is drawn:
  sync-vs-services      ferry's cold sync and kube-proxy's shape loaded by
                        `nft -f`, against the number of Services (log-log)
  latency-vs-services   network programming latency p50/p99, ferry and
                        kube-proxy, against the number of Services
  failover              layer-2 failover gaps per fault mode, ferry and
                        MetalLB (p50, p99, max)
"""
import argparse
import math
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
W, H, L, R, T, B = 640, 400, 70, 170, 40, 50


def tables(md):
    """{name: [row cells...]} for every table after a `<!-- plot: NAME -->`."""
    out, name = {}, None
    for line in md.splitlines():
        m = re.match(r"<!-- plot: ([a-z0-9-]+) -->", line.strip())
        if m:
            name = m.group(1)
            out[name] = []
            continue
        if name and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                out[name].append(cells)
        elif name and out[name] and not line.startswith("|"):
            name = None
    return out


def num(s):
    """The first number in a cell ('1,000', '27 ms (22 ms)', '0.15 s / 0.05 s'), in
    milliseconds when a unit says s or ms."""
    m = re.search(r"(-?[\d,]*\.?\d+)\s*(ms|s)?\b", s)
    if not m:
        raise ValueError("no number in %r" % s)
    v = float(m.group(1).replace(",", ""))
    return v * 1000 if m.group(2) == "s" else v


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;")


def axis_ticks(lo, hi, log):
    if log:
        return [10 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)]
    step = 10 ** math.floor(math.log10(max(hi - lo, 1e-9)))
    while (hi - lo) / step > 8:
        step *= 2
    return [i * step for i in range(math.floor(lo / step), math.ceil(hi / step) + 1)]


def line_plot(title, xlabel, ylabel, series, logx=True, logy=True):
    """series: [(label, [(x, y)...])] -> SVG text."""
    xs = [x for _, pts in series for x, _ in pts]
    ys = [y for _, pts in series for _, y in pts]
    xt, yt = axis_ticks(min(xs), max(xs), logx), axis_ticks(min(ys), max(ys), logy)
    fx = (lambda v: math.log10(v)) if logx else (lambda v: v)
    fy = (lambda v: math.log10(v)) if logy else (lambda v: v)
    x0, x1, y0, y1 = fx(xt[0]), fx(xt[-1]), fy(yt[0]), fy(yt[-1])

    def px(v):
        return L + (fx(v) - x0) / ((x1 - x0) or 1) * (W - L - R)

    def py(v):
        return H - B - (fy(v) - y0) / ((y1 - y0) or 1) * (H - T - B)
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
         'font-size="12">' % (W, H), '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="22" font-size="15">%s</text>' % (L, esc(title))]
    for v in xt:
        o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (px(v), T, px(v), H - B))
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (px(v), H - B + 16, "%g" % v))
    for v in yt:
        o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (L, py(v), W - R, py(v)))
        o.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 6, py(v) + 4, "%g" % v))
    o.append('<text x="%d" y="%d" text-anchor="middle">%s</text>' % ((L + W - R) // 2, H - 12, esc(xlabel)))
    o.append('<text transform="translate(16,%d) rotate(-90)" text-anchor="middle">%s</text>' % (
        (T + H - B) // 2, esc(ylabel)))
    for i, (label, pts) in enumerate(series):
        c = COLORS[i % len(COLORS)]
        dash = ' stroke-dasharray="5,3"' if "p50" in label else ""
        o.append('<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>' % (
            c, dash, " ".join("%.1f,%.1f" % (px(x), py(y)) for x, y in pts)))
        for x, y in pts:
            o.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (px(x), py(y), c))
        o.append('<text x="%d" y="%d" fill="%s">%s</text>' % (W - R + 10, T + 16 + 18 * i, c, esc(label)))
    o.append("</svg>")
    return "\n".join(o) + "\n"


def bar_plot(title, ylabel, groups, labels):
    """groups: [(group name, [value per label])] -> grouped bars, log y."""
    vals = [v for _, vs in groups for v in vs if v > 0]
    yt = axis_ticks(min(vals), max(vals), True)
    y0, y1 = math.log10(yt[0]), math.log10(yt[-1])

    def py(v):
        return H - B - (math.log10(max(v, yt[0])) - y0) / ((y1 - y0) or 1) * (H - T - B)
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
         'font-size="12">' % (W, H), '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="22" font-size="15">%s</text>' % (L, esc(title))]
    for v in yt:
        o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (L, py(v), W - R, py(v)))
        o.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (L - 6, py(v) + 4, v))
    o.append('<text transform="translate(16,%d) rotate(-90)" text-anchor="middle">%s</text>' % (
        (T + H - B) // 2, esc(ylabel)))
    gw = (W - L - R) / len(groups)
    bw = gw * 0.8 / len(labels)
    for g, (name, vs) in enumerate(groups):
        gx = L + g * gw + gw * 0.1
        for i, v in enumerate(vs):
            y = py(v)
            o.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>' % (
                gx + i * bw, y, bw - 2, H - B - y, COLORS[i % len(COLORS)]))
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (gx + gw * 0.4, H - B + 16, esc(name)))
    for i, lab in enumerate(labels):
        o.append('<text x="%d" y="%d" fill="%s">%s</text>' % (W - R + 10, T + 16 + 18 * i,
                                                              COLORS[i % len(COLORS)], esc(lab)))
    o.append("</svg>")
    return "\n".join(o) + "\n"


def sync_vs_services(t):
    """sync-ferry: Services | ferry cold sync | ...; sync-kube-proxy:
    Services | kube-proxy's shape by `nft -f` (wall / sys) | ..."""
    f = [(num(r[0]), num(r[1])) for r in t["sync-ferry"][1:]]
    k = [(num(r[0]), num(r[1])) for r in t["sync-kube-proxy"][1:]]
    return line_plot("Loading N Services (10 endpoints each) into an empty kernel",
                     "Services", "ms (log)", [("ferry cold sync", f), ("kube-proxy shape, nft -f", k)])


def latency_vs_services(t):
    """latency: Services | metric | ferry | kube-proxy | ratio; p50/p99 rows used."""
    series = {}
    for r in t["latency"][1:]:
        m = re.match(r"programming latency (p50|p99)", r[1])
        if not m:
            continue
        for who, cell in (("ferry", r[2]), ("kube-proxy", r[3])):
            series.setdefault("%s %s" % (who, m.group(1)), []).append((num(r[0]), num(cell)))
    order = ["ferry p50", "ferry p99", "kube-proxy p50", "kube-proxy p99"]
    return line_plot("Network programming latency, a new Service (from the client's POST)",
                     "Services", "ms (log)", [(s, series[s]) for s in order if s in series])


def failover(t):
    """failover: mode | implementation | p50 | p99 | max (ms)."""
    impls = []
    groups = {}
    for r in t["failover"][1:]:
        mode, impl = r[0], r[1]
        if impl not in impls:
            impls.append(impl)
        groups.setdefault(mode, {})[impl] = (num(r[2]), num(r[3]), num(r[4]))
    labels = ["%s %s" % (i, q) for i in impls for q in ("p50", "p99", "max")]
    data = [(mode, [groups[mode].get(i, (0, 0, 0))[q] for i in impls for q in range(3)])
            for mode in groups]
    return bar_plot("Layer-2 failover: longest gap a client saw (ms, log)", "ms (log)", data, labels)


# plot -> (the marked tables it reads, how it draws them)
PLOTS = {"sync-vs-services": (("sync-ferry", "sync-kube-proxy"), sync_vs_services),
         "latency-vs-services": (("latency",), latency_vs_services),
         "failover": (("failover",), failover)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--out", default=os.path.join(HERE, "plots"))
    a = ap.parse_args()
    with open(a.results) as f:
        t = tables(f.read())
    os.makedirs(a.out, exist_ok=True)
    missing = []
    for name, (need, fn) in PLOTS.items():
        lack = [n for n in need if not t.get(n)]
        if lack:
            missing += lack
            continue
        path = os.path.join(a.out, name + ".svg")
        with open(path, "w") as f:
            f.write(fn(t))
        print("wrote %s" % os.path.relpath(path))
    if missing:
        print("no table marked <!-- plot: NAME --> for: %s" % ", ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
