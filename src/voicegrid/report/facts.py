"""What the report states beyond the price catalog: provider plans, latencies, self-hosting, each with
its source and the date it was read (from `PROVIDER_FACTS.md` and the vendors' docs), and the
assumptions the report makes when the operator gives none."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fact:
    text: str
    source: str


@dataclass(frozen=True, slots=True)
class ProviderPlan:
    provider: str
    plan: str
    stt_streams: int | None
    tts_slots: int | None
    source: str


PLANS = (
    ProviderPlan("Deepgram", "Pay as you go", 150, 45, "developers.deepgram.com API rate limits [V] 2026"),
    ProviderPlan("Deepgram", "Growth", 225, 60, "developers.deepgram.com API rate limits [V] 2026"),
    ProviderPlan("Deepgram", "Enterprise", 300, 100, "from these, negotiable; rate limits page [V] 2026"),
    ProviderPlan("ElevenLabs", "Pro", None, 20, "elevenlabs-docs models.mdx (Flash/Turbo) 2025-08"),
    ProviderPlan("ElevenLabs", "Scale", None, 30, "elevenlabs-docs models.mdx (Flash/Turbo) 2025-08"),
    ProviderPlan("ElevenLabs", "Business", None, 30, "elevenlabs-docs models.mdx (Flash/Turbo) 2025-08"),
)

# Published first-audio or first-token times (medians unless said), PROVIDER_FACTS.md "Latency figures".
LATENCY_MS = {
    "deepgram aura-2": (90, 200, "deepgram.com engineering blog: ~90 ms steady, < 200 ms at scale"),
    "elevenlabs flash": (150, 250, "callingscout.ai 2026: first chunk 150-250 ms in production"),
    "elevenlabs multilingual": (250, 300, "ElevenLabs models docs: Turbo/Multilingual ~250-300 ms"),
    "deepgram nova-3": (80, 150, "callingscout.ai 2026: final transcript 80-150 ms after speech (p50)"),
    "openai gpt-4o-mini": (400, 400, "apikeyhealth.com 2026-03: ~0.4 s first token (low confidence)"),
    "openai gpt-4.1-mini": (790, 930, "artificialanalysis.ai 2026; Fetch Rewards 2025-12: 0.79-0.93 s"),
}

SELF_HOSTING = (
    Fact(
        "Deepgram self-hosting needs an Enterprise agreement: it is not free, and its price is quoted "
        "by Deepgram, not published.",
        "developers.deepgram.com Self Service Licensing & Credentials [V]; Deployment Options [V]",
    ),
    Fact(
        "What can be self-hosted: the Nova speech-to-text models (Nova-3, Nova-2), Flux (the voice-agent "
        "model, on its own server) and Aura text-to-speech, as container images on NVIDIA GPUs.",
        "developers.deepgram.com Using the Flux Model (self-hosted) [V], Deploy Deepgram Services [V]",
    ),
    Fact(
        "Flux needs an Ampere or newer GPU (A10, L4, L40S, A100, H100); the T4 is not supported.",
        "developers.deepgram.com Using the Flux Model [V]",
    ),
    Fact(
        "Audio stays in your network; only small licence checks go to Deepgram. A regional endpoint "
        "(EU, Australia, India) meets most data-residency needs without running GPUs.",
        "Deepgram self-hosted skill guide (skills.sh/deepgram) [V]",
    ),
)

# The report's own assumptions when the operator gives none: each is listed in "Questions to settle".
ASSUMED = {
    "calls_per_month": (20_000, "a small call centre's month (the demo's assumption)"),
    "mean_call_minutes": (3.0, "a typical booking or support call"),
    "peak_hour_share": (0.15, "share of a day's calls in its busiest hour"),
    "days_per_month": (30, "calls spread over every day of the month"),
    "tts_chars_per_minute": (
        450,
        "PROVIDER_FACTS.md 4.7: the agent speaks half the call, ~900 characters a minute",
    ),
    "llm_tokens_in_per_minute": (6000, "PROVIDER_FACTS.md 4.7: 4 turns re-sending a 1.5k-token prompt"),
    "llm_tokens_out_per_minute": (250, "PROVIDER_FACTS.md 4.7"),
    "cores_per_server": (8, "a common cloud machine"),
    "server_headroom": (0.7, "servers planned at 70% of their measured capacity"),
    "gpu_server_usd_month": (
        580,
        "one NVIDIA L4 in a public cloud, about $0.80 an hour: confirm with your cloud",
    ),
    "selfhost_licence_usd_month": (4000, "a placeholder: Deepgram quotes Enterprise licences privately"),
    "selfhost_streams_per_gpu": (100, "a placeholder: confirm with Deepgram for your model and GPU"),
}
