"""The exercises: chapters a learner works through to rebuild the library's patterns in
threads, asyncio and trio, and the checker that grades them.

``python -m patterns.exercises init`` copies the chapters' starters into a workspace;
``check`` runs a chapter's tests on the learner's files and says, in the learner's
terms, what still fails. The grading is deterministic (invariants such as peak
concurrency and exactly-once, never timings), and every chapter's tests pass on the
library's own module too, so the learner's code and the library's hold side by side.
"""
