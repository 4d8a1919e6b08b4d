"""Cut streaming LLM text into sentences, or long clauses, as soon as each is complete, for TTS."""

import re

END = re.compile(r"([.!?]+[\"')\]]*)(\s+)")
CLAUSE = re.compile(r"([,;:\u2014])(\s+)")
MAX_WORDLESS = 400


class SentenceSplitter:
    """`push(delta)` returns the sentences completed by it; `flush()` the rest.

    A clause (cut at , ; : or a dash) is sent on its own once it is `clause_chars` long, so the first
    audio of a long sentence does not wait for its full stop; the reply's first clause goes as soon
    as it is complete, however short: the caller's wait ends at the first words ("Yes," is said while
    the rest is written; the next piece is synthesised meanwhile, so no gap follows it). Abbreviations
    like "Dr." are rare on the phone and cost only a short pause, so they are not special-cased.
    """

    def __init__(self, clause_chars: int = 60, first_clause_chars: int = 1) -> None:
        self.clause_chars = clause_chars
        self.first_clause_chars = first_clause_chars
        self._buf = ""
        self._sent = 0

    def push(self, delta: str) -> list[str]:
        self._buf += delta
        out: list[str] = []
        while True:
            match = END.search(self._buf)
            limit = self.first_clause_chars if not self._sent and not out else self.clause_chars
            # the first clause boundary that makes a piece long enough (not only the first comma)
            clause = next((c for c in CLAUSE.finditer(self._buf) if c.end(1) >= limit), None)
            cut = None
            if match is not None:
                cut = match.end(1), match.end(2)
            elif clause is not None:
                cut = clause.end(1), clause.end(2)
            elif len(self._buf) > MAX_WORDLESS:
                space = self._buf.rfind(" ", 0, MAX_WORDLESS)
                cut = (space, space + 1) if space > 0 else (MAX_WORDLESS, MAX_WORDLESS)
            if cut is None:
                break
            piece = self._buf[: cut[0]].strip()
            self._buf = self._buf[cut[1] :]
            if piece:
                out.append(piece)
        self._sent += len(out)
        return out

    def flush(self) -> list[str]:
        piece, self._buf = self._buf.strip(), ""
        return [piece] if piece else []


def same_words(a: str, b: str) -> bool:
    """Two transcripts of the same words (case, commas and full stops aside)."""
    return _words(a) == _words(b)


def _words(text: str) -> str:
    return " ".join(text.lower().replace(",", " ").replace(".", " ").split())
