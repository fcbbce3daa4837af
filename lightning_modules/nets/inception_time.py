"""InceptionTime (Ismail Fawaz et al., 2020, "InceptionTime: Finding AlexNet for time series classification").

Follows the reference Keras code and tsai's ``InceptionTime``: each module is a 1x1 bottleneck conv, three parallel
convs with 'same' padding on the bottleneck output, and a maxpool(3) -> 1x1 conv branch on the module input; the four
branches are concatenated (``4 * num_filters`` channels), then BatchNorm + ReLU. Every third module adds a shortcut
(1x1 conv + BN when channel counts differ, BN alone otherwise) followed by ReLU. Global average pooling over time,
then a linear head. Convs have no bias (BN follows). This is one network; the paper's ensemble of 5 is not built here.

Example:
    >>> import torch
    >>> net = InceptionTime(17, 2, num_filters=8, depth=3)
    >>> net(torch.randn(4, 50, 17)).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

import torch
from torch import nn

from lightning_modules.nets._checks import check_sequence_input


class InceptionModule(nn.Module):
    """One inception module: ``(B, c_in, T) -> (B, 4 * num_filters, T)``."""

    def __init__(self, c_in: int, num_filters: int, kernel_sizes: tuple[int, ...], bottleneck: int) -> None:
        super().__init__()
        # As in the paper: no bottleneck for univariate input (or when disabled with bottleneck=0).
        use_bottleneck = bottleneck > 0 and c_in > 1
        self.bottleneck = nn.Conv1d(c_in, bottleneck, 1, bias=False) if use_bottleneck else nn.Identity()
        conv_in = bottleneck if use_bottleneck else c_in
        self.convs = nn.ModuleList(
            nn.Conv1d(conv_in, num_filters, k, padding="same", bias=False) for k in kernel_sizes
        )
        self.maxconvpool = nn.Sequential(
            nn.MaxPool1d(3, stride=1, padding=1), nn.Conv1d(c_in, num_filters, 1, bias=False)
        )
        self.out_channels = num_filters * (len(kernel_sizes) + 1)
        self.bn = nn.BatchNorm1d(self.out_channels)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.bottleneck(x)
        out = torch.cat([conv(z) for conv in self.convs] + [self.maxconvpool(x)], dim=1)
        return self.act(self.bn(out))


class InceptionBlock(nn.Module):
    """``depth`` inception modules with a residual shortcut every 3 modules."""

    def __init__(
        self,
        c_in: int,
        num_filters: int,
        depth: int,
        kernel_sizes: tuple[int, ...],
        bottleneck: int,
        residual: bool,
    ) -> None:
        super().__init__()
        self.residual = residual
        self.depth = depth
        self.inception = nn.ModuleList()
        self.shortcut = nn.ModuleList()
        c_out = num_filters * (len(kernel_sizes) + 1)
        res_in = c_in
        for d in range(depth):
            self.inception.append(InceptionModule(c_in if d == 0 else c_out, num_filters, kernel_sizes, bottleneck))
            if residual and d % 3 == 2:
                if res_in == c_out:
                    self.shortcut.append(nn.BatchNorm1d(c_out))
                else:
                    self.shortcut.append(
                        nn.Sequential(nn.Conv1d(res_in, c_out, 1, bias=False), nn.BatchNorm1d(c_out))
                    )
                res_in = c_out
        self.act = nn.ReLU()
        self.out_channels = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = x
        for d, module in enumerate(self.inception):
            x = module(x)
            if self.residual and d % 3 == 2:
                x = self.act(x + self.shortcut[d // 3](res))
                res = x
        return x


class InceptionTime(nn.Module):
    """InceptionTime classifier on ``(batch, time, in_channels)``.

    Args:
        in_channels: features per time step.
        num_classes: number of logits.
        num_filters: filters per branch; modules output ``4 * num_filters`` channels (with 3 kernel sizes).
        depth: number of inception modules (paper: 6).
        kernel_sizes: kernel sizes of the parallel convs (paper/tsai: 39, 19, 9).
        bottleneck: channels of the 1x1 bottleneck conv; 0 disables it.
        residual: add a shortcut every 3 modules.
        dropout: dropout on the pooled features before the head (0 in the paper).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        num_filters: int = 32,
        depth: int = 6,
        kernel_sizes: tuple[int, ...] = (9, 19, 39),
        bottleneck: int = 32,
        residual: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if not kernel_sizes:
            raise ValueError("kernel_sizes must name at least one kernel size")
        self.in_channels = in_channels
        self.block = InceptionBlock(
            in_channels, num_filters, depth, tuple(int(k) for k in kernel_sizes), bottleneck, residual
        )
        self.gap = nn.AdaptiveAvgPool1d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.block.out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(batch, time, in_channels)`` -> logits ``(batch, num_classes)``."""
        check_sequence_input(x, self.in_channels, type(self).__name__)
        z = self.block(x.transpose(1, 2))  # (B, C, T)
        return self.head(self.dropout(self.gap(z).squeeze(-1)))
