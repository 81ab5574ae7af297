"""Registries: `@register` over a class, one name once, discovery of a package's files, and plugins that
fail to import named with their package."""

from __future__ import annotations

import importlib.metadata
import sys

import pytest

from langarith.core.registry import Registry


class Refused(Exception):
    pass


class Thing:
    name = "thing"

    def __init__(self, name: str | None = None):
        self.name = name or self.name


def test_a_class_is_registered_as_an_instance_and_returned_as_it_is():
    things: Registry[Thing] = Registry("thing", Refused)

    @things.register
    class Special(Thing):
        name = "special"

    assert isinstance(Special, type) and isinstance(things["special"], Special)
    things.register(Thing("plain"))
    with pytest.raises(Refused, match="two things are named 'plain'"):
        things.register(Thing("plain"))
    with pytest.raises(Refused, match="unknown thing 'nope'; choose one of special, plain"):
        things.get_or_raise("nope")


def test_discover_imports_every_public_module_of_a_package_in_name_order(tmp_path, monkeypatch):
    package = tmp_path / "shelf"
    package.mkdir()
    (package / "__init__.py").write_text("from langarith.core.registry import Registry\n"
                                         "class E(Exception): pass\n"
                                         "ITEMS = Registry('item', E)\n")
    for name in ("zeta", "alpha", "_private"):
        (package / f"{name}.py").write_text("from dataclasses import dataclass\nfrom shelf import ITEMS\n"
                                            f"@ITEMS.register\n@dataclass\nclass Item:\n    name: str = {name!r}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import shelf

    shelf.ITEMS.discover("shelf")
    assert list(shelf.ITEMS) == ["alpha", "zeta"]
    for name in [m for m in sys.modules if m == "shelf" or m.startswith("shelf.")]:
        monkeypatch.delitem(sys.modules, name)


def test_a_plugin_that_fails_to_import_is_named_with_its_entry_point(monkeypatch):
    things: Registry[Thing] = Registry("thing", Refused, group="things")
    broken = importlib.metadata.EntryPoint("broken", "no_such_module_for_langarith", "langarith.things")
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: [broken] if group == "langarith.things" else [])
    with pytest.raises(Refused, match=r"the thing plugin 'broken' \(no_such_module_for_langarith\) failed to "
                                      r"import: ModuleNotFoundError.*; fix or uninstall that package"):
        things.load_plugins()


def test_an_unknown_name_lists_the_known_ones_and_suggests_the_close_ones():
    things: Registry[Thing] = Registry("thing", Refused)
    for name in ("sib200", "wikiann", "xnli"):
        things.register(Thing(name))
    with pytest.raises(Refused, match=r"^unknown thing 'sib20'; choose one of sib200, wikiann, xnli; did you mean "
                                      r"sib200\?$"):
        things.get_or_raise("sib20")
    with pytest.raises(Refused, match=r"choose one of sib200, wikiann, xnli$"):  # nothing close: no guess
        things.get_or_raise("qqqq")
