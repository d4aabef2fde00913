"""``python -m harness.cli``: the ``eventbench`` command, where no script is installed."""

from harness.cli.main import main

main()
