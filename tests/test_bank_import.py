"""Bank statements in, payments out: camt.053 and CSV read strictly, each transfer matched to
the invoice its remittance names (RF reference or number), kept once, the rest left for a
person to match."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import select

from billing import bank_import, remittance
from billing.models import BankTransaction, Payment
from billing.payments import check_account
from billing_flow import DAY, D, acme, issue, make_account, session  # noqa: F401
from core.db import session_scope
from core.errors import InvalidInput, InvalidTransition
from quote_flow import call, env, error_of, ok  # noqa: F401
from sales.accounts import Account

pytestmark = pytest.mark.postgres


def open_invoice(session, account, gross="100.00"):
    return issue(session, account, gross, date(2026, 3, 31))


def camt(*entries: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>S1</MsgId><CreDtTm>2026-03-02T08:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S1-1</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>{''.join(entries)}</Stmt>
</BkToCstmrStmt></Document>""".encode()


def entry(ref: str, amount: str, remittance_xml: str, *, ccy="USD", direction="CRDT", payer="Acme Industries") -> str:
    return f"""<Ntry><NtryRef>{ref}</NtryRef><Amt Ccy="{ccy}">{amount}</Amt><CdtDbtInd>{direction}</CdtDbtInd>
<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-03-01</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef>
<NtryDtls><TxDtls><RltdPties><Dbtr><Pty><Nm>{payer}</Nm></Pty></Dbtr></RltdPties>
<RmtInf>{remittance_xml}</RmtInf></TxDtls></NtryDtls></Ntry>"""


def structured(reference: str) -> str:
    return f"<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>{reference}</Ref></CdtrRefInf></Strd>"


def test_a_camt053_transfer_quoting_the_rf_reference_pays_its_invoice(session, acme):
    first, second = open_invoice(session, acme), open_invoice(session, acme, "40.00")
    lines = bank_import.read_camt053(camt(
        entry("B-1", "40.00", structured(second.payment_reference)),
        entry("B-2", "100.00", f"<Ustrd>thanks for {remittance.printed(first.payment_reference)}</Ustrd>"),
        entry("B-3", "9.99", "<Ustrd>no idea</Ustrd>"),
        entry("B-4", "500.00", "<Ustrd>a debit</Ustrd>", direction="DBIT")))
    assert [(ln.bank_ref, ln.amount, ln.currency, ln.payer) for ln in lines] == [
        ("B-1", D("40.00"), "USD", "Acme Industries"), ("B-2", D("100.00"), "USD", "Acme Industries"),
        ("B-3", D("9.99"), "USD", "Acme Industries")]
    report = bank_import.import_lines(session, lines)
    assert [(m["bank_ref"], m["invoice"]) for m in report.matched] == [("B-1", second.number), ("B-2", first.number)]
    assert [u["bank_ref"] for u in report.unmatched] == ["B-3"] and "names no invoice" in report.unmatched[0]["note"]
    assert (first.state, second.state) == ("paid", "paid")
    assert check_account(session, acme.id) == []
    again = bank_import.import_lines(session, lines)                   # the same statement again
    assert (again.known, again.matched, again.unmatched) == (3, [], [])
    assert len(session.exec(select(Payment)).all()) == 2


def test_a_transfer_above_the_balance_leaves_credit_and_one_for_a_paid_invoice_is_all_credit(session, acme):
    invoice = open_invoice(session, acme, "100.00")
    ref = invoice.payment_reference
    bank_import.import_lines(session, [bank_import.Line("X-1", DAY, D("120.00"), "USD", ref),
                                       bank_import.Line("X-2", DAY, D("30.00"), "USD", ref)])
    payments = {p.reference: p for p in session.exec(select(Payment))}
    assert invoice.state == "paid"
    assert (payments["X-1"].unapplied, payments["X-2"].unapplied) == (D("20.00"), D("30.00"))
    assert check_account(session, acme.id) == []


def test_a_transfer_in_another_currency_or_naming_two_invoices_waits_for_a_person(session, acme):
    a, b = open_invoice(session, acme), open_invoice(session, acme)
    report = bank_import.import_lines(session, [
        bank_import.Line("Y-1", DAY, D("100.00"), "EUR", a.payment_reference),
        bank_import.Line("Y-2", DAY, D("200.00"), "USD", f"{a.payment_reference} {b.payment_reference}")])
    assert [u["note"] for u in report.unmatched] == [
        f"{a.number} is in USD; the transfer is in EUR", f"the remittance names several invoices ({a.number}, {b.number})"]
    y2 = session.exec(select(BankTransaction).where(BankTransaction.bank_ref == "Y-2")).one()
    txn, invoice = bank_import.match(session, y2.id, a.number)
    assert (txn.status, invoice.state, a.state) == ("matched", "paid", "paid")
    assert bank_import.match(session, y2.id, a.number)[0].payment_id == txn.payment_id       # again: harmless
    with pytest.raises(InvalidTransition):
        bank_import.match(session, y2.id, b.number)
    y1 = session.exec(select(BankTransaction).where(BankTransaction.bank_ref == "Y-1")).one()
    with pytest.raises(InvalidInput, match="in USD"):
        bank_import.match(session, y1.id, b.number)


