"""First-start facts of an installation: the platform admin key and the encryption key for secrets."""

from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voicegrid.config import Settings
from voicegrid.core.clock import utcnow
from voicegrid.core.ids import new_id
from voicegrid.store.models import ApiKey
from voicegrid.tenancy import Role, Scope, SecretBox
from voicegrid.tenancy.keys import generate_api_key, key_from_plaintext
from voicegrid.tenancy.secrets import decode_key, load_or_create_key_file

ENV_KEY_NAME = "admin (VOICEGRID_ADMIN_KEY)"
GENERATED_KEY_NAME = "admin (generated at first start)"


def secret_box(settings: Settings) -> SecretBox:
    if settings.secret_key is not None:
        return SecretBox(decode_key(settings.secret_key.get_secret_value()))
    return SecretBox(load_or_create_key_file(Path(settings.data_dir) / "secret.key"))


async def ensure_admin_key(session: AsyncSession, settings: Settings) -> str | None:
    """Make sure a platform owner key exists; return its plaintext only when it was generated now."""
    if settings.admin_key is not None:
        wanted = key_from_plaintext(settings.admin_key.get_secret_value())
        # A changed VOICEGRID_ADMIN_KEY retires the key it replaced.
        await session.execute(
            update(ApiKey)
            .where(ApiKey.name == ENV_KEY_NAME, ApiKey.key_hash != wanted.hash, ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        existing = await session.scalar(select(ApiKey).where(ApiKey.key_hash == wanted.hash))
        if existing is None:
            session.add(_platform_owner_key(ENV_KEY_NAME, wanted.hash, wanted.hint))
        elif existing.revoked_at is not None:
            existing.revoked_at = None
        await session.commit()
        return None
    live = await session.scalar(
        select(ApiKey.id).where(
            ApiKey.scope == Scope.PLATFORM.value, ApiKey.role == Role.OWNER.value, ApiKey.revoked_at.is_(None)
        )
    )
    if live is not None:
        return None
    new = generate_api_key()
    session.add(_platform_owner_key(GENERATED_KEY_NAME, new.hash, new.hint))
    await session.commit()
    return new.plaintext


def _platform_owner_key(name: str, key_hash: str, hint: str) -> ApiKey:
    return ApiKey(
        id=new_id("key"),
        scope=Scope.PLATFORM.value,
        role=Role.OWNER.value,
        name=name,
        key_hash=key_hash,
        hint=hint,
        created_by="system",
    )
