"""Slow work goes through the task queue (core/queue.py), after the commit that asked for it:
documents are rendered after their transaction (in-process here, as in every test without a
queue), nothing is sent for a transaction that rolls back, a failed render is counted and
the sweep sends again what waits too long. tests/test_queue_worker.py runs a real worker."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlmodel import select

from cli.main import cli
from core import docstore, queue
from core.db import session_scope, utcnow
from core.docstore import Document
from core.webhooks import WebhookEvent
from quote_flow import call, env, get, ok, sent  # noqa: F401
from tasks.documents import render, sweep


def quote_document(env, number: str) -> Document:
    with session_scope(env.engine) as session:
        return docstore.facts(session, "quote", session.exec(select(Document.ref).where(Document.kind == "quote")).one())


def test_a_document_asked_for_in_a_transaction_is_rendered_after_its_commit(app, env):
    app.extensions["cpq_settings"] = replace(env.settings, webhook_allow_hosts=("erp.example.com",))   # no DNS here
    ok(call(env, "post", "/webhooks", "admin", {"url": "https://erp.example.com/in", "events": ["document.ready"]}),
       201)
    number, _token = sent(env)
    shown = quote_document(env, number)
    assert shown.status == "ready" and len(shown.sha256) == 64 and shown.size > 1000
    assert get(env, number)["document_sha256"] == shown.sha256
    with session_scope(env.engine) as session:
        data = session.exec(select(WebhookEvent.data).where(WebhookEvent.type == "document.ready")).one()
    assert (data["quote"], data["sha256"], data["format"]) == (number, shown.sha256, "pdf")


def test_nothing_is_sent_for_a_transaction_that_rolls_back(env, monkeypatch):
    sent_tasks = []
    monkeypatch.setattr("tasks.documents.render.apply", lambda args: sent_tasks.append(args))
    with pytest.raises(RuntimeError):
        with session_scope(env.engine) as session:
            docstore.request(session, "invoice", 999, "pdf")
            raise RuntimeError("changed my mind")
    with session_scope(env.engine) as session:
        assert session.exec(select(Document)).all() == []
        session.add(WebhookEvent(type="ping", data={}))              # another transaction sends nothing
    assert sent_tasks == []


def test_the_documents_of_an_object_asked_for_at_once_go_in_one_task(env, monkeypatch):
    """An invoice's PDF and e-invoice XML: one message after the commit, not one per format."""
    sent_tasks = []
    monkeypatch.setattr(queue.celery_app(env.settings).tasks[docstore.RENDER], "apply",
                        lambda args: sent_tasks.append(tuple(args)))
    with session_scope(env.engine) as session:
        asked = docstore.request_formats(session, "invoice", 903, ("pdf", "cii"))
    assert sent_tasks == [tuple(sorted(document.id for document in asked))] and len(sent_tasks[0]) == 2


def test_tasks_queued_in_a_savepoint_wait_for_the_commit_and_go_with_its_rollback(env, monkeypatch):
    """SQLAlchemy reports a released savepoint as a commit: its tasks must still wait for the
    real one (on PostgreSQL a worker saw no rows yet: dunning e-mails were never sent), and a
    savepoint rolled back takes only its own tasks with it."""
    seen = []
    monkeypatch.setattr("tasks.documents.render.apply",
                        lambda args: seen.append((tuple(args), _committed(env, args[0]))))
    with session_scope(env.engine) as session:
        with session.begin_nested():
            kept = docstore.request(session, "invoice", 901, "pdf").id
        assert seen == []                                      # released, not committed
        try:
            with session.begin_nested():
                docstore.request(session, "invoice", 902, "pdf")
                raise RuntimeError("this one fails")
        except RuntimeError:
            pass
    assert seen == [((kept,), True)]


def _committed(env, document_id: int) -> bool:
    with session_scope(env.engine) as session:
        return session.get(Document, document_id) is not None


def _pending_again(env, document_id: int, **changes) -> None:
    with session_scope(env.engine) as session:
        document = session.get(Document, document_id)
        document.status, document.sha256, document.content = "pending", None, None
        document.requested_at = utcnow() - timedelta(minutes=5)
        for name, value in changes.items():
            setattr(document, name, value)
        session.add(document)


def test_a_failed_render_is_counted_kept_and_sent_again_by_the_sweep(env, monkeypatch):
    number, _token = sent(env)
    document_id = quote_document(env, number).id
    _pending_again(env, document_id)
    with queue.bound(env.engine, env.settings):
        with monkeypatch.context() as broken:
            broken.setattr("tasks.documents._render", lambda *_: (_ for _ in ()).throw(OSError("no fonts")))
            render(document_id)
        with session_scope(env.engine) as session:
            failed = session.get(Document, document_id)
            assert (failed.status, failed.attempts, failed.error) == ("pending", 1, "OSError: no fonts")
        _pending_again(env, document_id, attempts=1)
        sweep()                                                       # long pending: sent again, rendered
    assert quote_document(env, number).status == "ready"


def test_the_last_failed_attempt_marks_the_document_failed(env, monkeypatch):
    number, _token = sent(env)
    document_id = quote_document(env, number).id
    _pending_again(env, document_id, attempts=4)
    monkeypatch.setattr("tasks.documents._render", lambda *_: (_ for _ in ()).throw(ValueError("bad template")))
    with queue.bound(env.engine, env.settings):
        render(document_id)
    assert quote_document(env, number).status == "failed"


def test_cpq_worker_once_renders_what_waits_without_a_broker(env, database_url, monkeypatch):
    number, _token = sent(env)
    document_id = quote_document(env, number).id
    _pending_again(env, document_id)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", env.settings.secret_key)
    result = CliRunner().invoke(cli, ["worker", "--once"], catch_exceptions=False)
    assert result.exit_code == 0 and "1 documents rendered" in result.stderr
    assert quote_document(env, number).status == "ready"
