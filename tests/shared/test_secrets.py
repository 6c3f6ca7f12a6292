"""Credentials never reach printed lines or stored attributes: URLs, token parameters, values."""

from __future__ import annotations

import pytest

from shared.cli import OneLineParser, run_command
from shared.secrets import REDACTED, is_secret_key, redact, redact_text, remember_secrets


@pytest.mark.parametrize(
    "text,secrets,kept",
    [
        (
            "https://alice:TOK3N@stac.example/v1",
            ["alice", "TOK3N"],
            ["https://", "@stac.example/v1"],
        ),
        (
            "https://h/a.tif?st=2021&se=2099&sp=rl&sig=S1GNATURE%3D",
            ["S1GNATURE"],
            ["st=2021", "se=2099"],
        ),
        ("https://h/x?token=T0KEN&page=2", ["T0KEN"], ["page=2"]),
        ("https://h/x?key=AIzaKEY&alt=json", ["AIzaKEY"], ["alt=json"]),
        ("https://h/x?access_token=ya29.ACCESS", ["ya29.ACCESS"], ["access_token="]),
        (
            "s3://b/k?X-Amz-Credential=AKIAID&X-Amz-Signature=abcdef0123&X-Amz-Date=20260101",
            ["AKIAID", "abcdef0123"],
            ["X-Amz-Date=20260101"],
        ),
        ("GET https://h/x?subscription-key=SUBKEY9 failed: 403", ["SUBKEY9"], ["failed: 403"]),
    ],
)
def test_urls_lose_their_credentials_and_keep_the_rest(text, secrets, kept):
    out = redact_text(text)
    for secret in secrets:
        assert secret not in out
    for part in kept:
        assert part in out
    assert REDACTED in out


def test_plain_text_is_left_alone():
    text = "REGION bbox: minlat 50 must be below maxlat 40 (see https://example.org/docs?page=2)"
    assert redact_text(text) == text


def test_secret_key_names():
    for name in ("subscription_key", "Ocp-Apim-Subscription-Key", "sig", "api_key", "apikey"):
        assert is_secret_key(name), name
    for name in ("collection_id", "catalog", "region", "max_items", "headers"):
        assert not is_secret_key(name), name


def test_redact_nested_keeps_structure_and_masks_values():
    options = {
        "catalog": "https://u:PASSW0RD@h/v1",
        "headers": {"Ocp-Apim-Subscription-Key": "0123456789abcdef"},
        "collection_id": "sentinel-2-l2a",
    }
    out = redact(options)
    assert out == {
        "catalog": f"https://{REDACTED}@h/v1",
        "headers": {"Ocp-Apim-Subscription-Key": REDACTED},
        "collection_id": "sentinel-2-l2a",
    }


def test_remembered_values_are_masked_anywhere():
    remember_secrets({"headers": {"x-api-key": "REMEMBERED-VALUE-42"}, "n": 4})
    remember_secrets("https://bob:PW-REMEMBERED@h/v1")
    line = "server said: bad key REMEMBERED-VALUE-42 for bob:PW-REMEMBERED"
    out = redact_text(line)
    assert "REMEMBERED-VALUE-42" not in out and "PW-REMEMBERED" not in out


def test_error_lines_are_redacted(capsys):
    def fail() -> int:
        raise ValueError("GET https://carol:HUNTER22@h/x.tif?sig=SIGSIG1 answered 403\nmore")

    assert run_command(fail, (ValueError,), ()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "answered 403" in err
    assert "HUNTER22" not in err and "SIGSIG1" not in err


def test_usage_lines_are_redacted(capsys):
    parser = OneLineParser(prog="p")
    parser.add_argument("--n", type=int)
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--n", "https://dave:PASSPASS@h/"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "PASSPASS" not in err and "--n" in err
