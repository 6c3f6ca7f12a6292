"""``python -m shared``: commands for researchers holding a store.

Exit codes: 0 success, 1 the store has problems, 2 bad input (not a store, bad arguments).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from shared.errors import NotAStoreError, OutsideFileError, StoreError
from shared.outside import safe_text
from shared.secrets import redact_text
from shared.validate import ConfigValueError

__all__ = [
    "main",
    "DefaultsFormatter",
    "OneLineParser",
    "one_line",
    "run_command",
    "add_storage_options",
    "storage_options_arg",
]


def one_line(e: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none), with
    credentials masked (:func:`shared.secrets.redact_text`)."""
    text = str(e).strip().splitlines()
    return safe_text(redact_text(text[0])) if text else type(e).__name__


def run_command(
    command: Callable[[], int],
    usage_errors: tuple[type[BaseException], ...],
    job_errors: tuple[type[BaseException], ...],
) -> int:
    """Run a CLI command: ``usage_errors`` (and every :class:`ConfigValueError` and
    :class:`~shared.errors.OutsideFileError`, a malformed outside file) print one line and exit 2, ``job_errors`` one line and exit 1, Ctrl-C exits 130; anything else is a bug and
    keeps its traceback. Printed lines never carry credentials."""
    usage: tuple[type[BaseException], ...] = (ConfigValueError, OutsideFileError, *usage_errors)
    try:
        return int(command())
    except usage as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except job_errors as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows every option's default: ``(default: …)`` is added to each option whose
    help does not already say it and whose default is a value (not None, off or hidden)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "(default" in text
            or not action.option_strings
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or isinstance(action, argparse._HelpAction)
        ):
            return text
        return f"{text} (default: %(default)s)".strip()


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit code 2, and
    whose help gives every option's default (:class:`DefaultsFormatter`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {redact_text(message)} (see {self.prog} --help)\n")


STORAGE_HELP = (
    "object-store options as a JSON object: fsspec's for the URL's scheme, e.g. "
    '\'{"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}, "key": "…", "secret": "…"}\' '
    "for s3:// (default: the client's environment variables, AWS_ENDPOINT_URL, "
    "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, …); never stored or printed"
)


def argument_value(check: Callable[[str, str], Any], name: str, text: str) -> Any:
    """``check(name, text)`` as an argparse ``type``: its :class:`ConfigValueError` becomes
    argparse's error, which names the option itself."""
    try:
        return check(name, text)
    except ConfigValueError as e:
        raise argparse.ArgumentTypeError(str(e).partition(": ")[2]) from None


def storage_options_arg(text: str) -> dict:
    """``--storage-options`` as argparse reads it (checked by
    :func:`shared.validate.check_storage_options`; the values are never echoed)."""
    from shared.validate import check_storage_options

    return argument_value(check_storage_options, "--storage-options", text)


def add_storage_options(p: argparse.ArgumentParser) -> None:
    """The ``--storage-options JSON`` flag, the same for every command that opens a store."""
    p.add_argument(
        "--storage-options",
        type=storage_options_arg,
        default=None,
        metavar="JSON",
        help=STORAGE_HELP,
    )


def _verify(args: argparse.Namespace) -> int:
    from shared.checks.verify import verify

    report = verify(
        args.store,
        decode=not args.quick,
        storage_options=args.storage_options,
        progress=not args.no_progress,
    )
    for note in report.notes:
        print(f"note: {safe_text(note)}")
    if report.ok:
        print(f"ok: {safe_text(args.store)} is a valid, complete store")
        return 0
    for problem in report.problems:
        print(f"problem: {safe_text(problem)}")
    print(f"invalid: {len(report.problems)} problem(s) in {safe_text(args.store)}", file=sys.stderr)
    return 1


def _info(args: argparse.Namespace) -> int:
    from shared.publish.info import format_summary, summarize

    info = summarize(args.store, args.storage_options)
    print(json.dumps(info, indent=2) if args.json else format_summary(info))
    return 0


def _card(args: argparse.Namespace) -> int:
    from shared.publish.card import write_card

    print(f"wrote {write_card(args.store, args.storage_options)}")
    return 0


def _export_geotiff(args: argparse.Namespace) -> int:
    from shared.access.geotiff import export_geotiffs
    from shared.validate import check_int_list, check_path

    samples = list(check_int_list("--samples", args.samples))
    check_path("--out", args.out, "dir-or-new")
    paths = export_geotiffs(args.store, samples, args.out, args.storage_options)
    print(f"wrote {len(paths)} GeoTIFF(s) to {args.out}")
    return 0


def _stac(args: argparse.Namespace) -> int:
    from shared.publish.stac import write_stac_collection
    from shared.store.handle import open_store

    key = write_stac_collection(open_store(args.store, "r+", args.storage_options))
    print(f"wrote {args.store.rstrip('/')}/{key}")
    return 0


def _upgrade(args: argparse.Namespace) -> int:
    from shared.checks.upgrade import upgrade

    if not upgrade(args.store, args.storage_options):
        print(f"ok: {args.store} is already at the current layout version")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m shared", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    p = sub.add_parser("verify", help="check that a store is valid and complete")
    p.add_argument("store", help="path or URL of the store")
    p.add_argument("--quick", action="store_true", help="skip decoding every chunk")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress of the decode pass (a bar on a terminal, else a line per 10 %%)",
    )
    p.set_defaults(func=_verify)
    p = sub.add_parser("info", help="summarize a store")
    p.add_argument("store", help="path or URL of the store")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_info)
    p = sub.add_parser("card", help="write a Markdown dataset card (card.md) into the store")
    p.add_argument("store", help="path or URL of the store")
    p.set_defaults(func=_card)
    p = sub.add_parser("export-geotiff", help="one georeferenced GeoTIFF per sample and season")
    p.add_argument("store", help="path or URL of the store")
    p.add_argument("--samples", required=True, help="comma-separated sample indices, e.g. 0,5,9")
    p.add_argument("--out", required=True, help="folder for the GeoTIFFs")
    p.set_defaults(func=_export_geotiff)
    p = sub.add_parser(
        "stac", help="(re)write the store's STAC Collection, stac/collection.json (finalize does)"
    )
    p.add_argument("store", help="path or URL of the store")
    p.set_defaults(func=_stac)
    p = sub.add_parser(
        "upgrade",
        help="bring an older store to the current layout in place (adds arrays and "
        "attributes, never rewrites pixels; safe to rerun after an interruption)",
    )
    p.add_argument("store", help="path or URL of the store")
    p.set_defaults(func=_upgrade)
    for command in sub.choices.values():
        add_storage_options(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; user mistakes print one line to stderr, never a traceback."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed as one line
        return int(e.code or 0)
    return run_command(
        lambda: args.func(args), (NotAStoreError,), (StoreError, OSError, ValueError, KeyError)
    )
