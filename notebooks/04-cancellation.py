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
# # 04 · From `cancel()` to the last worker stopped
#
# Go's `context` is a request to stop: `cancel()` closes `ctx.Done()`, and each
# goroutine stops when it next looks. This notebook times that request in the three
# runtimes. A `WorkerPool` of 20 workers (from `patterns.workerpool`) gets 20 jobs of
# 200 ms, one per worker, under a context made with `background().with_cancel()`
# (from `patterns.context`). Once all 20 are running, and 50 ms into them, the
# notebook calls `ctx.cancel()` and times until the pool's block has ended, that is
# until the last worker has stopped. Two kinds of job:
#
# - one that **honours** its context: it waits with `ctx.sleep(0.2)`, which returns
#   early, raising the context's error, as soon as the context is cancelled;
# - one that **ignores** it: it waits with the runtime's own sleep and never looks at
#   its context. In threads that is `time.sleep(0.2)`. In asyncio and trio it is
#   `asyncio.sleep(0.2)` and `trio.sleep(0.2)`, something awaited that is not tied to
#   the context. (A blocking `time.sleep` there would not be ignoring the context, it
#   would be stopping the whole event loop, `cancel()` included.)
#
# Each case runs 25 times; the figure shows every repetition.

# %%
import asyncio
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from statistics import median

import matplotlib

if "ipykernel" not in sys.modules:  # run as a script: draw to files, open no window
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import trio
from provenance import figure_path, provenance

from patterns.context import on_asyncio as ctx_asyncio
from patterns.context import on_threads as ctx_threads
from patterns.context import on_trio as ctx_trio
from patterns.workerpool import on_asyncio as pool_asyncio
from patterns.workerpool import on_threads as pool_threads
from patterns.workerpool import on_trio as pool_trio

print(provenance("04-cancellation"))

WORKERS = 20
JOB_S = 0.2  # how long a job runs if nobody stops it
CANCEL_AFTER_S = 0.05  # cancel this long after all jobs are running
REPETITIONS = 25

# %% [markdown]
# ## The jobs
#
# Every job receives `(ctx, item)` from the pool: its own context, a child of the
# pool's, which is a child of ours. The "ignores" jobs take the context and never use it.


# %%
def threads_honours(ctx, item):
    ctx.sleep(JOB_S)  # wakes, and raises Canceled, as soon as ctx is cancelled


def threads_ignores(ctx, item):
    time.sleep(JOB_S)  # nothing can wake this thread early: it can only be asked


async def asyncio_honours(ctx, item):
    await ctx.sleep(JOB_S)


async def asyncio_ignores(ctx, item):
    await asyncio.sleep(JOB_S)  # not tied to ctx; but it is an await, where a task can be cancelled


async def trio_honours(ctx, item):
    await ctx.sleep(JOB_S)


async def trio_ignores(ctx, item):
    await trio.sleep(JOB_S)  # not tied to ctx; but it is a checkpoint, where trio cancels


# %% [markdown]
# ## One repetition per runtime
#
# The same steps in each: start the pool, submit one job per worker, wait until the
# pool's `statistics()` says all of them are running, wait 50 ms more, cancel, and time
# until the `with` block has ended (the pool waits there for its workers). Each returns
# that latency in seconds and the pool's results, to see how the jobs ended.


# %%
def threads_once(job):
    ctx = ctx_threads.background().with_cancel()
    with pool_threads.WorkerPool(job, workers=WORKERS, ctx=ctx) as pool:
        for item in range(WORKERS):
            pool.submit(item)
        while pool.statistics().running < WORKERS:
            time.sleep(0.001)
        time.sleep(CANCEL_AFTER_S)
        cancelled = time.perf_counter()
        ctx.cancel()
    return time.perf_counter() - cancelled, list(pool.results())


