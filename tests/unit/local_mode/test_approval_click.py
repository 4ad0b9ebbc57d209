"""What local mode prints after it approves through the page: the answer page's text, said once."""

from local_mode.approval_click import text_of
from shared.approval_page import outcome_page


def test_the_outcome_is_said_once():
    said = text_of(outcome_page({"model": "tfod-demo", "version": "1", "state": "approved",
                                 "approver": "local-mode --auto-approve", "approver_verified": False}))
    assert said.count("tfod-demo version 1 approved") == 1, said
