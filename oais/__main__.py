"""``python -m oais``: the same as the ``oais`` command."""

from oais.entrypoints.launch import main

main()
