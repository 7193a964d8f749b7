"""Count the bytes every collective carries, by wrapping ``torch.distributed``'s collectives while active.

How it works
------------
Inside ``with CollectiveCounter() as counter:`` the module-level functions ``dist.all_reduce`` and
``dist.all_gather`` are replaced by wrappers that append ``(op, bytes)`` to ``counter.records`` before calling
the real collective; the originals are restored on exit. ``bytes`` is the payload one rank contributes
(``numel · element_size`` of its input tensor), the quantity in Megatron's count: per transformer layer and step,
two all-reduces of b·s·h values forward (g after attention and after the MLP) and two backward (f before QKV and
before ``dense_h_to_4h``). A ring all-reduce moves 2(tp−1)/tp times the payload over each rank's link.
"""

from __future__ import annotations

import torch.distributed as dist

COUNTED = ("all_reduce", "all_gather")


class CollectiveCounter:
    def __init__(self):
        self.records: list[tuple[str, int]] = []
        self._originals = {}

    def _wrap(self, name, real):
        def counted(tensor, *args, **kwargs):
            payload = args[0] if name == "all_gather" else tensor  # all_gather(output_list, input, ...)
            self.records.append((name, payload.numel() * payload.element_size()))
            return real(tensor, *args, **kwargs)
        return counted

    def __enter__(self) -> CollectiveCounter:
        for name in COUNTED:
            self._originals[name] = getattr(dist, name)
            setattr(dist, name, self._wrap(name, self._originals[name]))
        return self

    def __exit__(self, *exc):
        for name, real in self._originals.items():
            setattr(dist, name, real)

    def total(self, op: str | None = None, since: int = 0) -> int:
        """Bytes of the records from index ``since`` on, of one ``op`` or all."""
        return sum(n for name, n in self.records[since:] if op is None or name == op)
