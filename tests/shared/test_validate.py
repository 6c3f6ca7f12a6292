"""The one validation path: typed checks with messages naming the setting, value and rule."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shared.validate import (
    ConfigValueError,
    Range,
    check_device_name,
    check_fields,
    check_host_port,
    check_int_list,
    check_path,
    check_scheduler_address,
    check_value,
)


@dataclass(frozen=True)
class _Settings:
    n: int = 4
    ratio: float = 0.5
    name: str = "x"
    flag: bool = False
    steps: int | None = None
    offsets: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        check_fields(self, {"n": Range(1, 100), "ratio": Range(0, 1, low_open=True)})


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"n": "eight"}, "n: expected an integer, got 'eight'"),
        ({"n": 1.5}, "n: expected an integer, got 1.5"),
        ({"n": True}, "n: expected an integer"),
        ({"n": 10**20}, "n: expected an integer in [1, 100], got 100000000000000000000"),
        ({"n": 0}, "n: expected an integer in [1, 100]"),
        ({"ratio": 0}, "ratio: expected a number in (0, 1], got 0"),
        ({"ratio": float("nan")}, "ratio: expected a finite number"),
        ({"ratio": "fast"}, "ratio: expected a number"),
        ({"name": 5}, "name: expected text, got 5"),
        ({"flag": "yes"}, "flag: expected true or false"),
        ({"steps": 2.0}, "steps: expected an integer"),
        ({"offsets": [0, "3"]}, "offsets[1]: expected an integer"),
        ({"offsets": 3}, "offsets: expected a list"),
    ],
)
def test_wrong_values_name_the_setting(changes, message):
    with pytest.raises(ConfigValueError) as info:
        _Settings(**changes)
    assert message in str(info.value)


def test_values_are_normalised():
    s = _Settings(ratio=1, offsets=[0, 3], steps=None)
    assert s.ratio == 1.0 and isinstance(s.ratio, float) and s.offsets == (0, 3)


@pytest.mark.parametrize(
    "address",
    [
        "threads",
        "tcp://10.0.0.5:8786",
        "tls://sched.example:8786",
        "sched:8786",
        "tcp://[::1]:8786",
        "inproc://10.0.0.1/1/1",
    ],
)
def test_scheduler_addresses_accepted(address):
    assert check_scheduler_address("scheduler", address) == address


@pytest.mark.parametrize(
    "address", ["not an address", "tcp://host", "tcp://host:99999", "ftp://h:21", "", "h:0"]
)
def test_scheduler_addresses_refused(address):
    with pytest.raises(ConfigValueError, match="scheduler"):
        check_scheduler_address("scheduler", address)


def test_host_port():
    assert check_host_port("dashboard", "127.0.0.1:0") == "127.0.0.1:0"
    assert check_host_port("dashboard", ":8787") == ":8787"
    with pytest.raises(ConfigValueError, match="dashboard"):
        check_host_port("dashboard", "localhost")


def test_device_names():
    for name in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        assert check_device_name("device", name) == name
    for name in ("tpu9", "cuda:x", "gpu", ""):
        with pytest.raises(ConfigValueError, match="device"):
            check_device_name("device", name)


def test_int_lists():
    assert check_int_list("samples", "0, 5,9") == (0, 5, 9)
    for text in (",", "", "a,b", "1,,2", "9" * 20):
        with pytest.raises(ConfigValueError, match="samples"):
            check_int_list("samples", text)


def test_paths(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    assert check_path("out", tmp_path / "new", "dir-or-new") == tmp_path / "new"
    with pytest.raises(ConfigValueError, match="is a folder"):
        check_path("region", tmp_path, "file")
    with pytest.raises(ConfigValueError, match="not a folder"):
        check_path("out", tmp_path / "f.txt", "dir-or-new")
    with pytest.raises(ConfigValueError, match="does not exist"):
        check_path("config", tmp_path / "none.toml", "file")


def test_check_value_tables():
    assert check_value("o", {"a": 1}, dict) == {"a": 1}
    with pytest.raises(ConfigValueError, match="expected a table"):
        check_value("o", [1], dict)
