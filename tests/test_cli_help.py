"""``--help`` of every command describes every option, with its default."""

from __future__ import annotations

import argparse

import pytest

from collector.cli import build_parser as collector_parser
from shared.cli import build_parser as shared_parser
from trainer.cli import build_parser as trainer_parser


def _commands() -> list[tuple[str, argparse.ArgumentParser]]:
    out = []
    for prog, build in (
        ("collector", collector_parser),
        ("shared", shared_parser),
        ("trainer", trainer_parser),
    ):
        parser = build()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                out += [(f"{prog} {n}", p) for n, p in action._name_parser_map.items()]
    return out


COMMANDS = _commands()


@pytest.mark.parametrize("name,parser", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_option_has_help_with_its_default(name: str, parser: argparse.ArgumentParser) -> None:
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        flag = "/".join(action.option_strings) or action.dest
        assert action.help and action.help is not argparse.SUPPRESS, f"{name} {flag}: no help"
        if not action.option_strings or isinstance(action, argparse._StoreTrueAction):
            continue  # positional (required) or an off-by-default switch
        shown = formatter._expand_help(action)
        assert "default" in shown or "required" in shown or action.required, (
            f"{name} {flag}: help does not say its default: {shown!r}"
        )


def test_help_prints_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        collector_parser().parse_args(["collect", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 264)" in text and "--source-option JSON" in text
    assert "(default: 2019-01-01)" in text


def test_deprecated_protocol_flag_says_so_and_still_works(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    import trainer.cli as cli

    seen: dict = {}

    def fake_evaluate(*args, **kwargs):
        seen.update(kwargs, out=args[3])
        (tmp_path / "results.md").write_text("table\n")
        return []

    monkeypatch.setattr("trainer.evaluate.run.evaluate", fake_evaluate)
    monkeypatch.setattr("trainer.config.check_evaluation", lambda *a, **k: None)
    argv = ["evaluate", "--task", "eurosat", "--data", str(tmp_path), "--encoder", "random"]
    assert cli.main([*argv, "--protocol", "paper", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert seen["setting"] == "paper"
    assert err.strip() == "note: --protocol is deprecated; use --setting"
    assert cli.main([*argv, "--setting", "paper", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""


def test_evaluate_out_defaults_to_the_encoders_run_folder(tmp_path) -> None:
    from trainer.evaluate.run import default_out

    run = tmp_path / "runs" / "seco-r18"
    (run / "export").mkdir(parents=True)
    (run / "checkpoint.pt").write_bytes(b"x")
    (run / "export" / "config.json").write_text("{}")
    assert default_out(["random", str(run / "checkpoint.pt")]) == run / "eval"
    assert default_out([str(run / "export")]) == run / "eval"
    assert str(default_out(["imagenet:resnet18"])) == "runs/eval"
