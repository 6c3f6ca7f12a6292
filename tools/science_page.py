"""``python -m tools.science_page``: render ``docs/science.md`` from measured results.

Run by ``make science``, which collects a synthetic pre-training store and a held-out truth
store, pre-trains SeCo, MoCo-v2 and MoCo-TP with the same budget, and evaluates them and a
random encoder on both synthetic tasks. This module only writes down what was measured; the
discussion under the tables is written by a person who read them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import pandas as pd

from tools.record import machine_description
from trainer.evaluate.report import MAIN_METRIC, cell, complete_columns, plot_results

MARKER = "<!-- discussion: kept across regenerations -->"


def render(results: Path, runs: Path, out: Path, command: str) -> str:
    df = complete_columns(pd.read_csv(results / "results.csv"))
    budget = []
    for log in sorted(runs.glob("*/log.csv")):
        rows = pd.read_csv(log)
        if not rows.empty:
            last = rows.iloc[-1]
            budget.append(
                f"| {log.parent.name} | {int(last.step)} | {last.locations_per_s:.1f} | {last.loss:.3f} |"
            )
    import torch

    configs = [
        torch.load(ckpt, map_location="cpu", weights_only=True)["config"]
        for ckpt in sorted(runs.glob("*/checkpoint.pt"))
    ]
    config = configs[0] if configs else {}
    seeds = ", ".join(str(s) for s in sorted({c["seed"] for c in configs}))
    lines = [
        "# Science check: SeCo vs MoCo-v2 vs MoCo-TP vs random, on the synthetic world",
        "",
        "**SYNTHETIC data**: both stores come from the offline synthetic Sentinel-2 world, not from",
        "observations; this checks that the pipeline learns what seasonal contrast should learn, at",
        "CPU scale. It is not a reproduction of the paper's numbers.",
        "",
        f"- machine: {machine_description()}",
        f"- command: `{command}`",
        f"- date: {dt.date.today().isoformat()}",
    ]
    if config:
        lines.append(
            f"- budget (identical for every objective): {config['arch']}, bands {config['bands']}, "
            f"{config['steps']} steps × batch {config['batch']}, {config['size']} px crops, queue "
            f"{config['queue']}, lr {config['lr'] or 0.03 * config['batch'] / 256:g} ({config['schedule']}), "
            f"pre-training seed(s) {seeds}; pre-training store `{config['store']}`"
        )
    lines += [
        "- tasks: `synthetic-landcover` (season-invariant: majority land cover of one image of a "
        "season drawn per location), `synthetic-season` (season-variant: the meteorological "
        "season of that image's date), `synthetic-change` (pixels whose land cover changed "
        "between the first and last season)",
        "- cells: value on the whole test split [95 % bootstrap interval over test items]; rows "
        "named `(mean of k runs)`: mean over pre-training seeds [interval over seeds]",
    ]
    lines += ["", "| run | steps | locations/s | last loss |", "|---|---|---|---|", *budget, ""]
    for (task, protocol, setting), group in df.groupby(["task", "protocol", "setting"], sort=True):
        metric = MAIN_METRIC.get(protocol, "accuracy")
        n = group.iloc[0]
        lines += [
            f"## {task} — {protocol}, {setting} protocol (train {int(n.n_train)}, val "
            f"{int(n.n_val)}, test {int(n.n_test)})",
            "",
        ]
        metrics = [
            m
            for m in ("accuracy", "macro_f1", "map", "micro_f1", "precision", "recall", "f1", "iou")
            if m in set(group.metric)
        ]
        lines += [
            "| encoder | runs | " + " | ".join(metrics) + " |",
            "|---|---|" + "---|" * len(metrics),
        ]
        order = group[group.metric == metric].sort_values("value", ascending=False).encoder.tolist()
        for encoder in order:
            by = group[group.encoder == encoder].set_index("metric")
            cells = [cell(by.value[m], by.ci_low[m], by.ci_high[m]) for m in metrics]
            lines.append(f"| {encoder} | {int(by.runs.iloc[0])} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["![results](science.png)", "", MARKER, ""]
    text = "\n".join(lines)
    if out.exists() and MARKER in out.read_text():
        text += out.read_text().split(MARKER, 1)[1].lstrip("\n")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.science_page")
    parser.add_argument("--results", required=True, help="evaluation folder with results.csv")
    parser.add_argument("--runs", required=True, help="folder of the pre-training runs")
    parser.add_argument("--out", default="docs/science.md")
    parser.add_argument("--command", default="make science")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.write_text(render(Path(args.results), Path(args.runs), out, args.command))
    plot_results(
        complete_columns(pd.read_csv(Path(args.results) / "results.csv")),
        out.parent / "science.png",
        "SeCo vs MoCo-v2 vs MoCo-TP vs random init (SYNTHETIC data)",
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
