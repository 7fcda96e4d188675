"""localstripe with its store in a file of our choosing.

localstripe pickles its whole store to the fixed path ``/tmp/localstripe.pickle`` and
reloads it on start, so the dev and test stacks (and every checkout on the machine)
would share one store. Pointing it at ``.data/<profile>/`` keeps dev data across runs
and gives tests a fresh store.

localstripe also writes the whole store on every new object, so each request cost grows
with the store (a flash sale of 1,000 payments spent most of its time pickling). We write
it at most every ``DUMP_DELAY`` seconds instead, from the server's own event loop, and
once more at exit: a kill loses the last moments of a dev store, nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import pickle
import sys
from pathlib import Path

from localstripe import resources, server

DUMP_DELAY = 0.5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", type=Path, required=True)
    args = parser.parse_args()
    store_file: Path = args.store

    def load(store: resources.Store) -> None:
        if store_file.exists():
            store.clear()
            store.update(pickle.loads(store_file.read_bytes()))

    def write() -> None:
        pending.clear()
        temporary = store_file.with_suffix(".tmp")
        temporary.write_bytes(pickle.dumps(dict(resources.store), protocol=pickle.HIGHEST_PROTOCOL))
        temporary.replace(store_file)  # a kill mid-write must not corrupt the store

    pending: list[asyncio.TimerHandle] = []

    def dump(store: resources.Store) -> None:
        if pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not serving yet (loading): write now
            write()
            return
        pending.append(loop.call_later(DUMP_DELAY, write))

    atexit.register(lambda: write() if pending else None)
    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump
    sys.argv = [sys.argv[0], "--port", str(args.port)]
    server.start()


if __name__ == "__main__":
    main()
