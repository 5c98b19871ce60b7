"""A post's sentence in the digest's voice: the company is the subject, not "we".

Why so narrow: an extractive deep dive must stay the article's own words, so a sentence may
change only where the digest speaks differently from the post. `in_third_person` turns the
first-person pronouns outside quotations into the company ("we" → "Datadog", "our" →
"Datadog's", "us" → "Datadog"; after the company is named once in the sentence, "it" / "its" /
"the team"), fixes the verb that follows ("we use" → "Datadog uses", "we're" → "Datadog is"),
and drops a leading connective that pointed at the sentence before ("So,", "But"). Figures,
names and quotations are never touched. When the rewrite would read badly ("we'd", "let's",
"ourselves", a "we" not followed by its verb) it returns None, so the caller can prefer
another sentence.
"""

from __future__ import annotations

import re

__all__ = ["PAST_FORMS", "drop_connective", "in_third_person", "possessive"]

_CONNECTIVE = re.compile(r"^(?:So|But|And|Yet|Plus|However|Still|Also|Thus|Hence)\b,?\s+(?=\S)")
_QUOTED = re.compile(r"[\"“][^\"”]*[\"”]")
# Case matters: "US" is a country, not "us".
_PRONOUN = re.compile(r"\b([Ww]e|[Oo]urs?|us|[Oo]urselves)(?:(['’])(re|ve|ll|d))?\b(?!['’]\w)")
_AWKWARD = re.compile(r"\blet['’]?s\b|\blet us\b|\bourselves\b|\bwe['’]d\b", re.IGNORECASE)
# Adverbs between "we" and its verb ("we also use", "we explicitly optimized"); "-ly" words
# of five letters or more that are not verbs ("apply", "reply", "rely").
_ADVERB = re.compile(
    r"(?:(?!\w*ply$)\w{3,}ly|also|still|now|then|first|just|only|never|always|already|even|"
    r"often|soon|once|later|again|together|too)$",
    re.IGNORECASE,
)
_MODAL = frozenset("can could will would shall should must may might".split())
_PRESENT_IRREGULAR = {
    "are": "is",
    "were": "was",
    "have": "has",
    "do": "does",
    "don't": "doesn't",
    "don’t": "doesn’t",
    "aren't": "isn't",
    "aren’t": "isn’t",
    "weren't": "wasn't",
    "weren’t": "wasn’t",
    "haven't": "hasn't",
    "haven’t": "hasn’t",
    "go": "goes",
}
_CONTRACTION = {"re": "is", "ve": "has", "ll": "will"}
# Common irregular past forms: "we built" stays "Datadog built".
PAST_FORMS = _PAST = frozenset(
    """was were had did made built began bought brought caught chose came cut dealt drew drove
    ate fell fed felt fought found flew forgot forgave froze got gave went grew hung heard hid
    held hurt kept knew laid led left lent let lay lit lost meant met paid put quit read rode
    rang rose ran said saw sought sold sent set shook shone shot showed shut sang sank sat slept
    slid spoke spent split spread stood stole stuck struck swore swept swam took taught tore
    told thought threw understood woke wore won wrote rebuilt rewrote undertook overcame
    withdrew became forecast upheld broke bent bet bid bound bled blew bred burnt dug dove
    fled flung forbade ground knelt leapt learnt mistook outgrew overran overtook oversaw rethought
    shed sprang strove strung swung upset wound""".split()
)
_NOT_VERB = frozenset(
    """a an the and or but at in on of for to with from by as if that this these those it its
    all both ourselves who which than""".split()
)


def drop_connective(sentence: str) -> str:
    """The sentence without a leading "So,", "But", "However," (…), its next word capitalised."""
    match = _CONNECTIVE.match(sentence)
    if not match:
        return sentence
    rest = sentence[match.end() :]
    first = rest.split(" ", 1)[0]
    if first[:1].islower() and not any(c.isupper() for c in first[1:]):
        rest = rest[0].upper() + rest[1:]
    return rest


def possessive(company: str, apostrophe: str = "'") -> str:
    """ "Datadog's"; "Gradient Labs'" for a name ending in s."""
    return f"{company}{apostrophe}" if company.endswith("s") else f"{company}{apostrophe}s"


def _third_person_verb(verb: str) -> str | None:
    lower = verb.lower()
    if lower in _PRESENT_IRREGULAR:
        return _PRESENT_IRREGULAR[lower]
    if lower in _MODAL or lower in _PAST or lower.endswith("ed"):
        return verb
    if lower in _NOT_VERB or not re.fullmatch(r"[a-z]+", lower):
        return None
    if re.search(r"(?:s|sh|ch|x|z|o)$", lower):
        return verb + "es"
    if re.search(r"[^aeiou]y$", lower):
        return verb[:-1] + "ies"
    return verb + "s"


