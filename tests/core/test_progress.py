"""The library's messages go through `logging` (the `langarith` hierarchy): importing it installs no handler
that prints, the CLI's handler prints one escaped line each on stderr, and only the main process logs."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

from rich.console import Console

from langarith.core.progress import ConsoleHandler, logging_to, say


def test_importing_the_library_installs_only_a_null_handler():
    code = ("import logging, langarith, langarith.training.loop; "
            "print([type(h).__name__ for h in logging.getLogger('langarith').handlers]); "
            "logging.getLogger('langarith.training').warning('unseen')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['NullHandler']" and "unseen" not in done.stderr


def test_say_logs_on_the_named_logger_from_the_main_process_only(caplog, monkeypatch):
    caplog.set_level(logging.DEBUG, logger="langarith")
    say("hello", name="langarith.training.loop")
    say("careful", logging.WARNING)
    monkeypatch.setenv("LOCAL_RANK", "1")
    say("from another process")
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("langarith.training.loop", "INFO", "hello"), ("langarith", "WARNING", "careful")]


def test_the_console_handler_prints_one_escaped_line_per_message():
    out = io.StringIO()
    with logging_to(ConsoleHandler(Console(file=out, width=200))):
        logger = logging.getLogger("langarith.training.data")
        logger.debug("not shown at INFO")
        logger.info("wrote [bold]runs/x")
        logger.warning("only 30% looks like sw")
    assert out.getvalue().splitlines() == ["wrote [bold]runs/x", "warning: only 30% looks like sw"]
    assert logging.getLogger("langarith").level == logging.NOTSET  # put back
