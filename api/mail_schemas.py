"""marshmallow schemas of the e-mail outbox and of the actions that send e-mail."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from api.schemas import Flag, Timestamp
from core.mail import MAX_RECIPIENTS, STATUSES

RECIPIENTS = fields.List(fields.Email(validate=validate.Length(max=254)), load_default=None,
                         validate=validate.Length(min=1, max=MAX_RECIPIENTS),
                         metadata={"description": "default: the account's primary (or first) contact"})


class MailQuery(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class AttachmentSchema(Schema):
    document_id = fields.Integer()
    filename = fields.String()


class MailMessageSchema(Schema):
    id = fields.Integer()
    message_id = fields.String(metadata={"description": "the Message-ID's local part; the same on every attempt"})
    template = fields.String(metadata={"description": "which e-mail: web/templates/mail/<template>.txt and .html"})
    about = fields.String()
    recipients = fields.List(fields.String())
    subject = fields.String()
    attachments = fields.List(fields.Nested(AttachmentSchema))
    sealed = fields.Boolean(metadata={"description": "its bodies are stored encrypted (they carry a link)"})
    status = fields.String(metadata={"description": "pending (waiting for SMTP, its documents or a retry), sent "
                                                    "or failed"})
    attempts = fields.Integer()
    next_attempt_at = Timestamp(allow_none=True)
    last_error = fields.String()
    sent_at = Timestamp(allow_none=True)
    created_at = Timestamp()


class MailMessageBodySchema(MailMessageSchema):
    text = fields.String()
    html = fields.String()


class QuoteEmailSchema(Schema):
    to = RECIPIENTS
    link_days = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=1, max=365),
                               metadata={"description": "share link lifetime; default: until the quote expires"})
    message = fields.String(load_default="", validate=validate.Length(max=2000),
                            metadata={"description": "a note from the rep, added to the e-mail"})


class ContractSendSchema(Schema):
    email = Flag(load_default=True, metadata={"description": "e-mail the signing link (default)"})
    to = RECIPIENTS
