"""What the results say: weights labelled by what they are, chance and SYNTHETIC marked."""

from __future__ import annotations

import numpy as np

from trainer.evaluate.encoders import export_label
from trainer.evaluate.report import write_results
from trainer.evaluate.run import chance_level


def test_an_export_is_labelled_by_objective_and_architecture():
    assert export_label({"architecture": "resnet18", "objective": "seco"}, "export") == (
        "seco-resnet18"
    )
    published = {"architecture": "resnet18", "objective": "seco (published weights)"}
    assert export_label(published, "export") == "seco-published-resnet18"
    assert export_label({"architecture": "resnet50", "objective": "foreign"}, "x") == "x-resnet50"


class _Labels:
    def indices(self, split):
        return np.arange(10)

    def labels(self, idx):
        return np.array([0] * 7 + [1] * 2 + [2])


class _Pairs:
    def indices(self, split):
        return np.arange(2)

    def pair(self, i):
        mask = np.zeros((4, 4), bool)
        mask[0] = True  # a quarter changed
        return None, None, mask


def test_chance_levels():
    assert chance_level(_Labels(), "classification", False) == 0.7
    assert abs(chance_level(_Pairs(), "change", False) - 2 * 0.25 / 1.25) < 1e-9
    assert chance_level(object(), "classification", False) is None


def test_results_show_chance_and_synthetic(tmp_path):
    row = {
        "encoder": "seco-resnet18", "task": "synthetic-season", "protocol": "knn",
        "setting": "default", "metric": "accuracy", "value": 0.57, "ci_low": 0.5,
        "ci_high": 0.6, "runs": 1, "n_train": 10, "n_val": 5, "n_test": 5, "chance": 0.272,
    }  # fmt: skip
    write_results([row], tmp_path)
    text = (tmp_path / "results.md").read_text()
    assert "Chance (accuracy of the best constant guess): 0.2720." in text
    assert "SYNTHETIC" in text
    assert (tmp_path / "results.png").stat().st_size > 0
