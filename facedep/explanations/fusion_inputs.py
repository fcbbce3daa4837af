"""A fusion model's test windows for explanations: batches of ``{view: tensor, "present": (B, V)}`` and its scores.

The multimodal test set (``MultimodalDataModule.datasets["test"]``, see ``/work/notes/fusion_contract.md``) gives
``len(dataset)`` and ``dataset.batch_of(indices) -> {"x": {view: ..., "present": bool (B, V)}, "y", "video",
"subject", "index"}``. :class:`FusionTestSet` reads it once in chunks: targets, ids and ``present`` always stay in
memory, and so do the view tensors when all of them fit in ``max_bytes`` (else the large views are read again per
pass, and only the ``small`` views, AU and landmark windows, are kept for within-view permutations).

Scores (:func:`fusion_scores`): eval mode, no grad, class probabilities ``(N, K)`` (``loss_fn.probabilities``) or a
regressor's predictions ``(N,)``. A window left with no present view (its only view masked) is not passed to the
model (attention over no token is undefined): it gets the no-information output, uniform class probabilities or a
regressor's standardised 0 (the training mean of the target).

Example:
    >>> class Toy:
    ...     def __len__(self): return 3
    ...     def batch_of(self, rows):
    ...         rows = torch.as_tensor(rows)
    ...         return {"x": {"aus": torch.ones(len(rows), 2, 1), "present": torch.ones(len(rows), 1, dtype=torch.bool)},
    ...                 "y": rows % 2, "video": rows, "subject": rows, "index": rows}
    >>> test = FusionTestSet(Toy(), ["aus"], chunk=2)
    >>> test.y.tolist(), test.cached, tuple(test.views_in_memory["aus"].shape)
    ([0, 1, 0], True, (3, 2, 1))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from facedep.explanations.model_outputs import is_regressor, model_device_dtype

Edit = Callable[[dict[str, torch.Tensor], torch.Tensor], dict[str, torch.Tensor]]
"""``edit(x, rows) -> x``: changes a batch's inputs (``rows``: the windows' positions in the test set)."""
MAX_BYTES = 1 << 30
SMALL_VIEWS = ("aus", "landmarks")


def _nbytes(x: dict[str, torch.Tensor]) -> int:
    return sum(int(v.numel() * v.element_size()) for v in x.values())


class FusionTestSet:
    """All test windows of a fusion data set, read once (see the module docstring)."""

    def __init__(self, dataset: object, views: Sequence[str], chunk: int = 64, max_bytes: int = MAX_BYTES,
                 small: Sequence[str] = SMALL_VIEWS) -> None:
        self.dataset, self.views, self.chunk = dataset, list(views), chunk
        n = len(dataset)
        parts: dict[str, list[torch.Tensor]] = {}
        ids: dict[str, list[torch.Tensor]] = {k: [] for k in ("y", "video", "subject")}
        kept, size, self.cached = set(self.views) | {"present"}, 0, True
        for start in range(0, n, chunk):
            batch = dataset.batch_of(list(range(start, min(start + chunk, n))))
            for k in ids:
                ids[k].append(torch.as_tensor(batch[k]))
            size += _nbytes(batch["x"])
            if self.cached and size > max_bytes:  # too large: keep only the small views from here on
                self.cached = False
                kept = {v for v in self.views if v in small} | {"present"}
                parts = {k: v for k, v in parts.items() if k in kept}
            for key in kept:
                parts.setdefault(key, []).append(torch.as_tensor(batch["x"][key]))
        if n == 0:
            raise ValueError("no test windows")
        self.y, self.video, self.subject = (torch.cat(ids[k]) for k in ("y", "video", "subject"))
        self.views_in_memory = {k: torch.cat(v) for k, v in parts.items() if k != "present"}
        self.present = torch.cat(parts["present"]).bool()

    def __len__(self) -> int:
        return len(self.y)

    def batches(self) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        """``(rows, x)`` chunks over all windows, ``x`` a fresh dict (tensors may be edited in place)."""
        for start in range(0, len(self), self.chunk):
            rows = torch.arange(start, min(start + self.chunk, len(self)))
            if self.cached:
                x = {k: v[rows].clone() for k, v in self.views_in_memory.items()}
            else:
                x = {k: torch.as_tensor(v).clone() for k, v in self.dataset.batch_of(rows.tolist())["x"].items()
                     if k != "present"}
            x["present"] = self.present[rows].clone()
            yield rows, x


def mask_view(x: dict[str, torch.Tensor], views: Sequence[str], view: str) -> dict[str, torch.Tensor]:
    """``x`` with ``view`` absent in every window: its tensor all zeros and ``present[:, j] = False`` (as the data
    module marks a missing view)."""
    x[view] = torch.zeros_like(x[view])
    x["present"][:, list(views).index(view)] = False
    return x


def _no_information(model: nn.Module, n: int, classes: int) -> torch.Tensor:
    """Uniform class probabilities ``(n, classes)``, or a regressor's prediction for a standardised 0 ``(n,)``."""
    if is_regressor(model):
        return model.to_target_units(torch.zeros(n, device=model_device_dtype(model)[0])).float().cpu()
    return torch.full((n, classes), 1.0 / classes)


def fusion_scores(model: nn.Module, test: FusionTestSet, edit: Edit | None = None,
                  attention: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Scores of every test window after ``edit`` (see the module docstring). ``attention``: a list that receives
    each batch's ``net.last_attention`` ``(B, V, V)`` (NaN rows for windows not passed to the model)."""
    return fusion_scores_many(model, test, [edit], attention)[0]


@torch.no_grad()
def fusion_scores_many(model: nn.Module, test: FusionTestSet, edits: Sequence[Edit | None],
                       attention: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """:func:`fusion_scores` for several edits at once: each chunk of windows is read once and the edited copies go
    through the model in one call (fewer, larger calls: the cost of many permutations on a small test set)."""
    device, dtype = model_device_dtype(model)
    classes = 1 if is_regressor(model) else int(getattr(model, "num_classes", 2))
    was_training = model.training
    model.eval()
    parts: list[list[torch.Tensor]] = [[] for _ in edits]
    try:
        for rows, x in test.batches():
            copies = [edit(_copy(x), rows) if edit is not None else _copy(x) for edit in edits]
            stacked = {k: torch.cat([c[k] for c in copies]) for k in x}
            alive = stacked["present"].any(dim=1)
            full = _no_information(model, len(alive), classes)
            if bool(alive.any()):
                inputs = {k: v[alive].to(device=device, dtype=dtype) if v.is_floating_point() else v[alive].to(device)
                          for k, v in stacked.items()}
                out = model(inputs).float()
                scores = out if is_regressor(model) else model.loss_fn.probabilities(out)
                full[alive] = scores.cpu().to(full.dtype)
            for part, piece in zip(parts, full.split(len(rows))):
                part.append(piece)
            if attention is not None:
                attention.append(_attention_rows(model, alive, len(test.views))[:len(rows)])
    finally:
        model.train(was_training)
    return [torch.cat(part) for part in parts]


def _copy(x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in x.items()}


def _attention_rows(model: nn.Module, alive: torch.Tensor, views: int) -> torch.Tensor:
    """The last forward's attention ``(B, V, V)`` spread back to the batch (NaN for windows not run)."""
    full = torch.full((len(alive), views, views), float("nan"))
    found = getattr(getattr(model, "net", model), "last_attention", None)
    if found is not None and bool(alive.any()):
        full[alive] = found.detach().float().cpu().reshape(int(alive.sum()), views, views)
    return full
