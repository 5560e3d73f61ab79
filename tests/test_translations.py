"""Every user-facing string has its zh-hans translation, and the compiled catalogue is current."""

from pathlib import Path

import polib

LOCALE = Path(__file__).resolve().parent.parent / "agri" / "locale" / "zh_Hans" / "LC_MESSAGES"


def test_every_message_is_translated_and_none_is_fuzzy():
    po = polib.pofile(str(LOCALE / "django.po"))
    untranslated = [e.msgid for e in po if not e.obsolete and not e.msgstr]
    fuzzy = [e.msgid for e in po if "fuzzy" in e.flags]
    assert (untranslated, fuzzy) == ([], [])


def test_compiled_catalogue_matches_the_source():
    po = {e.msgid: e.msgstr for e in polib.pofile(str(LOCALE / "django.po")) if not e.obsolete}
    mo = {e.msgid: e.msgstr for e in polib.mofile(str(LOCALE / "django.mo")) if e.msgid}
    assert mo == {k: v for k, v in po.items() if k}
