"""Export a trained model (or fold ensemble) to ONNX or TorchScript.

The exported graph takes **one float32 input per modality**, named exactly like the modality
(``"chest.ECG"``, ``"chest.EDA"``, ...), each of shape ``(batch, channels, n_times)`` with a
dynamic batch dimension; ``n_times`` is ``window x rate`` of the run (``results.json`` ->
``windows.input_shapes``). Inputs are *preprocessed* windows: cleaned, resampled to the run's
rates and z-scored (see :class:`~xmodal.signals.window_plan.WindowPlan`).

Outputs:

``logits`` ``(batch, n_classes)``
    Class logits; ``softmax(logits)`` are the probabilities. For a fold ensemble they are the
    log of the members' mean probability, so the softmax is the ensemble's probability.
``attention:<source>-><target>@<block>`` ``(batch, C_target, L_target)``
    With ``attention=True`` (attentive models only): the attention weights of every connection
    (ensemble mean).

Metadata (JSON under key ``xmodal``: classes, modalities, input shapes, rates, window, output
names) is stored in the ONNX ``metadata_props`` and in the TorchScript file's extra file
``xmodal.json``.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from xmodal.errors import ConfigError
from xmodal.files import atomic_write_bytes
from xmodal.models.base import XModalModel

FORMATS = ("onnx", "torchscript")
OPSET = 17


class ExportModule(nn.Module):
    """One model or an ensemble as a graph of positional inputs -> (logits[, attention...])."""

    def __init__(self, models: Sequence[XModalModel], attention: bool = False) -> None:
        super().__init__()
        self.members = nn.ModuleList(m.eval() for m in models)
        self.with_attention = bool(attention)
        self.attention_keys: list[str] = []
        if attention:
            with torch.no_grad():
                _, attn = self.members[0].forward_with_attention(*self.members[0].example_inputs(2))
            if not attn:
                raise ConfigError(
                    f"model {type(self.members[0]).__name__} has no attention "
                    f"weights to export (only 'attentive' has)"
                )
            self.attention_keys = list(attn)

    def forward(self, *xs: Tensor):
        if len(self.members) == 1 and not self.with_attention:
            return self.members[0](*xs)
        logps, maps = [], []
        for member in self.members:
            if self.with_attention:
                logits, attn = member.forward_with_attention(*xs)
                maps.append([attn[k] for k in self.attention_keys])
            else:
                logits = member(*xs)
            logps.append(torch.log_softmax(logits, dim=-1))
        if len(self.members) == 1:
            logits = logps[0]
        else:
            logits = torch.logsumexp(torch.stack(logps), dim=0) - math.log(len(self.members))
        if not self.with_attention:
            return logits
        mean_maps = [
            torch.stack([m[i] for m in maps]).mean(dim=0) for i in range(len(self.attention_keys))
        ]
        return (logits, *mean_maps)


def output_names(module: ExportModule) -> list[str]:
    """``["logits", "attention:<key>", ...]``."""
    return ["logits"] + [f"attention:{k}" for k in module.attention_keys]


def export_models(
    models: Sequence[XModalModel],
    path: str | Path,
    fmt: str = "onnx",
    attention: bool = False,
    metadata: dict | None = None,
) -> Path:
    """Write ``models`` (one, or an ensemble) to ``path`` as ONNX or TorchScript.

    Parameters
    ----------
    models : sequence of XModalModel
        Models of the same architecture; more than one is exported as their ensemble.
    path : path
        Output file.
    fmt : {'onnx', 'torchscript'}
        Format.
    attention : bool
        Also output the attention weights (attentive models only).
    metadata : dict, optional
        Extra JSON-able metadata stored with the model.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    module = ExportModule([m.cpu() for m in models], attention).eval()
    first = module.members[0]
    example = first.example_inputs(2)
    inputs = list(first.modalities)
    outputs = output_names(module)
    meta = {
        "classes": None,
        **(metadata or {}),
        "modalities": inputs,
        "input_shapes": {m: list(s) for m, s in first.input_shapes.items()},
        "outputs": outputs,
        "n_models": len(module.members),
    }
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "torchscript":
            with torch.no_grad():
                traced = torch.jit.trace(module, example)
            buf = io.BytesIO()
            torch.jit.save(traced, buf, _extra_files={"xmodal.json": json.dumps(meta)})
            atomic_write_bytes(path, buf.getvalue())
            return path
        try:
            import onnx
        except ImportError:
            raise ConfigError(
                "ONNX export needs the 'onnx' package: pip install 'xmodal[export]'"
            ) from None
        buf = io.BytesIO()
        torch.onnx.export(
            module,
            example,
            buf,
            dynamo=False,
            input_names=inputs,
            output_names=outputs,
            opset_version=OPSET,
            dynamic_axes={n: {0: "batch"} for n in inputs + outputs},
        )
        proto = onnx.load_from_string(buf.getvalue())
        entry = proto.metadata_props.add()
        entry.key, entry.value = "xmodal", json.dumps(meta)
        atomic_write_bytes(path, proto.SerializeToString())
    return path


def export_run(
    run: str | Path,
    path: str | Path,
    fmt: str = "onnx",
    ensemble: bool = False,
    attention: bool = False,
) -> Path:
    """Export the model a :class:`~xmodal.inference.predictor.Predictor` of ``run`` uses."""
    from xmodal.inference.predictor import Predictor

    predictor = Predictor.from_run(run, ensemble=ensemble)
    if predictor.features is not None:
        raise ConfigError(
            f"{run}: a hybrid run (features blend) blends a features classifier whose feature "
            f"extraction is not a graph; export needs a run trained with --features-blend none"
        )
    meta = {
        "classes": list(predictor.classes),
        "rates": predictor.rates,
        "window_s": predictor.window,
        "source": predictor.source,
        "run": str(Path(run)),
    }
    return export_models(predictor.models, path, fmt, attention, meta)
