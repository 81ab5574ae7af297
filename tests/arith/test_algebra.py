from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import synthetic_lora
from hypothesis import given, settings
from hypothesis import strategies as st

from langarith.arith.algebra import ModuleVector, mean, vsum, weighted_sum
from langarith.arith.formats import load, save
from langarith.arith.identity import legacy_identity
from langarith.arith.lowrank import lora_delta, truncate_lora
from langarith.core.errors import IncompatibleModulesError, NonFiniteError, SemanticsError

seeds = st.integers(min_value=0, max_value=10_000)
scalars = st.floats(min_value=-4, max_value=4, allow_nan=False, allow_infinity=False)


def close(x, y, rtol=1e-5, atol=1e-6) -> None:
    assert set(x.tensors) == set(y.tensors)
    for k in x.tensors:
        np.testing.assert_allclose(x.tensors[k], y.tensors[k], rtol=rtol, atol=atol, err_msg=k)


def dense(module, layer):
    return lora_delta(module, layer)


@settings(max_examples=25, deadline=None)
@given(seeds, seeds)
def test_add_then_subtract_is_identity(s1, s2):
    a, b = synthetic_lora(s1, label="a"), synthetic_lora(s2 + 10_001, label="b")
    close(((a + b) - b).materialize(), a)


@settings(max_examples=25, deadline=None)
@given(seeds)
def test_one_times_a_is_a(s):
    a = synthetic_lora(s)
    close((1 * a).materialize(), a)
    close((a * 1.0).materialize(), a)


@settings(max_examples=25, deadline=None)
@given(seeds, st.integers(min_value=1, max_value=6))
def test_mean_of_copies_is_the_copy(s, n):
    copies = [synthetic_lora(s, label=f"c{i}") for i in range(n)]
    close(mean(copies).materialize(), copies[0])


@settings(max_examples=25, deadline=None)
@given(seeds, seeds, scalars, scalars)
def test_sign_and_scale(s1, s2, x, y):
    a, b = synthetic_lora(s1, label="a"), synthetic_lora(s2 + 10_001, label="b")
    close((-a).materialize(), (-1 * a).materialize())
    close((x * (a + b)).materialize(), (x * a + x * b).materialize(), atol=1e-5)
    close(((x + y) * a).materialize(), (x * a + y * a).materialize(), atol=1e-5)
    if abs(x) > 1e-3:
        close(((x * a) / x).materialize(), a, atol=1e-5)
    ma = (x * a).materialize()
    for k in a.tensors:  # scaling multiplies every entry, so signs flip exactly with x < 0
        np.testing.assert_allclose(ma.tensors[k], np.float32(x) * a.tensors[k], rtol=1e-5, atol=1e-6)


def test_factor_is_elementwise_on_both_factors():
    a, b = synthetic_lora(1, label="a"), synthetic_lora(2, label="b")
    out = (0.7 * a + 0.3 * b).materialize("factor")
    for k in a.tensors:
        np.testing.assert_allclose(out.tensors[k], 0.7 * a.tensors[k] + 0.3 * b.tensors[k], rtol=1e-6)
    assert out.rank == a.rank and out.lora == a.lora


def test_sum_and_weighted_sum_and_builtin_sum():
    a, b, c = (synthetic_lora(i, label=n) for i, n in [(1, "a"), (2, "b"), (3, "c")])
    close(vsum([a, b, c]).materialize(), (a + b + c).materialize())
    close(sum([a.vector, b.vector, c.vector]).materialize(), (a + b + c).materialize())
    close(weighted_sum([0.5, -2, 1], [a, b, c]).materialize(), (0.5 * a - 2 * b + c).materialize())


def test_delta_is_the_exact_weighted_sum_of_updates_across_ranks_and_alphas(tmp_path):
    a = synthetic_lora(1, rank=2, alpha=16, label="a")
    b = synthetic_lora(2, rank=5, alpha=5, label="b")
    out = (0.7 * a - 1.3 * b).materialize("delta")
    assert out.rank == 7 and out.alpha == 7
    for layer in a.lora:
        expected = 0.7 * dense(a, layer) - 1.3 * dense(b, layer)
        np.testing.assert_allclose(dense(out, layer), expected, rtol=1e-5, atol=1e-5)
        assert out.lora[layer].scaling == 1.0
    assert out.rewrite_config and out.config == a.config  # the config for the new rank is made when it is saved
    written = json.loads((save(out, tmp_path / "out") / "adapter_config.json").read_text(encoding="utf-8"))
    assert written["r"] == 7 and written["lora_alpha"] == 7 and written["use_rslora"] is False
    assert load(tmp_path / "out").lora[next(iter(a.lora))].scaling == 1.0


