"""librosa's log-mel on the signals examples/bench.rs times ours on: a 3-s clip and a 60-s
signal, the same parameters as the parity test (tests/fixtures/librosa/make_reference.py),
float32 input as a user would pass it. Prints one JSON line: medians in milliseconds.

    python3 bench/librosa_logmel.py [RUNS]
"""
import json
import statistics
import sys
import time

import librosa
import numpy as np

SR = 22050


def buzz(seconds):
    """The test signal of examples/bench.rs: a 180 Hz buzz with harmonics, modulated at 4 Hz."""
    t = np.arange(seconds * SR, dtype=np.float64) / SR
    voice = sum(np.sin(2 * np.pi * 180 * h * t) / h for h in range(1, 8))
    return (0.2 * voice * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


def logmel(y):
    s = librosa.feature.melspectrogram(
        y=y, sr=SR, n_fft=2048, hop_length=512, n_mels=128, window="hann", center=True,
        pad_mode="constant", power=2.0, fmin=0.0, fmax=SR / 2, htk=False, norm="slaney")
    return librosa.power_to_db(s, ref=np.max, top_db=80.0)


def median_ms(y, runs):
    logmel(y)  # the filter bank and FFT plan are cached after the first call
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        logmel(y)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
print(json.dumps({
    "librosa": librosa.__version__,
    "logmel_clip_ms": median_ms(buzz(3), runs),
    "logmel_minute_ms": median_ms(buzz(60), max(1, runs // 3)),
}))
