"""The price catalog and the rating of a call: amounts are usage x price, versions re-rate, markups bill."""

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicegrid.catalog import CatalogError, Markup, Price, UnknownVersion, load_catalog, parse_catalog, rate

USAGE = [
    {"stage": "stt", "provider": "deepgram", "model": "nova-3", "audio_seconds": 90.0},
    {
        "stage": "llm",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "tokens_in": 12_000,
        "tokens_cached": 4_000,
        "tokens_out": 800,
    },
    {"stage": "tts", "provider": "elevenlabs", "model": "eleven_flash_v2_5", "characters": 1_450},
]


def test_every_item_is_its_usage_times_the_catalog_price_and_the_total_is_their_sum() -> None:
    catalog = load_catalog()
    cost = rate(catalog, USAGE, direction="inbound", answered_seconds=95, version="2026-11")
    items = {(i.component, i.unit): i for i in cost.items}
    assert items["stt", "minute"].quantity == Decimal("1.5")
    assert items["stt", "minute"].unit_price == Decimal("0.0048")
    assert items["stt", "minute"].promo  # flagged: Deepgram's promotional price
    assert items["llm", "1m_tokens_in"].quantity == Decimal("0.008")  # the prompt less its cached part
    assert items["llm", "1m_tokens_cached"].quantity == Decimal("0.004")
    assert items["tts", "1k_chars"].amount == Decimal("1.45") * Decimal("0.05")
    assert items["telephony", "minute"].quantity == Decimal(96) / 60  # 95 s in 6-second increments
    for item in cost.items:
        assert item.unit_price is not None
        assert item.amount == (item.quantity * item.unit_price).quantize(Decimal("0.000001"))
    assert cost.total == sum(i.amount for i in cost.items)
    assert cost.billable_total == cost.total  # no markup


def test_a_past_call_re_rated_under_another_catalog_version_costs_what_that_version_says() -> None:
    catalog = load_catalog()
    now = rate(catalog, USAGE, direction="outbound", answered_seconds=95, version="2026-11")
    then = rate(catalog, USAGE, direction="outbound", answered_seconds=95, version="2025-09")
    by = {
        v.version: {(i.component, i.unit): i for i in c.items}
        for v, c in ((catalog.version("2026-11"), now), (catalog.version("2025-09"), then))
    }
    assert by["2025-09"]["stt", "minute"].unit_price == Decimal("0.0077")
    assert by["2025-09"]["telephony", "minute"].quantity == 2  # whole-minute billing then
    assert by["2026-11"]["telephony", "minute"].quantity == Decimal(96) / 60
    assert then.total > now.total
    assert (now.version, then.version) == ("2026-11", "2025-09")
    with pytest.raises(UnknownVersion):
        catalog.version("1999-01")


def test_a_resellers_markup_shows_in_the_billable_total_and_negotiated_prices_come_first() -> None:
    catalog = load_catalog()
    markup = Markup(percent=Decimal(20), per_minute=Decimal("0.01"))
    cost = rate(catalog, USAGE, direction="inbound", answered_seconds=95, markup=markup)
    minutes = Decimal(96) / 60
    assert cost.billable_total == (cost.total * Decimal("1.2") + Decimal("0.01") * minutes).quantize(
        Decimal("0.000001")
    )
    negotiated = (Price("tts", "elevenlabs", "*", "1k_chars", Decimal("0.03"), source="contract 2026-10"),)
    cheaper = rate(catalog, USAGE, direction="inbound", answered_seconds=95, negotiated=negotiated)
    tts = next(i for i in cheaper.items if i.component == "tts")
    assert (tts.unit_price, tts.amount) == (Decimal("0.03"), Decimal("0.0435"))


def test_embedded_engines_cost_nothing_and_an_unknown_model_shows_as_unpriced() -> None:
    usage = [
        {"stage": "stt", "provider": "pocketsphinx", "model": None, "audio_seconds": 60.0},
        {
            "stage": "llm",
            "provider": "openai",
            "model": "some-new-model",
            "tokens_in": 1000,
            "tokens_out": 10,
        },
    ]
    cost = rate(load_catalog(), usage, direction="inbound", answered_seconds=60)
    stt, llm_in, _, _ = cost.items
    assert (stt.unit_price, stt.amount) == (Decimal(0), Decimal(0))
    assert llm_in.unit_price is None
    assert llm_in.as_dict()["unpriced"] is True


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"unit_price": 0.5}, "decimal strings"),
        ({"unit_price": "-1"}, "at least zero"),
        ({"unit_price": "NaN"}, "finite"),
        ({"unit": "hour"}, "unit one of"),
    ],
)
def test_a_price_file_that_does_not_hold_together_is_refused_saying_where(
    item: dict[str, Any], message: str
) -> None:
    good = {"component": "stt", "provider": "x", "model": "*", "unit": "minute", "unit_price": "0.01"}
    data = {"versions": [{"version": "v1", "effective": "2026-01-01", "items": [{**good, **item}]}]}
    with pytest.raises(CatalogError, match=message) as refused:
        parse_catalog(data)
    assert "versions[0].items[0]" in str(refused.value)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "versions",
                        "items",
                        "version",
                        "effective",
                        "unit",
                        "unit_price",
                        "component",
                        "provider",
                        "model",
                    ]
                ),
                inner,
                max_size=6,
            )
        ),
        max_leaves=30,
    )
)
def test_any_json_given_as_a_catalog_is_parsed_or_refused_with_a_catalog_error(data: object) -> None:
    try:
        catalog = parse_catalog(data if isinstance(data, dict) else {"versions": data})
    except CatalogError as refused:
        reason = str(refused)
    else:
        reason = "parsed"
        assert all(p.unit_price >= 0 for v in catalog.versions for p in v.prices)
    assert reason  # a refusal says what is wrong
