# Screen: utterance prosody statistics (librosa pyin F0, energy dynamics, spectral tilt) per clip,
# a logistic regression per actor fold, fused with the product's fused-model probabilities.
import glob, json, sys, numpy as np, librosa
from multiprocessing import Pool
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

def feats(path):
    y, sr = librosa.load(path, sr=16000)
    y, _ = librosa.effects.trim(y, top_db=30)
    hop = 160
    f0, voiced, _ = librosa.pyin(y, fmin=65, fmax=600, sr=sr, frame_length=1024, hop_length=hop)
    st = 12 * np.log2(f0[voiced] / 100.0) if voiced.sum() > 2 else np.zeros(3)
    t = np.arange(len(st))
    slope = np.polyfit(t, st, 1)[0] * 100 if len(st) > 2 else 0.0
    rms = librosa.feature.rms(y=y, frame_length=400, hop_length=hop)[0]
    db = 20 * np.log10(rms + 1e-6); db -= db.max()
    S = np.abs(librosa.stft(y, n_fft=512, hop_length=hop)) ** 2
    freqs = librosa.fft_frequencies(sr=sr, n_fft=512)
    lo = S[freqs < 1000].sum(0) + 1e-10; hi = S[freqs >= 1000].sum(0) + 1e-10
    tilt = 10 * np.log10(hi / lo)
    loud = db > -30
    cent = librosa.feature.spectral_centroid(S=S, sr=sr)[0]
    flat = librosa.feature.spectral_flatness(S=S)[0]
    onset = librosa.onset.onset_detect(y=y, sr=sr, hop_length=hop)
    dur = len(y) / sr
    p = lambda a, q: np.percentile(a, q) if len(a) else 0.0
    return [np.mean(st), np.std(st), p(st, 10), p(st, 90), p(st, 90) - p(st, 10), slope,
            np.mean(np.abs(np.diff(st))) if len(st) > 1 else 0.0, voiced.mean(),
            np.mean(db), np.std(db), p(db, 90) - p(db, 10), np.mean(np.abs(np.diff(db))), loud.mean(),
            np.mean(tilt[loud]) if loud.any() else 0.0, np.std(tilt[loud]) if loud.any() else 0.0,
            np.mean(cent[loud]) / 1000 if loud.any() else 0.0, np.std(cent) / 1000, np.mean(flat),
            len(onset) / dur, dur]

if __name__ == "__main__":
    files = sorted(glob.glob("/work/shared/data/ravdess/speech/Actor_*/*.flac"))
    try:
        X = np.load("/tmp/ens/prosody.npy")
    except FileNotFoundError:
        with Pool(2) as pool:
            X = np.array(pool.map(feats, files, chunksize=20))
        np.save("/tmp/ens/prosody.npy", X)
    X = np.nan_to_num(X)
    y = np.array([int(f.split("/")[-1].split("-")[2]) - 1 for f in files])
    actor = np.array([int(f.split("/")[-1].split("-")[6][:2]) for f in files])
    fused = {}
    for line in open("/tmp/ens/lv.jsonl"):
        r = json.loads(line); fused[r["file"]] = r["probabilities"]
    F = np.log(np.array([fused[f] for f in files]) + 1e-9)
    def ua(pred, m):
        return np.mean([np.mean(pred[m & (y == c)] == c) for c in range(8)])
    for C in [0.01, 0.1, 1.0]:
        res = {"alone": [], "w0.5": [], "w1": [], "base": []}
        for k in range(6):
            te = (actor > 4 * k) & (actor <= 4 * k + 4)
            sc = StandardScaler().fit(X[~te])
            lr = LogisticRegression(C=C, class_weight="balanced", max_iter=2000).fit(sc.transform(X[~te]), y[~te])
            lp = lr.predict_log_proba(sc.transform(X))
            res["alone"].append(ua(lp.argmax(1), te))
            res["base"].append(ua(F.argmax(1), te))
            res["w0.5"].append(ua((F + 0.5 * lp).argmax(1), te))
            res["w1"].append(ua((F + lp).argmax(1), te))
        print(f"C={C}", {k: (round(100 * np.mean(v), 2), [round(100 * x, 1) for x in v]) for k, v in res.items()})
