"""LLM text made fit to speak: markdown, links and emoji out, so a reply in markdown is spoken, not
silent or read out as symbols.

Models write for screens: `**bold**`, `# headings`, `- bullets`, `[links](https://...)`, emoji. A
TTS engine either reads those aloud ("asterisk asterisk") or, for a reply that is all markup, says
nothing. `for_speech` keeps the words: a link becomes its label, a bare URL its host name, a list
item a sentence of its own; what is left of markup and every emoji is dropped.
"""

import re
import unicodedata

_FENCE = re.compile(r"```[^\n]*\n?|```")
_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]*)[^)]*\)")
_URL = re.compile(r"\b(?:https?://|www\.)([^\s/?#)\]>]+)[^\s)\]>]*", re.IGNORECASE)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*", re.MULTILINE)
_QUOTE = re.compile(r"^\s*>+\s?", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*+\u2022\u25cf\u25aa]|\d{1,3}[.)])\s+", re.MULTILINE)
_RULE = re.compile(r"^\s*(?:[-*_]\s*){3,}$", re.MULTILINE)
_EMPHASIS = re.compile(r"(?<!\w)(\*{1,3}|_{1,3}|~~)(\S(?:.*?\S)?)\1(?!\w)")
_MARKUP = re.compile(r"[*`#~|<>\\]+|(?<!\w)_+|_+(?!\w)")
_BEFORE_STOP = re.compile(r"\s+([.!?,;:])")
_SPACES = re.compile(r"[ \t]+")
_INVISIBLE = {0x200D, 0x200B, 0x2060, 0xFEFF, 0x20E3}


def _drop_symbols(text: str) -> str:
    """Emoji, pictographs, flags and their joiners and variation selectors go; letters, digits,
    punctuation and currency signs stay."""
    out = []
    for ch in text:
        code = ord(ch)
        if code in _INVISIBLE or 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF:
            continue
        if 0xE0020 <= code <= 0xE007F:  # tag characters (subdivision flags)
            continue
        if unicodedata.category(ch) in ("So", "Cs", "Co", "Cn"):
            continue
        out.append(ch)
    return "".join(out)


def _host(match: re.Match[str]) -> str:
    host = match.group(1)
    return host[4:] if host.lower().startswith("www.") else host


def for_speech(text: str) -> str:
    """The words of `text` without the markup a screen would show."""
    text = _FENCE.sub("", text)
    text = _LINK.sub(lambda m: m.group(1) or "", text)
    text = _URL.sub(_host, text)
    text = _RULE.sub("", text)
    text = _HEADING.sub("", text)
    text = _QUOTE.sub("", text)
    text = _BULLET.sub("", text)
    for _ in range(3):  # nested emphasis, e.g. ***both*** or **_this_**
        text = _EMPHASIS.sub(r"\2", text)
    text = _MARKUP.sub(" ", text)
    text = _drop_symbols(text)
    lines = [_BEFORE_STOP.sub(r"\1", _SPACES.sub(" ", line)).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    spoken = []
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        spoken.append(line if last or line[-1] in ".!?,;:" else line + ".")
    return " ".join(spoken)
