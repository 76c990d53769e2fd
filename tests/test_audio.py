"""Wav reading: every PCM/float width on Kaldi's 16-bit scale, and clear errors."""

import struct

import numpy as np
import pytest

from support import speechlike, wav_bytes
from deepbrain.audio import load_for_model, read_wav, write_wav16
from deepbrain.errors import AudioError

X16 = speechlike(0.2).astype(np.int64)


def write(tmp_path, data, name="a.wav"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_16bit_is_read_as_kaldi_does(tmp_path, golden):
    import wave
    a = read_wav(golden / "wav" / "utt1.wav")
    with wave.open(str(golden / "wav" / "utt1.wav")) as w:
        raw = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert a.as_on_disk and a.sample_rate == 16000
    assert np.array_equal(a.samples, raw.astype(np.float32))


@pytest.mark.parametrize("bits,tag,scale", [(8, 1, 1 / 256), (24, 1, 256), (32, 1, 65536),
                                            (32, 3, 1 / 32768), (64, 3, 1 / 32768)])
def test_other_widths_convert_to_16bit_values(tmp_path, bits, tag, scale):
    samples = X16 * scale
    if bits == 8:
        samples = np.rint(samples)
    a = read_wav(write(tmp_path, wav_bytes(samples, bits=bits, fmt_tag=tag)))
    expected = np.clip(np.rint(samples / scale), -32768, 32767)
    assert not a.as_on_disk
    assert np.abs(a.samples - expected).max() <= (0 if bits > 16 else 128)


def test_extensible_header(tmp_path):
    a = read_wav(write(tmp_path, wav_bytes(X16, extensible=True)))
    assert np.array_equal(a.samples, X16.astype(np.float32))


def test_chunks_before_data_with_odd_size_are_skipped(tmp_path):
    extra = b"LIST" + struct.pack("<I", 3) + b"abc\x00"
    a = read_wav(write(tmp_path, wav_bytes(X16, extra_chunks=extra)))
    assert np.array_equal(a.samples, X16.astype(np.float32))


def test_stream_mode_reads_to_the_end(tmp_path):
    a = read_wav(write(tmp_path, wav_bytes(X16, data_size=0xFFFFFFFF)))
    assert a.samples.shape[0] == X16.shape[0]


def test_truncated_data_uses_what_is_there(tmp_path, caplog):
    data = wav_bytes(X16)
    a = read_wav(write(tmp_path, data[:-101]))
    assert a.samples.shape[0] == X16.shape[0] - 51
    assert "only" in caplog.text


def test_stereo_needs_a_channel(tmp_path):
    st = np.stack([X16, -X16], axis=1)
    p = write(tmp_path, wav_bytes(st, channels=2))
    with pytest.raises(AudioError, match=r"a.wav: has 2 channels, expected mono; pass --channel N"):
        read_wav(p)
    assert np.array_equal(read_wav(p, channel=1).samples, -X16.astype(np.float32))
    assert not read_wav(p, channel=0).as_on_disk
    with pytest.raises(AudioError, match="channel 2 was asked for"):
        read_wav(p, channel=2)


@pytest.mark.parametrize("data,message", [
    (b"", "not a RIFF/WAVE file .an empty file."),
    (b"ID3\x04" + b"\0" * 100, "not a RIFF/WAVE file .starts with b'ID3"),
    (b"RIFF\x04\x00\x00\x00WAVE", "no fmt  chunk"),
])
def test_not_a_wav(tmp_path, data, message):
    with pytest.raises(AudioError, match=message):
        read_wav(write(tmp_path, data))


def test_empty_wav(tmp_path):
    with pytest.raises(AudioError, match="holds no samples"):
        read_wav(write(tmp_path, wav_bytes(np.zeros(0))))


def test_compressed_format_is_refused(tmp_path):
    data = bytearray(wav_bytes(X16))
    data[20:22] = struct.pack("<H", 6)  # A-law
    with pytest.raises(AudioError, match="sample format 6 is not PCM or float"):
        read_wav(write(tmp_path, bytes(data)))


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        read_wav(tmp_path / "nope.wav")


def test_sample_rate_mismatch_names_both_and_resample_fixes_it(tmp_path):
    p = write(tmp_path, wav_bytes(speechlike(0.5, 44100), rate=44100))
    with pytest.raises(AudioError, match="sample rate 44100 Hz, the model expects 16000 Hz; "
                                         "pass --resample"):
        load_for_model(p, 16000)
    a = load_for_model(p, 16000, allow_resample=True)
    assert a.sample_rate == 16000 and a.samples.shape[0] == 8000 and not a.as_on_disk
    assert np.array_equal(a.samples, np.rint(a.samples))


def test_write_then_read_is_exact(tmp_path):
    a = read_wav(write(tmp_path, wav_bytes(X16, bits=24, fmt_tag=1)))
    write_wav16(a, tmp_path / "b.wav")
    b = read_wav(tmp_path / "b.wav")
    assert b.as_on_disk and np.array_equal(a.samples, b.samples)
