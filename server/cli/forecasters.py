"""``hrvcast forecasters``: every installed forecaster, its version and what it needs.

    hrvcast forecasters            # a table
    hrvcast forecasters --output jsonl

Forecasters come from the entry-point group ``hrvcast.forecasters`` (hrvcast's own and any installed package's).
One that needs a fitted checkpoint is fitted by ``hrvcast train --forecaster NAME``, never at request time.
"""

from __future__ import annotations

import argparse
import json

from server.settings import Settings


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "forecasters",
        help="list the installed forecasters",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--output", choices=("table", "jsonl"), default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from model.forecasters import DEFAULT, available

    specs = available()
    if args.output == "jsonl":
        for spec in specs.values():
            row = {
                "name": spec.name,
                "version": spec.version,
                "needs": spec.needs,
                "resolutions": list(spec.resolutions),
                "package": spec.distribution,
                "default": spec.name == DEFAULT,
                "summary": spec.summary,
            }
            print(json.dumps(row))
        return 0
    print(f"{'name':<18} {'version':<8} {'package':<22} {'resolutions':<12} needs")
    for spec in specs.values():
        name = spec.name + (" *" if spec.name == DEFAULT else "")
        print(f"{name:<18} {spec.version:<8} {spec.distribution:<22} {','.join(spec.resolutions):<12} {spec.needs}")
        print(f"{'':<18} {spec.summary}")
    print("* the default (what a request gets unless it names another)")
    return 0
