"""The schema's own catalogue (api_docs/locale/<lang>/LC_MESSAGES/schema.po): the English texts of the views in the
schema's other languages, current with the code, and compiled. Also api_docs's Django catalogue."""

from pathlib import Path

import polib
import pytest

from api_docs.management.commands.schema_messages import catalogue_path, untranslated_texts

LOCALE = Path(__file__).resolve().parents[2] / "api_docs" / "locale" / "zh_Hans" / "LC_MESSAGES"


@pytest.mark.parametrize("domain", ["schema", "django"])
def test_every_message_is_translated_and_compiled(domain):
    po = polib.pofile(str(LOCALE / f"{domain}.po"))
    assert [e.msgid for e in po if not e.obsolete and (not e.msgstr or "fuzzy" in e.flags)] == []
    mo = {e.msgid: e.msgstr for e in polib.mofile(str(LOCALE / f"{domain}.mo")) if e.msgid}
    assert mo == {e.msgid: e.msgstr for e in po if not e.obsolete and e.msgid}


def test_the_schema_catalogue_has_exactly_the_texts_the_code_writes_in_english(db):
    """A text changed in a view is missing from the catalogue (its Chinese schema shows English), and the old one
    is stale: `manage.py schema_messages` brings the catalogue up to date."""
    path = catalogue_path("zh-hans")
    assert path == LOCALE / "schema.po"
    texts = untranslated_texts("zh-hans")
    assert len(texts) > 100
    assert {e.msgid for e in polib.pofile(str(path)) if not e.obsolete} == texts
