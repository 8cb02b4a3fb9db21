"""Cleaning: main-content extraction for HTML, unicode and whitespace normalisation, site chrome and boilerplate
removal, PII redaction.

Unlike the Handbook repo we keep code blocks, URLs and punctuation: they carry meaning for
retrieval and for instruction generation. Fenced code is passed through untouched (only PII
redaction applies), since whitespace is syntax there.

Site chrome is what a page carries around its article: navigation menus, breadcrumbs, author and share link rows,
footers. trafilatura drops most of it from HTML (html_extraction.py prunes the usual containers first); what is left,
and what markdown exports of web pages carry as text, goes by line (`drop_boilerplate`), as justext judges a
paragraph by its link density and length:
- a menu: three or more short labels (at most 6 words, no sentence) between ` * `, ` | `, ` · `, ` • `, ` » ` or
  ` / `, linked or not ("Maxime Labonne * LLM Course * Hands-On GNNs * Articles", "Home / Blog / ORPO");
- a link row: two or more links with short labels and at most 3 other words ("[Twitter](...) · [GitHub](...)"),
  or a "follow me" of at most 6 ("Follow me on [X](...) and [LinkedIn](...)");
- a link list: three or more list items in a row that are each one short-labelled link and nothing else;
- a boilerplate line (BOILERPLATE_LINE): newsletters, cookies, copyright, "Built with Quarto", "Back to top";
- a line the site repeats on most of its pages (repeated_lines.py): bios, sign-offs, plugs, licence headers.
A list of links with longer labels (paper titles, references) and prose with links in it stay.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator

from llm_engineering.application.crawling.html_extraction import extract_main_text
from llm_engineering.application.repeated_lines import RepeatedLines, line_key, site_of
from llm_engineering.domain.config.feature_engineering import CleaningConfig
from llm_engineering.domain.documents import CleanedDocument, CleanedDocuments, RawDocument, SkippedItem

EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
# International or North-American style numbers with separators; bare digit runs (years, ids) are left alone.
PHONE = re.compile(
    r"(?<![\w/.-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}(?![\w/-])"
)
SECRET_PATTERNS = [
    re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}"),  # OpenAI-style
    re.compile(r"\bhf_[A-Za-z0-9]{30,}"),  # Hugging Face
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),  # GitHub
    re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"(?i)\b(api[_-]?key|secret|token|password)(\s*[:=]\s*)([\"']?)[A-Za-z0-9_\-./+]{16,}\3"),
]
# Bump when the cleaner gives other text for the same document and settings: stored chunks are then cleaned again.
CLEANING_RULES = 2  # 2: lines a site repeats (repeated_lines.py)
FENCE = re.compile(r"^(```|~~~)")
BOILERPLATE_LINE = re.compile(
    r"(?i)^\s*(subscribe( to)?( our)? newsletter.*|sign up for.*newsletter.*|share (this|on) .{0,40}|"
    r"follow us on .{0,60}|all rights reserved\.?|©.{0,80}|copyright ©?.{0,80}|privacy policy.{0,40}|"
    r"(we|this (site|website)) uses? cookies.{0,200}|accept (all )?cookies.{0,40}|skip to (main )?content|"
    r"read more|back to top|advertisement|(powered|built|made) with [^.!?]{1,40}|powered by [^.!?]{1,40}|"
    r"theme by [^.!?]{1,40}|(edit|improve) this page( on \w+)?|report an issue|on this page|table of contents|"
    r"share( this)?( article| post)?:?|(previous|next) (post|article|page)\b.{0,80})\s*$"
)
# Site chrome (see the module docstring): menus, link rows and link lists.
MENU_SEPARATOR = re.compile(r"\s+[*|\u00b7\u2022\u00bb/]\s+")
MARKDOWN_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
LIST_BULLET = re.compile(r"^(?:[-*+]|\d{1,3}[.)])\s+")
LABEL = re.compile(r"^[^\W_][\w&'\u2019.,:+\-]*(?: [\w&'\u2019.,:+\-]+){0,5}$")  # 1-6 words, no = ( ) ! ?
LABEL_CHARACTERS = 48
LINK_LIST_ITEMS = 3  # list items in a row that are each one short link: a menu, not content
FOLLOW = re.compile(r"(?i)^\W*(follow|find|connect with|subscribe to) (me|us)\b")  # "Follow me on [X] and [GitHub]"
PROSE_SPACES = re.compile(r"[ \t\u00a0\u200b]+")
# Anything but tab, newline and printable ASCII: the only characters that can be controls (Unicode category C).
MAYBE_CONTROL = re.compile(r"[^\n\t -~]+")
SEGMENT_CHARACTERS = 1 << 18  # raw text normalised per pass
REDACTION_BLOCK_CHARACTERS = 1 << 18  # cleaned text redacted per pass (at least; it ends at a safe blank line)


def redact(text: str, config: CleaningConfig, counts: Counter[str]) -> str:
    if config.redact_secrets:
        for pattern in SECRET_PATTERNS:
            text, n = pattern.subn(_secret_replacement, text)
            counts["secret"] += n
    if config.redact_emails:
        text, n = EMAIL.subn("[EMAIL]", text)
        counts["email"] += n
    if config.redact_phone_numbers:
        text, n = PHONE.subn("[PHONE]", text)
        counts["phone"] += n
    return text


def _secret_replacement(match: re.Match[str]) -> str:
    # key = value form: keep the key name so the text still reads, drop the value.
    if match.lastindex and match.lastindex >= 2:
        return f"{match.group(1)}{match.group(2)}[SECRET]"
    return "[SECRET]"


def normalise_prose(text: str, drop_boilerplate: bool) -> str:
    """NFKC, unified quotes-free whitespace, no boilerplate lines; fenced code kept verbatim."""
    return "\n".join(_single_blank_lines(_prose_lines(text.split("\n"), drop_boilerplate)))


def _prose_lines(lines: Iterable[str], drop_boilerplate: bool, repeated: frozenset[str] = frozenset()) -> Iterator[str]:
    in_code = False
    links: list[str] = []  # a run of list items that are each one short link (and the blank lines among them)
    for line in lines:
        if FENCE.match(line.strip()):
            yield from _unless_a_link_list(links)
            in_code = not in_code
            yield line.strip()
            continue
        if in_code:
            yield line.rstrip()
            continue
        line = PROSE_SPACES.sub(" ", line).strip()
        if drop_boilerplate:
            if BOILERPLATE_LINE.match(line) or is_menu(line) or is_link_row(line):
                continue
            if repeated and line_key(line) in repeated:
                continue
            if is_link_item(line) or (links and not line):
                links.append(line)
                continue
            yield from _unless_a_link_list(links)
        yield line
    yield from _unless_a_link_list(links)


def _unless_a_link_list(links: list[str]) -> Iterator[str]:
    """The buffered link items, unless there are enough in a row to be a menu; the buffer is emptied."""
    if sum(1 for line in links if line) < LINK_LIST_ITEMS:
        yield from links
    links.clear()


def _is_label(text: str, shortest: int = 2) -> bool:
    """A menu entry or a link's label: 1-6 words, at most LABEL_CHARACTERS, no sentence in it."""
    text = text.strip().strip("*_`")
    fits = shortest <= len(text) <= LABEL_CHARACTERS
    return fits and LABEL.match(text) is not None and ". " not in text


