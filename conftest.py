"""Project-level pytest configuration.

The plugin itself is loaded from its installed ``pytest11`` entry point
(``pip install -e .``), so the suites run the same way from a checkout or an
installed package. This file only adds pytest's ``pytester`` fixture, which the
project's own tests (``tests/``) use to run the plugin end to end.
"""

pytest_plugins = ["pytester"]
