"""Splitting a post into sentences, and telling which of them can stand alone in a deep dive.

Why a module of its own: a deep dive made of chosen sentences reads well only if each chosen
sentence makes sense without its neighbours. `unusable` names why a sentence cannot be
chosen (a heading, a question, a list item, a caption, code, a call to action, a byline, a
sentence that leans on the one before it); `dangling` is the test for that last one, which the
quality benchmark also counts in what we publish.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Phrases", "Sentence", "dangling", "sentences_of", "split_sentences", "unusable"]


class Phrases:
    """A list of lower-case phrases, each matching where a word starts with it.

    Why not one regex: an alternation of sixty phrases is tried at every position of every
    sentence; indexing the phrases by their first four letters checks only the few whose
    head is one of the sentence's words, several times faster on a long post.
    Example: `Phrases(["sign up", "revolution"]).search("they revolutionised it")` → True.
    """

    def __init__(self, phrases: tuple[str, ...]) -> None:
        self._by_head: dict[str, list[str]] = {}
        for phrase in phrases:
            self._by_head.setdefault(phrase[:4], []).append(" " + phrase)

    @staticmethod
    def heads(lower: str) -> set[str]:
        """The first four letters of each word of `lower`: compute once, search many."""
        return {w.lstrip("\"“‘'([")[:4] for w in lower.split()}

    def search(self, lower: str, heads: set[str] | None = None) -> bool:
        found = (self.heads(lower) if heads is None else heads) & self._by_head.keys()
        if not found:
            return False
        padded = " " + lower.replace('"', " ").replace("“", " ").replace("(", " ")
        return any(p in padded for head in found for p in self._by_head[head])


_ABBREVIATIONS = frozenset(
    "e.g i.e etc vs mr mrs ms dr prof inc ltd co corp jr sr st fig no u.s approx cf al".split()
)
_BOUNDARY = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_LIST_ITEM = re.compile(r"^\s*(?:[*•·▪‣◦–—-]|\d{1,2}[.)]|[a-z][.)])\s+")
_LABEL = re.compile(r"^[\"“]?[A-Z][\w’'/&-]*(?:\s+[\w’'/&()-]+){0,5}:\s")
# Tutorial steps: "Select Qwen…", "In the Customize menu, choose…", "Notice the difference…".
_INSTRUCTION = re.compile(
    r"(?:^|^[^,]{0,90},\s+)(?:select|choose|click|tap|navigate|open|run|install|enter|type|"
    r"go to|copy|paste|configure|create|set|add|enable|disable|download|upload|sign in|log in|"
    r"replace|update|deploy|make sure|ensure|note|notice|remember|consider|imagine|keep in mind|"
    r"see|refer to|follow|use|try|start|head to|toggle|check)\b",
    re.IGNORECASE,
)
# The reader as the subject: "You can enable…", "you'll need…" (a how-to, not what was done).
_YOU_DO = re.compile(
    r"\byou(?:['’](?:ll|re|ve|d))?\s+(?:\w+ly\s+)?(?:can|could|will|would|should|must|may|might|"
    r"need|have to|get|want|see|use|are|have|do|don['’]t|just|also)\b",
    re.IGNORECASE,
)
# An author's bio: "Jane Doe is a Senior Solutions Architect at …".
_BIO = re.compile(
    r"^(?:[A-Z][\w.’'-]+,?\s+){1,4}(?:PhD,?\s+|Ph\.D\.,?\s+)?(?:is|was|serves as|leads|works|has)\b"
    r"[^.]{0,80}\b(?i:engineer|scientist|architect|manager|strategist|lead|leader|director|head|"
    r"specialist|developer|researcher|advocate|consultant|founder|officer|analyst|designer|"
    r"principal|evangelist|intern|student|professor)s?\b",
)
_AUTHORS_HEADING = re.compile(
    r"^(?:about the authors?|authors?|acknowledg\w*|references|further reading|resources)\s*:?$",
    re.I,
)
_CAPTION = re.compile(
    r"^(?:figure|fig\.|table|image|photo|picture|screenshot|diagram|chart|video|source|credit|"
    r"caption|illustration)\b",
    re.IGNORECASE,
)
# Sentences that lean on one before them, or point elsewhere in the post.
_DANGLING = re.compile(
    r"^[\"“(]?(?:This|That|These|Those|It|Its|It['’]s|They|Their|Them|Such|Both|Another|Here|"
    r"Then|Next|Now|Finally|Lastly|Additionally|Furthermore|Moreover|Similarly|Likewise|"
    r"Therefore|Otherwise|Meanwhile|Again|(?:First|Second|Third)(?:ly)?,|Firstly|Instead,|"
    r"Conversely|Consequently|As a result|As such|In addition|In this case|In that case|"
    r"For this reason|For that reason|To do (?:this|that|so)|With (?:this|that)|"
    r"Because of (?:this|that)|Unlike (?:this|that)|The (?:former|latter|same|other|rest|"
    r"second|third|next|last|result is that (?:this|it))|(?:Items?|Steps?|Options?|Phases?|"
    r"Parts?|Sections?|Figures?|Tables?|Examples?|Points?)\s+\d|Yes\b|No,|Of course)\b",
)
# A main clause whose subject is a pronoun after an opening clause ("Like X, it handles…"),
# or an opening clause about a pronoun ("If either is enabled, …"), or one that ends on it
# ("On top of this, …").
_LEANING_CLAUSE = re.compile(
    r"^(?:[^,]{0,80},\s+(?:it|they|this|these|those|both|either)(?:['’]s|\s+(?!is\s+(?:a|an|the)\b)\w+)"
    r"|(?:If|When|Once|Because|Since|Although|While|As|After|Before|Unless|Until|Like|Unlike)\s+"
    r"(?:it|they|this|these|those|either|neither|both|them)\b"
    r"|[^,]{0,30}\b(?:this|that|these|those|it|them),)",
)
_SELF_REFERENCE = re.compile(
    r"^[\"“(]?(?:This|In this) (?:blog )?(?:post|article|guide|tutorial)\b"
)
# Phrases that point elsewhere in the post.
_POINTS_ELSEWHERE = Phrases((
    " the above", " shown above", " described above", " mentioned above", " see below",
    " shown below", " described below", " listed below", " as follows", " the following",
    " mentioned earlier", " noted earlier", " described earlier", " as discussed",
    " previous section", " next section", " this section", " the diagram", " the figure",
    " the table", " the image", " the screenshot", " the chart", " the graph",
    " previous example", " preceding example", " above example", " following example",
    " next example", " previous step", " next step", " following step", " previous snippet",
    " following snippet", " following code", " top left", " top right", " bottom left",
    " bottom right", " on the left", " on the right", " the former", " the latter",
))  # fmt: skip
# Calls to action, bylines and thanks.
_CALL_TO_ACTION = Phrases((
    "subscribe", "sign up", "sign-up", "click here", "read more", "learn more", "get started",
    "start building", "try it", "try out", "give it a try", "check out", "check it out",
    "follow us", "contact us", "reach out", "get in touch", "let us know", "join us",
    "join our", "register now", "register today", "register here", "download now",
    "download today", "download it", "request a demo", "request access", "book a demo",
    "apply now", "apply today", "apply here", "visit our ", "visit the ", "stay tuned",
    "we're hiring", "we’re hiring", "we are hiring", "share this", "read the full",
    "this post appeared", "this post first appeared", "originally published", "photo by",
    "image credit", "all rights reserved", "cookie", "co-written", "written by", "posted by",
    "authored by", "guest post", "thank you to", "thanks to everyone", "special thanks",
    "get involved", "consider joining", "about the author",
))  # fmt: skip


@dataclass(frozen=True)
class Sentence:
    """One sentence of a post and where it sits."""

    index: int  # position in the post
    text: str
    paragraph: int  # which paragraph (blank-line or line separated) it is in
    opens_paragraph: bool
    list_item: bool  # its paragraph is a bulleted or numbered item


def _split_paragraph(paragraph: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(paragraph):
        candidate = paragraph[start : match.start() + 1]
        last = candidate.rstrip(".!?").rsplit(" ", 1)[-1].lower().strip("(\"'“")
        if paragraph[match.start()] == "." and (
            last in _ABBREVIATIONS
            or (len(last) == 1 and last.isalpha())
            or candidate.endswith(("..", " ."))  # an ellipsis inside a sentence
        ):
            continue
        end = match.end()
        sentences.append(paragraph[start:end].strip())
        start = end
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def sentences_of(text: str) -> list[Sentence]:
    """The sentences of `text` with their paragraph, in order, up to an "About the authors"."""
    found: list[Sentence] = []
    paragraphs = [p for p in re.split(r"\n\s*\n|\n", text) if p.strip()]
    for number, raw in enumerate(paragraphs):
        if _AUTHORS_HEADING.match(raw.strip()) and found:
            break
        item = bool(_LIST_ITEM.match(raw))
        paragraph = " ".join(raw.split())
        for k, sentence in enumerate(_split_paragraph(paragraph)):
            found.append(Sentence(len(found), sentence, number, k == 0, item))
    return found


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, each an exact substring of the whitespace-collapsed paragraph.

    Paragraphs (blank-line or line separated) never share a sentence; a full stop after a
    known abbreviation (e.g., vs., Inc.) or inside a number (3.5) does not end one.
    """
    return [s.text for s in sentences_of(text)]


