"""langarith on a GPU node without network: `langarith bundle` packs what such a node lacks — wheels for its
Python, the default model files, the data the configs read, the configs — into parts that fit a transfer;
`run.sh` on the node reassembles, verifies, installs and runs them against a deadline, and packs the results
into the few small files a transfer can bring back; `langarith unpack` opens them here.

- `node.py`: the node side (standard library only; it runs before langarith is installed there);
- `wheels.py`: which wheels the node needs, fetched for its Python and platform;
- `data.py`: the part of the shared data the configs read;
- `bundle.py`: the bundle itself (parts, manifest, run.sh).
"""

from __future__ import annotations

from langarith.core.errors import LangarithError


class OfflineError(LangarithError):
    """A bundle cannot be made, or packed results cannot be read back."""
