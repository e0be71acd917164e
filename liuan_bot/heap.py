"""The server process's garbage collector, settled once the bot has started (issue 11 §2).

A running bot holds ~160,000 objects made at start-up (SQLAlchemy's tables and compiled
statements, the command grammars, aiohttp's routes) that live as long as the process. Python's
cyclic collector nevertheless walked all of them in each full collection: four a benchmark run,
up to ~120 ms each with the event loop stopped, which was the p99 of `帮助` (bench/README.md).
After start-up they are moved out of its sight (`gc.freeze`), and the youngest generation is
collected every few thousand allocations instead of every 700: a message allocates a few
hundred objects, nearly all freed by reference counting.

Only the server process does this (`liuan_bot.app.run_guarded`): a test run builds hundreds of
bots in one process and must not keep what it discards.
"""

from __future__ import annotations

import gc

# allocations (minus deallocations) between collections of the youngest generation, then how
# many of those between collections of the middle one, and of the middle one between full ones
THRESHOLDS = (5_000, 20, 10)


def settle_heap(thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
    """Collect once, freeze what survived start-up, and set the collector's thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
