"""Third-party log lines in ZenML's stored step logs at their own level.

ZenML stores what a step writes to stdout at INFO and everything written to stderr at ERROR (`zenml.logger`
wraps `sys.stderr.write`), and library loggers that propagate to the root logger at their record's level. A library
with a console handler of its own on stderr and `propagate = False` - comet_ml (`comet_ml/_logging.py`: a
`StreamHandler()` on stderr, "Don't send comet-ml to the application logger") - therefore has every line, `COMET INFO:
...` included, stored as an ERROR: 241 of the 248 lines of one SFT step.

`store_at_own_level(name)` swaps that logger's console handlers for one that hands each record to ZenML's active
logging context at the record's level (formatted by the library's own formatter, so its prefix and redaction stay),
then prints it to the console as before, with ZenML's stderr capture held off for that write. Outside a ZenML step it
behaves exactly like the handler it replaced.
"""

from __future__ import annotations

import logging


class StoredAtOwnLevel(logging.StreamHandler):
    """A console StreamHandler whose lines ZenML stores at their record's level, once."""

    def emit(self, record: logging.LogRecord) -> None:
        from zenml.utils.logging_utils import LoggingContext

        context = LoggingContext.get()  # the step's (or the run's); None outside ZenML and in other threads
        if context is None:
            super().emit(record)
            return
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - as logging.Handler.emit does with a record it cannot format
            self.handleError(record)
            return
        stored = logging.makeLogRecord({**record.__dict__, "msg": line, "args": (), "exc_info": None, "exc_text": None})
        if logging.root.isEnabledFor(record.levelno):  # as ZenML's own capture: nothing below its verbosity
            context.emit(stored)
        with context.disabled():  # the console line below is not stored a second time, as ERROR
            super().emit(record)


def store_at_own_level(logger_name: str) -> logging.Logger:
    """Replace the logger's plain console handlers (not its file handlers) by StoredAtOwnLevel ones; idempotent."""
    logger = logging.getLogger(logger_name)
    for handler in list(logger.handlers):
        if type(handler) is not logging.StreamHandler:  # a FileHandler, or already swapped
            continue
        replacement = StoredAtOwnLevel(handler.stream)
        replacement.setLevel(handler.level)
        replacement.setFormatter(handler.formatter)
        for log_filter in handler.filters:
            replacement.addFilter(log_filter)
        logger.removeHandler(handler)
        logger.addHandler(replacement)
    return logger