def test_delta_handles_rslora_scaling():
    a = synthetic_lora(1, rank=4, alpha=8, label="a")
    rs = synthetic_lora(2, rank=4, alpha=8, label="rs")
    for layer, pair in rs.lora.items():  # rsLoRA: alpha / sqrt(r)
        rs.lora[layer] = type(pair)(pair.a, pair.b, 8 / np.sqrt(4))
    out = (a + rs).materialize("delta")
    for layer in a.lora:
        np.testing.assert_allclose(dense(out, layer), dense(a, layer) + dense(rs, layer), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rank", [1, 3, 6])
def test_truncation_is_the_best_rank_r_approximation(rank):
    a = synthetic_lora(1, rank=4, alpha=8, d_in=9, d_out=8, label="a")
    b = synthetic_lora(2, rank=3, alpha=3, d_in=9, d_out=8, label="b")
    out = (a + 0.5 * b).materialize("delta", rank=rank)
    assert out.rank == rank
    for layer in a.lora:
        full = dense(a, layer) + 0.5 * dense(b, layer)
        u, s, vt = np.linalg.svd(full)
        best = (u[:, :rank] * s[:rank]) @ vt[:rank]
        np.testing.assert_allclose(dense(out, layer), best, rtol=1e-5, atol=1e-5)


def test_truncate_lora_never_needs_the_dense_matrix_shape():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 300)), rng.normal(size=(200, 6))
    new_a, new_b = truncate_lora(a, b, 2)
    assert new_a.shape == (2, 300) and new_b.shape == (200, 2)


def test_factor_with_different_ranks_says_use_delta():
    a, b = synthetic_lora(1, rank=2, label="a"), synthetic_lora(2, rank=3, label="b")
    with pytest.raises(IncompatibleModulesError, match=r"ranks differ.*--semantics delta"):
        (a + b).materialize("factor")


def test_factor_with_different_alphas_says_use_delta():
    a, b = synthetic_lora(1, alpha=4, label="a"), synthetic_lora(2, alpha=8, label="b")
    with pytest.raises(IncompatibleModulesError, match=r"scalings .* differ.*delta"):
        (a + b).materialize("factor")


def test_mismatched_targets_list_the_offending_tensors():
    a, b = synthetic_lora(1, layers=3, label="a"), synthetic_lora(2, layers=2, label="b")
    with pytest.raises(IncompatibleModulesError, match=r"different targets.*l2\.lora_A\.weight"):
        (a + b).materialize()


def test_mismatched_shapes_name_the_tensors():
    a, b = synthetic_lora(1, d_in=7, label="a"), synthetic_lora(2, d_in=8, label="b")
    with pytest.raises(IncompatibleModulesError, match=r"shapes differ.*l0\.lora_A\.weight \(3, 7\) vs \(3, 8\)"):
        (a + b).materialize()


def test_mismatched_base_models_and_types_are_refused():
    a, b = synthetic_lora(1, label="a"), synthetic_lora(2, label="b")
    a.base, b.base = legacy_identity("google/gemma-3-270m"), legacy_identity("FacebookAI/xlm-roberta-base")
    with pytest.raises(IncompatibleModulesError, match=r"different base models: a on google/gemma-3-270m .*, b on "
                                                       r"FacebookAI/xlm-roberta-base .*Retrain b on google/gemma"):
        (a + b).materialize()
    b.base = None  # unknown fits any
    assert (a + b).materialize().base == a.base
    c = synthetic_lora(3, label="c")
    c.kind = "lokr"
    with pytest.raises(IncompatibleModulesError, match=r"only modules of one type"):
        (synthetic_lora(1) + c).materialize()


def test_delta_refuses_non_lora_and_rank_with_factor():
    c = synthetic_lora(3, label="c")
    c.kind = "bottleneck"
    with pytest.raises(SemanticsError, match=r"defined for LoRA"):
        (c + c).materialize("delta")
    with pytest.raises(SemanticsError, match=r"needs --semantics delta"):
        synthetic_lora(1).vector.materialize("factor", rank=2)


def test_nan_and_inf_results_are_refused():
    a = synthetic_lora(1, label="a")
    a.tensors["l0.lora_A.weight"][0, 0] = np.nan
    with pytest.raises(NonFiniteError, match=r"l0\.lora_A\.weight"):
        (0.5 * a).materialize()
    big = synthetic_lora(2, label="big")
    big.tensors = {k: np.full(v.shape, 40000, dtype=np.float16) for k, v in big.tensors.items()}
    with pytest.raises(NonFiniteError):
        (big + 2 * big).materialize()


def test_vectors_only_scale_by_numbers():
    a = synthetic_lora(1)
    with pytest.raises(TypeError, match=r"multiplied by numbers"):
        a * a
    with pytest.raises(TypeError, match=r"modules add to modules"):
        a + 1
    with pytest.raises(ZeroDivisionError):
        a / 0


def test_same_module_twice_merges_terms_and_provenance_weights():
    a, b = synthetic_lora(1, label="task_en"), synthetic_lora(2, label="lang_pt")
    v = 0.7 * a + 0.3 * (b - a)
    assert isinstance(v, ModuleVector)
    assert v.weights() == pytest.approx({"task_en": 0.4, "lang_pt": 0.3})


