"""The checks every model-written text passes before the digest uses it.

Why one module: deep dives, the Signal of the Day, patterns, top stories and the week in review
are all written by the same kind of model, and it makes the same kinds of mistakes in each: an
answer that is not the JSON asked for, a paragraph far too long, a figure or a name the post
never mentions, "we" copied from the post's own voice, an answer in another language. Each
check raises `Rejected` with a short `reason` from `REASONS` (counted in the run's summary line)
and a detail for the model, which is asked once more with it.

What "occurs in the source material" means here:

- **a figure**: every number, with thousands separators ignored (3,000 = 3000) and a trailing
  unit or % allowed (40% = 40);
- **a name**: every word with a capital letter (technology, product, company, person), except
  an ordinary word that opens a sentence ("The", "Instead", "Static": a short list of openers,
  and ordinary English endings such as -ic, -ly, -ing, -ion); a name occurs if the material has
  it as a word in any case, or it is one of the `names` given (the post's company). A
  possessive ("Datadog's") is the name without its "'s"; "Postgres-backed" is "Postgres".

Example:

    text = check_text(answer, material=post, names=["Datadog"], words=(70, 130))
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

__all__ = [
    "REASONS",
    "Rejected",
    "check_text",
    "figures",
    "invented_figures",
    "invented_names",
    "read_fields",
]

REASONS = (
    "broken JSON",
    "the wrong shape",
    "no answer",
    "too short",
    "too long",
    "a figure not in the post",
    "a name not in the post",
    "a company not named",
    "first person",
    "not English",
)


class Rejected(ValueError):
    """A model's answer that cannot be used; `reason` is one of `REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        assert reason in REASONS, reason
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


# --- shape -------------------------------------------------------------------------------------


def read_fields(content: str, fields: Sequence[str]) -> dict[str, str]:
    """The string `fields` of a JSON object answer (a ```json fence allowed), whitespace-collapsed.

    Raises `Rejected`: "broken JSON" when it does not parse, "the wrong shape" when it is not an
    object or a field is missing or not a string, "no answer" when every field is empty (how
    models decline).
    """
    body = content.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", body, re.DOTALL)
    if fenced:
        body = fenced.group(1)
    if not body:
        raise Rejected("no answer", "the answer was empty")
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise Rejected("broken JSON", "the answer is not a JSON object") from None
    if not isinstance(data, dict):
        raise Rejected("the wrong shape", "the answer is not a JSON object")
    wrong = [name for name in fields if not isinstance(data.get(name), str)]
    if wrong:
        wanted = ", ".join(f'"{name}"' for name in fields)
        raise Rejected("the wrong shape", f"expected the string fields {wanted}")
    values = {name: " ".join(str(data[name]).split()) for name in fields}
    if not any(values.values()):
        raise Rejected("no answer", "every field is empty")
    return values


# --- figures -----------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def figures(text: str) -> set[str]:
    """The numbers in `text`, normalised: "3,000" and "3000" are both "3000"."""
    return {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}


def invented_figures(text: str, material: str) -> list[str]:
    """The numbers in `text` that do not occur in `material`, sorted."""
    return sorted(figures(text) - figures(material))


# --- names -------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#.'’]*[A-Za-z0-9+#]|[A-Za-z]")
_SENTENCE_END = re.compile(r"[.!?:;]['\"”’)\]]*$")
# Ordinary words that open a sentence in a summary. A capitalised word at a sentence start is a
# name only if it is neither one of these nor a word of the material in any case.
_OPENERS = frozenset(
    """a an the this that these those it its they their there here he she his her both each
    every all many most some several other others another such one two three few no not only
    instead however overall together ultimately meanwhile finally first second third next then
    now today still yet also rather even just more less much what which who whom whose how why
    when where while whereas as because since although though once if unless until after before
    by for from in into on onto at to with without within across through throughout beyond
    under over between among against toward towards via per using building moving running
    treating choosing keeping making adding replacing trading accepting teams engineers
    companies organisations organizations engineering lessons lesson the result results key
    takeaway takeaways practical readers anyone any whatever whichever so thus hence therefore
    but and or nor yes short long large small big new old modern simple strong good best better
    similar different same common shared central clear fast slow high low open public private
    data security reliability performance latency cost costs scale growth speed safety trust
    infrastructure systems software hardware platform platforms tooling tools code""".split()
)
# …and so are words with an ordinary English ending ("Static", "Careful", "Moving"). A product
# named like one ("Elastic") opening a sentence slips through; anywhere else it is still checked.
_ORDINARY_ENDING = re.compile(
    r"(?:ic|ical|al|ally|ly|ing|ings|ed|ion|ions|ive|ives|ous|ent|ents|ant|ants|ity|ities|ness"
    r"|ment|ments|ful|less|able|ible|ise|ize|ised|ized|ship|ward|wards|wise|ance|ence|ency)$"
)


