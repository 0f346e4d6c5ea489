"""The latent k-NN search of the latent and hybrid scores: the distance from each
latent code to its k-th nearest reference code, exact to float64 rounding.

The reference codes are ranked in float32 by one fused matrix product per block of
rows, within groups of codes whose minima bound their members, and the candidates
found are then measured exactly; see :func:`latent_knn_distance`.
"""

from __future__ import annotations

import sys

import torch
from torch import Tensor

__all__ = ["latent_knn_distance"]

#: Float32 distances computed at once by :func:`latent_knn_distance` (a block of
#: 1 MB: 512 rows against 512 reference codes), written into one buffer reused by
#: every block of a call: a fresh multi-megabyte result per block cost as much as
#: the matrix product itself (page faults).
_KNN_BLOCK_ELEMENTS = 262_144
#: Extra candidates measured exactly after the float32 ranking of the k-NN search.
_KNN_MARGIN = 1
#: Groups the reference codes are split into for the k-NN search: the row's
#: nearest candidates are looked for only in the groups with the nearest minima.
#: 32 for up to 1,024 codes (torch's ``topk`` over at most 32 values per row takes
#: a path several times faster than over 64), 64 beyond (the chosen groups' members
#: are then fewer to rank).
_KNN_GROUPS = 32
_KNN_GROUPS_LARGE = 64
_KNN_LARGE = 1024
#: Rows of a block are at least this many (the per-call cost of each operation
#: is then spread over enough rows).
_KNN_MIN_BLOCK_ROWS = 128


def _tracing() -> bool:
    """Whether the call is being traced into a graph (ONNX export, TorchScript).
    ``torch.onnx`` is only consulted when something imported it: accessing it
    imports the exporter (0.2 s), which scoring never needs."""
    onnx = sys.modules.get("torch.onnx")
    in_export = onnx is not None and bool(onnx.is_in_onnx_export())
    return in_export or bool(torch.jit.is_tracing())


def latent_knn_distance(
    codes: Tensor, reference: Tensor, k: int, *, exclude_self: bool = False
) -> Tensor:
    r"""Distance from each code to its k-th nearest reference code.

    .. math:: d_k(z) = \lVert z - r_{(k)}(z) \rVert_2

    where :math:`r_{(k)}(z)` is the k-th closest of the reference codes (latent
    means of training rows). A density measure in the
    latent space: codes far from every training code are anomalous even when the
    decoder reconstructs them well. With ``exclude_self`` the nearest reference
    (the row itself, at distance 0) is skipped; used for training rows that belong
    to the reference set.

    The search ranks the reference codes in float32 and keeps
    :data:`_KNN_MARGIN` more candidates than needed; their distances are then
    computed exactly, in the codes' dtype, from their differences. The result is
    the exact k-th distance unless more than :data:`_KNN_MARGIN` codes tie with
    it to within float32 rounding, and then it is off by no more than that. A
    row's result does not depend on the other rows of the call.
    """
    k_eff = min(k + int(exclude_self), reference.shape[0])
    if _tracing():
        # One block in the reference's dtype: the graph keeps a dynamic batch size.
        exact = _KnnSearch(reference, k_eff, dtype=reference.dtype, groups=1)
        return _knn_block(codes, reference, exact, k_eff)
    if not len(codes):
        return codes[:, 0]
    # Blocks of ~1 MB of distances stay in cache: several times faster than one
    # large matrix, and memory no longer grows with the batch.
    n = reference.shape[0]
    rows = max(_KNN_MIN_BLOCK_ROWS, _KNN_BLOCK_ELEMENTS // max(n, 1))
    search = _KnnSearch(
        reference,
        min(k_eff + _KNN_MARGIN, n),
        groups=_KNN_GROUPS if n <= _KNN_LARGE else _KNN_GROUPS_LARGE,
        block_rows=min(rows, len(codes)),
    )
    return torch.cat(
        [_knn_block(b, reference, search, k_eff) for b in codes.split(rows)]
    )


class _KnnSearch:
    """The reference codes laid out for ranking: centred (so that float32 keeps
    the distances' digits however far the codes sit from the origin), in the
    search dtype, transposed and padded to ``groups`` equal groups (padding at
    infinite distance).

    Code ``j`` is in group ``j % groups``: a block's distances, viewed as
    ``(rows, size, groups)``, give every group's minimum by an element-wise
    minimum over contiguous rows of ``groups`` values (vectorised), not by a
    reduction within each row. With ``block_rows`` the distances of every block
    are written into one reused buffer.
    """

    def __init__(
        self,
        reference: Tensor,
        candidates: int,
        *,
        dtype: torch.dtype = torch.float32,
        groups: int = _KNN_GROUPS,
        block_rows: int = 0,
    ) -> None:
        n, d = reference.shape
        self.center = reference.mean(0)
        ref = (reference - self.center).to(dtype)
        self.candidates = candidates
        # Grouping pays when the candidates' groups are a small part of the codes
        # and each group holds a few codes.
        self.groups = groups if groups > 1 and 2 * candidates <= groups <= n // 8 else 1
        self.size = -(-n // self.groups)
        pad = self.groups * self.size - n
        self.sq = torch.cat([ref.square().sum(-1), ref.new_full((pad,), float("inf"))])
        self.ref_t = torch.cat([ref, ref.new_zeros(pad, d)]).T.contiguous()
        self.buffer = (
            ref.new_empty(block_rows, self.groups * self.size) if block_rows else None
        )

    def rank(self, block: Tensor) -> Tensor:
        """Indices of each row's ``candidates`` nearest reference codes (by the
        search dtype's distances), shape ``(rows, candidates)``."""
        # |z - r|^2 = |z|^2 + (|r|^2 - 2 z.r), and |z|^2 is the same for every r,
        # so the bracket alone (one fused matrix product) ranks them.
        z = (block - self.center).to(self.sq.dtype)
        if self.buffer is None or len(block) > len(self.buffer):
            partial = torch.addmm(self.sq, z, self.ref_t, alpha=-2.0)
        else:
            out = self.buffer[: len(block)]
            partial = torch.addmm(self.sq, z, self.ref_t, alpha=-2.0, out=out)
        if self.groups == 1:
            return torch.topk(partial, self.candidates, dim=1, largest=False).indices
        # The c nearest codes lie in the c groups with the smallest minima: a code
        # outside them is no nearer than each of those c minima.
        grid = partial.view(len(block), self.size, self.groups)
        group = torch.topk(grid.amin(1), self.candidates, dim=1, largest=False)
        members = grid.gather(
            2, group.indices.unsqueeze(1).expand(-1, self.size, -1)
        ).flatten(1)  # member s of chosen group i at s * candidates + i
        pick = torch.topk(members, self.candidates, dim=1, largest=False).indices
        slot = pick.div(self.candidates, rounding_mode="floor")
        chosen = group.indices.gather(1, pick % self.candidates)
        return slot * self.groups + chosen


def _knn_block(block: Tensor, reference: Tensor, search: _KnnSearch, k: int) -> Tensor:
    """k-th nearest distance for one block of codes: rank, then measure exactly
    (the expanded form of the ranking cancels badly for near neighbours)."""
    index = search.rank(block)
    found_codes = reference.index_select(0, index.flatten()).view(*index.shape, -1)
    found = (block.unsqueeze(1) - found_codes).square().sum(-1)
    # The nearest (k = 1) needs no ranking.
    kth = found.amin(1) if k == 1 else found.topk(k, dim=1, largest=False).values[:, -1]
    return kth.clamp(min=0.0).sqrt()
