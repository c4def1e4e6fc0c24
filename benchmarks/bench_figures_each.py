"""Benchmark of each report figure: CPU time to draw and save every FigureSpec of a plan, one at a time, as the
report does (:func:`bayesmeta.report.figures._save_one`), for PNG at 72 dpi alone and for the default formats
(PNG at 300 dpi, SVG, PDF). `python benchmarks/bench_figures_each.py [PLAN] [--repeat N] [--keep DIR]`.

The plan (default models/haic.toml) is computed once as a quick run (no NUTS cross-check; the figures are those
of a full run, as in bench_figures.py); ``--result FILE`` keeps that computation in a pickle (read back when it
exists), so runs before and after a change of the plotting code draw the same inputs. Prints one row per figure
(median CPU ms over the repeats per setting) and the totals; ``--json FILE`` keeps every timing. ``--keep DIR`` also writes each figure's files into
DIR (one subfolder per setting), for comparing figures before and after by eye.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"png72": (("png",), 72), "default": (("png", "svg", "pdf"), 300)}


def _result(plan_path: str, cache: str | None):
    from dataclasses import replace

    from bayesmeta.plan import load_plan
    from bayesmeta.reanalysis import run_plan

    if cache and Path(cache).is_file():
        with open(cache, "rb") as fh:  # a file this script wrote itself, never one from elsewhere
            return pickle.load(fh)
    plan = load_plan(plan_path).as_quick()
    result = run_plan(plan, parallel=False)
    result = replace(result, plan=replace(result.plan, quick=False))
    if cache:
        with open(cache, "wb") as fh:
            pickle.dump(result, fh)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan", nargs="?", default=str(ROOT / "models" / "haic.toml"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--result", default=None, help="pickle of the computed plan (written if absent)")
    parser.add_argument("--keep", default=None, help="folder to keep the figures in")
    parser.add_argument("--json", default=None, help="file to write every timing into (seconds of CPU)")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args()

    from bayesmeta.report.figures import _save_one, figure_specs

    result = _result(args.plan, args.result)
    specs = figure_specs(result)
    print(f"{len(specs)} figures of {Path(args.plan).name}; load average {os.getloadavg()[0]:.2f}")
    times: dict[str, dict[str, list[float]]] = {s: {spec.id: [] for spec in specs} for s in args.settings}
    for r in range(args.repeat):
        for setting in args.settings:
            formats, dpi = SETTINGS[setting]
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(args.keep) / setting if args.keep and r == 0 else Path(tmp)
                folder.mkdir(parents=True, exist_ok=True)
                for spec in specs:
                    start = time.process_time()
                    _save_one(spec, folder, formats, dpi)
                    times[setting][spec.id].append(time.process_time() - start)
    print(f"{'figure':32s}" + "".join(f"{s:>12s}" for s in args.settings) + "   (median CPU ms)")
    for spec in specs:
        print(f"{spec.id:32s}" + "".join(f"{1000 * statistics.median(times[s][spec.id]):12.0f}"
                                         for s in args.settings))
    for s in args.settings:
        runs = [sum(t[i] for t in times[s].values()) for i in range(args.repeat)]
        print(f"total {s}: median {statistics.median(runs):.2f} s CPU (runs: {', '.join(f'{v:.2f}' for v in runs)})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(times))


if __name__ == "__main__":
    main()
