// The rep's quote builder: lines, discounts, the waterfall and the approvals the quote will
// need (both recomputed by the server on every save), submit, send, PDF, revisions and the
// ERP's progress, and once the customer accepts, the contract and the order. In an iframe it
// tells its parent: quote.saved, quote.submitted, quote.sent.
import { api, el, money, showError, tell } from "./api.js";
import { shareLink } from "./actions.js";
import { Configurator } from "./configurator.js";
import { status } from "./tables.js";

export function start(root, staticBase) {
  const number = root.dataset.number;
  const canWrite = root.dataset.canWrite === "true";
  const can = (permission) => root.dataset.permissions.split(" ").includes(permission);
  const $ = (id) => document.getElementById(id);
  let quote = null;
  let configurator = null;
  let editing = null;                 // the key of the line reopened in the configurator

  const say = (text, kind = "info") => $("q-message").replaceChildren(el("div", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, text));

  async function act(promise, event) {
    try {
      quote = await promise;
      if (quote.quote) quote = quote.quote;             // send answers {quote, share_link}
      render();
      tell(event, { number: quote.number, revision: quote.revision, state: quote.state });
      return true;
    } catch (error) {
      say(error.message, "error");
      return false;
    }
  }

  // a draft or rejected quote changes in place, an approved, sent, declined or expired one by a
  // new revision; one waiting for approval must be recalled first, and an accepted one is final
  const REVISABLE = ["approved", "sent", "accepted", "declined", "expired"];

  function render() {
    const c = quote.currency;
    const editable = canWrite && !["pending_approval", "accepted"].includes(quote.state);
    $("q-state").textContent = quote.state;
    if (quote.state === "accepted") say("The customer accepted this quote, so it is final. To change the deal, revise it (while nothing was ordered or signed).");
    $("q-meta").textContent = `${quote.account} · revision ${quote.revision} · ${quote.title || ""}`;
    const lines = quote.price?.lines || [];
    $("lines").replaceChildren(...quote.lines.map((line, i) => {
      const priced = lines[i] || {};
      const qty = el("input", { type: "number", min: 1, value: line.quantity, "aria-label": `Quantity of ${line.product}`, style: "width: 5rem", disabled: !editable });
      qty.addEventListener("change", () => save(line.key, { quantity: parseInt(qty.value, 10) }));
      const disc = el("input", { type: "number", min: 0, max: 100, step: 0.5, value: line.discount_percent ?? "", "aria-label": `Discount % of ${line.product}`, style: "width: 5rem", disabled: !editable });
      disc.addEventListener("change", () => save(line.key, { discount_percent: disc.value === "" ? null : disc.value }));
      const remove = el("button", { type: "button", "aria-label": `Remove ${line.product}`, disabled: !editable,
        onclick: () => act(api("DELETE", `/quotes/${number}/lines/${line.key}`), "quote.saved") }, "Remove");
      const edit = editable && configurable(line) ? el("button", { type: "button", "aria-label": `Edit ${priced.name || line.product}`,
        onclick: () => reopen(line) }, "Edit") : null;
      const chosen = (line.chosen || []).join("; ");
      return el("tr", { "data-line": line.key },
        el("td", {}, priced.name || line.product, chosen ? el("div", { class: "muted" }, chosen) : null),
        el("td", { class: "num" }, qty), el("td", { class: "num" }, disc),
        el("td", { class: "num" }, money(priced.list_total, c)), el("td", { class: "num" }, money(priced.net_total, c)),
        el("td", { class: "line-actions" }, edit, remove));
    }));
    if (!quote.lines.length) $("lines").replaceChildren(el("tr", {}, el("td", { colspan: 6 }, "No lines yet.")));
    $("header-discount").value = quote.discount_percent ?? "";
    $("header-discount").disabled = !editable;
    renderWaterfall(c);
    renderApprovals();
    $("submit").disabled = !canWrite || quote.state !== "draft" || !quote.lines.length;
    $("email-form").hidden = !canWrite || quote.state !== "sent";
    $("recall").disabled = !canWrite || quote.state !== "pending_approval";
    $("send").disabled = !canWrite || quote.state !== "approved";
    $("pdf").href = `/api/v1/quotes/${number}/pdf`;
    $("add-section").hidden = !editable;
    $("revise-form").hidden = !canWrite || !REVISABLE.includes(quote.state);
    renderAfterSale();
    $("fulfilment").replaceChildren(...(quote.fulfilment || []).map((order) => el("div", { class: "card" },
      el("strong", {}, `Order ${order.number}`), ` · ${order.state}`,
      order.erp_order_number ? ` · ERP ${order.erp_order_number}` : " · not yet in the ERP",
      el("ul", {}, ...order.lines.map((l) => el("li", {}, `${l.name || l.product}: ${l.status} (shipped ${l.shipped_quantity} of ${l.quantity})`))),
      ...order.shipments.map((s) => el("div", { class: "muted" }, `Shipped ${s.quantity} on ${s.shipped_on} by ${s.carrier} ${s.tracking}`)))));
  }

  function renderWaterfall(c) {
    const price = quote.price;
    if (!price) { $("waterfall").textContent = "Not priced yet."; return; }
    const rows = [];
    for (const line of price.lines) {
      rows.push(el("div", { class: "price-row" }, el("strong", {}, line.name), el("span", {}, money(line.list_total, c))));
      for (const step of line.steps) rows.push(el("div", { class: "price-row muted" }, el("span", {}, step.label), el("span", {}, money(step.amount, c))));
    }
    for (const step of price.quote_steps || []) rows.push(el("div", { class: "price-row" }, el("span", {}, step.label), el("span", {}, money(step.amount, c))));
    const t = price.totals;
    rows.push(el("div", { class: "price-row total" }, el("span", {}, "One-time net"), el("span", { "data-amount": "one-time" }, money(t.one_time_net, c))));
    for (const [period, amount] of Object.entries(t.recurring || {})) rows.push(el("div", { class: "price-row" }, el("span", {}, `Recurring (${period})`), el("span", {}, money(amount, c))));
    rows.push(el("div", { class: "price-row" }, el("span", {}, "Contract value"), el("span", {}, money(t.contract_value, c))));
    rows.push(el("div", { class: "price-row muted" }, el("span", {}, "Discount"), el("span", {}, `${Number(t.discount_percent).toFixed(1)} %`)));
    $("waterfall").replaceChildren(...rows);
  }

  // The levels the quote needs, then each reason once with the levels it asks for, and how
  // each discounted line's discounts stack (the figure the discount rules test).
  function renderApprovals() {
    const needed = quote.approvals_required || [];
    const steps = Object.fromEntries((quote.approval_steps || []).map((s) => [s.level, s]));
    const names = Object.fromEntries((quote.price?.lines || []).map((l) => [l.id, l.name]));
    const stacked = Object.entries(quote.discount_explanations || {});
    const how = stacked.length ? [el("h3", {}, "How the discounts stack"), el("ul", { id: "stacking" },
      ...stacked.map(([id, text]) => el("li", {}, el("strong", {}, names[id] || id), `: ${text}`)))] : [];
    if (!needed.length) { $("approvals").replaceChildren(el("p", { class: "ok" }, "No approval needed."), ...how); return; }
    const reasons = new Map();
    for (const a of needed) for (const r of a.reasons) {
      if (!reasons.has(r.rule)) reasons.set(r.rule, { text: r.detail || r.description, levels: [] });
      reasons.get(r.rule).levels.push(a.label);
    }
    $("approvals").replaceChildren(
      el("ul", {}, ...needed.map((a) => el("li", { "data-level": a.level },
        el("strong", {}, a.label), ` (stage ${a.stage})`, steps[a.level] ? [" ", status(steps[a.level].status)] : null))),
      el("h3", {}, "Why"),
      el("ul", { id: "reasons" }, ...[...reasons.values()].map((r) => el("li", {}, r.text, el("span", { class: "muted" }, ` (${r.levels.join(", ")})`)))),
      ...how);
  }

  // After the customer accepts: the contract (made, then sent for signature) and the order,
  // each linking to its page, offered to those who may make them.
  async function renderAfterSale() {
    const box = $("after-sale");
    box.hidden = quote.state !== "accepted" || quote.kind !== "sale";
    if (box.hidden) return;
    const deal = $("deal");
    const items = [];
    try {
      const [contract] = can("contracts:read") ? await api("GET", `/contracts?quote=${encodeURIComponent(number)}`) : [];
      if (contract) {
        items.push(el("p", {}, el("a", { id: "contract-link", href: `/app/contracts/${contract.number}` }, `Contract ${contract.number}`), " ", status(contract.state)));
        if (contract.state === "draft" && can("contracts:write")) items.push(button("send-contract", "Send the contract for signature", async () => {
          const sent = await api("POST", `/contracts/${contract.number}/send`);
          await renderAfterSale();
          shareLink($("sign-link"), "Send this signing link to the customer:", sent.url, "sign-link-url");
        }));
      } else if (can("contracts:write")) {
        items.push(button("create-contract", "Create the contract", () => api("POST", "/contracts", { quote: number }).then(renderAfterSale)));
      }
      items.push(el("div", { id: "sign-link" }));
      const [order] = quote.fulfilment || [];
      if (order) items.push(el("p", {}, el("a", { id: "order-link", href: `/app/orders/${order.number}` }, `Order ${order.number}`), " ", status(order.state)));
      else if (can("orders:write")) items.push(button("create-order", "Create the order", async () => {
        const made = await api("POST", "/orders", { quote: number });
        location.href = `/app/orders/${made.number}`;
      }));
      deal.replaceChildren(...items);
    } catch (error) { showError(deal, error); }
  }

  function button(id, label, action) {
    return el("p", {}, el("button", { type: "button", id, class: "primary", onclick: async (event) => {
      event.target.disabled = true;
      try { await action(); } catch (error) { say(error.message, "error"); event.target.disabled = false; }
    } }, label));
  }

  const configurable = (line) => !line.configuration && [...$("add-product").options].some((o) => o.value === line.product && !o.dataset.plain);

  // "Edit" reopens the configurator below with the line's choices; saving keeps every one of
  // them (and what was changed) on the same line.
  async function reopen(line) {
    editing = line.key;
    $("add-product").value = line.product;
    $("add-quantity").value = line.quantity;
    $("add-title").textContent = "Edit a line";
    $("add-line").textContent = "Save line";
    $("cancel-edit").hidden = false;
    $("add-section").scrollIntoView({ block: "start" });
    configurator = new Configurator($("add-configurator"), { product: line.product, priceBook: quote.price_book });
    await configurator.start(line.selections || {});
  }

  function stopEditing() {
    editing = null; configurator = null;
    $("add-configurator").replaceChildren();
    $("add-title").textContent = "Add a product";
    $("add-line").textContent = "Add to quote";
    $("cancel-edit").hidden = true;
  }

  // Edits go out one after another, each with the lock version the one before returned, so a
  // quick second edit is never refused as stale (or lost) while the first is under way.
  let saving = Promise.resolve();
  function save(key, changes) {
    saving = saving.then(() => act(api("PATCH", `/quotes/${number}/lines/${key}`, { ...changes, lock_version: quote.lock_version }), "quote.saved"));
    return saving;
  }

  async function load() {
    try { quote = await api("GET", `/quotes/${number}`); render(); } catch (error) { say(error.message, "error"); }
    try {
      const revisions = await api("GET", `/quotes/${number}/revisions`);
      $("revisions").replaceChildren(el("ul", {}, ...revisions.map((r) => el("li", {},
        el("a", { href: `/api/v1/quotes/${number}/revisions/${r.revision}/pdf`, target: "_blank", rel: "noopener", "data-document": true }, `Revision ${r.revision}`), ` · ${r.state}`))));
    } catch (error) { showError($("revisions"), error); }
  }

  $("header-discount").addEventListener("change", (e) => {
    const discount = e.target.value === "" ? null : e.target.value;
    saving = saving.then(() => act(api("PATCH", `/quotes/${number}`, { discount_percent: discount, lock_version: quote.lock_version }), "quote.saved"));
  });
  $("configure").addEventListener("click", async () => {
    const option = $("add-product").selectedOptions[0];
    if (option.dataset.plain) { $("add-configurator").replaceChildren(el("p", { class: "muted" }, "This product has no options.")); configurator = null; return; }
    configurator = new Configurator($("add-configurator"), { product: option.value, priceBook: quote.price_book });
    await configurator.start();
  });
  $("add-product").addEventListener("change", stopEditing);
  $("cancel-edit").addEventListener("click", stopEditing);
  $("add-line").addEventListener("click", async () => {
    const product = $("add-product").value;
    const selections = configurator && configurator.product === product ? configurator.selections : {};
    const quantity = parseInt($("add-quantity").value, 10) || 1;
    const saved = editing
      ? await save(editing, { product, selections, quantity })
      : await act(api("POST", `/quotes/${number}/lines`, { product, selections, quantity }), "quote.saved");
    if (saved) { say(editing ? "Line saved." : "Line added."); stopEditing(); }
  });
  $("revise-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await act(api("POST", `/quotes/${number}/revise`, { reason: $("revise-reason").value }), "quote.saved")) {
      $("revise-reason").value = ""; say(`Revision ${quote.revision} is a draft: change it, then submit it again.`); load();
    }
  });
  $("submit").addEventListener("click", () => act(api("POST", `/quotes/${number}/submit`, { comment: "" }), "quote.submitted").then(load));
  $("recall").addEventListener("click", () => act(api("POST", `/quotes/${number}/recall`, { comment: "" }), "quote.saved"));
  $("send").addEventListener("click", async () => {
    try {
      const sent = await api("POST", `/quotes/${number}/send`, { link_days: 30 });
      quote = sent.quote; render();
      shareLink($("share"), "Share this link with the customer:", sent.share_link.url);
      tell("quote.sent", { number: quote.number, revision: quote.revision, state: quote.state });
    } catch (error) { say(error.message, "error"); }
  });
  $("email-form").addEventListener("submit", async (e) => {          // a new share link, e-mailed with the PDF
    e.preventDefault();
    const to = $("email-to").value.trim();
    try {
      const message = await api("POST", `/quotes/${number}/email`, to ? { to: [to] } : {});
      if (message.status === "failed") say(`Not sent: ${message.last_error}`, "error");
      else say(`E-mail to ${message.recipients.join(", ")}: ${message.status === "sent" ? "sent" : "in the outbox, sent shortly"}.`);
      $("email-to").value = "";
    } catch (error) { say(error.message, "error"); }
  });
  load();
}