def is_menu(line: str) -> bool:
    """Three or more short labels between menu separators: a navigation bar, a breadcrumb, a byline's parts."""
    body = LIST_BULLET.sub("", line, count=1)
    if body.startswith("|") or len(body) > 400:  # a table row; nothing that long is a menu
        return False
    segments = MENU_SEPARATOR.split(MARKDOWN_LINK.sub(r"\1", body))
    return len(segments) >= 3 and all(_is_label(segment) for segment in segments)


def is_link_row(line: str) -> bool:
    """Two or more short-labelled links and at most 3 other words: author links, share buttons, a footer's row."""
    body = LIST_BULLET.sub("", line, count=1)
    labels = MARKDOWN_LINK.findall(body)
    if len(labels) < 2 or not all(_is_label(label, shortest=1) for label in labels):
        return False
    rest = MARKDOWN_LINK.sub(" ", body)
    words = len(re.findall(r"[^\W_]+", rest))
    return words <= 3 or (words <= 6 and FOLLOW.match(rest) is not None)


def is_link_item(line: str) -> bool:
    """A list item that is one short-labelled link and nothing else."""
    if not LIST_BULLET.match(line):
        return False
    body = LIST_BULLET.sub("", line, count=1)
    labels = MARKDOWN_LINK.findall(body)
    return len(labels) == 1 and _is_label(labels[0], shortest=1) and not MARKDOWN_LINK.sub("", body).strip(" .,;:")


def _single_blank_lines(lines: Iterable[str]) -> Iterator[str]:
    """The lines of `re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()` for lines that are stripped at their
    ends (prose), or start after a stripped one (code after its fence): no blank line first or last, one at most
    in a row."""
    started = blank = False
    for line in lines:
        if not line:
            blank = started
            continue
        if blank:
            yield ""
        started, blank = True, False
        yield line


def _without_blank_ends(lines: Iterable[str]) -> Iterator[str]:
    """The lines of `"\n".join(lines).strip("\n")`."""
    started = False
    blanks = 0
    for line in lines:
        if not line:
            blanks += started
            continue
        yield from [""] * blanks
        started, blanks = True, 0
        yield line


