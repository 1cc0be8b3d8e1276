# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · The worker pool, job by job
#
# One scan of the standard fleet (100 simulated hosts on loopback, some of them refusing,
# failing, or never answering), 20 workers, each probe within 1 s, in each of the three
# runtimes. Every job the pool runs leaves a `patterns.workerpool.Result` behind: which
# `worker` ran it, when it `started` and when it `finished`. Drawn as a Gantt chart (a
# row per worker, a bar per job) they show how the pool spent its time, next to the
# schedule a perfect FIFO pool would have followed.
#
# Run it as a script with `python notebooks/01-pool-timeline.py`, or as a notebook.

# %%
import asyncio
import heapq
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import matplotlib
import matplotlib.pyplot as plt
import trio
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from provenance import figure_path, provenance

from patterns.probe import OUTCOMES, ideal_makespan, result_of_job
from patterns.probe import on_asyncio as probe_asyncio
from patterns.probe import on_threads as probe_threads
from patterns.probe import on_trio as probe_trio
from patterns.probe.fleet import Fleet
from patterns.workerpool import on_asyncio as pool_asyncio
from patterns.workerpool import on_threads as pool_threads
from patterns.workerpool import on_trio as pool_trio
from patterns.workerpool import timeline

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # run as a script: draw into files, open no window

print(provenance("01-pool-timeline"))

HOSTS = 100
WORKERS = 20
TIMEOUT = 1.0  # seconds per probe: what `patterns.probe.compare` uses, and the least
# timeout for which the fleet's `truth` holds (every host that answers does so in 0.3 s)

# %% [markdown]
# ## Running the pool ourselves
#
# `scan` would do the scan in one call, but it hands back `ProbeResult`s only: the
# worker and the times of each job stay inside it. So we do what `scan` does
# (`patterns/probe/on_*.py`): a `WorkerPool` of that runtime, with that runtime's
# `probe(ctx, target)` as the job, fed by `pool.map(targets)`, and we keep every
# `Result`. (`scan` also links each job's context to a context of the scan's, so that the
# caller can cancel it; nobody cancels this scan, so the probe goes in as it is.)
#
# Each runtime stamps `started` and `finished` with its own clock (trio's has an offset
# of its own), so each run notes that clock just before the pool starts, `t0`, and every
# time below is seconds since then.
#
# Each scan runs in a thread of its own (`in_own_thread`): a Jupyter kernel runs an
# asyncio event loop in its main thread, and `asyncio.run` refuses to start a second
# loop in a thread that has one. As a script it would not matter; the notebook does the
# same either way, for all three runtimes alike.


# %%
def in_own_thread(fn, *args):
    """``fn(*args)`` in a new thread, where no event loop runs; its value (or error)."""
    with ThreadPoolExecutor(max_workers=1) as one:
        return one.submit(fn, *args).result()


def on_threads(targets):
    """Threads: `WorkerPool` starts 20 threads; each blocks on its probe's socket."""
    t0 = time.monotonic()  # the clock the threads pool stamps its Results with
    with pool_threads.WorkerPool(probe_threads.probe, workers=WORKERS, timeout=TIMEOUT) as pool:
        jobs = list(pool.map(targets))
    return jobs, t0, time.monotonic() - t0


async def _on_asyncio(targets):
    now = asyncio.get_running_loop().time  # the clock the asyncio pool stamps with
    t0 = now()
    async with pool_asyncio.WorkerPool(probe_asyncio.probe, workers=WORKERS,
                                       timeout=TIMEOUT) as pool:
        jobs = [job async for job in pool.map(targets)]
    return jobs, t0, now() - t0


def on_asyncio(targets):
    """asyncio: 20 tasks on one event loop, started afresh for this scan."""
    return asyncio.run(_on_asyncio(targets))


