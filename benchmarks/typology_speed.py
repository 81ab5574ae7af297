"""Time the 200-language x 6-kind URIEL distance matrix, cold and warm; print one JSON line.

cold: an empty cache folder, so lang2vec's data files are read and reduced, then the matrices
      computed and written.
warm: in-memory caches dropped, so the time is what a new process pays: resolving the 200 codes
      and reading the cached table and matrix back from disk.
warm_new_pool: the same, with the matrix file deleted: a pool never seen before, computed from
      the cached table (the vectorised numpy path).
Target: warm under 2 s on a 2-core machine.

    python benchmarks/typology_speed.py
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

N_LANGUAGES = 200
TARGET_S = 2.0


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        os.environ["LANGARITH_CACHE"] = cache
        from langarith.core.errors import UnknownLanguageError
        from langarith.languages import typology, uriel
        from langarith.languages.codes import _resolve, resolve

        resolve_cache_clear = _resolve.cache_clear

        start = time.perf_counter()
        table = uriel.load_table()
        codes = []
        for code in typology.uriel_languages()[::30]:
            try:
                resolve(code)
            except UnknownLanguageError:
                continue
            if table.located[table.index[code]]:
                codes.append(code)
        codes = codes[:N_LANGUAGES]
        matrix = typology.distance_matrix(codes)
        cold = time.perf_counter() - start

        def timed() -> float:
            uriel.clear_memory_cache()
            resolve_cache_clear()
            start = time.perf_counter()
            again = typology.distance_matrix(codes)
            elapsed = time.perf_counter() - start
            assert all((matrix[k] == again[k]).all() for k in typology.KINDS)
            return elapsed

        warm = timed()
        for path in (Path(cache) / "typology").glob("matrix-*.npz"):
            path.unlink()
        warm_new_pool = timed()

    print(
        json.dumps(
            {
                "benchmark": "typology_speed",
                "languages": len(codes),
                "kinds": len(typology.KINDS),
                "cold_s": round(cold, 3),
                "warm_s": round(warm, 3),
                "warm_new_pool_s": round(warm_new_pool, 3),
                "target_s": TARGET_S,
                "ratio_warm_to_target": round(warm / TARGET_S, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
