"""Real repositories judged by their own tests: where a source tree comes from (``source.py``), the
environment its tests run in (``environment.py``), running those tests on an edited copy
(``runner.py``, ``testoutput.py``) and the bugs program repair injects (``mutations.py``); the
tasks made of their methods (``tasks.py``), as asked (``prompts.py``), answered (``answers.py``)
and scored (``scores.py``)."""