async def asyncio_once(job):
    ctx = ctx_asyncio.background().with_cancel()
    async with pool_asyncio.WorkerPool(job, workers=WORKERS, ctx=ctx) as pool:
        for item in range(WORKERS):
            await pool.submit(item)
        while pool.statistics().running < WORKERS:
            await asyncio.sleep(0.001)
        await asyncio.sleep(CANCEL_AFTER_S)
        cancelled = time.perf_counter()
        ctx.cancel()
    return time.perf_counter() - cancelled, [result async for result in pool.results()]


async def trio_once(job):
    ctx = ctx_trio.background().with_cancel()
    async with pool_trio.WorkerPool(job, workers=WORKERS, ctx=ctx) as pool:
        for item in range(WORKERS):
            await pool.submit(item)
        while pool.statistics().running < WORKERS:
            await trio.sleep(0.001)
        await trio.sleep(CANCEL_AFTER_S)
        cancelled = time.perf_counter()
        ctx.cancel()
    return time.perf_counter() - cancelled, [result async for result in pool.results()]


# %% [markdown]
# ## The runs
#
# asyncio and trio run all their repetitions in one event loop each, so the loop's
# start is not in the figures. asyncio's loop runs on a thread of its own: in Jupyter
# the kernel already runs an asyncio loop on the main thread, and `asyncio.run`
# refuses to start a second one there.


# %%
def on_own_thread(fn, *args):
    """``fn(*args)`` on a new thread, which has no event loop yet; its return value."""
    with ThreadPoolExecutor(max_workers=1) as one_thread:
        return one_thread.submit(fn, *args).result()


async def asyncio_repeat(job):
    return [await asyncio_once(job) for _ in range(REPETITIONS)]


async def trio_repeat(job):
    return [await trio_once(job) for _ in range(REPETITIONS)]


CASES = {  # (runtime, kind): the repetitions' (latency, results)
    ("threads", "honours"): [threads_once(threads_honours) for _ in range(REPETITIONS)],
    ("threads", "ignores"): [threads_once(threads_ignores) for _ in range(REPETITIONS)],
    ("asyncio", "honours"): on_own_thread(asyncio.run, asyncio_repeat(asyncio_honours)),
    ("asyncio", "ignores"): on_own_thread(asyncio.run, asyncio_repeat(asyncio_ignores)),
    ("trio", "honours"): trio.run(trio_repeat, trio_honours),
    ("trio", "ignores"): trio.run(trio_repeat, trio_ignores),
}

print(f"{'runtime':<9}{'job':<9}{'latency ms: median':>19}{'max':>8}"
      f"{'job ran ms (median)':>21}  how the jobs ended")
for (runtime, kind), runs in CASES.items():
    latencies = [latency * 1e3 for latency, _ in runs]
    results = [result for _, run_results in runs for result in run_results]
    ran = median(result.elapsed for result in results) * 1e3
    ended = Counter("ok" if result.ok else type(result.error).__name__ for result in results)
    print(f"{runtime:<9}{kind:<9}{median(latencies):>19.2f}{max(latencies):>8.2f}"
          f"{ran:>21.1f}  {dict(ended)}")

# %% [markdown]
# ## The figure
#
# One column per runtime and kind of job, one dot per repetition (spread sideways so
# they do not hide each other), and a box from the first to the third quartile with
# the median across it. The y-axis is logarithmic: the cases are a hundred times
# apart. The dashed line is what was left of each job when `cancel()` came: 200 ms
# minus the 50 ms it had run.

# %%
COLOURS = {"honours": "tab:green", "ignores": "tab:red"}
labels, positions = [], []
fig, ax = plt.subplots(figsize=(9, 4.8))
for position, ((runtime, kind), runs) in enumerate(CASES.items()):
    latencies_ms = [latency * 1e3 for latency, _ in runs]
    ax.boxplot([latencies_ms], positions=[position], widths=0.5, showfliers=False,
               medianprops={"color": "black"})
    # A fixed sideways spread (not random), so the figure is the same from run to run.
    spread = [position + 0.3 * ((i % 9) / 8 - 0.5) for i in range(len(latencies_ms))]
    ax.plot(spread, latencies_ms, "o", color=COLOURS[kind], alpha=0.6, markersize=4)
    labels.append(f"{runtime}\n{kind}")
    positions.append(position)
