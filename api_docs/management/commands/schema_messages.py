"""Bring the schema's own catalogue (api_docs/locale/<lang>/LC_MESSAGES/schema.po) up to date with the code.

Its messages are the English texts that the schema still has in another language once Django's catalogues have
translated what they know: the views' docstrings and extend_schema texts. New ones are added untranslated, and
the ones the schema no longer has are removed; then fill in each msgstr and run compilemessages. A development
tool: it reads and writes .po files with polib (requirements-dev.txt).
"""

import re

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import translation
from drf_spectacular.generators import SchemaGenerator

from api_docs import schema as api_schema

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def untranslated_texts(language: str) -> set[str]:
    """The texts of the schema in ``language`` that no catalogue but the schema's own translates."""
    texts = set()
    with translation.override(language), api_schema.without_schema_catalogue():
        result = SchemaGenerator().get_schema(request=None, public=True)
    for node, key in api_schema.schema_texts(result):
        if node[key] and not CJK.search(node[key]):
            texts.add(node[key])
    if not CJK.search(result["info"].get("description", "")):
        texts.add(result["info"]["description"])
    return texts


def catalogue_path(language: str):
    return api_schema.SCHEMA_LOCALE / translation.to_locale(language) / "LC_MESSAGES" / "schema.po"


class Command(BaseCommand):
    help = "Add the schema's new English texts to api_docs/locale/*/LC_MESSAGES/schema.po and drop stale ones."

    def handle(self, *args, **options):
        import polib

        for language, _name in settings.LANGUAGES:
            if language == "en":
                continue
            path = catalogue_path(language)
            path.parent.mkdir(parents=True, exist_ok=True)
            po = polib.pofile(str(path)) if path.exists() else polib.POFile()
            po.metadata = {"Content-Type": "text/plain; charset=UTF-8", "Language": translation.to_locale(language)}
            texts = untranslated_texts(language)
            known = {entry.msgid for entry in po}
            for entry in [entry for entry in po if entry.msgid not in texts]:
                po.remove(entry)
            for text in sorted(texts - known):
                po.append(polib.POEntry(msgid=text, msgstr=""))
            list.sort(po, key=lambda entry: entry.msgid)
            po.save(str(path))
            missing = sum(1 for entry in po if not entry.msgstr)
            self.stdout.write(f"{path}: {len(po)} messages, {missing} to translate")
