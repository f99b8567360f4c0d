"""bench/stop_signals.py: signals that raise at once (a run) and signals noted, raised between waits (the fleet)."""

from __future__ import annotations

import signal

import pytest

from bench.stop_signals import Stopped, noted_stop_signals, stop_on_signals


def test_the_first_stop_signal_raises_and_the_next_are_only_noted():
    with stop_on_signals() as received:
        with pytest.raises(Stopped) as stop:
            signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)          # while the run saves what it measured
    assert stop.value.signum == signal.SIGTERM
    assert received == [signal.SIGTERM, signal.SIGINT]


def test_noted_signals_raise_only_when_checked_once_each_and_the_old_handler_comes_back():
    before = signal.getsignal(signal.SIGINT)
    with noted_stop_signals((signal.SIGINT,)) as stops:
        stops.check()                               # nothing noted: nothing raised
        signal.raise_signal(signal.SIGINT)          # noted; a library waiting now sees no KeyboardInterrupt
        with pytest.raises(Stopped) as stop:
            stops.check()
        assert stop.value.signum == signal.SIGINT
        stops.check()                               # the same Ctrl-C is not raised twice
        signal.raise_signal(signal.SIGINT)          # Ctrl-C again: raised again
        with pytest.raises(Stopped):
            stops.check()
    assert signal.getsignal(signal.SIGINT) is before
