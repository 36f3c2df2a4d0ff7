"""Calibration's timing loops, against a stand-in for CuPy whose device time is counted launches."""

from __future__ import annotations

from types import SimpleNamespace

from pdprof import calibrate


class CountedDevice:
    """Each launch takes `ms` of device time; events read the launch count when recorded."""

    def __init__(self, ms: float) -> None:
        self.ms, self.launches = ms, 0
        device = self

        class Event:
            def record(self) -> None:
                self.at = device.launches * device.ms

            def synchronize(self) -> None:
                pass

        self.cuda = SimpleNamespace(Event=Event, get_elapsed_time=lambda start, stop: stop.at - start.at)

    def launch(self) -> None:
        self.launches += 1


def test_sustain_runs_the_launch_back_to_back_for_the_asked_device_time():
    cp = CountedDevice(ms=1.5)  # an 8192^3 FP16 GEMM on an H200 takes about this long
    calibrate._sustain(cp, cp.launch, 0.5)
    # 0.5 s is 334 launches of 1.5 ms; launches go in batches of ten between checks
    assert 334 <= cp.launches < 344


def test_the_median_is_taken_after_two_untimed_launches():
    cp = CountedDevice(ms=2.0)
    assert calibrate._median_ms(cp, cp.launch, repeats=5) == 2.0
    assert cp.launches == 7
