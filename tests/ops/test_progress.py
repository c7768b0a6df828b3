"""The reconcile progress bar: drawn on a terminal only, one line, ended by close()."""

import io

from ops import progress
from ops.progress import Progress


def test_it_draws_one_line_on_a_terminal_and_ends_it(monkeypatch):
    monkeypatch.setattr(progress, "SHOW_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 0.0)
    stream = io.StringIO()
    bar = Progress(stream, width=10, live=True)
    bar.start(4)
    for _ in range(3):
        bar.object()
    bar.session_done(2)
    bar.close()
    drawn = stream.getvalue()
    assert drawn.endswith("\rreconcile [##........] 1/4 sessions, 3 objects listed, 2 to replay\n")
    assert drawn.count("\n") == 1


def test_off_a_terminal_or_on_a_short_run_it_draws_nothing():
    stream = io.StringIO()  # not a terminal
    bar = Progress(stream)
    bar.start(1)
    bar.session_done(0)
    bar.close()
    live = io.StringIO()
    quick = Progress(live, live=True)  # a run shorter than a second stays silent
    quick.start(1)
    quick.session_done(0)
    quick.close()
    assert stream.getvalue() == live.getvalue() == ""
