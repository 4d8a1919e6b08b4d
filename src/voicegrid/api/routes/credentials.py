"""Provider credentials a business brings (its own Deepgram, OpenAI-compatible, ElevenLabs keys).

The secret is encrypted at rest, bound to its row, and never returned: only its last characters.
"""

from typing import Any, Literal

from pydantic import Field

from voicegrid.api.context import Ctx
from voicegrid.api.owners import Owner
from voicegrid.api.resources import ResourceSpec
from voicegrid.api.schemas import HttpUrlText, In, Name, Stamped
from voicegrid.store.models import Credential
from voicegrid.tenancy import InvalidInput
from voicegrid.tenancy.secrets import mask

Provider = Literal["deepgram", "openai", "elevenlabs", "groq", "cartesia", "assemblyai", "other"]


class CredentialCreate(In):
    name: Name
    provider: Provider
    secret: str = Field(min_length=1, max_length=4000)
    base_url: HttpUrlText | None = Field(default=None, description="self-hosted or compatible endpoint")


class CredentialUpdate(In):
    name: Name | None = None
    secret: str | None = Field(default=None, min_length=1, max_length=4000)
    base_url: HttpUrlText | None = None


class CredentialOut(Stamped):
    business_id: str
    name: str
    provider: str
    base_url: str | None
    secret_hint: str


def secret_context(row_id: str) -> str:
    return f"credential:{row_id}"


async def build(
    ctx: Ctx, owner: Owner, row_id: str, given: dict[str, Any], existing: Credential | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    values = dict(given)
    if "name" in values and values["name"] is None:
        raise InvalidInput("name", "may not be null")
    secret = values.pop("secret", None)
    if secret is not None:
        values["secret_enc"] = ctx.services.secrets.encrypt(secret, secret_context(row_id))
        values["secret_hint"] = mask(secret)
    if existing is None:
        values["business_id"] = owner.business_id
    return values, {}


SPEC = ResourceSpec(
    kind="credentials",
    model=Credential,
    id_prefix="cred",
    create=CredentialCreate,
    update=CredentialUpdate,
    out=CredentialOut,
    build=build,
    render=lambda _ctx, row: CredentialOut.model_validate(row),
)
