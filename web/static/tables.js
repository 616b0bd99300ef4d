// The tables more than one page shows: a body filled from one API call (or its error, or a
// line saying there is nothing), and the rows of invoices and payments. Pages listing several
// accounts add an account column.
import { api, el, money, showError } from "./api.js";

export async function fill(body, path, columns, row, empty = "None yet.") {
  if (!body) return [];
  try {
    const items = await api("GET", path);
    body.replaceChildren(...(items.length ? items.map(row) : [el("tr", {}, el("td", { colspan: columns }, empty))]));
    return items;
  } catch (error) {
    showError(body, error);
    return [];
  }
}

export function invoiceRow(i, { account = false } = {}) {
  return el("tr", {},
    el("td", {}, i.number ? el("a", { href: `/api/v1/invoices/${i.id}/pdf`, target: "_blank", rel: "noopener", "data-document": true }, i.number) : `draft #${i.id}`),
    account ? el("td", {}, i.account) : null,
    el("td", {}, el("span", { class: "status" }, i.state)), el("td", { class: "num" }, money(i.gross_total, i.currency)),
    el("td", { class: "num" }, money(i.balance, i.currency)), el("td", {}, i.due_date || ""));
}

// `invoices`: numbers by invoice id, to name what a payment paid (a column shown only then)
export function paymentRow(p, { account = false, invoices = null } = {}) {
  return el("tr", {},
    el("td", {}, p.received_on), account ? el("td", {}, p.account) : null, el("td", {}, p.reference),
    el("td", { class: "hide-narrow" }, p.method),
    el("td", { class: "num" }, money(p.amount, p.currency)), el("td", { class: "num" }, money(p.unapplied, p.currency)),
    invoices ? el("td", { class: "hide-narrow" }, p.allocations.map((a) => invoices[a.invoice] || `#${a.invoice}`).join(", ")) : null);
}
