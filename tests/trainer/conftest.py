import pytest

from tests.conftest import store_with_stats


@pytest.fixture(scope="session")
def train_store(tmp_path_factory):
    """A small finished store for training tests: 40 samples, 4 seasons, 13 bands, 48 px."""
    path = tmp_path_factory.mktemp("train") / "store.zarr"
    return store_with_stats(path, n_samples=40, size=48, shard_samples=8)


def tiny_args(store, out, *extra):
    return [
        "pretrain",
        "--store",
        store,
        "--out",
        str(out),
        "--arch",
        "resnet18",
        "--size",
        "32",
        "--batch",
        "8",
        "--queue",
        "32",
        "--workers",
        "0",
        "--no-progress",
        *extra,
    ]


def tiny_config(store, out, **changes):
    """The PretrainConfig of ``tiny_args``: ResNet-18, 32-px crops, batch 8, queue 32, no
    workers, quiet; ``changes`` on top."""
    from trainer.config import PretrainConfig

    small = {"arch": "resnet18", "size": 32, "batch": 8, "queue": 32, "workers": 0}
    return PretrainConfig(store=str(store), out=str(out), progress=False, **{**small, **changes})


def two_process_env(rank: int, port: int) -> None:
    """The torchrun variables of rank ``rank`` of two processes on this machine."""
    import os

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE="2",
        LOCAL_RANK=str(rank),
    )
