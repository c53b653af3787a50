"""A client process for the SDK's multi-process tests; run as a script, it imports only podium.

``worker.py concurrent RUN_ID W N``: attach to the run and log N points under ``own.W`` (steps
0..N-1) and N under ``shared`` (steps W*N .. W*N+N-1, value = step), then end the run.

``worker.py durable RUN_ID W ACK_FILE STOP_FILE BATCH``: until STOP_FILE exists, log BATCH
points under ``w.W`` (batch b has steps b*BATCH ..), flush after each batch, and append to
ACK_FILE the number of every batch a flush acknowledged. A flush that fails (the server is
down) acknowledges nothing; its points stay buffered and a later successful flush covers them.

``worker.py unended HOW``: start a run, print its id, log 1,000 points and leave without
ending it: ``HOW`` is ``exit`` (return normally), ``crash`` (an uncaught exception) or
``interrupt`` (an uncaught KeyboardInterrupt); the SDK's exit hook must end the run.

Every mode builds its client comes from the environment: ``PODIUM_URL`` for HTTP, else embedded mode
on ``PODIUM_HOME`` / ``PODIUM_DATABASE_URL``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import podium
from podium import errors


def concurrent(run_id: str, worker: int, count: int) -> None:
    with podium.start_run(run_id=run_id, max_batch=500, flush_interval=0.2) as run:
        for i in range(count):
            run.log_metric(f"own.{worker}", float(i), step=i)
            step = worker * count + i
            run.log_metric("shared", float(step), step=step)


def durable(run_id: str, worker: int, ack_file: Path, stop_file: Path, batch: int) -> None:
    run = podium.start_run(run_id=run_id, flush_interval=0.05)
    unacknowledged: list[int] = []
    number = 0
    with ack_file.open("a") as acks:
        while not stop_file.exists():
            for j in range(batch):
                run.log_metric(f"w.{worker}", float(j), step=number * batch + j)
            unacknowledged.append(number)
            number += 1
            try:
                run.flush()
            except errors.ServiceUnavailable:
                time.sleep(0.05)
                continue
            acks.write("".join(f"{b}\n" for b in unacknowledged))
            acks.flush()
            unacknowledged.clear()
    run.end()


def unended(how: str) -> None:
    run = podium.start_run(flush_interval=60)
    print(run.id, flush=True)
    for i in range(1_000):
        run.log_metric("loss", float(i))
    if how == "crash":
        raise RuntimeError("training diverged")
    if how == "interrupt":
        raise KeyboardInterrupt


def main(argv: list[str]) -> None:
    if argv[0] == "concurrent":
        concurrent(argv[1], int(argv[2]), int(argv[3]))
    elif argv[0] == "durable":
        durable(argv[1], int(argv[2]), Path(argv[3]), Path(argv[4]), int(argv[5]))
    elif argv[0] == "unended":
        unended(argv[1])
    else:
        raise SystemExit(f"unknown mode {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
