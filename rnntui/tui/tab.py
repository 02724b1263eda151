"""One browser tab's playground: the process ``rnntui serve`` starts for each tab.

textual-serve sets ``TEXTUAL_DRIVER`` so that Textual draws through this process's stdin and
stdout, which the server relays to the page. Usage (the server builds it, see
``rnntui.serve.tab_command``)::

    python -m rnntui.tui.tab --server-pid PID CHECKPOINT LABEL
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with(server_pid: int) -> None:
    """Ask the kernel to end this process when the server does, even if it is killed outright
    (Linux; elsewhere the server's own stop is all there is). Exits at once if it already ended."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != server_pid:  # the server went before the request above took hold
        sys.exit(1)


def main(argv: list[str]) -> None:
    """Run the playground on ``CHECKPOINT`` with ``LABEL`` in its title bar until the tab closes."""
    if len(argv) != 4 or argv[0] != "--server-pid":
        sys.exit("usage: python -m rnntui.tui.tab --server-pid PID CHECKPOINT LABEL")
    die_with(int(argv[1]))
    from rnntui import checkpoint
    from rnntui.tui.app import PlaygroundApp

    PlaygroundApp(checkpoint.load(argv[2]), argv[3]).run()


if __name__ == "__main__":
    main(sys.argv[1:])
