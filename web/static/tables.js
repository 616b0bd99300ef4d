// The tables more than one page shows: a body filled from one API call (or its error, or a
// line saying there is nothing), and the rows of invoices and payments. Pages listing several
// accounts add an account column.
import { api, el, money, showError, stateLabel } from "./api.js";

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

// A list page: its table (#rows) filled from `path`, again whenever its filters (#filters) change.
export function listed(path, columns, row, empty) {
  const filters = document.getElementById("filters");
  const load = () => {
    const query = new URLSearchParams([...new FormData(filters)].filter(([, v]) => v));
    query.set("limit", "100");
    return fill(document.getElementById("rows"), `${path}?${query}`, columns, row, empty);
  };
  filters.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  return load();
}

export const status = (state) => el("span", { class: "status", "data-state": state }, stateLabel(state));

export function invoiceRow(i, { account = false } = {}) {
  return el("tr", {},
    el("td", {}, el("a", { href: `/app/invoices/${i.id}` }, i.number || `Draft #${i.id}`)),
    account ? el("td", {}, i.account) : null,
    el("td", {}, status(i.state)), el("td", { class: "num" }, money(i.gross_total, i.currency)),
    el("td", { class: "num" }, money(i.balance, i.currency)), el("td", {}, i.due_date || ""));
}

// `invoices`: numbers by invoice id, to name what a payment paid (a column shown only then)
export function paymentRow(p, { account = false, invoices = null } = {}) {
  return el("tr", {},
    el("td", {}, p.received_on), account ? el("td", {}, p.account) : null, el("td", {}, p.reference),
    el("td", { class: "hide-narrow" }, stateLabel(p.method)),
    el("td", { class: "num" }, money(p.amount, p.currency)), el("td", { class: "num" }, money(p.unapplied, p.currency)),
    invoices ? el("td", { class: "hide-narrow" }, p.allocations.map((a) => invoices[a.invoice] || `#${a.invoice}`).join(", ")) : null);
}

export function orderRow(o, { account = false } = {}) {
  return el("tr", {},
    el("td", {}, el("a", { href: `/app/orders/${o.number}` }, o.number)), account ? el("td", {}, o.account) : null,
    el("td", {}, el("a", { href: `/app/quotes/${o.quote}` }, o.quote)), el("td", {}, status(o.state)),
    el("td", { class: "hide-narrow" }, o.erp_order_number || ""), el("td", { class: "num" }, money(o.contract_value, o.currency)));
}

export function contractRow(c) {
  return el("tr", {},
    el("td", {}, el("a", { href: `/app/contracts/${c.number}` }, c.number)), el("td", {}, c.account),
    el("td", {}, status(c.state)), el("td", { class: "hide-narrow" }, `${c.start_date} to ${c.end_date}`),
    el("td", { class: "num" }, money(c.contract_value, c.currency)));
}

// Charts are drawn by the server (pages/_charts.html), so an action (a payment, a release)
// leaves them stale: draw the elements with these ids again from a fresh copy of the page.
export async function redraw(...ids) {
  const response = await fetch(location.href, { credentials: "same-origin" });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  for (const id of ids) {
    const now = fresh.getElementById(id);
    if (now) document.getElementById(id)?.replaceWith(document.importNode(now, true));
  }
}
