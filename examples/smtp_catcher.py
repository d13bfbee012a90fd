"""The demo's mail server: an SMTP server on 127.0.0.1 that delivers nothing and keeps
every email it receives as a file, for the demo ENT's page "Boîte mail de démonstration"
(started by examples/demo.sh).

    python examples/smtp_catcher.py FOLDER [--port 8025]

Each message is written to FOLDER as `<nanoseconds>-<n>.eml` (the raw message, with the
envelope's recipients in an `X-Demo-Rcpt-To` header first), so that a name sorts by arrival.
Ctrl-C (or SIGTERM) stops it.
"""

import argparse
import itertools
import signal
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller

RECIPIENTS_HEADER = "X-Demo-Rcpt-To"


class FolderHandler:
    """aiosmtpd handler: every message accepted is written to `folder`."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._numbers = itertools.count()

    async def handle_DATA(self, server, session, envelope):
        header = f"{RECIPIENTS_HEADER}: {', '.join(envelope.rcpt_tos)}\r\n".encode()
        content = envelope.original_content or envelope.content
        name = f"{time.time_ns():020d}-{next(self._numbers):06d}.eml"
        partial = self.folder / (name + ".part")
        partial.write_bytes(header + content)
        partial.rename(self.folder / name)  # the mailbox page never reads half a message
        return "250 Message accepted for delivery"


def start(folder, host="127.0.0.1", port=8025):
    """A running catcher (its Controller: `.stop()` ends it)."""
    controller = Controller(FolderHandler(folder), hostname=host, port=port)
    controller.start()
    return controller


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    arguments = parser.parse_args()
    controller = start(arguments.folder, arguments.host, arguments.port)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
