"""``python -m oais``: the same as the ``oais`` command."""

from oais.entrypoints.cli import main

main()
