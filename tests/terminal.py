"""What a terminal gives a command, for tests that run `pfatlas` in a child process and press Ctrl-C."""

import signal


def default_sigint() -> None:
    """``preexec_fn`` of a child that must take Ctrl-C as a user's terminal would: SIGINT back to its
    default. A shell without job control starts background jobs with SIGINT ignored, and a child
    inherits an ignored signal (Python then never raises KeyboardInterrupt), so a test suite run in
    the background would otherwise send Ctrl-C to a command that cannot hear it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
