"""Getting answers from a model: the on-disk cache, concurrency, retries and prefetching.

Items run one at a time on each pytest process, but a model endpoint answers
best with many requests in flight. So every process runs an asyncio loop in a
background thread that works ahead through the collected items (``prefetch``)
while the items themselves only wait for their answer (``answers``).

Every answer goes into a SQLite cache (one row per sample, committed as it
arrives), keyed by what was asked: a rerun makes no requests and a killed run
resumes where it stopped. Several xdist workers share the cache; a ``claims``
table makes sure that only one of them requests a given key in a run. A claim
names its process (``Owner``: host, pid and start time): a claim whose process
has ended is taken over at once, and an item that waits on a live one says who
holds it.

At most ``--max-concurrency`` requests are in flight, and never more than the
model's ``concurrency`` (what its server serves at once), over all processes of
the run (``slots.ServerSlots``, lock files beside the cache): requests queue here,
where an answer's ``queue_s`` measures the wait, and its ``latency`` is the
request's own. A server that ignores ``n`` is found out by its first reply and
asked for one sample a call from then on. An answer that an item did not cause
(an earlier run's, or one that another item of this run had first) is
``cached``, with no latency of its own.

Progress, for a status line: ``Generator.progress()`` is this process's, from
memory; ``GenerationCache.progress()`` sums the run's processes, each of whose
generators keeps a row of the ``progress`` table (written at most every
``PROGRESS_SECONDS``, at once when it falls idle, and when it closes)::

    Progress(in_flight, answered, completion_tokens, retries, seconds)
"""

from .cache import GenerationCache, Owner, Progress, request_key
from .generator import CacheMode, GenerationOptions, Generator, RetryPolicy, say, with_retries

__all__ = [
    "CacheMode",
    "GenerationCache",
    "GenerationOptions",
    "Generator",
    "Owner",
    "Progress",
    "RetryPolicy",
    "request_key",
    "say",
    "with_retries",
]
