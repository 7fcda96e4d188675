"""``python -m devstack dev | test [suite ...] | bench | chaos [--short]``; the Makefile is the usual way in."""

from __future__ import annotations

import argparse
import sys

from devstack.dev import bench, dev, seed
from devstack.suites import all_suites, test


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("dev", help="run the whole stack in the foreground until Ctrl-C")
    test_parser = commands.add_parser("test", help="run the test suites against fresh real infrastructure")
    names = ", ".join(suite.name for suite in all_suites())
    test_parser.add_argument("suites", nargs="*", help=f"any of {names} (default: all)")
    seed_parser = commands.add_parser("seed", help="fill the running dev stack with realistic listings")
    seed_parser.add_argument("seed_args", nargs=argparse.REMAINDER, help="passed to manage.py seed_catalog")
    commands.add_parser("bench", help="run bench/run.py against a fresh stack on the test ports")
    chaos_parser = commands.add_parser("chaos", help="kill processes under a purchase load, then audit the databases")
    chaos_parser.add_argument("--short", action="store_true", help="a few faults of each kind (make test)")
    args = parser.parse_args()
    if args.command == "dev":
        return dev()
    if args.command == "seed":
        return seed(args.seed_args)
    if args.command == "bench":
        return bench()
    if args.command == "chaos":
        from chaos.run import chaos  # the suite lives outside devstack, in chaos/

        return chaos(short=args.short)
    return test(args.suites)


if __name__ == "__main__":
    sys.exit(main())