ax.axhline((JOB_S - CANCEL_AFTER_S) * 1e3, color="grey", linestyle="--", linewidth=1)
ax.annotate("the rest of the job: 150 ms", ((len(CASES) - 1) / 2, (JOB_S - CANCEL_AFTER_S) * 1e3),
            xytext=(0, 5), textcoords="offset points", ha="center", color="grey")
ax.set_yscale("log")
ax.set_ylim(top=JOB_S * 1e3 * 2)  # room above the dashed line for its label
ax.set_xticks(positions, labels)
ax.set_ylabel("from ctx.cancel() to the last worker stopped (ms)")
ax.set_title(f"Cancelling a pool of {WORKERS} workers, each {CANCEL_AFTER_S * 1e3:.0f} ms into "
             f"a {JOB_S * 1e3:.0f} ms job ({REPETITIONS} repetitions each)")
ax.plot([], [], "o", color=COLOURS["honours"], label="the job honours its context (ctx.sleep)")
ax.plot([], [], "o", color=COLOURS["ignores"], label="the job ignores it (the runtime's sleep)")
ax.legend(loc="center right")
ax.grid(True, axis="y", which="both", alpha=0.3)
fig.tight_layout()
fig.savefig(figure_path("cancellation-latency"), dpi=110, bbox_inches="tight")
plt.show()

# %% [markdown]
# ## What the figure shows
#
# **Threads: a thread can only be asked.** The job that honours its context stops
# within a few milliseconds: `ctx.sleep` waits on an event that `cancel()` sets, and
# 20 threads wake and end. The job that ignores its context runs its `time.sleep` to
# the end: the latency is the 150 ms that was left of it, on the dashed line, whatever
# the pool does. Its result still says `Canceled`, as the table above shows: the pool
# discards a value that came after its context was cancelled, but it cannot give back
# the time. Everything that shortens a thread's cancellation has to be written into
# the job: `ctx.check()` between steps, `ctx.sleep()` instead of `time.sleep()`, the
# deadline as a socket timeout.
#
# **asyncio and trio: the pool cancels the job for it.** Both columns sit at about a
# millisecond, honours and ignores alike. This is not the jobs' doing: the library's
# `WorkerPool` runs each job inside its context's `scope()` (asyncio: a
# `Task.cancel()` delivered when the context is done; trio: a `CancelScope` cancelled
# with it), so `asyncio.sleep` and `trio.sleep` are interrupted at the await they are
# parked in, and the job ends with the context's `Canceled` anyway. The lesson is the
# other way round from threads: in asyncio and trio every `await` is a place where
# work can be stopped from outside, so "ignoring" the context costs nothing here. What
# a task *can* do to ignore cancellation is not await at all: a blocking call
# (`time.sleep`, a CPU loop) holds the one thread the loop runs on, and no cancel, not
# even the `cancel()` call itself, runs until it returns. (trio also lets a task
# shield itself, with `CancelScope(shield=True)`; asyncio has `asyncio.shield`.)
#
# A point far above its column, if the run has one, is one repetition, not the
# runtime's habit: on a shared two-core machine a process can wait tens of
# milliseconds for a core. The boxes, the middle half of each column's repetitions,
# are the runtime's figure.
#
# The medians and worst cases of this run:

# %%
for (runtime, kind), runs in CASES.items():
    latencies_ms = sorted(latency * 1e3 for latency, _ in runs)
    print(f"{runtime:<8} {kind:<8} median {median(latencies_ms):7.2f} ms, "
          f"worst {latencies_ms[-1]:7.2f} ms")
