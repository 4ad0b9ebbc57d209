"""The trainer's progress: the OD API's step and loss lines become one record with an ETA, and the project page's
progress blob gets one every few seconds and the last step when the loop ends."""

from __future__ import annotations

import logging

from trainer_image.train import TrainingProgress


def _line(message: str) -> logging.LogRecord:
    return logging.LogRecord("absl", logging.INFO, __file__, 1, message, None, None)


def test_steps_become_progress_with_an_eta_and_the_blob_gets_the_first_and_the_last():
    published: list[dict] = []
    progress = TrainingProgress(600, published.append, every_seconds=3600)
    for step in (100, 200):
        progress.emit(_line(f"Step {step} per-step time 0.400s"))
        progress.emit(_line(f"{{'Loss/classification_loss': 0.5, 'Loss/total_loss': {1.5 - step / 1000}}}"))
    progress.finish()
    assert published[0] == {"step": 100, "total_steps": 600, "loss": 1.4, "steps_per_second": 2.5,
                            "eta_seconds": 200}
    assert len(published) == 2  # step 200 came within every_seconds of step 100: only the last follows
    assert published[1] == {"step": 600, "total_steps": 600, "loss": 1.3, "steps_per_second": 2.5, "eta_seconds": 0}


def test_without_a_blob_only_the_log_line_is_written(caplog):
    progress = TrainingProgress(100)
    with caplog.at_level(logging.INFO):
        progress.emit(_line("Step 50 per-step time 1.000s"))
        progress.emit(_line("{'Loss/total_loss': 0.25}"))
        progress.finish()
    [line] = [r for r in caplog.records if r.getMessage() == "training progress"]
    assert (line.step, line.eta_seconds, line.loss) == (50, 50, 0.25)
