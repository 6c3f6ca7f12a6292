"""``python -m trainer.evaluate.paper_table`` (``make paper-table``): every task × protocol setting
× encoder in one Markdown table beside the published SeCo figures, plus a plot.

Datasets are found under ``--data-root`` by folder name (the first match wins; a task whose
folder is absent is skipped and the table says so):

* EuroSAT: ``EuroSAT_MS``, ``EuroSAT``, ``eurosat``;
* BigEarthNet: ``BigEarthNet``, ``bigearthnet``, ``reBEN``, ``BigEarthNet-v1.0``'s parent …;
* OSCD: ``OSCD``, ``oscd``, ``Onera Satellite Change Detection``.

Scores are ×100 with their 95 % bootstrap interval over test items. Published numbers are
those torchgeo's weight tables give for SeCo (citing Mañas et al., ICCV 2021); they come from
the official protocol on the official data at full scale, so compare them with the ``paper``
rows, and only when the data and splits are the same.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from shared.cli import OneLineParser, run_command  # noqa: E402

__all__ = ["FOLDERS", "PUBLISHED", "MAIN", "find_datasets", "render", "main"]

#: task → candidate folder names under the data root
FOLDERS: dict[str, tuple[str, ...]] = {
    "eurosat": ("EuroSAT_MS", "EuroSAT", "eurosat", "EuroSATallBands"),
    "bigearthnet": ("BigEarthNet", "bigearthnet", "reBEN", "BigEarthNet-S2-v2", "ben"),
    "oscd": ("OSCD", "oscd", "Onera Satellite Change Detection"),
}
#: task → (protocol, metric) shown in the table
MAIN: dict[str, tuple[str, str]] = {
    "eurosat": ("linear", "accuracy"),
    "bigearthnet": ("linear-multilabel", "micro_map"),
    "oscd": ("change", "f1"),
}
#: (architecture, task) → published SeCo figure (torchgeo's weight tables, citing the paper)
PUBLISHED: dict[tuple[str, str], float] = {
    ("resnet18", "bigearthnet"): 87.27,
    ("resnet18", "eurosat"): 93.14,
    ("resnet18", "oscd"): 46.94,
    ("resnet50", "bigearthnet"): 87.81,
}
HEADERS = {"eurosat": "EuroSAT acc.", "bigearthnet": "BigEarthNet micro mAP", "oscd": "OSCD F1"}


def find_datasets(root: Path) -> dict[str, Path]:
    """task → dataset folder under ``root``, for the tasks found."""
    found = {}
    for task, names in FOLDERS.items():
        for name in names:
            if (root / name).is_dir():
                found[task] = root / name
                break
    return found


def _fmt(row: pd.Series | None) -> str:
    if row is None:
        return "–"
    value = 100 * row.value
    if isinstance(row.ci_low, float) and math.isnan(row.ci_low):
        return f"{value:.2f}"
    return f"{value:.2f} [{100 * row.ci_low:.2f}, {100 * row.ci_high:.2f}]"


def render(results: pd.DataFrame, skipped: dict[str, str], command: str) -> str:
    """The Markdown page: ours (with intervals and n), then the published figures."""
    tasks = list(MAIN)
    lines = [
        "# SeCo evaluation table",
        "",
        f"Command: `{command}`. Values ×100; brackets: 95 % bootstrap interval over test items "
        "(1,000 resamples). `default` = our faster protocols, `paper` = the official SeCo "
        "settings (see README, Evaluate).",
        "",
        "| encoder | protocol | " + " | ".join(HEADERS[t] for t in tasks) + " |",
        "|---|---|" + "---|" * len(tasks),
    ]
    keys = results[["encoder", "setting"]].drop_duplicates().sort_values(["setting", "encoder"])
    for encoder, setting in keys.itertuples(index=False):
        cells = []
        for task in tasks:
            protocol, metric = MAIN[task]
            hit = results[
                (results.encoder == encoder)
                & (results.setting == setting)
                & (results.task == task)
                & (results.protocol == protocol)
                & (results.metric == metric)
            ]
            cells.append(_fmt(hit.iloc[0] if len(hit) else None))
        lines.append(f"| {encoder} | {setting} | " + " | ".join(cells) + " |")
    for arch in ("resnet18", "resnet50"):
        cells = [f"{PUBLISHED[(arch, t)]:.2f}" if (arch, t) in PUBLISHED else "–" for t in tasks]
        lines.append(f"| SeCo {arch} (published) | paper | " + " | ".join(cells) + " |")
    lines += ["", "Test items (n) behind each column:", ""]
    for task in tasks:
        sub = results[results.task == task]
        if len(sub):
            r = sub.iloc[0]
            lines.append(
                f"- {task}: train {int(r.n_train)}, val {int(r.n_val)}, test {int(r.n_test)}"
            )
        else:
            lines.append(f"- {task}: not run ({skipped.get(task, 'no results')})")
    lines += [
        "",
        "Published: SeCo (Mañas et al., ICCV 2021) as listed in torchgeo's weight tables for "
        "`ResNet18_Weights.SENTINEL2_RGB_SECO` and `ResNet50_Weights.SENTINEL2_RGB_SECO` "
        "(pre-trained on SeCo-1M, official protocols, full datasets).",
        "",
        "![paper table](paper-table.png)",
        "",
    ]
    return "\n".join(lines)


def plot(results: pd.DataFrame, path: Path) -> None:
    """One panel per task: our scores with intervals, the published figures as dashed lines."""
    tasks = [t for t in MAIN if (results.task == t).any()]
    if not tasks:
        return
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        protocol, metric = MAIN[task]
        sub = results[
            (results.task == task) & (results.protocol == protocol) & (results.metric == metric)
        ].sort_values(["setting", "encoder"])
        labels = [f"{e}\n({s})" for e, s in zip(sub.encoder, sub.setting, strict=True)]
        values = 100 * sub.value.to_numpy()
        low = (values - 100 * sub.ci_low.fillna(sub.value).to_numpy()).clip(min=0)
        high = (100 * sub.ci_high.fillna(sub.value).to_numpy() - values).clip(min=0)
        ax.bar(range(len(values)), values, yerr=[low, high], capsize=3, color="tab:blue")
        for arch, style in (("resnet18", "--"), ("resnet50", ":")):
            if (arch, task) in PUBLISHED:
                ax.axhline(PUBLISHED[(arch, task)], ls=style, color="tab:red", lw=1,
                           label=f"SeCo {arch} (published)")  # fmt: skip
        ax.set_xticks(range(len(values)), labels, fontsize=7, rotation=30, ha="right")
        ax.set_ylim(0, 100)
        ax.set_title(f"{task}: {metric} ×100", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    plt.tight_layout()
    plt.savefig(path, dpi=100)
    plt.close(fig)


def _run(args: argparse.Namespace) -> int:
    from shared.validate import Range, check_value
    from trainer.evaluate.run import evaluate

    check_value("--size", args.size, int, Range(1, 8192))
    check_value("--epochs", args.epochs, int, Range(1, 10**6))
    check_value("--change-steps", args.change_steps, int, Range(1, 10**9))
    check_value("--bootstrap", args.bootstrap, int, Range(0, 10**6))
    root, out = Path(args.data_root), Path(args.out)
    if not root.is_dir():
        raise FileNotFoundError(f"--data-root {root} is not a folder")
    found = find_datasets(root)
    skipped = {
        t: f"no {' / '.join(FOLDERS[t])} folder under {root}" for t in MAIN if t not in found
    }
    if not found:
        raise FileNotFoundError(
            f"no dataset under {root}: expected folders named like "
            + "; ".join(f"{t}: {FOLDERS[t][0]}" for t in MAIN)
        )
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    for task, folder in found.items():
        for setting in settings:
            evaluate(
                task, str(folder), args.encoder, out, size=args.size, setting=setting,
                epochs=args.epochs, rounds=args.bootstrap, change_steps=args.change_steps,
            )  # fmt: skip
    results = pd.read_csv(out / "results.csv")
    command = args.command or "python -m trainer.evaluate.paper_table " + " ".join(sys.argv[1:])
    (out / "paper-table.md").write_text(render(results, skipped, command))
    plot(results, out / "paper-table.png")
    print((out / "paper-table.md").read_text())
    return 0


def build_parser() -> OneLineParser:
    """The command's flags, each with its default in ``--help``."""
    parser = OneLineParser(prog="python -m trainer.evaluate.paper_table", description=__doc__)
    parser.add_argument("--data-root", required=True, help="folder holding the datasets")
    parser.add_argument("--encoder", action="append", required=True, help="repeatable")
    parser.add_argument("--out", default="runs/paper-table", help="folder of the table")
    parser.add_argument("--settings", default="default,paper", help="default,paper")
    parser.add_argument("--epochs", type=int, default=100, help="paper protocol epochs")
    parser.add_argument("--size", type=int, default=224, help="input side, default protocol")
    parser.add_argument(
        "--change-steps", type=int, default=300, help="change decoder steps, default protocol"
    )
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap resamples for 95 %% intervals"
    )
    parser.add_argument(
        "--command", default=None, help="command line to print in the table (default: none)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    return run_command(lambda: _run(args), (FileNotFoundError,), (ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
