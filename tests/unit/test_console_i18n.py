"""The console's one catalogue: every key in Chinese and English, every key a template or a
page asks for present in it (a missing one would be a 500 in front of a person)."""

from __future__ import annotations

import re
from importlib.resources import files

from console.i18n import LANGUAGES, MESSAGES, Translator, local_time
from console.pages import MENU
from console.render import FLASHES
from domain.authority import AccessRole

_LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_.-]+)["']""")
_PREFIXED_KEY = re.compile(r"""\bt\(\s*["']([a-z_.-]+\.)["']\s*~""")


def test_every_key_has_both_languages_and_the_same_fields() -> None:
    for key, texts in MESSAGES.items():
        assert set(texts) == set(LANGUAGES), key
        for language in LANGUAGES:
            assert texts[language].strip(), (key, language)
        fields = {tuple(sorted(re.findall(r"{(\w+)}", texts[lang]))) for lang in LANGUAGES}
        assert len(fields) == 1, f"{key}: both languages fill the same fields"


def _templates() -> dict[str, str]:
    folder = files("console") / "templates"
    return {
        t.name: t.read_text(encoding="utf-8") for t in folder.iterdir() if t.name.endswith(".html")
    }


def test_every_key_the_templates_and_pages_ask_for_is_in_the_catalogue() -> None:
    asked = {
        key
        for text in _templates().values()
        for key in _LITERAL_KEY.findall(text)
        if not key.endswith(".")  # a prefix: checked below
    }
    asked |= {key for _path, _action, key in MENU} | set(FLASHES)
    asked |= {f"role.{role.value}" for role in AccessRole}
    assert asked - set(MESSAGES) == set()
    prefixes = {p for text in _templates().values() for p in _PREFIXED_KEY.findall(text)}
    assert prefixes, "the templates build keys from values (status., role., ...)"
    for prefix in prefixes:
        assert any(key.startswith(prefix) for key in MESSAGES), prefix


def test_a_translator_fills_the_fields() -> None:
    assert Translator("zh")("queue.overdue", days=3) == "逾期 3 个工作日"
    assert Translator("en")("queue.overdue", days=3) == "3 working days late"


def test_people_read_beijing_time() -> None:
    assert local_time("2026-12-07T16:30:00+00:00") == "2026-12-08 00:30"
