"""The latent k-NN search of the latent and hybrid scores: the distance from each
latent code to its k-th nearest training code, exact to float64 rounding.

The reference codes are ranked in float32 by one fused matrix product per block of
rows, within groups of codes whose minima bound their members, and the candidates
found are then measured exactly; see :func:`latent_knn_distance`.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["latent_knn_distance"]

#: Distances computed at once by :func:`latent_knn_distance` (128 rows against
#: 4,096 reference codes).
_KNN_BLOCK_ELEMENTS = 524_288
#: Extra candidates measured exactly after the float32 ranking of the k-NN search.
_KNN_MARGIN = 1
#: Groups the reference codes are split into for the k-NN search: the row's
#: nearest candidates are looked for only in the groups with the nearest minima.
_KNN_GROUPS = 64


def latent_knn_distance(
    codes: Tensor, reference: Tensor, k: int, *, exclude_self: bool = False
) -> Tensor:
    r"""Distance from each code to its k-th nearest reference code.

    .. math:: d_k(z) = \lVert z - r_{(k)}(z) \rVert_2

    where :math:`r_{(k)}(z)` is the k-th closest of the reference codes (latent
    means of training rows). A density measure in the latent space: codes far from
    every training code are anomalous even when the decoder reconstructs them well.
    With ``exclude_self`` the nearest reference (the row itself, at distance 0) is
    skipped; used for training rows that belong to the reference set.

    The search ranks the reference codes in float32 and keeps
    :data:`_KNN_MARGIN` more candidates than needed; their distances are then
    computed exactly, in the codes' dtype, from their differences. The result is
    the exact k-th distance unless more than :data:`_KNN_MARGIN` codes tie with
    it to within float32 rounding, and then it is off by no more than that.
    """
    k_eff = min(k + int(exclude_self), reference.shape[0])
    if torch.onnx.is_in_onnx_export() or torch.jit.is_tracing():
        # One block in the reference's dtype: the graph keeps a dynamic batch size.
        exact = _KnnSearch(reference, k_eff, dtype=reference.dtype, groups=1)
        return _knn_block(codes, reference, exact, k_eff)
    search = _KnnSearch(reference, min(k_eff + _KNN_MARGIN, reference.shape[0]))
    # Blocks of ~1 MB of distances stay in cache: several times faster than one
    # large matrix, and memory no longer grows with the batch.
    rows = max(1, _KNN_BLOCK_ELEMENTS // max(reference.shape[0], 1))
    if not len(codes):
        return codes[:, 0]
    return torch.cat(
        [_knn_block(b, reference, search, k_eff) for b in codes.split(rows)]
    )


class _KnnSearch:
    """The reference codes laid out for ranking: centred (so that float32 keeps
    the distances' digits however far the codes sit from the origin), in the
    search dtype, transposed and padded to ``groups`` equal groups (padding at
    infinite distance)."""

    def __init__(
        self,
        reference: Tensor,
        candidates: int,
        *,
        dtype: torch.dtype = torch.float32,
        groups: int = _KNN_GROUPS,
    ) -> None:
        n, d = reference.shape
        self.center = reference.mean(0)
        ref = (reference - self.center).to(dtype)
        self.candidates = candidates
        # Grouping pays when the candidates' groups are a small part of the codes.
        self.groups = (
            groups if groups > 1 and candidates * -(-n // groups) * 2 <= n else 1
        )
        self.size = -(-n // self.groups)
        pad = self.groups * self.size - n
        self.sq = torch.cat([ref.square().sum(-1), ref.new_full((pad,), float("inf"))])
        self.ref_t = torch.cat([ref, ref.new_zeros(pad, d)]).T.contiguous()

    def rank(self, block: Tensor) -> Tensor:
        """Indices of each row's ``candidates`` nearest reference codes (by the
        search dtype's distances), shape ``(rows, candidates)``."""
        # |z - r|^2 = |z|^2 + (|r|^2 - 2 z.r), and |z|^2 is the same for every r,
        # so the bracket alone (one fused matrix product) ranks them.
        partial = torch.addmm(
            self.sq, (block - self.center).to(self.sq.dtype), self.ref_t, alpha=-2.0
        )
        if self.groups == 1:
            return torch.topk(partial, self.candidates, dim=1, largest=False).indices
        # The c nearest codes lie in the c groups with the smallest minima: a code
        # outside them is no nearer than each of those c minima.
        grouped = partial.view(len(block), self.groups, self.size)
        group = torch.topk(grouped.amin(-1), self.candidates, dim=1, largest=False)
        members = grouped.gather(
            1, group.indices.unsqueeze(-1).expand(-1, -1, self.size)
        ).flatten(1)
        pick = torch.topk(members, self.candidates, dim=1, largest=False).indices
        return group.indices.gather(1, pick // self.size) * self.size + pick % self.size


def _knn_block(block: Tensor, reference: Tensor, search: _KnnSearch, k: int) -> Tensor:
    """k-th nearest distance for one block of codes: rank, then measure exactly
    (the expanded form of the ranking cancels badly for near neighbours)."""
    index = search.rank(block)
    found = (block.unsqueeze(1) - reference[index]).square().sum(-1)
    kth = torch.topk(found, k, dim=1, largest=False).values[:, -1]
    return kth.clamp(min=0.0).sqrt()