# The last item of a series of verbs: ", and stop …", or "and run the …" (a verb then its
# object's determiner). A comma alone is no evidence ("toward X, incremental updates").
_COORDINATED = re.compile(
    r",\s+(?:and|or)\s+(?:then\s+)?([a-z]+)\b"
    r"|\b(?:and|or)\s+(?:then\s+)?([a-z]+)\s+(?:the|a|an|its|our|their|them|it|each|every)\b"
)


_SUBJECTS = frozenset("we i you he she it they there our us".split())


def _coordinated(rest: str) -> bool:
    """Whether a clause after a present-tense verb goes on with another verb of the same
    subject ("…, cap retries and stop…"), which the rewrite would leave unagreed. A word
    counts as such a verb when it could take an -s ("cap", "run"), is not a past form,
    participle or plural, and is not an article or preposition."""
    # verbs after an infinitive or a relative clause have another subject: "to expand
    # opportunity, share prosperity and build…", "a cache that serves and expires…"
    rest = re.split(r"\b(?:to|that|which|who|so|because|when|while|if)\s", rest, maxsplit=1)[0]
    for match in _COORDINATED.finditer(rest):
        word = match.group(1) or match.group(2)
        if word.endswith(("ed", "ing", "s", "ly")) or word in _PAST or word in _SUBJECTS:
            continue  # "…and we also apply…": the next "we" is rewritten on its own
        if _third_person_verb(word) is not None and word not in _NOT_VERB:
            return True
    return False


def _rewrite(segment: str, company: str, state: dict[str, bool], apostrophe: str) -> str | None:
    out: list[str] = []
    position = 0
    for match in _PRONOUN.finditer(segment):
        word, _, contraction = match.group(1), match.group(2), match.group(3)
        lower = word.lower()
        named = state["named"]
        start = match.start()
        at_start = state["at_start"] and not segment[:start].strip() and not out
        out.append(segment[position:start])
        position = match.end()
        if lower in ("our", "ours"):
            replacement = "its" if named else possessive(company, apostrophe)
            if named and state.get("team"):
                replacement = f"the team{apostrophe}s"
        elif lower == "us":
            replacement = "the team" if named else company
        else:  # we
            replacement = ("it" if not state.get("team") else "the team") if named else company
            if contraction:
                verb = _CONTRACTION.get(contraction.lower())
                if verb is None:
                    return None
                replacement += " " + verb
            else:
                rest = segment[position:]
                words = list(re.finditer(r"[\w'’]+", rest))
                k = 0
                while k < len(words) - 1 and k < 2 and _ADVERB.fullmatch(words[k].group(0)):
                    k += 1
                if not words:
                    return None
                verb_match = words[k]
                fixed = _third_person_verb(verb_match.group(0))
                if fixed is None:
                    return None
                changed = fixed != verb_match.group(0)
                auxiliary = verb_match.group(0).lower() in _PRESENT_IRREGULAR
                if changed and not auxiliary and _coordinated(rest[verb_match.end() :]):
                    return None  # "we retry, cap and stop": only the first verb would agree
                replacement += rest[: verb_match.start()] + fixed
                position += verb_match.end()
        if at_start:
            replacement = replacement[0].upper() + replacement[1:]
        out.append(replacement)
        state["named"] = True
    out.append(segment[position:])
    return "".join(out)


def in_third_person(sentence: str, company: str) -> str | None:
    """`sentence` with the company as its subject, or None when that would read badly.

    Example: `in_third_person("So, we moved our queue to Postgres.", "Acme")` →
    `"Acme moved its queue to Postgres."`.

    A sentence without first-person pronouns outside quotes comes back with only its leading
    connective dropped. The company already named before the first pronoun ("At Acme, we…")
    makes it "the team".
    """
    sentence = drop_connective(sentence)
    if not company or not _PRONOUN.search(_QUOTED.sub("", sentence)):
        return sentence
    if _AWKWARD.search(_QUOTED.sub("", sentence)):
        return None
    apostrophe = "’" if "’" in sentence else "'"
    state = {"named": False, "at_start": True, "team": False}
    first = _PRONOUN.search(sentence)
    named_at = sentence.lower().find(company.lower())
    if first is not None and 0 <= named_at < first.start():
        state["named"] = True
        state["team"] = True
    parts: list[str] = []
    position = 0
    for quote in _QUOTED.finditer(sentence):
        rewritten = _rewrite(sentence[position : quote.start()], company, state, apostrophe)
        if rewritten is None:
            return None
        parts += [rewritten, quote.group(0)]
        position = quote.end()
        state["at_start"] = False
    tail = _rewrite(sentence[position:], company, state, apostrophe)
    if tail is None:
        return None
    return "".join(parts) + tail
