# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Backpressure: a bounded pool against a task per item
#
# A producer makes items faster than they can be handled. Where does the difference
# go? This notebook feeds the same stream to two designs and samples, every 10 ms, how
# many items wait and how many are in flight:
#
# - a **bounded pool**, `WorkerPool(job, workers=4, queue_size=4)` from
#   `patterns.workerpool`: `submit` waits while 4 items are queued, so a producer that
#   is too fast is held back. That wait is backpressure;
# - a **task per item**: the producer starts a new task for each item and moves on,
#   with no bound anywhere.
#
# The slow part is the same in both: a service that handles 4 items at a time, 100 ms
# each (a `Semaphore(4)` from `patterns.semaphore` around a 100 ms sleep), so it
# finishes at most 40 items a second. The producer makes 120 items, one every 5 ms:
# 200 a second, five times too fast.
#
# The runtime is trio. The picture does not depend on it: the pool's bound is the
# library's `fanout.Channel` in all three runtimes, and `statistics()` reads the same.
# trio makes the comparison plain: `nursery.start_soon` is the whole of "a task per
# item", and with one thread running every task, a sample sees a consistent state
# (nothing moves while it reads). asyncio would draw the same figure; threads too, at
# the price notebook 03 measured for each thread started.

# %%
import sys
from statistics import median

import matplotlib

if "ipykernel" not in sys.modules:  # run as a script: draw to files, open no window
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import trio
from provenance import figure_path, provenance

from patterns.semaphore.on_trio import Semaphore
from patterns.workerpool.on_trio import WorkerPool

print(provenance("05-backpressure"))

ITEMS = 120
PRODUCE_EVERY_S = 0.005  # the producer: 200 items a second
SERVICE_SLOTS = 4  # the slow consumer: 4 at a time...
SERVICE_S = 0.1  # ...100 ms each, so 40 items a second
WORKERS, QUEUE_SIZE = 4, 4  # the bounded pool
SAMPLE_EVERY_S = 0.01

# %% [markdown]
# ## What both designs share
#
# An item is the time it was produced, so the job can say how long the item took from
# being made to being done. `Run` keeps the samples and those waits; `sample` reads a
# design's two counts every 10 ms until the run is over.


# %%
class Run:
    """One design's run: samples of (seconds, waiting, in flight), and each item's wait."""

    def __init__(self):
        self.start = trio.current_time()
        self.samples = []  # (seconds since start, items waiting, items in flight)
        self.item_s = []  # per item: from produced to done
        self.producer_done_s = None

    def now(self):
        return trio.current_time() - self.start


async def serve(service, run, produced_at):
    """The slow consumer: wait for one of the service's slots, then 100 ms of work."""
    async with service.hold():
        await trio.sleep(SERVICE_S)
    run.item_s.append(trio.current_time() - produced_at)


async def sample(run, read, over):
    """Every SAMPLE_EVERY_S, record ``read()`` (waiting, in flight) until ``over`` is set."""
    while not over.is_set():
        run.samples.append((run.now(), *read()))
        with trio.move_on_after(SAMPLE_EVERY_S):
            await over.wait()
    run.samples.append((run.now(), *read()))  # the last, empty, state


# %% [markdown]
# ## The bounded pool
#
# Waiting: `statistics().queued`, the items in the pool's queue. In flight: those plus
# `statistics().running`, the jobs a worker is running. Both come from the pool itself.


# %%
async def bounded_pool():
    run, service, over = Run(), Semaphore(SERVICE_SLOTS), trio.Event()

    async def job(ctx, produced_at):
        await serve(service, run, produced_at)

    async with WorkerPool(job, workers=WORKERS, queue_size=QUEUE_SIZE) as pool:

        def read():
            stats = pool.statistics()
            return stats.queued, stats.queued + stats.running

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sample, run, read, over)
            for _ in range(ITEMS):
                await pool.submit(trio.current_time())  # waits while the queue is full
                await trio.sleep(PRODUCE_EVERY_S)
            run.producer_done_s = run.now()
            pool.close()  # nothing more: the workers drain the queue and stop
            async for _ in pool.results():  # wait until every job is done
                pass
            over.set()
    return run


# %% [markdown]
# ## A task per item
#
# No pool, so we count ourselves: in flight, the tasks started and not yet ended;
# waiting, those of them queued at the service's semaphore (`service.waiting`). That
# queue is the one nobody bounded: it is where the producer's excess goes.


