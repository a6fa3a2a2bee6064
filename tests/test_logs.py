"""The library's warnings reach a person with the ``tracker:`` prefix and a newline when the application has not
configured logging, and only through the application's handlers (once, in its format) when it has."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

from tracker import logs

# A run that must warn: live data asked for, no Electricity Maps token (the embedded value is used instead).
RUN = """
import sys
import tracker
with tracker.track(project="w", store=sys.argv[1], country="DE", live="on", cpu_watts=10, gpu_watts=0, ram_watts=0):
    pass
"""
WARNING = "Electricity Maps: off: no token (ELECTRICITYMAPS_API_TOKEN is not set); using the embedded yearly value"


def _run(tmp_path, prelude: str = "") -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(prelude) + RUN
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "w.db")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done


def test_without_logging_configured_a_warning_is_printed_once_with_the_prefix_and_a_newline(tmp_path):
    done = _run(tmp_path)
    assert done.stderr == f"tracker: WARNING: {WARNING}\n"
    assert done.stdout == ""


def test_with_basic_config_it_is_printed_once_in_the_applications_format(tmp_path):
    done = _run(tmp_path, 'import logging\nlogging.basicConfig(format="APP %(levelname)s %(name)s | %(message)s")\n')
    assert done.stderr == f"APP WARNING tracker.grid.intensity | {WARNING}\n"


def test_a_handler_on_the_tracker_logger_alone_is_enough(tmp_path):
    prelude = """
    import logging, sys
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("MINE %(message)s"))
    logging.getLogger("tracker").addHandler(handler)
    """
    done = _run(tmp_path, prelude)
    assert done.stdout == f"MINE {WARNING}\n"
    assert done.stderr == ""


def test_the_handler_is_added_once_and_not_at_import():
    target = logging.getLogger(logs.LOGGER)
    mine = [h for h in target.handlers if isinstance(h, logs.FallbackHandler)]
    for handler in mine:
        target.removeHandler(handler)
    try:
        subprocess_check = subprocess.run(
            [
                sys.executable,
                "-c",
                "import logging, tracker, tracker.reports.render; print(len(logging.getLogger('tracker').handlers))",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert subprocess_check.stdout.strip() == "0"  # importing tracker adds nothing
        logs.install()
        logs.install()
        assert len([h for h in target.handlers if isinstance(h, logs.FallbackHandler)]) == 1
    finally:
        for handler in [h for h in target.handlers if isinstance(h, logs.FallbackHandler)]:
            target.removeHandler(handler)
        for handler in mine:
            target.addHandler(handler)


def test_the_handler_stays_silent_while_another_handler_will_print(capsys):
    handler = logs.FallbackHandler()
    child = logging.getLogger("tracker.test_logs.child")
    record = child.makeRecord(child.name, logging.WARNING, __file__, 1, "multi\nline", None, None)
    root_handlers = logging.getLogger().handlers[:]
    logging.getLogger().handlers.clear()  # as in an application that configured nothing (pytest adds its own)
    try:
        handler.emit(record)
        assert capsys.readouterr().err == "tracker: WARNING: multi\nline\n"
        logging.getLogger().addHandler(logging.NullHandler())
        handler.emit(record)
        assert capsys.readouterr().err == ""
    finally:
        logging.getLogger().handlers[:] = root_handlers


def test_a_warning_given_before_any_run_carries_the_prefix_too(tmp_path):
    """Reading the configuration warns about a stray TRACKER_ variable before the first run starts."""
    script = "import os, tracker\nos.environ['TRACKER_BOGUS'] = '1'\ntracker.Tracker(save=False)\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    warning = "ignoring environment variable TRACKER_BOGUS: bogus is not a tracker setting"
    assert done.stderr == f"tracker: WARNING: {warning}\n"
