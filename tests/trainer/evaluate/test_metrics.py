"""Metrics against hand-computed values, and whole-split accumulation."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.evaluate.metrics import (
    BinaryCounts,
    accuracy,
    average_precision,
    balanced_accuracy,
    confusion_matrix,
    macro_f1,
    multilabel_scores,
    per_class_f1,
)

# 6 samples, 4 classes; class 3 is in neither truth nor prediction
Y_TRUE = np.array([0, 0, 0, 1, 1, 2])
Y_PRED = np.array([0, 0, 1, 1, 2, 2])
CM = np.array(
    [
        [2, 1, 0, 0],  # true 0: two right, one taken for 1
        [0, 1, 1, 0],  # true 1: one right, one taken for 2
        [0, 0, 1, 0],  # true 2: right
        [0, 0, 0, 0],
    ]
)


def test_confusion_matrix():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 4)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, CM)
    with pytest.raises(ValueError, match="y_pred holds class 4, outside"):
        confusion_matrix([0, 1], [0, 4], 4)
    with pytest.raises(ValueError, match="integer class indices"):
        confusion_matrix([0.0], [0.0], 2)


def test_classification_scores_by_hand():
    assert accuracy(CM) == pytest.approx(4 / 6)  # trace 2+1+1 over 6
    # F1 = 2TP / (2TP + FP + FN): class 0: 4/(4+0+1); class 1: 2/(2+1+1); class 2: 2/(2+1+0)
    np.testing.assert_allclose(per_class_f1(CM), [4 / 5, 2 / 4, 2 / 3, 0.0])
    # class 3 is absent from truth and prediction: left out of the mean
    assert macro_f1(CM) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)  # = 59/90
    # recalls 2/3, 1/2, 1/1 (class 3 has no true sample)
    assert balanced_accuracy(CM) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)  # = 13/18


def test_a_class_only_predicted_counts_in_macro_f1_not_in_balanced_accuracy():
    cm = confusion_matrix([0, 0, 1, 1], [0, 2, 1, 1], 3)  # class 2: predicted once, never true
    # F1: class 0: 2/(2+0+1); class 1: 4/(4+0+0); class 2: 0/(0+1+0)
    assert macro_f1(cm) == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert balanced_accuracy(cm) == pytest.approx((1 / 2 + 1) / 2)


def test_empty_inputs_score_zero():
    empty = np.zeros((3, 3), np.int64)
    assert accuracy(empty) == macro_f1(empty) == balanced_accuracy(empty) == 0.0


def test_average_precision_by_hand():
    # sorted by score: + - + - - + ; precision at the positives 1/1, 2/3, 3/6
    y = [1, 0, 1, 0, 0, 1]
    s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    assert average_precision(y, s) == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)  # = 13/18
    # a tie is one step: {+,-} at 0.5 gives precision 1/2 for its positive, then 2/3
    assert average_precision([1, 0, 1], [0.5, 0.5, 0.2]) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert average_precision([0, 1, 1], [0.5, 0.5, 0.2]) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert np.isnan(average_precision([0, 0], [0.1, 0.2]))


def test_multilabel_scores_by_hand():
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]], bool)  # class 2 has no positive
    p = np.array([[0.9, 0.6, 0.1], [0.2, 0.4, 0.7], [0.3, 0.8, 0.2]])
    # predicted (p >= 0.5): (0,0) TP, (0,1) FP, (1,2) FP, (2,1) TP; missed: (1,1), (2,0)
    # TP 2, FP 2, FN 2 → precision 2/4, recall 2/4, F1 4/(4+2+2)
    # AP class 0: ranks +(0.9) +(0.3) -(0.2) → (1 + 1)/2 = 1
    # AP class 1: ranks +(0.8) -(0.6) +(0.4) → (1 + 2/3)/2 = 5/6; class 2 left out
    # micro AP, all 9 ranked: +(0.9) +(0.8) -(0.7) -(0.6) +(0.4) +(0.3) … → (1 + 1 + 3/5 + 4/6)/4
    expected = {
        "micro_precision": 0.5,
        "micro_recall": 0.5,
        "micro_f1": 0.5,
        "map": (1 + 5 / 6) / 2,
        "micro_map": (1 + 1 + 3 / 5 + 4 / 6) / 4,
        "map_classes": 2,
    }
    assert multilabel_scores(y, p, from_logits=False) == pytest.approx(expected)
    logits = np.log(p / (1 - p))  # the same decisions and ranking from logits
    assert multilabel_scores(y, logits) == pytest.approx(expected)
    # a logit of 0 is probability 0.5, which is predicted positive
    one = multilabel_scores(np.array([[True]]), np.array([[0.0]]))
    assert one["micro_f1"] == 1.0 and one["map"] == 1.0
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        multilabel_scores(y, p[:, :2])


def test_binary_counts_by_hand():
    pred = np.array([[1, 1, 0], [0, 1, 0]], bool)
    truth = np.array([[1, 0, 0], [1, 1, 0]], bool)
    c = BinaryCounts().update(pred, truth)
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 2)
    assert c.precision == pytest.approx(2 / 3)  # 2/(2+1)
    assert c.recall == pytest.approx(2 / 3)  # 2/(2+1)
    assert c.f1 == pytest.approx(2 / 3)  # 4/(4+1+1)
    assert c.iou == pytest.approx(1 / 2)  # 2/(2+1+1)
    assert c.accuracy == pytest.approx(4 / 6)
    # leave out the first column: pred [[1,0],[1,0]], truth [[0,0],[1,0]]
    v = BinaryCounts().update(pred, truth, valid=np.array([[0, 1, 1], [0, 1, 1]], bool))
    assert (v.tp, v.fp, v.fn, v.tn) == (1, 1, 0, 2)


def test_zero_denominators_give_zero():
    empty = BinaryCounts()
    assert empty.precision == empty.recall == empty.f1 == empty.iou == empty.accuracy == 0.0
    quiet = BinaryCounts().update(np.zeros((4, 4), bool), np.zeros((4, 4), bool))
    assert (quiet.precision, quiet.recall, quiet.f1, quiet.iou, quiet.accuracy) == (0, 0, 0, 0, 1)


def test_binary_counts_reject_scores_and_shape_mismatch():
    with pytest.raises(ValueError, match="boolean mask"):
        BinaryCounts().update(np.array([0.7]), np.array([True]))
    with pytest.raises(ValueError, match="differ in shape"):
        BinaryCounts().update(np.zeros((2, 2), bool), np.zeros((2, 3), bool))


def test_accumulating_batches_equals_one_pass_over_the_split():
    rng = np.random.default_rng(0)
    pred = rng.random((10, 16, 16)) < 0.3
    truth = rng.random((10, 16, 16)) < 0.1
    valid = rng.random((10, 16, 16)) < 0.9
    cuts = [0, 1, 4, 5, 10]  # uneven batches
    acc = BinaryCounts()
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        acc.update(pred[a:b], truth[a:b], valid[a:b])
    whole = BinaryCounts().update(pred, truth, valid)
    assert acc == whole and acc.f1 == whole.f1
    halves = BinaryCounts().update(pred[:5], truth[:5], valid[:5]) + BinaryCounts().update(
        pred[5:], truth[5:], valid[5:]
    )
    assert halves == whole
    per_batch = [
        BinaryCounts().update(pred[a:b], truth[a:b], valid[a:b]).f1
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    assert np.mean(per_batch) != pytest.approx(whole.f1)  # why batch means are not used

    y_true, y_pred = rng.integers(0, 5, 97), rng.integers(0, 5, 97)
    cm = sum(confusion_matrix(y_true[a : a + 10], y_pred[a : a + 10], 5) for a in range(0, 97, 10))
    np.testing.assert_array_equal(cm, confusion_matrix(y_true, y_pred, 5))
    assert macro_f1(cm) == macro_f1(confusion_matrix(y_true, y_pred, 5))
