"""Results: ``results.csv`` (one row per encoder × task × protocol × setting × metric, with its
95 % bootstrap interval ``ci_low``–``ci_high`` and the number of runs behind it),
``results.md`` and ``results.png``. New results replace older rows of the same encoder, task,
protocol and setting, so several runs into one folder build one table."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["write_results", "MAIN_METRIC"]

COLUMNS = [
    "encoder", "task", "protocol", "setting", "metric", "value", "ci_low", "ci_high", "runs",
    "n_train", "n_val", "n_test", "chance",
]  # fmt: skip
KEY = ["encoder", "task", "protocol", "setting"]
#: the number a reader looks at first, per protocol
MAIN_METRIC = {
    "linear": "accuracy",
    "knn": "accuracy",
    "finetune": "accuracy",
    "linear-multilabel": "micro_map",
    "change": "f1",
}


#: what ``evaluate`` (and the paper table) write into ``--out``; nothing else may be there
OUTPUTS = (
    "results.csv",
    "results.md",
    "results.png",
    "splits",
    "paper-table.md",
    "paper-table.png",
)


def check_results_folder(out: Path) -> None:
    """Refuse an ``--out`` that is a file, a store or a folder holding anything evaluate does not
    write, or whose ``results.csv`` is not a results table, before anything is computed."""
    from shared.errors import OutsideFileError
    from shared.outside import check_output_folder, safe_text

    check_output_folder(out, OUTPUTS)
    path = out / "results.csv"
    if path.exists():
        try:
            head = pd.read_csv(path, nrows=5)
        except Exception as e:  # pandas' parser errors, binary files
            raise OutsideFileError(str(path), f"not a results table ({safe_text(e, 80)})") from e
        missing = [c for c in KEY if c not in head.columns]
        if missing:
            raise OutsideFileError(
                str(path), f"not a results table of evaluate (no column {missing[0]!r})"
            )


def write_results(rows: list[dict], out: Path, title: str | None = None) -> pd.DataFrame:
    """Merge ``rows`` into ``out/results.csv`` and rewrite the table and the plot.

    The default title names every task the folder now holds, not only the new rows' task.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.csv"
    new = complete_columns(pd.DataFrame(rows, columns=COLUMNS))
    if path.exists():
        old = complete_columns(pd.read_csv(path))
        keys = set(map(tuple, new[KEY].itertuples(index=False)))
        old = old[[tuple(k) not in keys for k in old[KEY].itertuples(index=False)]]
        new = pd.concat([old, new], ignore_index=True)
    new = new.sort_values(["task", "protocol", "setting", "encoder", "metric"])
    new = new.reset_index(drop=True)
    new.to_csv(path, index=False)
    title = title or "Evaluation on " + ", ".join(sorted(new.task.unique()))
    _markdown(new, out / "results.md", title)
    plot_results(new, out / "results.png", title)
    return new


