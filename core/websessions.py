"""Signed-in web sessions for people using the pages (and the API from those pages).

The browser holds a random session token in an HttpOnly cookie; the server keeps only its
hash, so signing out (or an admin disabling the user) ends the session at once, unlike a
self-contained signed cookie. Each session has its own CSRF token, which every state-changing
request made with the cookie must echo (header X-CSRF-Token or form field csrf_token).
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Field, Session, select

from core.db import Table, aware, timestamp, utcnow
from core.tokens import new_token, token_hash
from core.users import User, check_password

IDLE = timedelta(hours=8)
ABSOLUTE = timedelta(days=7)


class WebSession(Table, table=True):
    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: str = Field(foreign_key="app_user.id", index=True, max_length=32)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = timestamp()
    last_seen_at: datetime = timestamp()
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)
    ended_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


def sign_in(session: Session, email: str, password: str, ip: str = "",
            user_agent: str = "") -> tuple[WebSession, str] | None:
    """A new session and its cookie token, or None when the email or password is wrong
    (which one is not said)."""
    user = check_password(session, email, password)
    if user is None:
        return None
    token = new_token()
    web = WebSession(token_hash=token_hash(token), user_id=user.id, csrf_token=new_token(),
                     ip=ip[:64], user_agent=user_agent[:300])
    session.add(web)
    session.flush()
    return web, token


def resume(session: Session, token: str) -> tuple[WebSession, User] | None:
    """The live session for this cookie token and its user; refreshes its idle timer."""
    web = session.exec(select(WebSession).where(WebSession.token_hash == token_hash(token))).first()
    if web is None or web.ended_at is not None:
        return None
    now = utcnow()
    if now - aware(web.last_seen_at) > IDLE or now - aware(web.created_at) > ABSOLUTE:
        return None
    user = session.get(User, web.user_id)
    if user is None or not user.active:
        return None
    if (now - aware(web.last_seen_at)).total_seconds() > 60:
        web.last_seen_at = now
        session.add(web)
    return web, user


def csrf_ok(web: WebSession, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(web.csrf_token, presented)


def sign_out(session: Session, web: WebSession) -> None:
    if web.ended_at is None:
        web.ended_at = utcnow()
        session.add(web)
