"""The SeCo objective checked against its specification on a tiny, hand-made batch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trainer.losses import contrastive_logits, info_nce
from trainer.methods import ContrastiveModel
from trainer.objectives import OBJECTIVES
from trainer.views import make_views

torch.manual_seed(0)


def unit(*shape):
    return F.normalize(torch.randn(*shape), dim=-1)


def test_logits_layout_by_hand():
    q, k = unit(2, 4), unit(2, 4)
    queue = unit(3, 4)
    extra = [unit(2, 4), unit(2, 4)]
    logits = contrastive_logits(q, k, queue, extra)
    assert logits.shape == (2, 1 + 3 + 2 + 2)
    for b in range(2):
        assert torch.isclose(logits[b, 0], q[b] @ k[b])
        for j in range(3):
            assert torch.isclose(logits[b, 1 + j], q[b] @ queue[j])
        for j in range(2):  # every key of the batch, the sample's own included
            assert torch.isclose(logits[b, 4 + j], q[b] @ extra[0][j])
            assert torch.isclose(logits[b, 6 + j], q[b] @ extra[1][j])


def test_info_nce_is_cross_entropy_on_column_zero():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    t = 0.5
    by_hand = -torch.log(torch.softmax(logits / t, dim=1)[:, 0]).mean()
    assert torch.isclose(info_nce(logits, t), by_hand)


class ScriptedEncoder(torch.nn.Module):
    """Returns fixed unit vectors per view name, looked up by the view's first pixel."""

    def __init__(self, table):
        super().__init__()
        self.table = table

    def forward(self, x):
        return self.table[int(x[0, 0, 0, 0])]


def test_seco_subspaces_follow_the_specification():
    model = ContrastiveModel(
        "resnet18", 3, "seco", dim=4, queue_size=5, momentum=0.5, temperature=0.1
    )
    b = 2
    names = ["q", "k0", "k1", "k2"]
    views = {n: torch.full((b, 3, 8, 8), float(i)) for i, n in enumerate(names)}
    # one (B, 4) unit vector per head for each view
    table = {i: [unit(b, 4) for _ in range(3)] for i in range(4)}
    enc = ScriptedEncoder(table)
    loss, parts, keys = model.loss(views, encode=enc, encode_keys=enc)
    q, k = table[0], {j: table[j + 1] for j in range(3)}  # k[j][i] = h_i(k_j)
    queue = model.queue
    t = 0.1

    def ce(logits):
        return info_nce(logits, t)

    def expected(i, batch_negatives):
        """Subspace i: positive h_i(k_i), then its queue, then h_i(k_j) of the whole batch."""
        positive = (q[i] * k[i][i]).sum(1, keepdim=True)
        negatives = [q[i] @ queue[i].T, *(q[i] @ k[j][i].T for j in batch_negatives)]
        return ce(torch.cat([positive, *negatives], 1))

    expect0, expect1, expect2 = expected(0, ()), expected(1, (0, 2)), expected(2, (0, 1))
    assert torch.isclose(parts["loss0"], expect0)
    assert torch.isclose(parts["loss1"], expect1)
    assert torch.isclose(parts["loss2"], expect2)
    assert torch.isclose(loss, expect0 + expect1 + expect2)
    # queue i receives h_i(k_i)
    assert all(torch.equal(keys[i], k[i][i]) for i in range(3))


def test_moco_baselines_use_one_head_and_one_queue():
    model = ContrastiveModel("resnet18", 3, "moco", dim=4, queue_size=6)
    assert model.queue.shape == (1, 6, 4) and len(model.encoder.heads) == 1
    table = {0: [unit(2, 4)], 1: [unit(2, 4)]}
    enc = ScriptedEncoder(table)
    views = {"q": torch.zeros(2, 3, 8, 8), "k": torch.ones(2, 3, 8, 8)}
    loss, parts, keys = model.loss(views, encode=enc, encode_keys=enc)
    expect = info_nce(
        torch.cat(
            [(table[0][0] * table[1][0]).sum(1, keepdim=True), table[0][0] @ model.queue[0].T], 1
        ),
        model.temperature,
    )
    assert torch.isclose(loss, expect) and torch.equal(keys[0], table[1][0])


def test_enqueue_writes_in_order_and_wraps():
    model = ContrastiveModel("resnet18", 3, "seco", dim=4, queue_size=5)
    first = [unit(3, 4) for _ in range(3)]
    model.enqueue(first)
    assert torch.equal(model.queue[1, :3], first[1]) and model.queue_ptr.tolist() == [3, 3, 3]
    second = [unit(3, 4) for _ in range(3)]
    model.enqueue(second)  # slots 3, 4, then 0
    assert torch.equal(model.queue[2, 3:5], second[2][:2]) and torch.equal(
        model.queue[2, 0], second[2][2]
    )
    assert model.queue_ptr.tolist() == [1, 1, 1]
    assert (
        "queue" in model.state_dict() and "queue_ptr" in model.state_dict()
    )  # saved with the model


def test_momentum_update_is_an_exponential_average():
    model = ContrastiveModel("resnet18", 3, "moco", dim=4, queue_size=4, momentum=0.9)
    p = next(model.encoder.parameters())
    pm = next(model.momentum_encoder.parameters())
    assert not pm.requires_grad and torch.equal(p, pm)
    with torch.no_grad():
        p.add_(1.0)
    before = pm.clone()
    model.update_momentum()
    assert torch.allclose(pm, 0.9 * before + 0.1 * p)


def test_learning_rate_schedule():
    from trainer.config import PretrainConfig
    from trainer.loop import learning_rate

    cfg = PretrainConfig(batch=512)
    assert abs(cfg.base_lr - 0.06) < 1e-12
    lrs = [learning_rate(cfg, s, 100) for s in (0, 59, 60, 79, 80, 99)]
    assert lrs == pytest.approx([0.06, 0.06, 0.006, 0.006, 0.0006, 0.0006], rel=1e-12)
    cos = PretrainConfig(schedule="cosine", lr=1.0)
    assert learning_rate(cos, 0, 10) == 1.0 and abs(learning_rate(cos, 5, 10) - 0.5) < 1e-12


class MarkingAugmenter:
    """Crop and augment leave a mark: +100 for an augmented view, +10 for a crop only."""

    def crop(self, x, generator):
        return x + 10

    def augment(self, x, generator):
        return x + 100


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_every_objective_makes_its_views_and_trains_on_them(name):
    """Each record's views show the season and treatment it declares, and its model takes
    them: one queue per head, a finite loss, one key batch per head to enqueue."""
    objective = OBJECTIVES[name]
    x = torch.arange(objective.seasons, dtype=torch.float32).view(1, -1, 1, 1, 1)
    x = x.expand(2, objective.seasons, 3, 32, 32).contiguous()
    views = make_views(x, name, MarkingAugmenter(), torch.Generator().manual_seed(0))
    assert tuple(views) == objective.view_names
    for view in objective.views:
        mark = 100 if view.augmented else 10
        assert torch.all(views[view.name] == view.season + mark)
    model = ContrastiveModel("resnet18", 3, name, dim=4, queue_size=8)
    assert model.queue.shape[0] == objective.heads
    loss, parts, keys = model.loss(views)
    assert torch.isfinite(loss) and len(keys) == objective.heads
    assert {f"loss{i}" for i in range(objective.heads)} <= set(parts)


def test_an_unknown_objective_is_named_in_the_error():
    with pytest.raises(
        ValueError, match="objective: expected one of seco, moco, moco_tp, got 'simclr'"
    ):
        ContrastiveModel("resnet18", 3, "simclr")
