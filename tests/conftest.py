"""The tests' broker fixtures (`rampart_broker`, `rampart_own_broker`) and the `broker` marker come from
Rampart's own pytest plugin, `nodes/pytest_plugin.py`, which pytest loads through the package's
`pytest11` entry point (`pip install -e '.[test]'`), as in any project that depends on Rampart."""

pytest_plugins = ["pytester"]
