"""Benchmark of the report's figures: the time to write a report from computed results (figures drawn, not
reused), and per format the time to save every figure (`python benchmarks/bench_figures.py [PLAN] [--repeat N]`).

The plan (default models/haic.toml) is computed once in this process as a quick run (no NUTS cross-check); then
each repeat writes the whole report into a new folder with the figure cache off (``ReportWriter.finish``), and
separately draws every figure and saves it once per format (PNG at the dpi given, SVG, PDF), timing each save.
Medians over the repeats are printed as wall and CPU time (of this process), with the load average: on a shared
machine wall time grows with the load, CPU time much less.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan", nargs="?", default=str(ROOT / "models" / "haic.toml"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dpi", type=int, nargs="+", default=[110, 300])
    args = parser.parse_args()

    from dataclasses import replace

    from bayesmeta.plan import load_plan
    from bayesmeta.reanalysis import run_plan
    from bayesmeta.report import ReportWriter
    from bayesmeta.report.figures import figure_specs

    plan = load_plan(args.plan).as_quick()
    result = run_plan(plan, parallel=False)
    full = replace(result, plan=replace(result.plan, quick=False))  # quick only for the fits: all formats
    specs = figure_specs(full)
    print(f"{len(specs)} figures of {Path(args.plan).name}; load average {os.getloadavg()[0]:.2f}")

    clocks = {"wall": time.perf_counter, "cpu": time.process_time}
    report: dict[str, list[float]] = {k: [] for k in clocks}
    saves: dict[str, dict[str, list[float]]] = {k: {} for k in clocks}
    draws: dict[str, list[float]] = {k: [] for k in clocks}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            start = {k: c() for k, c in clocks.items()}
            ReportWriter(Path(tmp) / "report").finish(full)
            for k, c in clocks.items():
                report[k].append(c() - start[k])
        totals: dict[str, dict[str, float]] = {k: {} for k in clocks}
        drawn = {k: 0.0 for k in clocks}
        for spec in specs:
            start = {k: c() for k, c in clocks.items()}
            fig = spec.draw()
            fig.draw_without_rendering()  # the layout, which every format then reuses (as the report does)
            fig.set_layout_engine("none")
            for k, c in clocks.items():
                drawn[k] += c() - start[k]
            for fmt, dpi in [("png", d) for d in args.dpi] + [("svg", None), ("pdf", None)]:
                key = f"{fmt} {dpi} dpi" if dpi else fmt
                start = {k: c() for k, c in clocks.items()}
                fig.savefig(io.BytesIO(), format=fmt, **({"dpi": dpi} if dpi else {}))
                for k, c in clocks.items():
                    totals[k][key] = totals[k].get(key, 0.0) + c() - start[k]
        for k in clocks:
            draws[k].append(drawn[k])
            for key, value in totals[k].items():
                saves[k].setdefault(key, []).append(value)
    for k in clocks:
        print(f"[{k} time] report written from computed results (figure cache off): median "
              f"{statistics.median(report[k]):.2f} s (runs: {', '.join(f'{t:.2f}' for t in report[k])})")
        print(f"[{k} time] drawing and laying out the figures: median {statistics.median(draws[k]):.2f} s")
        for key, values in saves[k].items():
            print(f"[{k} time] saving every figure as {key}: median {statistics.median(values):.2f} s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