async def _on_trio(targets):
    t0 = trio.current_time()  # trio's clock, which the trio pool stamps with
    async with pool_trio.WorkerPool(probe_trio.probe, workers=WORKERS, timeout=TIMEOUT) as pool:
        jobs = [job async for job in pool.map(targets)]
    return jobs, t0, trio.current_time() - t0


def on_trio(targets):
    """trio: 20 tasks in a nursery, in a trio run of its own."""
    return trio.run(_on_trio, targets)


RUNS = {"threads": on_threads, "asyncio": on_asyncio, "trio": on_trio}


# %% [markdown]
# ## The ideal FIFO schedule
#
# `patterns.probe.schedule.ideal_makespan` is the wall time of a perfect FIFO pool: jobs
# taken in input order, each by the worker that frees first, with no overhead at all,
# and each host costing `min(latency, timeout)` (a host that never answers costs one
# timeout; a TCP or refused host, which the kernel answers at once, costs 0). It returns
# only the makespan, and we want every job's bar, so `fifo_schedule` replays the same
# greedy assignment and keeps who ran what; the `assert` below checks that it ends
# exactly where `ideal_makespan` says.


# %%
def fifo_schedule(costs, workers):
    """(worker, start, finish) for each cost, in input order: each job goes to the worker
    that frees first (the lowest-numbered one on a tie), as `ideal_makespan` models it."""
    free_at = [(0.0, worker) for worker in range(min(workers, len(costs)))]  # a heap
    jobs = []
    for cost in costs:
        start, worker = heapq.heappop(free_at)
        jobs.append((worker, start, start + cost))
        heapq.heappush(free_at, (start + cost, worker))
    return jobs


# %% [markdown]
# ## The scans
#
# The fleet runs in a process of its own for as long as the `with` block; the three
# scans run one after another, in this process, against the same hosts.

# %%
runs = {}  # runtime -> (jobs, t0, wall seconds)
with Fleet(hosts=HOSTS, profile="standard", seed=0) as fleet:
    targets = fleet.targets
    truth = dict(fleet.truth)
    costs = [min(fleet.latency[t], TIMEOUT) for t in targets]
    for runtime, run in RUNS.items():
        runs[runtime] = in_own_thread(run, targets)

ideal = ideal_makespan(costs, WORKERS)
ideal_jobs = fifo_schedule(costs, WORKERS)
assert math.isclose(max(finish for _, _, finish in ideal_jobs), ideal)

# Each job's outcome, read from its Result as `scan` reads it (`result_of_job`).
outcomes = {runtime: [result_of_job(job, runtime).outcome for job in jobs]
            for runtime, (jobs, _, _) in runs.items()}

print(f"{HOSTS} hosts, {WORKERS} workers, timeout {TIMEOUT} s; "
      f"ideal FIFO makespan {ideal:.3f} s")
print(f"{'runtime':8} {'last job ends':>14} {'wall':>8} {'efficiency':>11} {'correct':>8}")
for runtime, (jobs, t0, wall) in runs.items():
    makespan = max(job.finished for job in jobs) - t0
    correct = sum(outcome == truth[job.item]
                  for job, outcome in zip(jobs, outcomes[runtime], strict=True))
    print(f"{runtime:8} {makespan:12.3f} s {wall:6.3f} s {ideal / wall:11.3f} "
          f"{correct:4}/{len(jobs)}")

# %% [markdown]
# The same threads run as text: `patterns.workerpool.timeline` draws it in a terminal,
# each job a segment that starts with its index, `-` if the job returned and `!` if the
# pool recorded an error. A refused host or a bad status is a result the probe returns
# (`-`); only a hanging host's job is `!`: it reached its deadline, and the pool keeps
# the deadline's error, which `result_of_job` turns into the outcome `timeout`.

# %%
print(timeline(runs["threads"][0], width=100))

