"""Campaigns' own rules, with no I/O: contacts (numbers through libphonenumber, time zones,
variables), calling windows in each contact's local time, retries per outcome, and the
`{placeholders}` an agent's greeting and prompt are filled with for one contact."""

from voicegrid.campaigns.contacts import Contact, ContactList, parse_contacts, phone_number
from voicegrid.campaigns.rules import (
    OUTCOMES,
    Retries,
    RetryRule,
    Window,
    fill,
    outcome_class,
    placeholders,
    retries_of,
    window_of,
)

__all__ = [
    "OUTCOMES",
    "Contact",
    "ContactList",
    "Retries",
    "RetryRule",
    "Window",
    "fill",
    "outcome_class",
    "parse_contacts",
    "phone_number",
    "placeholders",
    "retries_of",
    "window_of",
]
