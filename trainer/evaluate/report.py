"""Results: ``results.csv`` (one row per encoder × task × protocol × metric), ``results.md``
and ``results.png``. New results replace older rows of the same encoder, task and protocol, so
several runs into one folder build one table."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["write_results", "MAIN_METRIC"]

COLUMNS = ["encoder", "task", "protocol", "metric", "value", "n_train", "n_val", "n_test"]
#: the number a reader looks at first, per protocol
MAIN_METRIC = {
    "linear": "accuracy",
    "knn": "accuracy",
    "finetune": "accuracy",
    "linear-multilabel": "map",
    "change": "f1",
}


def write_results(rows: list[dict], out: Path, title: str | None = None) -> pd.DataFrame:
    """Merge ``rows`` into ``out/results.csv`` and rewrite the table and the plot.

    The default title names every task the folder now holds, not only the new rows' task.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.csv"
    new = pd.DataFrame(rows, columns=COLUMNS)
    if path.exists():
        old = pd.read_csv(path)
        keys = set(zip(new.encoder, new.task, new.protocol, strict=True))
        old = old[[k not in keys for k in zip(old.encoder, old.task, old.protocol, strict=True)]]
        new = pd.concat([old, new], ignore_index=True)
    new = new.sort_values(["task", "protocol", "encoder", "metric"]).reset_index(drop=True)
    new.to_csv(path, index=False)
    title = title or "Evaluation on " + ", ".join(sorted(new.task.unique()))
    _markdown(new, out / "results.md", title)
    plot_results(new, out / "results.png", title)
    return new


def _main(df: pd.DataFrame) -> pd.DataFrame:
    keep = [
        MAIN_METRIC.get(p, "accuracy") == m for p, m in zip(df.protocol, df.metric, strict=True)
    ]
    return df[keep]


def _markdown(df: pd.DataFrame, path: Path, title: str) -> None:
    lines = [f"# {title}", ""]
    for (task, protocol), group in df.groupby(["task", "protocol"], sort=True):
        metrics = sorted(m for m in group.metric.unique() if m not in ("weight_decay", "threshold"))
        n = group.iloc[0]
        lines += [
            f"## {task} — {protocol} (train {int(n.n_train)}, val {int(n.n_val)}, test {int(n.n_test)})",
            "",
            "| encoder | " + " | ".join(metrics) + " |",
            "|---|" + "---|" * len(metrics),
        ]
        for encoder, rows in group.groupby("encoder", sort=True):
            values = dict(zip(rows.metric, rows.value, strict=True))
            lines.append(
                f"| {encoder} | "
                + " | ".join(f"{values.get(m, float('nan')):.4f}" for m in metrics)
                + " |"
            )
        lines.append("")
    path.write_text("\n".join(lines))


def plot_results(df: pd.DataFrame, path: Path, title: str) -> None:
    """Bar chart of each protocol's main metric per encoder on the test split."""
    main = _main(df)
    if main.empty:
        return
    main = main.assign(case=main.task + "\n" + main.protocol + " (" + main.metric + ")")
    table = main.pivot_table(index="case", columns="encoder", values="value")
    ax = table.plot.bar(figsize=(max(6.0, 1.8 * len(table)), 4.2), rot=0, ylim=(0, 1))
    ax.set_ylabel("score on the test split")
    ax.set_xlabel("")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    plt.tight_layout()
    plt.savefig(path, dpi=100)
    plt.close("all")
