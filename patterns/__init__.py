"""Go's concurrency patterns in Python, side by side in OS threads, asyncio and trio.

Each pattern is a package with one module per runtime (``on_threads``, ``on_asyncio``,
``on_trio``) defining the same public names, so the three read as parallel texts:

- :mod:`patterns.context`: Go's ``context``: cancellation trees, deadlines, causes, values.
- :mod:`patterns.semaphore`: Go's ``x/sync/semaphore``: weighted and FIFO-fair.
- :mod:`patterns.errgroup`: Go's ``x/sync/errgroup``: the first error cancels the rest.

Runtime modules are imported lazily, so ``import patterns.context`` costs a threads
user neither trio nor asyncio.
"""

__version__ = "0.1.0"
