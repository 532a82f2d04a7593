"""The ``cnnkit`` command line: ``cnnkit doctor`` and ``cnnkit data status|fetch|import``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cnnkit.data.errors import DataFormatError, DataNotFoundError


def _data_status(args: argparse.Namespace) -> int:
    from cnnkit.data import DATASETS, data_dir, find, is_offline
    from cnnkit.data.store import verified_content

    print(f"Data cache: {data_dir()}{'  (CNNKIT_OFFLINE=1)' if is_offline() else ''}")
    problems = 0
    for spec in DATASETS.values():
        located = find(spec)
        if located is None:
            print(f"  {spec.name:<14} missing      cnnkit data fetch {spec.name}  |  "
                  f"cnnkit data import {spec.name} PATH")
            continue
        state = "found"
        if args.verify:
            try:
                for file in located.form.files:
                    verified_content(located.paths[file.name], file, located.form.kind)
                state = "verified"
            except DataFormatError as error:
                state, problems = "CORRUPT", problems + 1
                print(f"  {error}")
        folder = next(iter(located.paths.values())).parent
        print(f"  {spec.name:<14} {state:<12} {located.form.kind} in {folder} ({located.origin})")
    return 1 if problems else 0


def _data_fetch(args: argparse.Namespace) -> int:
    from cnnkit.data import DATASETS, fetch, get_spec

    names = list(DATASETS) if args.name == "all" else [args.name]
    failed = 0
    for name in names:
        try:
            located = fetch(get_spec(name))
            print(f"{name}: ready ({located.form.kind}, {located.origin}) in "
                  f"{next(iter(located.paths.values())).parent}")
        except DataNotFoundError as error:
            failed += 1
            print(f"{name}: {error}", file=sys.stderr)
    return 1 if failed else 0


def _data_import(args: argparse.Namespace) -> int:
    from cnnkit.data import find, get_spec, import_files
    from cnnkit.data.store import missing_message

    spec = get_spec(args.name)
    written = import_files(spec, args.path)
    for path in written:
        print(f"imported {path}")
    located = find(spec)
    if located is None or located.origin != "CNNKIT_DATA_DIR":
        print("Not complete yet.\n" + missing_message(spec), file=sys.stderr)
        return 1
    print(f"{spec.name} is complete ({located.form.kind}).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``cnnkit`` command."""
    from cnnkit.data import DATASETS

    parser = argparse.ArgumentParser(prog="cnnkit", description="The cnnkit course kit.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    doctor = commands.add_parser("doctor", help="check versions, backend, GPU, data and profile")
    doctor.set_defaults(handler=lambda args: __import__("cnnkit.env").env.doctor())

    data = commands.add_parser("data", help="the data cache: status, fetch, import")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    status = data_commands.add_parser("status", help="where each data set was found")
    status.add_argument("--verify", action="store_true", help="also check every sha256")
    status.set_defaults(handler=_data_status)
    fetch = data_commands.add_parser("fetch", help="download a data set into the cache")
    fetch.add_argument("name", choices=[*DATASETS, "all"], help="data set to download")
    fetch.set_defaults(handler=_data_fetch)
    imports = data_commands.add_parser(
        "import", help="copy a data set's original files into the cache, verifying each")
    imports.add_argument("name", choices=list(DATASETS), help="data set")
    imports.add_argument("path", help="a folder of the files, or an archive (.tar.gz, .tgz, .zip)")
    imports.set_defaults(handler=_data_import)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cnnkit`` command; return its exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (DataFormatError, DataNotFoundError, ValueError) as error:
        print(f"cnnkit: {error}", file=sys.stderr)
        return 2
    except PermissionError as error:
        print(f"cnnkit: {error}. Fix: make the folder writable, or point CNNKIT_DATA_DIR at a "
              "folder you can write to.", file=sys.stderr)
        return 2
