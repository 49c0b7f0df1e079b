"""Build of socmon's one native module (everything else is in pyproject.toml).

rules/_eventview.c flattens events for the streaming Sigma engine (~4x faster than the Python
implementation in rules/eventview.py, which stays the reference and the fallback). It is
optional: without a C compiler the install still succeeds and the engine runs the Python code
(the test suite then fails test_native_module_built, so CI never measures the slow path
unknowingly; SOCMON_NATIVE=0 selects the Python code on purpose).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("socmon.rules._eventview", ["rules/_eventview.c"], optional=True),
    ]
)
