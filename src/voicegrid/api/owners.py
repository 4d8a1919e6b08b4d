"""Where a request's objects live: a business, a reseller, or the platform, checked against the caller."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Path, Request
from sqlalchemy import ColumnElement, and_

from voicegrid.api.context import Ctx, CtxDep
from voicegrid.store.models import Business, Reseller
from voicegrid.tenancy import Action, Forbidden, NotFound, Role, Scope, authorize_business
from voicegrid.tenancy.policy import authorize_role, sees_reseller

IdPath = Annotated[str, Path(min_length=1, max_length=40)]


@dataclass(frozen=True, slots=True)
class Owner:
    scope: Scope
    reseller_id: str | None = None
    business_id: str | None = None

    def columns(self) -> dict[str, Any]:
        return {"scope": self.scope.value, "reseller_id": self.reseller_id, "business_id": self.business_id}


OwnerLocator = Callable[[Action], Awaitable[Owner]]


def platform_only(ctx: Ctx, role: Role, what: str) -> None:
    """Routes about the platform itself (capacity, prices): platform keys with at least `role`."""
    if ctx.principal.scope is not Scope.PLATFORM:
        raise Forbidden(f"{what} is the platform's")
    if not ctx.principal.role.at_least(role):
        raise Forbidden(f"needs the {role} role")


async def business_owner(ctx: Ctx, business_id: str, kind: str, action: Action) -> Owner:
    business = await ctx.session.get(Business, business_id)
    if business is None:
        raise NotFound()
    authorize_business(ctx.principal, business.id, business.reseller_id, kind, action)
    return Owner(Scope.BUSINESS, business.reseller_id, business.id)


async def reseller_owner(ctx: Ctx, reseller_id: str, kind: str, action: Action) -> Owner:
    p = ctx.principal
    if not sees_reseller(p, reseller_id):
        if p.scope is Scope.BUSINESS:
            raise Forbidden("this route needs a reseller- or platform-level key")
        raise NotFound()
    if await ctx.session.get(Reseller, reseller_id) is None:
        raise NotFound()
    authorize_role(p, kind, action)
    return Owner(Scope.RESELLER, reseller_id, None)


async def own_owner(ctx: Ctx, kind: str, action: Action, *, business_only: bool) -> Owner:
    """The caller's own level: its business, its reseller, or the platform."""
    p = ctx.principal
    if p.scope is Scope.BUSINESS and p.business_id:
        return await business_owner(ctx, p.business_id, kind, action)
    if business_only:
        raise Forbidden(f"a {p.scope.value}-level key must name the business: /v1/businesses/{{id}}/{kind}")
    if p.scope is Scope.RESELLER and p.reseller_id:
        return await reseller_owner(ctx, p.reseller_id, kind, action)
    authorize_role(p, kind, action)
    return Owner(Scope.PLATFORM)


# Route families: each returns a dependency that yields a locator bound to the request.
LocatorFactory = Callable[[str], Callable[..., Awaitable[tuple[Ctx, OwnerLocator]]]]


def in_business(kind: str) -> Callable[..., Awaitable[tuple[Ctx, OwnerLocator]]]:
    async def dep(business_id: IdPath, ctx: CtxDep) -> tuple[Ctx, OwnerLocator]:
        return ctx, lambda action: business_owner(ctx, business_id, kind, action)

    return dep


def in_reseller(kind: str) -> Callable[..., Awaitable[tuple[Ctx, OwnerLocator]]]:
    async def dep(reseller_id: IdPath, ctx: CtxDep) -> tuple[Ctx, OwnerLocator]:
        return ctx, lambda action: reseller_owner(ctx, reseller_id, kind, action)

    return dep


def in_own_business(kind: str) -> Callable[..., Awaitable[tuple[Ctx, OwnerLocator]]]:
    async def dep(ctx: CtxDep) -> tuple[Ctx, OwnerLocator]:
        return ctx, lambda action: own_owner(ctx, kind, action, business_only=True)

    return dep


def in_named_or_own_business(kind: str) -> Callable[..., Awaitable[tuple[Ctx, OwnerLocator]]]:
    """For routers mounted both under /v1/businesses/{business_id} and prefix-less (the key's own)."""

    async def dep(request: Request, ctx: CtxDep) -> tuple[Ctx, OwnerLocator]:
        business_id = request.path_params.get("business_id")
        if business_id is not None:
            return ctx, lambda action: business_owner(ctx, str(business_id), kind, action)
        return ctx, lambda action: own_owner(ctx, kind, action, business_only=True)

    return dep


def in_own_level(kind: str) -> Callable[..., Awaitable[tuple[Ctx, OwnerLocator]]]:
    async def dep(ctx: CtxDep) -> tuple[Ctx, OwnerLocator]:
        return ctx, lambda action: own_owner(ctx, kind, action, business_only=False)

    return dep


def owner_filter(model: Any, owner: Owner) -> ColumnElement[bool]:
    """Rows of `model` that belong to exactly this owner (scoped rows match all three levels)."""
    if hasattr(model, "scope"):
        return and_(
            model.scope == owner.scope.value,
            model.reseller_id.is_(None)
            if owner.reseller_id is None
            else model.reseller_id == owner.reseller_id,
            model.business_id.is_(None)
            if owner.business_id is None
            else model.business_id == owner.business_id,
        )
    return model.business_id == owner.business_id  # type: ignore[no-any-return]
