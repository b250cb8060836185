"""channel_load: a Queue under contention, oversubscription and richer items.

The twin of bench/channel_load.ts. It runs in the reference suite's folder
(../shared/bench/python, the working directory the bench runner gives it) and
reuses its queue_throughput.run_once, so the timed region is the reference's:
  * Queue, N producers -> N consumers of small ints, N = 1, 2, cpus, 2 x cpus
    (capped at 16);
  * Queue, 1 -> 1, lists of 100 ints and small dicts {id, name, score, tags};
  * _same_cpu: Queue 1 -> 1 of small ints with this process pinned to one CPU
    (sched_setaffinity; the forked children inherit it).
"""
import multiprocessing as mp
import os
import sys

sys.path.insert(0, os.getcwd())
from _common import emit_median, log, parse_args, reps, size  # noqa: E402
from queue_throughput import run_once  # noqa: E402

BENCH = "channel_load"


def main():
    args = parse_args(__doc__)
    ctx = mp.get_context("fork")
    R = reps(args, normal=3, quick=1)
    cpus = len(os.sched_getaffinity(0))
    counts = sorted({min(n, 16) for n in (1, 2, cpus, 2 * cpus)})
    payloads = {
        "int": (12345, size(args, 200_000, 10_000)),
        "list100": (list(range(100)), size(args, 50_000, 5_000)),
        "obj": ({"id": 7, "name": "item-7", "score": 0.5, "tags": ["a", "b"]}, size(args, 50_000, 5_000)),
    }
    scenarios = [(f"Queue_{n}p{n}c_int", n, "int") for n in counts]
    scenarios += [("Queue_1p1c_list100", 1, "list100"), ("Queue_1p1c_obj", 1, "obj")]
    saved = os.sched_getaffinity(0)
    for same_cpu in (False, True):
        if same_cpu:
            os.sched_setaffinity(0, {min(saved)})
            scenarios = [("Queue_1p1c_int_same_cpu", 1, "int")]
        for tag, n, kind in scenarios:
            payload, total = payloads[kind]
            rates = []
            for _ in range(R):
                dt, count = run_once(ctx, "Queue", n, n, total, payload)
                rates.append(count / dt)
            emit_median(BENCH, f"{tag}_msgs_per_s", rates, "msg/s", n=total, start_method="fork")
            log(f"{tag}: {sorted(rates)[len(rates) // 2]:.0f} msg/s")
    os.sched_setaffinity(0, saved)


if __name__ == "__main__":
    main()
