"""Convolutional building blocks and the length-adaptive plan of a modality stream.

A stream is a stack of :class:`ConvBlock` s. Inputs of different modalities have very different
lengths (a 10-s window is 2560 samples of chest ECG at 256 Hz but 40 samples of wrist EDA at
4 Hz), so :func:`plan_stream` adapts each block's kernel and pooling to the length that reaches
it; the same hyper-parameters then work for every modality without a stream collapsing to zero
length or failing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from xmodal.models.fastconv import same_conv1d, use_fast_path
from xmodal.models.fastpool import MaxPool1d

#: shortest feature map a block produces by pooling (BatchNorm in training needs more than one
#: value per channel, and the cross-modal alignment needs a time axis)
MIN_LENGTH = 2

#: fewest steps a strided stem may leave (12.8 steps/s in a 10-s window): 256-Hz ECG keeps a
#: stride of 8 (320 steps), 64-Hz BVP gets 4 (160), 16-Hz chest and 4-Hz wrist EDA get no stem.
#: Measured: BVP at 8 steps/s (stride 8) lost 0.08-0.10 macro-F1 on the real wrist
#: subjects, ECG at 32 steps/s lost nothing on the 15-subject synthetic LOSO
STEM_MIN_OUTPUT = 128


@dataclass(frozen=True)
class BlockPlan:
    """The adapted hyper-parameters of one block.

    Attributes
    ----------
    width : int
        Output channels.
    kernel : int
        Convolution kernel after clipping to the input length.
    pool_size, pool_stride : int
        Max-pooling after adaptation; both 0 when pooling is skipped.
    in_length, out_length : int
        Time steps entering and leaving the block.
    """

    width: int
    kernel: int
    pool_size: int
    pool_stride: int
    in_length: int
    out_length: int

    @property
    def pooled(self) -> bool:
        """Whether the block pools."""
        return self.pool_size > 0


def _pool_out(length: int, size: int, stride: int) -> int:
    return (length - size) // stride + 1


def adapt_kernel(kernel: int, length: int) -> int:
    """Clip ``kernel`` to an input of ``length`` steps: ``min(kernel, max(3, length // 2))``."""
    return min(kernel, max(3, length // 2))


def adapt_pool(
    length: int, size: int, stride: int, min_length: int = MIN_LENGTH
) -> tuple[int, int]:
    """Adapt max-pooling to an input of ``length`` steps.

    The configured ``(size, stride)`` is kept whenever it leaves at least ``min_length`` steps.
    Otherwise the stride shrinks to ``min(stride, length // min_length)`` and the window to the
    largest size (at most ``size``, at least the stride) that still leaves ``min_length`` steps.
    When no pooling can shorten the input without going below ``min_length`` (inputs of at most
    ``min_length`` steps), pooling is skipped: ``(0, 0)``.
    """
    if size < 1 or stride < 1:
        raise ValueError(f"pool size and stride must be positive, got {size}, {stride}")
    if length >= size and _pool_out(length, size, stride) >= min_length:
        return size, stride
    new_stride = min(stride, length // min_length)
    if new_stride < 1:
        return 0, 0
    new_size = max(new_stride, min(size, length - (min_length - 1) * new_stride))
    if new_size <= 1:
        return 0, 0
    return new_size, new_stride


def adapt_stem(n_times: int, stride: int, min_output: int = STEM_MIN_OUTPUT) -> int:
    """Stride of the stem for an input of ``n_times`` steps: the largest of ``stride``,
    ``stride // 2``, ... (down to 2) that leaves at least ``min_output`` steps; 1 (no stem) when
    none does or ``stride`` is at most 1."""
    s = int(stride)
    while s > 1 and n_times // s < min_output:
        s //= 2
    return max(s, 1)


def stem_length(n_times: int, stride: int) -> int:
    """Output length of :class:`StridedStem` (``ceil(n_times / stride)``)."""
    return -(-int(n_times) // int(stride))


def plan_stream(
    n_times: int,
    widths: Sequence[int],
    kernels: Sequence[int],
    pool_size: int,
    pool_stride: int,
    min_length: int = MIN_LENGTH,
) -> list[BlockPlan]:
    """Plan the blocks of a stream for inputs of ``n_times`` steps.

    Block by block, with ``L`` the length reaching the block: the kernel becomes
    ``min(k, max(3, L // 2))`` (see :func:`adapt_kernel`) and the pooling is shrunk or skipped
    so that the block's output keeps at least ``min(L, min_length)`` steps (see
    :func:`adapt_pool`). Convolutions use 'same' padding, so only pooling changes the length.

    Parameters
    ----------
    n_times : int
        Input length of the stream.
    widths, kernels : sequence of int
        Channels and kernel size of each block (same length).
    pool_size, pool_stride : int
        Configured max-pooling of every block.
    min_length : int
        Shortest output length pooling may produce.

    Returns
    -------
    list of BlockPlan
        One per block, recording input and output lengths.
    """
    if n_times < 1:
        raise ValueError(f"n_times must be positive, got {n_times}")
    if len(widths) != len(kernels) or not widths:
        raise ValueError(
            f"need as many widths as kernels (at least one), got "
            f"{tuple(widths)} and {tuple(kernels)}"
        )
    if any(w < 1 for w in widths) or any(k < 1 for k in kernels):
        raise ValueError(
            f"widths and kernels must be positive, got {tuple(widths)}, {tuple(kernels)}"
        )
    if min_length < 1:
        raise ValueError(f"min_length must be positive, got {min_length}")
    plans = []
    length = int(n_times)
    for width, kernel in zip(widths, kernels):
        size, stride = adapt_pool(length, pool_size, pool_stride, min_length)
        out = _pool_out(length, size, stride) if size else length
        plans.append(
            BlockPlan(int(width), adapt_kernel(int(kernel), length), size, stride, length, out)
        )
        length = out
    return plans


class SameConv1d(nn.Conv1d):
    """``Conv1d`` with 'same' padding done explicitly (extra padding on the right for even
    kernels, as ``nn.Conv1d(padding='same')``), which traces and exports everywhere."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True
    ) -> None:
        total = kernel_size - 1
        left, right = total // 2, total - total // 2
        super().__init__(
            in_channels, out_channels, kernel_size, padding=left if left == right else 0, bias=bias
        )
        self.extra_pad = (0, 0) if left == right else (left, right)

    def forward(self, x: Tensor) -> Tensor:
        if use_fast_path(x, self.weight):
            # CPU training: convolution-based gradients, 2-4x faster for wide kernels
            # (see xmodal.models.fastconv); numerically equal within float32 rounding
            k = self.kernel_size[0]
            left = (k - 1) // 2
            return same_conv1d(x, self.weight, self.bias, left, k - 1 - left)
        if self.extra_pad != (0, 0):
            x = F.pad(x, self.extra_pad)
        return super().forward(x)


class StridedStem(nn.Module):
    """Learned downsampling at the start of a stream: Conv1d(kernel ``2 * stride``,
    ``stride``) -> BatchNorm1d (optional) -> ReLU; ``n_times`` becomes ``ceil(n_times / stride)``.

    An early strided convolution lets every later layer run at ``1 / stride`` of the input rate
    (their FLOPs shrink by about that factor), while, unlike a lower resampling rate, the filters
    that do the downsampling are learned from the full-rate signal.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels entering and leaving the stem.
    stride : int
        Downsampling factor (at least 2).
    batch_norm : bool
        BatchNorm1d after the conv (the conv then has no bias).
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, batch_norm: bool = True
    ) -> None:
        super().__init__()
        if stride < 2:
            raise ValueError(f"stem stride must be at least 2, got {stride}")
        self.stride = int(stride)
        kernel = 2 * self.stride
        # pad by kernel - 1 in all, centred like a 'same' conv: ceil(L / stride) output steps
        total = kernel - self.stride
        self.pad = (total // 2, total - total // 2 + self.stride - 1)
        layers: list[nn.Module] = [
            nn.Conv1d(in_channels, out_channels, kernel, self.stride, bias=not batch_norm)
        ]
        if batch_norm:
            layers.append(nn.BatchNorm1d(out_channels))
        layers.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """(batch, in_channels, L) -> (batch, out_channels, ceil(L / stride))."""
        return self.layers(F.pad(x, self.pad))


class ConvBlock(nn.Module):
    """``convs_per_block`` x [Conv1d('same') -> BatchNorm1d (optional) -> ReLU] -> MaxPool1d.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels entering and leaving the block.
    kernel_size : int
        Convolution kernel.
    pool_size, pool_stride : int
        Max-pooling; ``pool_size`` 0 skips pooling.
    convs_per_block : int
        Number of conv layers.
    batch_norm : bool
        Insert BatchNorm1d after each conv (the conv then has no bias).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        pool_size: int,
        pool_stride: int,
        convs_per_block: int = 2,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if convs_per_block < 1:
            raise ValueError(f"convs_per_block must be at least 1, got {convs_per_block}")
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(convs_per_block):
            layers.append(SameConv1d(channels, out_channels, kernel_size, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(out_channels))
            layers.append(nn.ReLU(inplace=True))
            channels = out_channels
        self.convs = nn.Sequential(*layers)
        self.pool = MaxPool1d(pool_size, pool_stride) if pool_size > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """(batch, in_channels, L) -> (batch, out_channels, L_pooled)."""
        return self.pool(self.convs(x))


class StreamEncoder(nn.Module):
    """One modality's CNN: a stack of :class:`ConvBlock` planned by :func:`plan_stream`.

    Parameters
    ----------
    n_channels, n_times : int
        Input shape (without batch).
    widths, kernels : sequence of int
        Channels and kernel of each block.
    pool_size, pool_stride : int
        Configured max-pooling (adapted per block to the length).
    convs_per_block : int
        Conv layers per block.
    batch_norm : bool
        Use BatchNorm1d after every conv.
    stem_stride : int
        Stride of a :class:`StridedStem` before the blocks, adapted by :func:`adapt_stem` to
        the input length (short streams get none); 1 for no stem.

    Attributes
    ----------
    stem : nn.Module
        The strided stem, or ``nn.Identity`` (``stem_stride`` attribute: the stride used).
    blocks : nn.ModuleList
        The blocks, applied in order.
    plans : list of BlockPlan
        The adapted plan of each block.
    out_lengths, out_channels : tuple of int
        Time steps and channels after each block.
    """

    def __init__(
        self,
        n_channels: int,
        n_times: int,
        widths: Sequence[int],
        kernels: Sequence[int],
        pool_size: int,
        pool_stride: int,
        convs_per_block: int = 2,
        batch_norm: bool = True,
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        if n_channels < 1:
            raise ValueError(f"n_channels must be positive, got {n_channels}")
        if n_times < 1:
            raise ValueError(f"n_times must be positive, got {n_times}")
        if stem_stride < 1:
            raise ValueError(f"stem stride must be at least 1, got {stem_stride}")
        self.n_channels = int(n_channels)
        self.n_times = int(n_times)
        self.stem_stride = adapt_stem(self.n_times, stem_stride)
        channels = self.n_channels
        length = self.n_times
        if self.stem_stride > 1 and len(widths) > 0:  # (empty widths: plan_stream raises)
            self.stem: nn.Module = StridedStem(
                channels, int(widths[0]), self.stem_stride, batch_norm
            )
            channels, length = int(widths[0]), stem_length(length, self.stem_stride)
        else:
            self.stem = nn.Identity()
        self.plans = plan_stream(length, widths, kernels, pool_size, pool_stride)
        blocks = []
        for plan in self.plans:
            blocks.append(
                ConvBlock(
                    channels,
                    plan.width,
                    plan.kernel,
                    plan.pool_size,
                    plan.pool_stride,
                    convs_per_block,
                    batch_norm,
                )
            )
            channels = plan.width
        self.blocks = nn.ModuleList(blocks)
        self.out_lengths = tuple(p.out_length for p in self.plans)
        self.out_channels = tuple(p.width for p in self.plans)

    @property
    def n_features(self) -> int:
        """Channels of the last block (the size of the pooled embedding)."""
        return self.out_channels[-1]

    def forward(self, x: Tensor) -> Tensor:
        """(batch, n_channels, n_times) -> (batch, out_channels[-1], out_lengths[-1])."""
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return x


class ClassifierHead(nn.Module):
    """Linear(in_features, hidden) -> ReLU -> Dropout -> Linear(hidden, n_outputs).

    Parameters
    ----------
    in_features, hidden, n_outputs : int
        Layer sizes.
    dropout : float
        Dropout probability before the last layer.
    """

    def __init__(self, in_features: int, hidden: int, n_outputs: int, dropout: float = 0.0) -> None:
        super().__init__()
        if hidden < 1:
            raise ValueError(f"head hidden size must be positive, got {hidden}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.layers = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_outputs),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(batch, in_features) -> (batch, n_outputs)."""
        return self.layers(x)
