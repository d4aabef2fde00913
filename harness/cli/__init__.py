"""The ``eventbench`` command line: one module per command, over the library.

``main`` is the command group (``eventbench = "harness.cli:main"``); each command's
module is imported only when that command runs.
"""

from harness.cli.main import main, package_version

__all__ = ["main", "package_version"]