# %%
async def task_per_item():
    run, service, over = Run(), Semaphore(SERVICE_SLOTS), trio.Event()
    in_flight = 0

    async def task(produced_at):
        nonlocal in_flight
        try:
            await serve(service, run, produced_at)
        finally:
            in_flight -= 1

    async with trio.open_nursery() as sampling:
        sampling.start_soon(sample, run, lambda: (service.waiting, in_flight), over)
        async with trio.open_nursery() as tasks:
            for _ in range(ITEMS):
                in_flight += 1
                tasks.start_soon(task, trio.current_time())  # never waits
                await trio.sleep(PRODUCE_EVERY_S)
            run.producer_done_s = run.now()
        over.set()  # the nursery's end waited for every task
    return run


# %% [markdown]
# ## The runs

# %%
runs = {"bounded pool": trio.run(bounded_pool), "task per item": trio.run(task_per_item)}

print(f"{'design':<15}{'max waiting':>12}{'max in flight':>15}{'producer done s':>17}"
      f"{'all done s':>12}{'item ms: median':>17}{'max':>7}")
for name, run in runs.items():
    _, waiting, in_flight = zip(*run.samples, strict=True)
    item_ms = [s * 1e3 for s in run.item_s]
    print(f"{name:<15}{max(waiting):>12}{max(in_flight):>15}{run.producer_done_s:>17.2f}"
          f"{run.samples[-1][0]:>12.2f}{median(item_ms):>17.0f}{max(item_ms):>7.0f}")

# %% [markdown]
# ## The figure
#
# One panel per design, time left to right, each sampled count drawn as steps (a count
# holds until the next sample). The dotted line is the pool's bound, workers plus
# queue size, the most a bounded pool ever holds; the grey line marks when the
# producer had made its last item. The panels have their own y-scales, so the pool's
# small counts stay readable: compare them through the dotted line.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), sharex=True)
for ax, (name, run) in zip(axes, runs.items(), strict=True):
    seconds, waiting, in_flight = zip(*run.samples, strict=True)
    ax.step(seconds, in_flight, where="post", color="tab:blue", label="in flight")
    ax.step(seconds, waiting, where="post", color="tab:orange", label="waiting (queue depth)")
    ax.axhline(WORKERS + QUEUE_SIZE, color="black", linestyle=":", linewidth=1,
               label=f"the pool's bound: {WORKERS} workers + {QUEUE_SIZE} queued")
    ax.axvline(run.producer_done_s, color="grey", linewidth=1)
    # The label goes on whichever side of the line has room.
    late = run.producer_done_s > run.samples[-1][0] / 2
    ax.annotate(f"producer done\nat {run.producer_done_s:.1f} s",
                (run.producer_done_s, max(in_flight) * 0.12), xytext=(-4 if late else 4, 0),
                textcoords="offset points", ha="right" if late else "left", color="grey")
    ax.set_title(f"{name}: at most {max(in_flight)} in flight")
    ax.set_xlabel("time since the producer started (s)")
    ax.set_ylabel("items (sampled every 10 ms)")
    ax.set_ylim(bottom=0, top=max(in_flight) * 1.5)  # room for the legend
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
fig.suptitle(f"{ITEMS} items, made at {1 / PRODUCE_EVERY_S:.0f}/s, served at "
             f"{SERVICE_SLOTS / SERVICE_S:.0f}/s ({SERVICE_SLOTS} at a time, "
             f"{SERVICE_S * 1e3:.0f} ms each), trio")
fig.tight_layout()
fig.savefig(figure_path("backpressure"), dpi=110, bbox_inches="tight")
plt.show()

# %% [markdown]
# ## What the figure shows
#
# **The bounded pool** holds at most 8 items: 4 being served, 4 in the queue. The
# producer makes items five times faster than they are served, so the queue is full
# almost all the time and every `submit` waits for a worker to take the next item.
# (The short dips are a worker between two jobs, or the queue one short for the 5 ms
# until the producer's next `submit`.)
# The producer is slowed to the service's pace, 40 items a second, and makes its last
# item only near the end of the run: the excess stayed with the producer, as waiting,
# and nothing piled up. Each item, once made, is done within a few hundred
# milliseconds, since at most 8 are ever ahead of it.
#
# **A task per item** never makes the producer wait: it is done within the first
# second, and the tasks it left behind pile up. The in-flight count climbs at the
# difference of the two rates while the producer runs (its own, a little under 200 a
# second once its sleeps' overhead is counted, minus the service's 40), then drains at
# 40 a second; nearly all of it is queued at the service's semaphore. The
# service is exactly as busy in both designs and the whole run takes as long: what
# the unbounded design adds is a queue that nobody sized. Every item in it is a live
# task (memory: notebook 03), and the last items wait seconds instead of milliseconds,
# as the table above shows. With a producer that never stops (a socket, a log), that
# queue grows until the process runs out of memory.
#
# Go spells the bounded design as a buffered channel of jobs with N goroutines ranging
# over it; a send on a full channel blocks, which is the same backpressure.
