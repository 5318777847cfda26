"""The sandbox worker: a warm template process that runs untrusted code in forks.

It runs in the sandbox interpreter, which may lack pytest_convcode (BigCodeBench's venv):
standard library only, started as the top-level package ``_worker`` beside the wire codec
``_codec`` (``process.py`` puts their directory on ``sys.path``; ``main.py`` is the entry
point). Two roles:

- zygote (``zygote.py``): imports what candidates commonly use, leaves the network (its own
  empty network namespace), then forks one runner per job it receives, each as the init of
  a PID namespace of its own, and supervises them all from one loop: wall-clock deadlines,
  output tails, and a trailer saying how each runner ended. (One fork per job: a fork and
  an exit of this process cost ~3 ms of CPU, mostly page tables and copy-on-write faults; a
  supervisor process per job doubled that.)
- runner (``runner.py``): applies limits (rlimits, a fresh uid, Landlock, seccomp:
  ``isolation.py``), then executes the candidate and either the calls (a call job:
  ``calls.py``; a task's phases, each from the loaded candidate: ``phases.py``) or the test
  methods of a unittest class (a test job, ``"mode": "tests"``: ``unittests.py``), writing
  one record per call or test (``wire.py``).

Killing the runner tears down its PID namespace, so nothing it started (even after
``os.setsid()``) survives the job.
"""

# What candidates commonly import, and what the evalplus guard patches (imported per job
# it costs ~10 ms), loaded once in the zygote (``main.py``; ``bench/sandbox_cost.py`` forks
# a bare interpreter that imported them, for comparison). Not numpy: HumanEval+ and MBPP+ answers hardly
# ever import it, and its ~6 MB of pages made every job's fork and exit ~12 % dearer (test
# jobs get it with the libraries their sandbox preloads).
PRELOAD = """array bisect cmath collections copy dataclasses datetime decimal enum faulthandler fractions
functools hashlib heapq itertools json math operator random re statistics string subprocess sys
textwrap typing unittest""".split()  # noqa: SIM905
