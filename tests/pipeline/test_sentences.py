"""What goes to TTS when, as the LLM's text streams in."""

import itertools

from voicegrid.pipeline.sentences import SentenceSplitter


def pieces(deltas: list[str]) -> list[list[str]]:
    splitter = SentenceSplitter()
    return [splitter.push(delta) for delta in deltas] + [splitter.flush()]


def test_the_first_clause_of_a_reply_goes_as_soon_as_its_comma_is_followed_however_short() -> None:
    got = pieces(["Yes", ",", " we", " are", " open", ",", " until", " ten", " tonight", "."])
    assert got[:3] == [[], [], ["Yes,"]]  # out when the word after the comma starts
    # later clauses wait for 60 characters, so the rest is one piece
    assert list(itertools.chain(*got)) == ["Yes,", "we are open, until ten tonight."]


def test_a_sentence_goes_at_its_full_stop_and_a_long_clause_at_the_first_comma_past_the_length() -> None:
    long_clause = "we have pizza with tomatoes from the hills and basil from our garden,"
    got = pieces(["Hello there. ", "Today", ", ", long_clause, " and more", "."])
    assert got[0] == ["Hello there."]
    assert list(itertools.chain(*got)) == ["Hello there.", "Today, " + long_clause, "and more."]
