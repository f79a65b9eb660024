"""Run an exported xmodal model with numpy + onnxruntime only (no torch, no xmodal).

    xmodal export RUN --format onnx --out model.onnx
    python examples/onnx_inference.py model.onnx

The model takes one float32 input per modality, named like the modality ("chest.ECG", ...),
shaped (batch, channels, n_times) and already preprocessed as in training (cleaned, resampled
to the run's rates, z-scored). Here random windows stand in for real ones.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import onnxruntime as ort


def main(path: str, batch: int = 4) -> None:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    meta = json.loads(session.get_modelmeta().custom_metadata_map["xmodal"])
    rng = np.random.default_rng(0)
    feeds = {i.name: rng.standard_normal((batch, *meta["input_shapes"][i.name])).astype(np.float32)
             for i in session.get_inputs()}
    logits = session.run(["logits"], feeds)[0]
    z = logits - logits.max(axis=1, keepdims=True)
    proba = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    print("inputs:", {k: v.shape for k, v in feeds.items()})
    print("rates (Hz):", meta.get("rates"), "window:", meta.get("window_s"), "s")
    for row in proba:
        print(meta["classes"][int(row.argmax())], np.round(row, 3).tolist())


if __name__ == "__main__":
    main(sys.argv[1])
