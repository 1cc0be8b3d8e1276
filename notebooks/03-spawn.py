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
# # 03 · What one task costs: threads, asyncio and trio, from 10 to 10,000 tasks
#
# Go's first lesson on goroutines is that they are cheap: start 10,000, park each on a
# channel, and the machine hardly notices. This notebook asks the same of Python's three
# runtimes. For each runtime and each `N` in 10, 100, 1,000 and 10,000, a **fresh
# process** starts `N` functions (threads, asyncio tasks or trio tasks) that each count
# themselves and park on one shared event; once all `N` are parked the event is set and
# all of them end. Two figures per point:
#
# - **wall time per task**: the whole round (spawn `N`, all parked, release, all ended)
#   divided by `N`, so it is the life of one parked task, start to end;
# - **memory per task**: the resident set (RSS) while all `N` are parked, minus the
#   same reading just before spawning, divided by `N`.
#
# The method is the project's own benchmark, `benchmarks/test_spawn.py`, and this
# notebook imports its round functions rather than copying them (its docstring says
# why each detail is there; being a test module, it imports pytest, so this notebook
# needs the `dev` extra as well as `docs`). What it does, in short:
#
# - a fresh process per point, after a warm-up round of 100 tasks, because memory a
#   process has freed mostly stays resident, and a later round grows into it unseen;
# - threads keep the **default stack size** (8 MiB each, `ulimit -s`): it is address
#   space, not memory, and only the pages a thread touches become resident. That is the
#   lesson, so the benchmark does not shrink it with `threading.stack_size`, and neither
#   does this notebook. 10,000 threads fit in 78 GiB of *virtual* memory;
# - waking 10,000 parked threads at once is a convoy on the GIL, so the threads' release
#   runs with a 1 s switch interval (`sys.setswitchinterval`); spawning runs with the
#   default.
#
# The benchmark also runs a second round under `tracemalloc`; this notebook leaves it
# out, since for 10,000 threads it doubles a round that already takes seconds.

# %%
import json
import subprocess
import sys
from statistics import median

import matplotlib

if "ipykernel" not in sys.modules:  # run as a script: draw to files, open no window
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
from provenance import FIGURES, figure_path, provenance

print(provenance("03-spawn"))

REPO = FIGURES.parent.parent  # the child imports benchmarks.test_spawn from here
RUNTIMES = ("threads", "asyncio", "trio")
SIZES = (10, 100, 1_000, 10_000)  # tasks alive at once


def repeats(runtime: str, n: int) -> int:
    """Fresh processes per point: three, so the spread shows, except for 10,000
    threads, whose round alone takes seconds (the benchmark gives them one too)."""
    return 1 if runtime == "threads" and n >= 10_000 else 3

# %% [markdown]
# ## One point, one process
#
# The child is a few lines of `python -c`: warm up, then one round of `N` read with
# `peak_minus_before`, which returns the RSS growth at the moment all `N` are parked and
# the round's wall time. It prints both as JSON for this notebook to collect.

# %%
CHILD = """
import json, sys
from functools import partial
from benchmarks.test_spawn import SPAWNS, WARMUP_TASKS, peak_minus_before, rss_bytes, runs_in

runtime, n = sys.argv[1], int(sys.argv[2])
spawn = SPAWNS[runtime]
with runs_in(runtime) as run:
    run(partial(spawn, WARMUP_TASKS))  # imports, the first loop, caches: not measured
    rss, seconds = peak_minus_before(run, spawn, n, rss_bytes)
print(json.dumps({"rss_bytes": rss, "seconds": seconds}))
"""


def measure(runtime: str, n: int) -> dict[str, float]:
    """One round of ``n`` tasks in a fresh process: its wall time and RSS growth."""
    done = subprocess.run([sys.executable, "-c", CHILD, runtime, str(n)], cwd=REPO,
                          capture_output=True, text=True, check=True, timeout=120)
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


# Per point, per-task figures from each fresh process: µs and KiB of RSS per task.
us_per_task: dict[tuple[str, int], list[float]] = {}
kib_per_task: dict[tuple[str, int], list[float]] = {}
for runtime in RUNTIMES:
    for n in SIZES:
        rounds = [measure(runtime, n) for _ in range(repeats(runtime, n))]
        us_per_task[runtime, n] = [r["seconds"] / n * 1e6 for r in rounds]
        kib_per_task[runtime, n] = [r["rss_bytes"] / n / 1024 for r in rounds]

print(f"{'runtime':<9}{'tasks':>8}{'processes':>11}{'µs/task (median)':>18}"
      f"{'RSS KiB/task (median)':>23}")
for runtime, n in us_per_task:
    print(f"{runtime:<9}{n:>8,}{repeats(runtime, n):>11}"
          f"{median(us_per_task[runtime, n]):>18.1f}{median(kib_per_task[runtime, n]):>23.2f}")

# %% [markdown]
# ## The figure
#
# Left, wall time per task; right, RSS growth per task; both against the number of
# tasks, on log-log axes: each point is the median of its processes, the bar spans the
# lowest to the highest. A point where RSS did not grow at all (a small round can fit
# in memory the warm-up freed, or within pages already mapped) cannot sit on a log
# axis, so it is drawn as an open triangle on the bottom edge.

