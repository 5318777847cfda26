"""MultiPL-E's languages: each one's commands and pass rule (``catalog.py``), its toolchain on this
machine (``toolchain.py``), and a program's job and verdict (``running.py``)."""