# %% [markdown]
# ## The chart
#
# One panel per runtime and one for the ideal schedule, on one time axis. Bars are
# coloured by how the probe ended (the ideal panel: by the fleet's truth, which every
# scan above matched). A refused or TCP host is answered by the kernel in a fraction of
# a millisecond, so its bar is a hairline. The dashed line is the ideal makespan.

# %%
COLOURS = {"ok": "tab:green", "refused": "tab:gray", "bad_status": "tab:orange",
           "timeout": "tab:red", "content_mismatch": "tab:purple", "dns_error": "tab:brown",
           "unreachable": "tab:pink", "reset": "tab:olive", "protocol_error": "black",
           "too_large": "tab:cyan"}

panels = [(runtime, [(job.worker, job.started - t0, job.finished - t0) for job in jobs],
           outcomes[runtime], f"{runtime}: last job ends at "
           f"{max(job.finished for job in jobs) - t0:.3f} s, wall {wall:.3f} s")
          for runtime, (jobs, t0, wall) in runs.items()]
panels.append(("ideal", ideal_jobs, [truth[t] for t in targets],
               f"ideal FIFO schedule (no overhead): {ideal:.3f} s"))

fig, axes = plt.subplots(len(panels), 1, sharex=True, figsize=(11, 13))
for ax, (_, bars, bar_outcomes, title) in zip(axes, panels, strict=True):
    for (worker, start, finish), outcome in zip(bars, bar_outcomes, strict=True):
        # The edge in the bar's own colour keeps a zero-length job visible, as a line.
        ax.barh(worker, finish - start, left=start, height=0.8, color=COLOURS[outcome],
                edgecolor=COLOURS[outcome], linewidth=0.6)
    ax.axvline(ideal, color="black", linestyle="--", linewidth=1)
    ax.set_title(title, loc="left", fontsize=10)
    ax.set_ylabel("worker")
    ax.set_ylim(WORKERS - 0.5, -0.5)  # worker 0 on top, as `timeline` prints it
    ax.set_yticks(range(0, WORKERS, 5))
    ax.grid(axis="x", alpha=0.3)
    ax.tick_params(labelbottom=True)  # seconds under every panel, not just the last
axes[-1].set_xlabel("seconds since the pool started")

seen = {o for _, _, bar_outcomes, _ in panels for o in bar_outcomes}
handles = [Patch(color=COLOURS[o], label=o) for o in OUTCOMES if o in seen]
handles.append(Line2D([], [], color="black", linestyle="--", label="ideal makespan"))
fig.legend(handles=handles, loc="upper center", ncol=len(handles), frameon=False,
           bbox_to_anchor=(0.5, 0.955))
fig.suptitle(f"One scan of the standard fleet ({HOSTS} hosts, {WORKERS} workers, "
             f"timeout {TIMEOUT:g} s): which worker ran which probe, when", y=0.975)
fig.tight_layout(rect=(0, 0, 1, 0.94))
fig.savefig(figure_path("pool-timeline"), dpi=110, bbox_inches="tight")
plt.show()

# %% [markdown]
# ## What to look for
#
# - **The long red bars are the hanging hosts.** Each holds a worker for the whole
#   timeout; every other worker meanwhile goes on taking short jobs. The pool cannot end
#   before the last hanging probe does, so where a hanging host sits in the input order
#   sets the makespan: one that starts late ends late.
# - **The measured panels follow the ideal one.** Jobs go to workers in input order, as
#   the FIFO model says. Which worker takes a job may differ (the first free worker in
#   the model is the lowest-numbered one; in a runtime, whichever wakes first), and the
#   bars start a little later: the pool starts its workers first, then each runtime
#   spends a little between one job and the next. That small sum, against the ideal
#   makespan, is the efficiency printed above.
# - **The three runtimes look alike here.** This scan mostly waits on the hosts, and
#   waiting costs the same in every runtime: their efficiencies are within a few percent
#   of 1 and of each other, and which one comes first changes from one run to the next.
#   `02-efficiency-vs-workers` looks for where they part ways.
