"""Offline by default where the Hugging Face hub cannot be reached.

transformers, PEFT and huggingface_hub retry an unreachable hub for minutes (five retries with back-off per
file) before falling back to what is on disk: on an air-gapped GPU node or behind a firewall that drops the hub,
a command that only needs local files would stall. Before the first of those libraries is imported, one short probe
(a TCP connection with a 1.5 s limit) decides; a user's own HF_HUB_OFFLINE setting always wins.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from urllib.parse import urlparse

PROBE_S = 1.5


def hub_reachable(timeout: float = PROBE_S) -> bool:
    """Whether a TCP connection to the hub (HF_ENDPOINT's host, else huggingface.co) opens in `timeout`."""
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443)
    opened: list[bool] = []

    def connect() -> None:  # in a thread: name resolution has no timeout of its own
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            opened.append(True)
        except OSError:
            opened.append(False)

    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(timeout)
    return bool(opened and opened[0])


def offline_unless_reachable() -> bool:
    """Set HF_HUB_OFFLINE=1 when the hub cannot be reached and the user did not choose; True if offline."""
    if "HF_HUB_OFFLINE" in os.environ or "TRANSFORMERS_OFFLINE" in os.environ:
        return os.environ.get("HF_HUB_OFFLINE", os.environ.get("TRANSFORMERS_OFFLINE", "0")).lower() in ("1", "true")
    if any(m.startswith(("huggingface_hub", "transformers")) for m in sys.modules):
        return False  # too late: they have read the environment already
    if hub_reachable():
        return False
    os.environ["HF_HUB_OFFLINE"] = "1"
    return True