def dangling(sentence: str) -> bool:
    """Whether `sentence` opens by leaning on one before it ("This", "It", "Now let's…").

    "This post…" refers to the post, not to a sentence, and does not count.
    """
    if _SELF_REFERENCE.match(sentence):
        return False
    return bool(_DANGLING.match(sentence) or _LEANING_CLAUSE.match(sentence))


_NOT_CODE = {ord(c): None for c in "{}();=<>[]_\\|`$"}
_CODE_SHAPES = re.compile(r"\w\(\)|->|=>|::|\w\.\w+\(|</?[A-Za-z][\w-]*[^>]{0,40}>")


def _code_like(sentence: str) -> bool:
    symbols = len(sentence) - len(sentence.translate(_NOT_CODE))
    if symbols > len(sentence) // 25:
        return True
    return ("(" in sentence or "<" in sentence or ":" in sentence or ">" in sentence) and bool(
        _CODE_SHAPES.search(sentence)
    )


def unusable(sentence: Sentence) -> str | None:
    """Why `sentence` cannot stand alone in a deep dive, or None when it can."""
    text = sentence.text
    words = len(text.split())
    if sentence.list_item:
        return "list item"
    if words < 6 or words > 55:
        return "too short" if words < 6 else "too long"
    if text.endswith("?") or text.rstrip("\"'”’)").endswith("?"):
        return "question"
    if not text.rstrip("\"'”’)]").endswith((".", "!")):
        return "heading or fragment"
    if not (text[0].isupper() or text[0].isdigit() or text[0] in '"“('):
        return "fragment"
    if _LABEL.match(text):
        return "list item"
    if _CAPTION.match(text):
        return "caption"
    if _INSTRUCTION.match(text) or _YOU_DO.search(text):
        return "instruction"
    if _BIO.match(text):
        return "author's bio"
    if _code_like(text):
        return "code"
    lower = text.lower()
    heads = Phrases.heads(lower)
    if _CALL_TO_ACTION.search(lower, heads):
        return "call to action"
    if text.count("“") != text.count("”") or text.count('"') % 2:
        return "part of a quotation"
    if text.count("(") != text.count(")"):
        return "fragment"
    if dangling(text):
        return "leans on the sentence before"
    if _POINTS_ELSEWHERE.search(lower, heads):
        return "points elsewhere in the post"
    return None
