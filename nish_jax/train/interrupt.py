"""Ctrl-C handled at a safe point of the training loop.

A KeyboardInterrupt raised at an arbitrary bytecode could land between a training step (which
donates the old state) and the bookkeeping of its result, leaving nothing consistent to save.
Inside :func:`deferred_sigint` the first SIGINT only records the request; the loop checks it
after each step, saves a checkpoint there and raises KeyboardInterrupt itself. A second SIGINT
interrupts at once, as usual.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
from collections.abc import Iterator


@dataclasses.dataclass
class StopRequest:
    """Set when a SIGINT arrived inside :func:`deferred_sigint`."""

    requested: bool = False


@contextlib.contextmanager
def deferred_sigint() -> Iterator[StopRequest]:
    """Defer the first SIGINT to the caller's next check of the yielded request.

    Changes nothing where Python's own Ctrl-C handling is not in place (outside the main thread,
    or where SIGINT is ignored or handled by someone else): there SIGINT keeps its meaning.
    """
    request = StopRequest()
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield request
        return

    def ask_to_stop(signum: int, frame: object) -> None:
        request.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C: at once

    signal.signal(signal.SIGINT, ask_to_stop)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
