"""Progress bars that suit where the output goes: a live tqdm bar on a terminal, plain lines in a
log (CI logs and files otherwise fill with carriage returns and cursor codes)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm

# Seconds between two status lines when stderr is not a terminal.
LOG_INTERVAL_S = 30.0
_LINE_FORMAT = "{desc}: {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


class _LogLines(tqdm):
    """tqdm writing each status as a whole line: no carriage return, no cursor movement, and a
    last line when it closes (a log should show how far it got)."""

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg == "":  # tqdm clearing its line: a log has nothing to clear
            return False
        self.fp.write((self.__str__() if msg is None else msg) + "\n")
        self.fp.flush()
        return True

    def close(self) -> None:
        if not self.disable:
            self.display()
        self.leave = False  # the last line is written; tqdm must not add an empty one
        super().close()


def progress_bar(iterable: Iterable | None = None, **options: Any) -> tqdm:
    """``tqdm(iterable, **options)`` on a terminal; otherwise a bar that logs a plain status line
    when it starts, at most every :data:`LOG_INTERVAL_S` seconds, and when it closes."""
    if sys.stderr.isatty():
        return tqdm(iterable, **options)
    options["mininterval"] = max(options.get("mininterval", 0.0), LOG_INTERVAL_S)
    options.setdefault("bar_format", _LINE_FORMAT)
    return _LogLines(iterable, **options)
