"""What a reproduction is doing, and about how long it has left."""

import sys
import time
from typing import TextIO


class Progress:
    """Prints one line per task: the paper, what starts now, the elapsed time and an estimate of the time left.

    The estimate assumes the remaining tasks take as long as the finished ones did on average
    (cached trainings finish at once, so on a rerun it is pessimistic at first).
    """

    def __init__(self, paper: str, total: int, stream: TextIO = sys.stderr) -> None:
        self.paper, self.total, self.begun, self.stream = paper, max(total, 1), 0, stream
        self.start = time.perf_counter()

    def begin(self, message: str) -> None:
        """Announce the next task (the previous one is finished)."""
        finished = self.begun
        self.begun += 1
        elapsed = time.perf_counter() - self.start
        left = f", ~{elapsed / finished * (self.total - finished) / 60:.0f} min left" if finished else ""
        print(f"[{self.paper} {self.begun}/{self.total}, {elapsed / 60:.1f} min{left}] {message}", file=self.stream, flush=True)

    def note(self, message: str) -> None:
        """Print ``message`` under the current task."""
        print(f"[{self.paper}]   {message}", file=self.stream, flush=True)

    @property
    def minutes(self) -> float:
        """Wall-clock minutes since the reproduction started."""
        return (time.perf_counter() - self.start) / 60
