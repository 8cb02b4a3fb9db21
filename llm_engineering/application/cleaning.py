"""Cleaning: main-content extraction for HTML, unicode and whitespace normalisation, PII redaction.

Unlike the Handbook repo we keep code blocks, URLs and punctuation: they carry meaning for
retrieval and for instruction generation. Fenced code is passed through untouched (only PII
redaction applies), since whitespace is syntax there.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from llm_engineering.application.crawling.html_extraction import extract_main_text
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
FENCE = re.compile(r"^(```|~~~)")
BOILERPLATE_LINE = re.compile(
    r"(?i)^\s*(subscribe( to)?( our)? newsletter.*|sign up for.*newsletter.*|share (this|on) .{0,40}|"
    r"follow us on .{0,60}|all rights reserved\.?|©.{0,80}|copyright ©?.{0,80}|privacy policy.{0,40}|"
    r"(we|this (site|website)) uses? cookies.{0,200}|accept (all )?cookies.{0,40}|skip to (main )?content|"
    r"read more|back to top|advertisement)\s*$"
)


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
    out: list[str] = []
    in_code = False
    for line in text.split("\n"):
        if FENCE.match(line.strip()):
            in_code = not in_code
            out.append(line.strip())
            continue
        if in_code:
            out.append(line.rstrip())
            continue
        line = re.sub(r"[ \t\u00a0\u200b]+", " ", line).strip()
        if drop_boilerplate and BOILERPLATE_LINE.match(line):
            continue
        out.append(line)
    joined = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", joined).strip()


def clean_text(document: RawDocument, config: CleaningConfig) -> tuple[str, dict[str, int]]:
    text = document.content
    if document.format == "html":
        text = extract_main_text(text, url=document.location if document.kind == "url" else None)
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = text.strip("\n") if document.format == "code" else normalise_prose(text, config.drop_boilerplate)
    counts: Counter[str] = Counter()
    text = redact(text, config, counts)
    return text, {k: v for k, v in counts.items() if v}


def clean_documents(documents: list[RawDocument], config: CleaningConfig) -> CleanedDocuments:
    result = CleanedDocuments()
    for document in documents:
        text, redactions = clean_text(document, config)
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
