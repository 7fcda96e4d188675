"""localstripe with its store in a file of our choosing.

localstripe pickles its whole store to the fixed path ``/tmp/localstripe.pickle`` and
reloads it on start, so the dev and test stacks (and every checkout on the machine)
would share one store. Pointing it at ``.data/<profile>/`` keeps dev data across runs
and gives tests a fresh store.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

from localstripe import resources, server


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

    def dump(store: resources.Store) -> None:
        temporary = store_file.with_suffix(".tmp")
        temporary.write_bytes(pickle.dumps(dict(store), protocol=pickle.HIGHEST_PROTOCOL))
        temporary.replace(store_file)  # a kill mid-write must not corrupt the store

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump
    sys.argv = [sys.argv[0], "--port", str(args.port)]
    server.start()


if __name__ == "__main__":
    main()