def test_the_invoice_number_in_free_text_is_matched_too(session):
    account = make_account(session, "GLOBEX", "EUR")
    invoice = issue(session, account, "50.00", date(2026, 3, 31), number="INV-2026-00077")
    report = bank_import.import_lines(session, [bank_import.Line("Z-1", DAY, D("50.00"), "EUR",
                                                                 "Rechnung inv-2026-00077 vom März")])
    assert report.matched[0]["invoice"] == "INV-2026-00077" and invoice.state == "paid"


def test_a_csv_statement_is_read_strictly():
    good = b"id,date,amount,currency,remittance,payer\nT1,2026-03-01,12.50,eur,RF18539007547034,Jo\nT2,2026-03-01,-3.00,EUR,fee,\n"
    assert bank_import.read(good, "text/csv") == [
        bank_import.Line("T1", date(2026, 3, 1), D("12.50"), "EUR", "RF18539007547034", "Jo")]
    for body, field, reason in [
        (b"id,date,amount\n", "file", "lacks currency, remittance"),
        (b"id,date,amount,currency,remittance\nT1,01/03/2026,1,EUR,x\n", "line 2.date", "not a date"),
        (b"id,date,amount,currency,remittance\nT1,2026-03-01,abc,EUR,x\n", "line 2.amount", "not an amount"),
        (b"id,date,amount,currency,remittance\nT1,2026-03-01,1.001,EUR,x\n", "line 2.amount", "more decimals than EUR"),
        (b"id,date,amount,currency,remittance\nT1,2026-03-01,1,XXY,x\n", "line 2.currency", "not an ISO 4217"),
        (b"id,date,amount,currency,remittance\n,2026-03-01,1,EUR,x\n", "line 2.id", "is required"),
        ("id,date,amount,currency,remittance\nT1,2026-03-01,1,EUR,Müller\n".encode("latin-1"), "file", "UTF-8")]:
        with pytest.raises(InvalidInput) as err:
            bank_import.read(body, "text/csv")
        assert (err.value.field, reason in err.value.reason) == (field, True), err.value


def test_camt053_is_read_safely_and_batch_entries_split():
    with pytest.raises(InvalidInput, match="not well-formed"):
        bank_import.read(b"<Document><Stmt>", "application/xml")
    with pytest.raises(InvalidInput, match="not a camt.053"):
        bank_import.read(b"<Document/>", "application/xml")
    bomb = b"""<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Document><Stmt><Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-03-01</Dt></BookgDt>
<NtryRef>E1</NtryRef><NtryDtls><TxDtls><RmtInf><Ustrd>&x;</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry></Stmt></Document>"""
    assert "root:" not in bank_import.read(bomb, "application/xml")[0].remittance        # no external entity read
    batch = camt("""<Ntry><NtryRef>BATCH</NtryRef><Amt Ccy="EUR">30.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<BookgDt><Dt>2026-03-01</Dt></BookgDt><NtryDtls>
<TxDtls><Refs><EndToEndId>E2E-1</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">10.00</Amt></TxAmt></AmtDtls>
<RmtInf><Ustrd>one</Ustrd></RmtInf></TxDtls>
<TxDtls><AmtDtls><TxAmt><Amt Ccy="EUR">20.00</Amt></TxAmt></AmtDtls><RmtInf><Ustrd>two</Ustrd></RmtInf></TxDtls>
</NtryDtls></Ntry>""")
    assert [(ln.bank_ref, ln.amount, ln.remittance) for ln in bank_import.read(batch, "application/xml")] == [
        ("E2E-1", D("10.00"), "one"), ("BATCH/2", D("20.00"), "two")]


def test_the_api_imports_a_statement_and_lists_what_waits_for_a_person(env):
    body = b"id,date,amount,currency,remittance\nA1,2026-03-01,10.00,USD,no reference\n"
    assert error_of(call(env, "post", "/bank-statements", "rep", data=body, content_type="text/csv"), 403)
    report = ok(call(env, "post", "/bank-statements", "finance", data=body, content_type="text/csv"))
    assert report["known"] == 0 and [u["bank_ref"] for u in report["unmatched"]] == ["A1"]
    assert ok(call(env, "post", "/bank-statements", "finance", data=body, content_type="text/csv"))["known"] == 1
    waiting = ok(call(env, "get", "/bank-transactions", "finance"))
    assert [(t["bank_ref"], t["amount"], t["status"]) for t in waiting] == [("A1", "10.00", "unmatched")]
    bad = error_of(call(env, "post", "/bank-statements", "finance", data=b"id,date\n", content_type="text/csv"), 422)
    assert "file" in bad["fields"]
    missing = error_of(call(env, "post", f"/bank-transactions/{waiting[0]['id']}/match", "finance",
                            {"invoice": "INV-1999-00001"}), 404)
    assert "INV-1999-00001" in missing["message"]


