from __future__ import annotations

import numpy as np
import pytest
from conftest import synthetic_lora

from langarith.arith.lowrank import lora_delta
from langarith.arith.merges import MERGES, merge
from langarith.arith.module import Module
from langarith.core.errors import SemanticsError


def vec(*rows):
    return np.array(rows, dtype=np.float64)


def test_ties_by_hand():
    x = vec([1.0, -2.0, 3.0, 0.1], [-1.5, -1.0, 2.0, 0.2])
    # top 50%: [0, -2, 3, 0] and [-1.5, 0, 2, 0]; signs elected by mass: [-, -, +, 0];
    # disjoint means: -1.5, -2, (3 + 2) / 2, 0
    np.testing.assert_allclose(MERGES["ties"](x, np.ones(2), top_k=0.5, lam=1.0), [-1.5, -2.0, 2.5, 0.0])
    np.testing.assert_allclose(MERGES["ties"](x, np.ones(2), top_k=0.5, lam=1.4), 1.4 * np.array([-1.5, -2, 2.5, 0]))


def test_magnitude_by_hand():
    x = vec([1.0, -2.0, 3.0, 0.1], [-1.5, -1.0, 2.0, 0.2])
    np.testing.assert_allclose(MERGES["magnitude"](x, np.array([0.5, 0.5]), density=0.5), [-0.75, -1.0, 2.5, 0.0])


def test_trim_over_the_module_or_within_each_tensor():
    # two tensors of 2 entries each; the second is 100× smaller, so a module-wide top-50% keeps none of it
    x = vec([1.0, -2.0, 0.01, -0.02], [3.0, 1.0, 0.03, 0.01])
    whole = MERGES["magnitude"](x, np.ones(2), density=0.5)
    per_tensor = MERGES["magnitude"](x, np.ones(2), [2, 2], density=0.5, trim="tensor")
    np.testing.assert_allclose(whole, [1.0 + 3.0, -2.0 + 1.0, 0.0, 0.0])
    np.testing.assert_allclose(per_tensor, [3.0, -2.0, 0.03, -0.02])
    np.testing.assert_allclose(MERGES["ties"](x, np.ones(2), [2, 2], top_k=0.5, trim="tensor"),
                               [3.0, -2.0, 0.03, -0.02])
    with pytest.raises(SemanticsError, match="unknown trim 'layer': use one of module, tensor"):
        MERGES["ties"](x, np.ones(2), [2, 2], trim="layer")


def test_merge_trims_each_tensor_of_real_modules(make_peft, tmp_path):
    from langarith import load

    mods = [load(make_peft("a", seed=1)), load(make_peft("b", seed=2))]
    out = merge("magnitude", mods, density=0.25, trim="tensor")
    for key, t in out.tensors.items():
        assert np.count_nonzero(t) >= 0.2 * t.size, key  # every tensor keeps about its quarter


def test_dare_is_seeded_unbiased_and_exact_without_drops():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 20_000))
    w = np.array([0.3, 0.7])
    np.testing.assert_allclose(MERGES["dare"](x, w, drop_rate=0.0), w @ x)
    one = MERGES["dare"](x, w, drop_rate=0.6, seed=3)
    np.testing.assert_array_equal(one, MERGES["dare"](x, w, drop_rate=0.6, seed=3))
    assert not np.array_equal(one, MERGES["dare"](x, w, drop_rate=0.6, seed=4))
    assert abs(one.sum() - (w @ x).sum()) / np.abs(w @ x).sum() < 0.05  # rescaling keeps the expectation
    assert 0.55 < np.mean(MERGES["dare"](x[:1], np.ones(1), drop_rate=0.6, seed=1) == 0) < 0.65


def _bottleneck(seed: int) -> Module:
    rng = np.random.default_rng(seed)
    tensors = {"layer.0.adapter_down.weight": rng.normal(size=(2, 8)).astype(np.float32),
               "layer.0.adapter_up.weight": rng.normal(size=(8, 2)).astype(np.float32)}
    return Module(tensors=tensors, kind="bottleneck", format="adapterhub", config={}, name=f"b{seed}")


@pytest.mark.parametrize("method, params", [("ties", {"top_k": 0.2}), ("dare", {"drop_rate": 0.3}),
                                            ("magnitude", {"density": 0.5})])
def test_every_merge_works_for_bottleneck_and_lora(method, params):
    out = merge(method, [_bottleneck(1), _bottleneck(2)], **params)
    assert out.kind == "bottleneck" and set(out.tensors) == set(_bottleneck(1).tensors)
    a, b = synthetic_lora(1, rank=2, label="a"), synthetic_lora(2, rank=3, label="b")
    low = merge(method, [a, b], semantics="delta", **params)
    assert low.rank == 5 and all(p.scaling == 1.0 for p in low.lora.values())


def test_delta_merge_of_one_module_keeping_everything_is_the_module():
    a = synthetic_lora(1, rank=3, alpha=12, label="a")
    out = merge("ties", [a], semantics="delta", top_k=1.0)
    for layer in a.lora:
        np.testing.assert_allclose(lora_delta(out, layer), lora_delta(a, layer), rtol=1e-5, atol=1e-5)


def test_merge_errors():
    with pytest.raises(SemanticsError, match="unknown merge method"):
        merge("slerp", [_bottleneck(1)])
    with pytest.raises(SemanticsError, match="kept fraction"):
        merge("ties", [_bottleneck(1), _bottleneck(2)], top_k=0.0)
    with pytest.raises(SemanticsError, match=r"drop rate must be in \[0, 1\)"):
        merge("dare", [_bottleneck(1), _bottleneck(2)], drop_rate=1.0)
    with pytest.raises(SemanticsError, match="merges LoRA"):
        merge("ties", [_bottleneck(1)], semantics="delta")


def test_merges_record_the_weights_they_apply(make_peft, tmp_path):
    import json

    from langarith.arith.compose import compose

    a, b = make_peft("a", seed=1), make_peft("b", seed=2)
    for method, params, weights in (("dare", {"drop_rate": 0.0, "seed": 0}, [0.5, 0.5]),
                                    ("magnitude", {"density": 0.5}, [0.5, 0.5]), ("ties", {"top_k": 0.5}, [1.0, 1.0])):
        out = compose(tmp_path / method, recipe=method, task={"en": str(a), "pt": str(b)}, params=params, lam=1.0)
        provenance = json.loads((out / "langarith.json").read_text())["provenance"]
        assert list(provenance["weights"].values()) == weights, method


def test_a_negative_dare_seed_or_a_rank_no_layer_holds_is_refused():
    a, b = synthetic_lora(1), synthetic_lora(2)  # layers of 5 × 7: rank at most 5
    with pytest.raises(SemanticsError, match="seed must be a whole number"):
        merge("dare", [a, b], seed=-1)
    with pytest.raises(SemanticsError, match=r"--rank 6 is more than any layer can hold.*at most 5"):
        merge("ties", [a, b], semantics="delta", rank=6)
    with pytest.raises(SemanticsError, match="positive integer, got 0"):
        merge("ties", [a, b], semantics="delta", rank=0)  # was: silently the default rank
    assert merge("ties", [a, b], semantics="delta", rank=5).rank == 5
