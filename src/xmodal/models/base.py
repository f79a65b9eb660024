"""Common interface of every xmodal network: named inputs with fixed shapes, logits out."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from xmodal.config import DEFAULT_PRESET, PRESETS, ModelConfig
from xmodal.errors import ConfigError, ShapeError

#: the stream settings a network gets when built from Python without them: those of the
#: command line's default model (the default preset's stream and ModelConfig's defaults)
STREAM_DEFAULTS = {
    **{
        key: getattr(ModelConfig(), key)
        for key in ("convs_per_block", "batch_norm", "dropout", "head_hidden")
        + ("connections", "direction", "gate", "aux_heads")
    },
    **PRESETS[DEFAULT_PRESET],
}


def validate_input_shapes(input_shapes: Mapping[str, Sequence[int]]) -> dict[str, tuple[int, int]]:
    """Check ``{modality: (n_channels, n_times)}`` and return it as an ordered dict of int tuples.

    Raises
    ------
    ConfigError
        Empty mapping, non-string names, or shapes that are not two positive integers.
    """
    if not isinstance(input_shapes, Mapping) or not input_shapes:
        raise ConfigError("input_shapes must map at least one modality to (n_channels, n_times)")
    shapes: dict[str, tuple[int, int]] = {}
    for name, shape in input_shapes.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"modality names must be non-empty strings, got {name!r}")
        try:
            dims = tuple(shape)
            ok = len(dims) == 2 and all(int(d) == d and int(d) >= 1 for d in dims)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(
                f"{name}: input shape must be two positive integers "
                f"(n_channels, n_times), got {shape!r}"
            )
        shapes[name] = (int(dims[0]), int(dims[1]))
    return shapes


def validate_n_outputs(n_outputs: int) -> int:
    """Check that ``n_outputs`` is an integer of at least 2 (one logit per class)."""
    if isinstance(n_outputs, bool) or not isinstance(n_outputs, int) or n_outputs < 2:
        raise ConfigError(
            f"n_outputs must be an integer >= 2 (number of classes), got {n_outputs!r}"
        )
    return n_outputs


class XModalModel(nn.Module):
    """Base class: one positional input per modality, logits (batch, n_outputs) out.

    Parameters
    ----------
    input_shapes : mapping of str to (int, int)
        ``{modality: (n_channels, n_times)}``; its order is the order of the positional inputs.
    n_outputs : int
        Number of classes (>= 2).

    Attributes
    ----------
    modalities : list of str
        Modality names in input order.
    input_shapes : dict of str to (int, int)
        Expected (n_channels, n_times) of each input.
    n_outputs : int
        Number of logits.
    """

    def __init__(self, input_shapes: Mapping[str, Sequence[int]], n_outputs: int) -> None:
        super().__init__()
        self.input_shapes = validate_input_shapes(input_shapes)
        self.modalities = list(self.input_shapes)
        self.n_outputs = validate_n_outputs(n_outputs)

    def check_inputs(self, *xs: Tensor) -> None:
        """Raise :class:`ShapeError` unless ``xs`` are one (batch, channels, times) tensor per
        modality, in order, with the shapes the model was built for.

        Under ``torch.jit.trace`` the (static) checks run on the example inputs without
        TracerWarnings; traced graphs keep no Python checks.
        """
        if torch.jit.is_tracing():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                self._check_inputs(xs)
        else:
            self._check_inputs(xs)

    def _check_inputs(self, xs: Sequence[Tensor]) -> None:
        if len(xs) != len(self.modalities):
            raise ShapeError(
                f"expected {len(self.modalities)} input(s) "
                f"({', '.join(self.modalities)}), got {len(xs)}"
            )
        for name, x in zip(self.modalities, xs):
            channels, times = self.input_shapes[name]
            if not isinstance(x, Tensor):
                raise ShapeError(
                    f"{name}: expected a tensor of shape (batch, {channels}, "
                    f"{times}), got {type(x).__name__}"
                )
            if x.dim() != 3:
                raise ShapeError(
                    f"{name}: expected a 3-D input (batch, {channels}, {times}), "
                    f"got {x.dim()}-D shape {tuple(x.shape)}"
                )
            if x.shape[1] != channels or x.shape[2] != times:
                raise ShapeError(
                    f"{name}: expected input of shape (batch, {channels}, {times}), "
                    f"got {tuple(x.shape)}"
                )

    def forward(self, *xs: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Logits (batch, n_outputs) from one input per modality."""
        raise NotImplementedError

    def forward_with_attention(self, *xs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Logits and attention weights keyed ``"source->target@block"`` (empty by default)."""
        return self(*xs), {}

    def compute_loss(
        self, xs: Sequence[Tensor], y: Tensor, criterion: Callable[[Tensor, Tensor], Tensor]
    ) -> Tensor:
        """Training loss of a batch; by default ``criterion(self(*xs), y)``."""
        return criterion(self(*xs), y)

    def embedding(self, *xs: Tensor) -> Tensor:
        """Features (batch, n_features) before the classifier head, where the model has one."""
        raise NotImplementedError(f"{type(self).__name__} has no embedding")

    def example_inputs(self, batch_size: int = 1) -> tuple[Tensor, ...]:
        """Zero inputs of the expected shapes (for tracing and export), on the model's device."""
        param = next(self.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        return tuple(
            torch.zeros(batch_size, c, t, device=device) for c, t in self.input_shapes.values()
        )
