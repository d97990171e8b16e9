"""HTTP hardening: proxy headers only from trusted hops, and security headers on every response.

- `TRUSTED_PROXIES` = n > 0 wraps the app in werkzeug's ProxyFix for n hops, so `remote_addr` (the
  rate limiter's key), the scheme and the host come from X-Forwarded-* set by our own proxies;
  with 0 those headers are ignored (a client cannot fake its address).
- Pages get a Content-Security-Policy: scripts only from this site or inline blocks carrying the
  request's nonce (`{{ csp_nonce() }}` in templates), no plugins, no framing (frame-ancestors),
  forms and connections to this site only. Style attributes stay allowed (`style-src-attr`),
  `<style>` blocks do not. Over HTTPS (`HTTPS_ONLY`) responses also carry HSTS.
"""

from __future__ import annotations

import secrets

from flask import Flask, g
from werkzeug.middleware.proxy_fix import ProxyFix

#: One year, the usual HSTS lifetime; sent only when HTTPS_ONLY is on.
HSTS_SECONDS = 365 * 24 * 3600

CSP = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def csp_nonce() -> str:
    """This request's script nonce (made on first use)."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def _security_headers(response):
    from flask import current_app

    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP.format(nonce=csp_nonce()))
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if current_app.config["HTTPS_ONLY"]:
        headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_SECONDS}")
    return response


def init_app(app: Flask) -> None:
    """Trust TRUSTED_PROXIES hops of X-Forwarded-*; add the security headers; give templates `csp_nonce`."""
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_security_headers)
