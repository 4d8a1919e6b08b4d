"""What goes to TTS when, as the LLM's text streams in."""

import itertools

from voicegrid.pipeline.sentences import SentenceSplitter


def pieces(deltas: list[str]) -> list[list[str]]:
    splitter = SentenceSplitter()
    return [splitter.push(delta) for delta in deltas] + [splitter.flush()]


def test_the_first_clause_goes_once_it_is_long_enough_at_its_comma() -> None:
    got = pieces(
        ["Yes", ",", " we", " are", " open", " every", " day", " of", " the", " week", ",", " until", " ten."]
    )
    assert got[:3] == [[], [], []]  # "Yes," alone would be shorter than a TTS's first byte
    assert got[11] == ["Yes, we are open every day of the week,"]  # out when the word after it starts
    assert list(itertools.chain(*got)) == ["Yes, we are open every day of the week,", "until ten."]


def test_a_sentence_goes_at_its_full_stop_and_a_long_clause_at_the_first_comma_past_the_length() -> None:
    long_clause = "we have pizza with tomatoes from the hills and basil from our garden,"
    got = pieces(["Hello there. ", "Today", ", ", long_clause, " and more", "."])
    assert got[0] == ["Hello there."]
    assert list(itertools.chain(*got)) == ["Hello there.", "Today, " + long_clause, "and more."]
