"""The overview of audio given in pieces equals the overview of the same audio held whole."""

import numpy as np
import pytest

from deepbrain.overview import Overview, envelope, overview_of, spectrogram_db
from support import speechlike


def in_pieces(x, rate, sizes, columns=3000):
    o = Overview(x.shape[0], rate, columns)
    pos, i = 0, 0
    while pos < x.shape[0]:
        n = sizes[i % len(sizes)]
        o.accept(x[pos:pos + n])
        pos, i = pos + n, i + 1
    return o.result()


@pytest.mark.parametrize("seconds,columns,sizes", [
    (3.0, 3000, [65536]), (3.0, 3000, [1, 7, 513, 4000]), (61.3, 3000, [65536, 333]),
    (0.02, 3000, [100]), (12.0, 50, [16000, 5]), (1.0, 7, [999])])
def test_pieces_equal_whole(seconds, columns, sizes):
    x = speechlike(seconds, seed=3).astype(np.float32)
    whole_x, whole_y = envelope(x, 16000, columns)
    whole_db, whole_hop = spectrogram_db(x, 16000, columns)
    o = in_pieces(x, 16000, sizes, columns)
    assert np.array_equal(o.x, whole_x) and np.array_equal(o.y, whole_y)
    assert o.db.shape == whole_db.shape and o.hop_seconds == whole_hop
    np.testing.assert_array_equal(o.db, whole_db)
    assert o.duration == x.shape[0] / 16000


def test_overview_of_whole_samples_is_the_two_reductions():
    x = speechlike(2.0).astype(np.float32)
    o = overview_of(x, 16000)
    assert np.array_equal(o.y, envelope(x, 16000)[1])
    assert np.array_equal(o.db, spectrogram_db(x, 16000)[0])


def test_result_before_the_last_piece_is_refused():
    o = Overview(1000, 16000)
    o.accept(np.zeros(10, np.float32))
    with pytest.raises(ValueError):
        o.result()


def test_pieces_beyond_the_announced_length_are_ignored():
    x = speechlike(1.0).astype(np.float32)
    o = Overview(8000, 16000)
    o.accept(x)
    assert np.array_equal(o.result().y, envelope(x[:8000], 16000)[1])
