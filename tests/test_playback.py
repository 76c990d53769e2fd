"""The playback clock: frames follow the audio clock, dropped when late, never drifting."""

from __future__ import annotations

import numpy as np
import pytest

from deepbrain.playback import (PlaybackStream, Playhead, SilentSink, frame_at, frame_centre)

SHIFT, LENGTH, RATE = 0.01, 0.025, 16000


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make_playhead(seconds=3.0, clock=None):
    samples = np.arange(int(seconds * RATE), dtype=np.float32) % 1000
    frames = int((seconds - LENGTH) / SHIFT) + 1
    clock = clock or FakeClock()
    return Playhead(samples, RATE, SHIFT, LENGTH, frames, SilentSink(clock)), clock


def test_frame_under_a_time_is_the_nearest_centre():
    assert frame_centre(0, SHIFT, LENGTH) == pytest.approx(0.0125)
    assert frame_at(0.0, SHIFT, LENGTH, 100) == 0
    assert frame_at(0.0125, SHIFT, LENGTH, 100) == 0
    assert frame_at(0.0176, SHIFT, LENGTH, 100) == 1
    assert frame_at(0.5, SHIFT, LENGTH, 100) == 49
    assert frame_at(99.0, SHIFT, LENGTH, 100) == 99
    for i in range(0, 100, 7):
        assert frame_at(frame_centre(i, SHIFT, LENGTH), SHIFT, LENGTH, 100) == i


def test_stream_at_normal_speed_is_the_samples():
    x = (np.arange(1000) - 500).astype(np.float32)
    s = PlaybackStream(x, RATE, start=100 / RATE)
    out = np.concatenate([s.read(256), s.read(256), s.read(10000), s.read(10)])
    assert np.array_equal(out, x[100:].astype(np.int16)) and out.shape[0] == s.length
    assert s.time_at(s.length) == pytest.approx(1000 / RATE)


@pytest.mark.parametrize("speed", [0.5, 0.25])
def test_slower_speeds_stretch_the_sound(speed):
    x = np.arange(1000, dtype=np.float32)
    s = PlaybackStream(x, RATE, speed=speed)
    out = s.read(10 ** 6)
    assert out.shape[0] == s.length == int(999 / speed) + 1
    step = int(round(1 / speed))
    assert np.array_equal(out[::step], x.astype(np.int16))   # originals, in between: linear
    np.testing.assert_allclose(out[1:step], np.round(np.arange(1, step) * speed), atol=1)
    assert s.time_at(s.length) == pytest.approx(999 / RATE, abs=1 / RATE)


def test_play_follows_the_clock_and_pause_holds():
    ph, clock = make_playhead()
    ph.play()
    clock.t = 0.5
    assert ph.frame() == frame_at(0.5, SHIFT, LENGTH, ph.num_frames)
    clock.t = 1.2345
    f = ph.frame()
    assert f == frame_at(1.2345, SHIFT, LENGTH, ph.num_frames)
    ph.pause()
    clock.t = 2.5
    assert ph.frame() == f and not ph.playing
    ph.play()                                   # resumes from the frame shown
    clock.t += 0.1
    assert ph.frame() == f + 10


def test_seek_while_playing_and_speed():
    ph, clock = make_playhead()
    ph.play()
    clock.t = 0.3
    ph.seek(200)
    assert ph.playing and ph.frame() == 200
    clock.t += 0.1
    assert ph.frame() == 210
    ph.set_speed(0.25)
    clock.t += 0.4                              # 0.4 s of wall clock = 0.1 s of speech
    assert ph.frame() == 220
    ph.stop()
    assert ph.frame() == 0 and not ph.playing


def test_plays_to_the_end_and_stops():
    ph, clock = make_playhead(seconds=1.0)
    ph.play()
    clock.t = 5.0
    assert ph.frame() == ph.num_frames - 1 and not ph.playing
    ph.play()                                   # from the end: starts over
    assert ph.playing and ph.frame() == 0


def test_the_sink_is_made_only_when_playing():
    made = []

    def factory():
        made.append(SilentSink(FakeClock()))
        return made[-1]
    ph = Playhead(np.zeros(16000, np.float32), RATE, SHIFT, LENGTH, 98, factory)
    ph.seek(10)
    assert ph.frame() == 10 and not made
    ph.play()
    assert len(made) == 1 and ph.sink is made[0]


def test_no_drift_over_30_seconds_with_slow_frames():
    """A viewer that takes 5..45 ms to draw a frame and polls the playhead every 4 ms, as the
    window does:
    every frame drawn is the one under the clock when it was chosen, so the lag between the
    sound and the picture stays within one draw; frames are dropped, never late. A viewer
    that counts frames instead (the seed's player) falls seconds behind."""
    ph, clock = make_playhead(seconds=30.0)
    rng = np.random.default_rng(0)
    ph.play()
    shown, lags, naive = [], [], 0
    while ph.playing:
        f = ph.frame()
        if not ph.playing:
            break
        if shown and f == shown[-1]:
            clock.t += 0.004                         # the poll timer (window.TICK_MS)
            continue
        draw = rng.uniform(0.005, 0.045)
        clock.t += draw                              # drawing takes time
        lags.append(clock.t - frame_centre(f, SHIFT, LENGTH))   # picture vs sound when shown
        shown.append(f)
        naive += 1
    lags = np.array(lags)
    assert np.all(np.diff(shown) >= 1)               # forward only; gaps are dropped frames
    assert lags.max() <= 0.045 + SHIFT / 2 + 1e-9    # never more than a draw + half a frame
    first, last = lags[: len(lags) // 10].mean(), lags[-len(lags) // 10:].mean()
    assert abs(last - first) < 0.005                 # no drift over 30 s
    assert naive < ph.num_frames / 2   # a viewer stepping frame by frame: > 15 s behind
