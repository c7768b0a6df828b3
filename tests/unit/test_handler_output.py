"""devstack.demo.handler_output_to: what the functions' instances print, and the local stack's own warnings (a failed
attempt it retries), go to the run's log file, not to the terminal where a bench prints its figures."""

from __future__ import annotations

import logging

from devstack.demo import handler_output_to


def test_the_handlers_output_and_the_stacks_warnings_go_to_the_file_until_the_block_ends(tmp_path, capsys):
    stack_log = logging.getLogger("devstack")
    handlers_before = list(stack_log.handlers)
    path = tmp_path / "logs" / "run.log"

    with handler_output_to(path):
        print('{"level":"INFO","message":"a handler line"}')
        stack_log.warning("completion attempt 1 of r-1 failed: injected")

    assert stack_log.handlers == handlers_before
    stack_log.warning("after the block")
    text = path.read_text()
    assert '"message":"a handler line"' in text
    assert "devstack WARNING completion attempt 1 of r-1 failed: injected" in text
    assert "after the block" not in text
    assert "a handler line" not in capsys.readouterr().out