def _segments(text: str) -> Iterator[str]:
    """`text` in pieces of about SEGMENT_CHARACTERS, each but the last ending with a newline: NFKC, line endings and
    the control-character filter give the same result piece by piece, since nothing composes or pairs across "\n"
    ("\r\n" stays in one piece)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + SEGMENT_CHARACTERS - 1)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def _without_controls(match: re.Match[str]) -> str:
    return "".join(ch for ch in match.group() if unicodedata.category(ch)[0] != "C")


def _normalised_lines(text: str) -> Iterator[str]:
    """The lines of the NFKC-normalised text with unified line endings and no control characters but tab and
    newline, a segment at a time."""
    pending = ""  # the unfinished last line of the previous segment (empty: segments end with a newline)
    for segment in _segments(text):
        segment = unicodedata.normalize("NFKC", segment).replace("\r\n", "\n").replace("\r", "\n")
        lines = (pending + MAYBE_CONTROL.sub(_without_controls, segment)).split("\n")
        pending = lines.pop()
        yield from lines
    yield pending


def _redacted(lines: Iterable[str], config: CleaningConfig, counts: Counter[str]) -> str:
    """`redact("\n".join(lines))`, a block of about REDACTION_BLOCK_CHARACTERS at a time.

    A block ends at a blank line whose text before it does not end (ignoring whitespace) in a word character,
    ':' or '=': a match across it would hold two whitespace characters in a row, which only the `key = value`
    secret pattern allows, and only after its key or its ':'/'='. So no match crosses, and each block, redacted
    alone, comes out as it would in the whole text ("\n" on both sides looks like the start or the end).

    The text grows by `+=`: CPython extends a string nothing else refers to in place, so the cleaned text is
    held once; joining a list of blocks would hold it twice at the end."""
    text = ""
    block: list[str] = []
    size = 0
    last_visible = ""  # the last non-whitespace character so far
    for line in lines:
        if not line and size >= REDACTION_BLOCK_CHARACTERS and not (last_visible.isalnum() or last_visible in "_:="):
            text += redact("\n".join(block), config, counts) + "\n\n"
            block, size = [], 0
            continue
        block.append(line)
        size += len(line) + 1
        if visible := line.rstrip():
            last_visible = visible[-1]
    text += redact("\n".join(block), config, counts)
    return text


def main_text(document: RawDocument) -> str:
    """The document's text: for HTML, its main content (trafilatura)."""
    if document.format == "html":
        return extract_main_text(document.content, url=document.location if document.kind == "url" else None)
    return document.content


def clean_text(
    document: RawDocument,
    config: CleaningConfig,
    repeated: frozenset[str] = frozenset(),
    text: str | None = None,
) -> tuple[str, dict[str, int]]:
    """NFKC, no control characters, prose normalised (code only stripped of blank ends), then redacted.

    `repeated`: the keys (repeated_lines.line_key) of the lines its site repeats, dropped with the boilerplate;
    `text`: its main_text when already extracted. The text goes through a piece at a time (segments of the raw
    text, blocks of the cleaned one), so a large document costs its cleaned text and a few pieces on top of the
    raw one, not a full copy per pass."""
    lines = _normalised_lines(main_text(document) if text is None else text)
    if document.format == "code":
        lines = _without_blank_ends(lines)
    else:
        lines = _single_blank_lines(_prose_lines(lines, config.drop_boilerplate, repeated))
    counts: Counter[str] = Counter()
    text = _redacted(lines, config, counts)
    return text, {k: v for k, v in counts.items() if v}


def clean_documents(
    documents: list[RawDocument], config: CleaningConfig, corpus: list[RawDocument] | None = None
) -> CleanedDocuments:
    """Clean `documents`; the lines their sites repeat are counted over `corpus` (every crawled document; default:
    `documents`), so an incremental run that cleans one changed page still knows its site's footer."""
    repeated_lines = RepeatedLines(config)
    extracted: dict[str, str] = {}  # main text of the documents to clean, extracted once for both passes
    if config.drop_boilerplate and config.drop_repeated_lines:
        to_clean = {document.document_id for document in documents}
        sites = {site_of(document) for document in documents}
        for document in corpus if corpus is not None else documents:
            if document.format == "code" or site_of(document) not in sites:
                continue
            text = main_text(document)
            if document.document_id in to_clean:
                extracted[document.document_id] = text
            repeated_lines.add(document, _normalised_lines(text))
    result = CleanedDocuments(repeated_lines=repeated_lines.report())
    for document in documents:
        text, redactions = clean_text(
            document, config, repeated_lines.repeated(document), extracted.pop(document.document_id, None)
        )
        if len(text) < config.min_characters:
            result.dropped.append(
                SkippedItem(
                    source=document.source,
                    location=document.location,
                    reason=f"too short after cleaning ({len(text)} < {config.min_characters} characters)",
                )
            )
            continue
        result.documents.append(
            CleanedDocument(
                document_id=document.document_id,
                source=document.source,
                kind=document.kind,
                location=document.location,
                key=document.key,
                title=document.title,
                author=document.author,
                fetched_at=document.fetched_at,
                format=document.format,
                text=text,
                content_hash=document.content_hash,
                redactions=redactions,
            )
        )
    return result
