"""Offline by default where the hub cannot be reached, without touching a user's own choice."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from langarith.core.hub import hub_reachable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_probe_tells_an_open_endpoint_from_a_closed_one(monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert hub_reachable()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_free_port()}")
    assert not hub_reachable()


def _offline_in_a_fresh_process(**env: str) -> str:
    code = ("import os; from langarith.core.hub import offline_unless_reachable as o; o(); "
            "print(os.environ.get('HF_HUB_OFFLINE'))")
    clean = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_an_unreachable_hub_turns_offline_on_unless_the_user_chose():
    closed = f"http://127.0.0.1:{_free_port()}"
    assert _offline_in_a_fresh_process(HF_ENDPOINT=closed) == "1"
    assert _offline_in_a_fresh_process(HF_ENDPOINT=closed, HF_HUB_OFFLINE="0") == "0"