def test_extras_must_agree_or_be_averaged_on_request():
    a, b = synthetic_lora(1, label="a"), synthetic_lora(2, label="b")
    a.extras = {"score.weight": np.ones((2, 2), np.float32)}
    b.extras = {"score.weight": np.zeros((2, 2), np.float32)}
    with pytest.raises(IncompatibleModulesError, match=r"score.weight is a full weight"):
        (a + b).materialize()
    out = (a + b).materialize(extras="mean")
    np.testing.assert_allclose(out.extras["score.weight"], 0.5)
    only_a = (0.3 * a + 0.7 * synthetic_lora(3, label="c")).materialize()
    np.testing.assert_array_equal(only_a.extras["score.weight"], a.extras["score.weight"])


def test_the_readme_api_reads_like_the_equation(make_peft, tmp_path):
    from langarith import load, mean, save

    task = {"en": load(make_peft("task_en", seed=1)), "ar": load(make_peft("task_ar", seed=4))}
    lang = {c: load(make_peft(f"lang_{c}", seed=s)) for c, s in (("en", 2), ("pt", 3))}
    lam = 0.7
    theta = lam * task["en"] + (1 - lam) * (lang["pt"] - lang["en"])
    out = save(theta.materialize("factor"), tmp_path / "task_pt")
    k = next(iter(task["en"].tensors))
    expected = 0.7 * task["en"].tensors[k] + 0.3 * (lang["pt"].tensors[k] - lang["en"].tensors[k])
    np.testing.assert_allclose(load(out).tensors[k], expected, rtol=1e-5, atol=1e-6)
    both = mean(task[c] for c in ("en", "ar")).materialize()
    np.testing.assert_allclose(both.tensors[k], (task["en"].tensors[k] + task["ar"].tensors[k]) / 2, rtol=1e-5)


def test_factor_arithmetic_warns_unless_modules_share_their_init(tiny_models, tmp_path, make_peft):
    import warnings

    from langarith import load
    from langarith.core.errors import SharedInitWarning
    from langarith.training import TrainSpec, train

    def trained(name, seed, **options):
        return load(train(TrainSpec(role="language", language="pt", text=["tatoeba:pt"],
                                    model=str(tiny_models["decoder"]), out=tmp_path / name, steps=1, seed=seed,
                                    batch_size=2, seq_len=16, progress=False, method_options=options)).path)

    a, b = trained("a", 1), trained("b", 2)
    assert a.init_fingerprint == b.init_fingerprint is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error", SharedInitWarning)
        out = (0.5 * a + 0.5 * b).materialize("factor")
    assert out.init_fingerprint == a.init_fingerprint
    other = trained("c", 1, dropout=0.1)  # same shapes, different configuration, so a different start
    with pytest.warns(SharedInitWarning, match="different initial factors.*--semantics delta"):
        (a + other).materialize("factor")
    third_party = load(make_peft("x", seed=1)), load(make_peft("y", seed=2))
    with pytest.warns(SharedInitWarning, match="unknown"):
        (third_party[0] - third_party[1]).materialize("factor")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SharedInitWarning)
        (third_party[0] - third_party[1]).materialize("delta")
    lokr = load(make_peft("k1", seed=1, method="lokr")), load(make_peft("k2", seed=2, method="lokr"))
    with pytest.warns(SharedInitWarning, match="Use --semantics delta"):  # LoKr too has an exact delta form
        (lokr[0] + lokr[1]).materialize("factor")


def test_mixed_dtypes_give_one_result_dtype_whatever_the_order_and_integers_are_refused():
    from langarith.core.errors import IncompatibleModulesError

    a, b = synthetic_lora(1), synthetic_lora(2)
    half = a.with_tensors({k: v.astype(np.float16) for k, v in a.tensors.items()}, stored_as={})
    bf16 = b.with_tensors(dict(b.tensors), stored_as=dict.fromkeys(b.tensors, "BF16"))
    for semantics in ("factor", "delta"):
        one, other = (half + b).materialize(semantics), (b + half).materialize(semantics)
        dtypes = [{t.dtype for t in result.tensors.values()} for result in (one, other)]
        assert dtypes[0] == dtypes[1] == {np.dtype(np.float32)}
    assert (bf16 + a).materialize().stored_as == (a + bf16).materialize().stored_as == {}
    assert set((bf16 + bf16).materialize().stored_as.values()) == {"BF16"}
    counts = a.with_tensors({k: np.ones(v.shape, dtype=np.int64) for k, v in a.tensors.items()})
    with pytest.raises(IncompatibleModulesError, match="is int64, not a floating-point parameter"):
        (counts + b).materialize()


def test_reprs_are_one_line():
    module = synthetic_lora(1, rank=3, label="task_en", layers=40, d_in=64, d_out=64)
    assert repr(module) == "Module('task_en', kind='lora', format='peft', rank=3, tensors=80, params=15,360)"
    assert repr(0.7 * module - module) == "ModuleVector(-0.3·task_en)"


def test_a_delta_rank_no_layer_can_hold_is_refused_not_padded_with_zeros():
    v = synthetic_lora(1).vector + synthetic_lora(2).vector  # layers of 5 × 7: ΔW has rank at most 5
    with pytest.raises(SemanticsError, match=r"--rank 100000 is more than any layer can hold.*give --rank 5 or less"):
        v.materialize("delta", rank=100_000)
    assert v.materialize("delta", rank=5).rank == 5