def test_the_cli_imports_a_statement_and_matches_by_hand(engine, database_url, tmp_path):
    from click.testing import CliRunner

    from cli.main import cli
    with session_scope(engine) as s:
        invoice = issue(s, make_account(s, "ACME"), "25.00", date(2026, 3, 31), number="INV-2026-00005")
        reference = invoice.payment_reference
    statement = tmp_path / "march.csv"
    statement.write_text(f"id,date,amount,currency,remittance\nC1,2026-03-02,25.00,USD,{reference}\n"
                         "C2,2026-03-02,5.00,USD,tip\n")
    env = {"DATABASE_URL": database_url}
    first = CliRunner().invoke(cli, ["bank", "import", str(statement)], env=env)
    assert first.exit_code == 0 and "C1: 25.00 USD paid INV-2026-00005" in first.output, first.output
    assert "1 matched, 1 unmatched, 0 imported before" in first.output
    assert "2 imported before" in CliRunner().invoke(cli, ["bank", "import", str(statement)], env=env).output
    waiting = CliRunner().invoke(cli, ["bank", "unmatched"], env=env).output
    assert "C2" in waiting and "names no invoice" in waiting
    refused = CliRunner().invoke(cli, ["bank", "match", waiting.split()[0], "INV-2026-09999"], env=env)
    assert refused.exit_code == 1 and "INV-2026-09999" in refused.output
    bad = tmp_path / "bad.csv"
    bad.write_text("id,date,amount,currency,remittance\nX,2026-13-01,1,USD,x\n")
    result = CliRunner().invoke(cli, ["bank", "import", str(bad)], env=env)
    assert result.exit_code == 1 and "line 2.date" in result.output


def test_finance_matches_a_waiting_transfer_from_the_finance_page_once(env):
    """What the finance page's "Transfers to match" shows and calls: the waiting transfers with
    date, amount, payer and text, the open invoices to offer, and the match, which a double
    click makes once; a transfer in another currency than the invoice stays waiting."""
    with session_scope(env.engine) as s:
        invoice = open_invoice(s, s.exec(select(Account).where(Account.code == "ACME")).one(), "100.00")
        invoice_id, number = invoice.id, invoice.number
    statement = b"id,date,amount,currency,remittance,payer\nW1,2026-03-02,100.00,USD,for the racks,Acme Corp\n" \
                b"W2,2026-03-02,50.00,EUR,euro transfer,Acme GmbH\n"
    ok(call(env, "post", "/bank-statements", "finance", data=statement, content_type="text/csv"))
    finance = {"Authorization": f"Bearer {env.tokens['finance']}"}
    html = env.client.get("/app/finance", headers=finance).get_data(as_text=True)
    assert 'id="transfers"' in html and "Transfers to match" in html and "/bank-transactions?limit=100" in html
    waiting = {t["bank_ref"]: t for t in ok(call(env, "get", "/bank-transactions?limit=100", "finance"))}
    assert [(t["booked_on"], t["amount"], t["currency"], t["payer"], t["remittance"]) for t in waiting.values()] == [
        ("2026-03-02", "100.00", "USD", "Acme Corp", "for the racks"), ("2026-03-02", "50.00", "EUR", "Acme GmbH", "euro transfer")]
    assert number in [i["number"] for i in ok(call(env, "get", "/invoices?state=open&limit=500", "finance"))]

    path = f"/bank-transactions/{waiting['W1']['id']}/match"
    assert error_of(call(env, "post", path, "rep", {"invoice": number}), 403)
    first, second = (ok(call(env, "post", path, "finance", {"invoice": number})) for _ in range(2))     # a double click
    assert first == second and (first["status"], first["invoice"]) == ("matched", number)
    assert [p["reference"] for p in ok(call(env, "get", "/payments", "finance"))] == ["W1"]
    assert ok(call(env, "get", f"/invoices/{invoice_id}", "finance"))["state"] == "paid"

    wrong = error_of(call(env, "post", f"/bank-transactions/{waiting['W2']['id']}/match", "finance", {"invoice": number}), 422)
    assert wrong["fields"] == {"invoice": [f"{number} is in USD; the transfer is in EUR"]}
    assert [t["bank_ref"] for t in ok(call(env, "get", "/bank-transactions?limit=100", "finance"))] == ["W2"]