def _names(text: str) -> list[tuple[str, bool]]:
    """(word, opens a sentence) for each word of `text` with a capital letter in it."""
    found: list[tuple[str, bool]] = []
    at_start = True
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        before = text[: match.start()].rstrip()
        # "(" or a quote before a word does not end a sentence; a full stop, colon or dash does
        while before and before[-1] in "\"“‘'([":
            before = before[:-1].rstrip()
        at_start = not before or bool(_SENTENCE_END.search(before)) or before.endswith("—")
        for part in re.split(r"[-/]", re.sub(r"['’]s$", "", token)):
            if part and any(c.isupper() for c in part):
                found.append((part, at_start))
    return found


def invented_names(text: str, material: str, names: Iterable[str] = ()) -> list[str]:
    """The capitalised names in `text` that occur neither in `material` nor among `names`."""
    known = material.lower()
    allowed = {w.lower() for name in names for w in _TOKEN.findall(name)}
    invented: list[str] = []
    for word, opens in _names(text):
        lower = word.lower()
        if lower in allowed:
            continue
        if opens and word[1:] == word[1:].lower():
            if lower in _OPENERS or _ORDINARY_ENDING.search(lower):
                continue
        if re.search(rf"(?<![a-z0-9]){re.escape(lower)}(?![a-z0-9])", known):
            continue
        if word not in invented:
            invented.append(word)
    return invented


# --- voice and language ------------------------------------------------------------------------

_FIRST_PERSON = re.compile(
    r"(?<![\w/])(?:[Ww]e(?:['’](?:re|ve|d|ll))?|[Oo]urs?|[Oo]urselves|[Uu]s|I(?:['’](?:m|ve|d|ll))?"
    r"|[Mm]e|[Mm]y|[Mm]yself)(?![\w/'’])"
)
_ENGLISH = frozenset(
    "the a an and of to in is are was were be been for that with on as by its it from at this "
    "which or their than into how what has have had not but can should would will each every "
    "all also more they them these those so while when where who over after before".split()
)


def _first_person(text: str) -> list[str]:
    return sorted({m.group(0) for m in _FIRST_PERSON.finditer(text)})


def _is_english(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if letters and sum(not c.isascii() for c in letters) / len(letters) > 0.1:
        return False
    words = re.findall(r"[a-z]+", text.lower())
    if len(words) < 12:
        return True  # too short to judge by its function words
    return sum(w in _ENGLISH for w in words) / len(words) >= 0.08


# --- all of them ---------------------------------------------------------------------------------


def check_text(
    text: str,
    *,
    material: str,
    names: Sequence[str] = (),
    words: tuple[int, int],
    must_name: Sequence[str] = (),
) -> str:
    """`text` whitespace-collapsed if it passes every check, else raise `Rejected`.

    - `material`: what the text may draw on (the post; for sections, the deep dives).
    - `names`: names allowed beyond the material (the post's company).
    - `words`: the (least, most) words allowed.
    - `must_name`: companies the text has to name (case-insensitive).
    """
    text = " ".join(text.split())
    count = len(text.split())
    if count < words[0]:
        raise Rejected("too short", f"{count} words, at least {words[0]} wanted")
    if count > words[1]:
        raise Rejected("too long", f"{count} words, at most {words[1]} wanted")
    if not _is_english(text):
        raise Rejected("not English", "write in English")
    pronouns = _first_person(text)
    if pronouns:
        raise Rejected("first person", f"{', '.join(pronouns)}: write in the third person")
    invented = invented_figures(text, material)
    if invented:
        raise Rejected("a figure not in the post", ", ".join(invented[:5]))
    unknown = invented_names(text, material, names)
    if unknown:
        raise Rejected("a name not in the post", ", ".join(unknown[:5]))
    missing = [c for c in must_name if c.lower() not in text.lower()]
    if missing:
        raise Rejected("a company not named", ", ".join(missing))
    return text
