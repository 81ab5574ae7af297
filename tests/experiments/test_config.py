"""A config may pin the related sources and LA partners a paper published, instead of the rule's choice."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from langarith.experiments.config import Config

SMOKE = {"smoke": {"model": "tiny"}}


def config(**changes) -> Config:
    return Config(**{"name": "t", "setting": "many-languages", "task": "sib200", "sources": ["ar", "bn", "en", "ru"],
                     "targets": ["pt", "mr"], "budget": "smoke", "budgets": SMOKE, **changes})


def test_pinned_related_sources_replace_the_rule_for_their_target_only(isolated_cache):
    cfg = config(related={"por_Latn": ["eng", "ru", "ar"]})
    pinned = cfg.related_to("pt")
    assert pinned.codes == ["en", "ru", "ar"] and "pinned" in pinned.note  # spelled as the sources are
    assert "pinned" not in cfg.related_to("mr").note  # the rule's choice


def test_pins_outside_the_sources_or_the_pool_are_refused():
    with pytest.raises(ValidationError, match=r"related: pt's sources \['sw'\] are not among the config's sources"):
        config(related={"pt": ["en", "sw"]})
    with pytest.raises(ValidationError, match="partner: ar's partner sw is not in the pool"):
        Config(name="t", setting="zero-shot", task="sib200", sources=["en"], targets=["ar"], pool=["ru", "bg"],
               method="bottleneck", partner={"ar": "sw"}, budget="smoke", budgets=SMOKE)


def test_a_pinned_partner_replaces_the_nearest_in_the_pool(isolated_cache):
    cfg = Config(name="t", setting="zero-shot", task="sib200", sources=["eng_Latn"], targets=["arb_Arab", "hin_Deva"],
                 pool=["swh_Latn", "urd_Arab", "rus_Cyrl"], method="bottleneck", partner={"ar": "sw"},
                 budget="smoke", budgets=SMOKE)
    assert cfg.partner_of("arb_Arab", "eng_Latn") == ("swh_Latn", "rel = swh_Latn (pinned by the config)")
    code, note = cfg.partner_of("hin_Deva", "eng_Latn")
    assert code == "urd_Arab" and "nearest" in note


CONFIGS = Path(__file__).resolve().parents[2] / "configs"
#: paper 2's Table 2: each of its 13 languages' partner within them
PAPER_2_PARTNERS = {"ar": "sw", "bg": "ru", "de": "fr", "el": "es", "es": "fr", "fr": "es", "hi": "ur", "ru": "bg",
                    "sw": "ar", "tr": "bg", "ur": "hi", "vi": "ru", "zh": "ar"}


def _over_paper_2s_languages() -> list[str]:
    pools = {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")).get("pool") or [] for p in CONFIGS.glob("*.yaml")}
    return sorted(name for name, pool in pools.items() if sorted(pool) == sorted(PAPER_2_PARTNERS))


def test_the_zero_shot_configs_on_paper_2s_tasks_are_among_those_over_its_languages():
    assert {"madx-zero-shot-wikiann", "madx-zero-shot-xnli"} <= set(_over_paper_2s_languages())


@pytest.mark.parametrize("name", _over_paper_2s_languages())
def test_configs_over_paper_2s_languages_use_its_table_2_partners(name):
    from langarith.experiments.config import load_config

    cfg = load_config(CONFIGS / f"{name}.yaml", "full")
    assert {t: cfg.partner_of(t, cfg.sources[0]) for t in cfg.targets} == {
        t: (PAPER_2_PARTNERS[t], f"rel = {PAPER_2_PARTNERS[t]} (pinned by the config)") for t in cfg.targets}


def test_the_typology_block_chooses_the_rule_its_kind_and_thresholds(isolated_cache):
    assert config().related_to("uk").codes == ["ru", "en", "ar"]  # the paper's rule by default
    assert config(typology={"rule": "top-k", "k": 2}).related_to("uk").codes == ["ru", "en"]
    assert config(typology={"rule": "nearest", "kind": "genetic"}).related_to("mr").codes == ["bn"]
    assert config(typology={"max_geographic": 0.1}).related_to("pt").codes == ["en"]
    zero = Config(name="t", setting="zero-shot", task="sib200", sources=["en"], targets=["ar"], pool=["ru", "tr"],
                  method="bottleneck", typology={"kind": "geographic"}, budget="smoke", budgets=SMOKE)
    assert zero.partner_of("ar", "en")[0] == "tr"  # geographically nearer; syntactically, Russian is
    assert config().distances_to("pt") == pytest.approx({"ar": 0.463, "bn": 0.615, "en": 0.362, "ru": 0.335}, abs=1e-3)


@pytest.mark.parametrize(("change", "message"), [
    ({"typology": {"rule": "topk"}}, r"unknown rule 'topk'; choose one of paper, top-k, nearest; did you mean top-k"),
    ({"typology": {"kind": "syntax"}}, r"unknown distance kind 'syntax'; .*did you mean syntactic"),
    ({"typology": {"k": 0}}, r"typology.k\n  Input should be greater than or equal to 1"),
    ({"typology": {"max_syntactic": 1.5}}, r"less than or equal to 1"),
    ({"typology": {"treshold": 0.5}}, r"typology.treshold\n  Extra inputs are not permitted"),
    ({"related": {"pt": ["pt", "en"]}}, r"related: pt is pinned to itself"),
    ({"related": {"xx-nowhere": ["en"]}}, r"xx-nowhere"),
])
def test_a_wrong_typology_block_or_pin_is_refused_in_one_line(change, message):
    with pytest.raises(ValidationError, match=message):
        config(**change)


def test_a_misspelt_text_source_is_refused_with_the_close_one():
    with pytest.raises(ValidationError, match=r"tatoba: is no corpus; did you mean tatoeba:"):
        config(text=["tatoba:{lang}"])
    with pytest.raises(ValidationError, match="sonofma: is no corpus"):
        config(budgets={"smoke": {"model": "tiny", "text": ["sonofma:{lang}"]}})
    assert config(text=["tatoeba:{lang}", "texts/{lang}.txt"]).text[1] == "texts/{lang}.txt"  # a file is a file


def test_the_hubs_split_words_are_langariths():
    cfg = config(dev_split="validation", train_split={"en": "Validation"})
    assert cfg.dev_split == "dev" and cfg.train_split == {"en": "dev"} and cfg.test_split == "test"


@pytest.mark.parametrize(("change", "message"), [
    ({"task": "sib20"}, r"unknown task 'sib20'; choose one of .*; did you mean sib200\?"),
    ({"setting": "many-language"}, r"unknown experiment setting 'many-language'; .*did you mean many-languages"),
    ({"method": "lorra"}, r"unknown method 'lorra'; .*did you mean lora"),
    ({"data": "sib20"}, r"data: 'sib20' is neither a dataset nor a path here; did you mean sib200\?"),
    ({"data": "wikian"}, r"did you mean wikiann\?"),
    ({"data": "nothing-like-it"}, r"data: 'nothing-like-it' is neither a dataset nor a path here; give one of sib200"),
    ({"text": ["wikian:{lang}"]}, r"wikian: is no corpus; did you mean wikiann:"),
    ({"text": ["tatoeba:{lang}", "tatoeba"]}, r"text source 'tatoeba' is no file and no corpus; did you mean "
                                               r"tatoeba:\{lang\}"),
    ({"methods": ["add-relatd"]}, r"methods \['add-relatd'\] do not exist .*; did you mean add-related"),
    ({"label_free": ["unlabelled"]}, r"unknown strategies \['unlabelled'\].*; did you mean unlabeled\?"),
    ({"budgets": {"smoke": {"model": "tiny", "search": "gird"}}}, r"unknown λ search 'gird'; .*did you mean grid"),
])
def test_unknown_names_anywhere_are_refused_with_the_close_ones(change, message):
    with pytest.raises(ValidationError, match=message):
        config(**change)


def test_datasets_by_name_hub_ids_and_paths_are_accepted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mysib").mkdir()
    for data in ("sib200", "hf:Davlan/sib200", "./not-yet-there", "mysib", str(tmp_path / "mysib")):
        assert config(data=data).data == data
    assert config(text=["tatoeba:{lang}", "texts/{lang}.txt", "notes"]).text[2] == "notes"  # a file to be made


def test_a_config_whose_aliases_expand_exponentially_or_that_nests_deeply_is_refused_at_once(tmp_path):
    import time

    from langarith.experiments.config import load_config
    from langarith.experiments.setting import ExperimentError

    base = (Path(__file__).resolve().parents[2] / "configs" / "sib200-one-language.yaml").read_text()
    doubling = "".join(f"  l{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, 40))  # 2^40 values, 40 aliases
    (tmp_path / "bomb.yaml").write_text(base + "method_options:\n  l0: &a0 [lol, lol]\n" + doubling)
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    started = time.perf_counter()
    with pytest.raises(ExperimentError, match="aliases expand into more than 100,000 values"):
        load_config(tmp_path / "bomb.yaml")  # was: minutes, then gigabytes, under the 100-alias cap
    with pytest.raises(ExperimentError, match="nested more than 50 deep"):
        load_config(tmp_path / "deep.yaml")  # was: a RecursionError traceback
    assert time.perf_counter() - started < 5
