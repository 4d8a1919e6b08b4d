"""The dashboard: one page at `/` that signs in and draws everything from the JSON API in the browser.

The page holds no data and no secret; it reads the reseller's branding before sign-in (by domain) and
after. Its script and styles are our own files; the charts are plotly.js, served from the `plotly`
wheel installed with us (never a CDN), gzipped once and cached by the browser under its version.
A strict Content-Security-Policy lets the page load only from this origin.
"""

import asyncio
import gzip
import hashlib
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Header
from fastapi.responses import HTMLResponse, Response

from voicegrid.tenancy import NotFound

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parents[1] / "static" / "dashboard"
# plotly draws with inline styles, hence style-src 'unsafe-inline'; scripts come only from here.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
    "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
TYPES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}


# The pages written as components (Preact and htm, served from /dashboard/lib): ES modules.
UiModule = Literal[
    "common.mjs",
    "agents.mjs",
    "tools.mjs",
    "talk.mjs",
    "numbers.mjs",
    "businesses.mjs",
    "settings.mjs",
    "reseller.mjs",
]


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    media_type: str


_cache: dict[str, Asset] = {}


def _load(name: str) -> Asset:
    if name.startswith(("vendor/", "ui/")):  # the component library (make setup) and our pages on it
        body = (STATIC / name).read_bytes()
        media_type = TYPES["app.js"]
    elif name == "plotly.min.js":
        body = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
        media_type = "text/javascript; charset=utf-8"
    else:
        body = (STATIC / name).read_bytes()
        media_type = TYPES[name]
        if name == "index.html":  # plotly's file is named by version, so a browser may cache it for good
            body = body.replace(b"{{plotly_version}}", plotly_version().encode())
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Asset(body, gzip.compress(body, compresslevel=6, mtime=0), etag, media_type)


async def _asset(name: str) -> Asset:
    asset = _cache.get(name)
    if asset is None:  # read and gzipped off the event loop, once per process
        asset = _cache[name] = await asyncio.to_thread(_load, name)
    return asset


def plotly_version() -> str:
    return metadata.version("plotly")


def _serve(asset: Asset, accept_encoding: str | None, if_none_match: str | None, max_age: int) -> Response:
    headers = {
        "ETag": asset.etag,
        "Cache-Control": f"public, max-age={max_age}",
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept-Encoding",
    }
    if if_none_match == asset.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in (accept_encoding or ""):
        return Response(
            asset.gzipped, media_type=asset.media_type, headers={**headers, "Content-Encoding": "gzip"}
        )
    return Response(asset.body, media_type=asset.media_type, headers=headers)


AcceptEncoding = Annotated[str | None, Header()]
IfNoneMatch = Annotated[str | None, Header()]


@router.get("/", response_class=HTMLResponse)
async def dashboard_page() -> HTMLResponse:
    return HTMLResponse((await _asset("index.html")).body, headers=PAGE_HEADERS)


@router.get("/dashboard/{name}")
async def dashboard_asset(
    name: Literal["app.js", "app.css"],
    accept_encoding: AcceptEncoding = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    return _serve(await _asset(name), accept_encoding, if_none_match, max_age=300)


@router.get("/dashboard/lib/{name}")
async def library_module(
    name: Literal["preact.mjs", "hooks.mjs", "htm.mjs"],
    accept_encoding: AcceptEncoding = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    try:
        asset = await _asset(f"vendor/{name}")
    except FileNotFoundError:
        raise NotFound("the dashboard's library is not installed: run `make setup`") from None
    return _serve(asset, accept_encoding, if_none_match, max_age=300)


@router.get("/dashboard/ui/{name}")
async def page_module(
    name: UiModule,
    accept_encoding: AcceptEncoding = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    return _serve(await _asset(f"ui/{name}"), accept_encoding, if_none_match, max_age=300)


@router.get("/dashboard/vendor/plotly-{version}.min.js")
async def plotly_js(
    version: str, accept_encoding: AcceptEncoding = None, if_none_match: IfNoneMatch = None
) -> Response:
    if version != plotly_version():
        raise NotFound("no such plotly version here")
    return _serve(await _asset("plotly.min.js"), accept_encoding, if_none_match, max_age=31_536_000)