# %%
COLOURS = {"threads": "tab:red", "asyncio": "tab:blue", "trio": "tab:green"}
NUDGE = {"threads": 1 / 1.15, "asyncio": 1.0, "trio": 1.15}  # x offsets, so no point hides
FLOOR_KIB = 0.01  # where "no growth measured" is drawn on the log axis


def line_with_range(ax, runtime, figures):
    """The median of each point as a line, and the lowest to highest process as a bar;
    only the points above zero, since a log axis has no place for the others."""
    shown = [(n, sorted(figures[runtime, n])) for n in SIZES if median(figures[runtime, n]) > 0]
    xs = [n * NUDGE[runtime] for n, _ in shown]
    mid = [median(values) for _, values in shown]
    low = [m - max(values[0], FLOOR_KIB) for m, (_, values) in zip(mid, shown, strict=True)]
    high = [values[-1] - m for m, (_, values) in zip(mid, shown, strict=True)]
    ax.errorbar(xs, mid, yerr=[low, high], fmt="o-", color=COLOURS[runtime], capsize=3,
                label=runtime)


fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(11, 4.3))
for runtime in RUNTIMES:
    line_with_range(ax_time, runtime, us_per_task)
    line_with_range(ax_mem, runtime, kib_per_task)
    flat = [n * NUDGE[runtime] for n in SIZES if median(kib_per_task[runtime, n]) <= 0]
    if flat:  # (an empty line drawn outside the axes would still stretch the figure)
        ax_mem.plot(flat, [FLOOR_KIB] * len(flat), "v", color=COLOURS[runtime],
                    fillstyle="none", markersize=9, clip_on=False)

for ax in (ax_time, ax_mem):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tasks alive at once (N)")
    ax.set_xticks(SIZES, [f"{n:,}" for n in SIZES])
    ax.grid(True, which="both", alpha=0.3)
ax_time.set_ylabel("wall time per task (µs)\nspawn, park, release, end")
ax_time.set_title("Time: one thread costs as much as dozens of tasks")
ax_time.legend(title="runtime")
ax_mem.set_ylim(bottom=FLOOR_KIB)
ax_mem.set_ylabel("RSS growth per task (KiB)\nread while all N are parked")
ax_mem.set_title("Memory: a parked thread holds its stack pages")
ax_mem.plot([], [], "v", color="grey", fillstyle="none", label="no RSS growth (median)")
ax_mem.legend(title="runtime", loc="lower right")
fig.suptitle("Spawn cost per task, each point in fresh processes\n"
             "median of 3, bars lowest to highest (10,000 threads: one process)")
fig.tight_layout()
fig.savefig(figure_path("spawn-cost"), dpi=110, bbox_inches="tight")
plt.show()

# %% [markdown]
# ## What the figure shows
#
# The ratios at 10,000 tasks, from this run:

# %%
big = SIZES[-1]
time_at = {rt: median(us_per_task[rt, big]) for rt in RUNTIMES}
memory_at = {rt: median(kib_per_task[rt, big]) for rt in RUNTIMES}
for runtime in RUNTIMES:
    print(f"{runtime:<8} {time_at[runtime]:8.1f} µs and {memory_at[runtime]:6.2f} KiB per task")
print(f"a thread costs {time_at['threads'] / time_at['asyncio']:.0f}x the time of an "
      f"asyncio task and {memory_at['threads'] / memory_at['asyncio']:.0f}x its memory; "
      f"{time_at['threads'] / time_at['trio']:.0f}x and "
      f"{memory_at['threads'] / memory_at['trio']:.0f}x a trio task's")

# %% [markdown]
# **Time.** A thread's start is a system call and then the kernel's scheduling: the new
# thread has to run before it can park, so each start costs hundreds of microseconds,
# and more when another process holds a core. A task's start is a Python object and a
# place in the loop's queue: around ten microseconds in asyncio, all of its life
# included, somewhat more in trio, whose nursery and cancel-scope bookkeeping do more
# per task. At 10 tasks every runtime's per-task figure is inflated by the round's fixed
# costs (building the events, the loop's first turns), which 10 tasks share between too
# few. From 100 on, asyncio and trio stay within about a factor of two, often a little
# higher at 10,000 than at 1,000: a task costs roughly the same whether it is the 100th
# or the 10,000th. Threads are the noisiest line: a point is three rounds at most, on a
# machine that other work shares, and at 10,000 the GIL is handed between thousands of
# threads on their way to park.
#
# **Memory.** A parked thread has touched two pages of its 8 MiB stack, and with its
# Python state (the `Thread` object, its locks, the thread state, the first chunk of its
# frame stack) RSS grows by about 16 KiB per thread. A parked task is a coroutine frame
# and a few objects: about 1.4 KiB in asyncio, about 2.2 KiB in trio. At 10 and 100
# tasks RSS is too coarse a ruler (one 4 KiB page is 400 bytes a task at `N` = 10), and
# a small round can fit entirely into memory the warm-up freed: hence the low or missing
# points on the left. Read the memory figure from 1,000 tasks up.
#
# Go's goroutine starts with a 2 KiB stack (grown on demand); asyncio and trio tasks
# are in that class, and threads are not. That is why the patterns in this library run
# thousands of tasks but a bounded pool of threads.