def complete_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Tables written before intervals and settings existed: default setting, one run, no
    interval."""
    defaults = {
        "setting": "default",
        "ci_low": math.nan,
        "ci_high": math.nan,
        "runs": 1,
        "chance": math.nan,
    }
    for col, value in defaults.items():
        if col not in df.columns:
            df[col] = value
        elif col in ("setting", "runs"):
            df[col] = df[col].fillna(value)
    return df[COLUMNS]


def cell(value: float, low: float, high: float, digits: int = 4) -> str:
    """``0.8123 [0.7950, 0.8301]``, or the value alone without an interval."""
    if isinstance(low, float) and math.isnan(low):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _main(df: pd.DataFrame) -> pd.DataFrame:
    keep = [
        MAIN_METRIC.get(p, "accuracy") == m for p, m in zip(df.protocol, df.metric, strict=True)
    ]
    return df[keep]


def _markdown(df: pd.DataFrame, path: Path, title: str) -> None:
    lines = [
        f"# {title}",
        "",
        "Each cell: the value on the whole test split and its 95 % bootstrap interval over test "
        "items (1,000 resamples); rows of several runs: the mean over runs and its interval over "
        "runs. `setting`: `default` (our faster protocols) or `paper` (the official SeCo ones).",
        "",
    ]
    for (task, protocol, setting), group in df.groupby(["task", "protocol", "setting"], sort=True):
        metrics = sorted(m for m in group.metric.unique() if m not in ("weight_decay", "threshold"))
        n = group.iloc[0]
        main = MAIN_METRIC.get(str(protocol), "accuracy")
        chance = group[group.metric == main].chance.dropna()
        lines += [
            f"## {task} — {protocol}, {setting} protocol (n: train {int(n.n_train)}, val "
            f"{int(n.n_val)}, test {int(n.n_test)})",
            "",
        ]
        if str(task).startswith("synthetic"):
            lines += ["SYNTHETIC: a task of the synthetic world, not observed data.", ""]
        if len(chance):
            lines += [f"Chance ({main} of the best constant guess): {chance.iloc[0]:.4f}.", ""]
        lines += [
            "| encoder | runs | " + " | ".join(metrics) + " |",
            "|---|---|" + "---|" * len(metrics),
        ]
        for encoder, rows in group.groupby("encoder", sort=True):
            by = rows.set_index("metric")
            cells = [
                cell(by.value[m], by.ci_low[m], by.ci_high[m]) if m in by.index else "–"
                for m in metrics
            ]
            lines.append(f"| {encoder} | {int(rows.runs.iloc[0])} | " + " | ".join(cells) + " |")
        lines.append("")
    path.write_text("\n".join(lines))


def _averaged_runs(encoders: Iterable[str]) -> set[str]:
    """The single runs that a ``<group> (mean of k runs)`` row averages (named ``<group>-…``)."""
    groups = [e.rsplit(" (mean of ", 1)[0] for e in encoders if " (mean of " in e]
    return {e for e in encoders for g in groups if e.startswith(g + "-")}


def plot_results(df: pd.DataFrame, path: Path, title: str) -> None:
    """Bar chart of each protocol's main metric per encoder on the test split. Where runs of
    one configuration were averaged over pre-training seeds, the mean stands for them (each
    run stays in the table)."""
    main = _main(df)
    if main.empty:
        return
    main = main[~main.encoder.isin(_averaged_runs(main.encoder.unique()))]
    main = main.assign(
        case=main.task + "\n" + main.protocol + ", " + main.setting + "\n(" + main.metric + ")"
    )
    table = main.pivot_table(index="case", columns="encoder", values="value")
    low = main.pivot_table(index="case", columns="encoder", values="ci_low", dropna=False)
    high = main.pivot_table(index="case", columns="encoder", values="ci_high", dropna=False)
    low, high = low.reindex_like(table), high.reindex_like(table)
    errors = [
        [(table[c] - low[c]).fillna(0).clip(lower=0), (high[c] - table[c]).fillna(0).clip(lower=0)]
        for c in table.columns
    ]
    ax = table.plot.bar(
        figsize=(max(6.0, 2.3 * len(table) + 3.0), 4.4), rot=0, ylim=(0, 1), yerr=errors, capsize=3
    )
    chance = main.groupby("case").chance.first().reindex(table.index)
    for i, level in enumerate(chance):
        if isinstance(level, float) and not math.isnan(level):
            ax.hlines(level, i - 0.45, i + 0.45, colors="0.2", linestyles="--", linewidth=1.2)
            ax.text(i + 0.46, level, "chance", fontsize=7, va="center", color="0.2")
    synthetic = main.task.astype(str).str.startswith("synthetic").any()
    if synthetic:
        title = f"SYNTHETIC — {title}"
        ax.text(
            0.99, 0.97, "SYNTHETIC (not observed data)", transform=ax.transAxes, ha="right",
            va="top", fontsize=9, color="#b00000", weight="bold",
        )  # fmt: skip
    ax.set_ylabel("score on the test split\n(95 % interval; over seeds for a mean)")
    ax.set_xlabel("")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    plt.tight_layout()
    plt.savefig(path, dpi=100)
    plt.close("all")
