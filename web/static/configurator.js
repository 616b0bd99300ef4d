// The configurator, shared by the customer's page and the rep's quote builder. Every pick asks
// the engine which values remain possible (with the reason for each one that is not), then the
// price. Unavailable values stay focusable (aria-disabled) so keyboard and screen-reader users
// hear why, as mouse users see on hover.
import { api, el, money, showError } from "./api.js";

function valueLabel(attribute, code) {
  if (attribute.type === "bool") return code ? "Yes" : "No";
  const value = (attribute.values || []).find((v) => v.code === code);
  return value ? value.label : String(code);
}

function allValues(attribute) {
  if (attribute.type === "bool") return [true, false];
  if (attribute.values?.length) return attribute.values.map((v) => v.code);
  return attribute.domain || [];
}

export class Configurator {
  constructor(root, { product, priceBook, quantity = 1, onChange = () => {}, onPrice = () => {} }) {
    Object.assign(this, { root, product, priceBook, quantity, onChange, onPrice });
    this.selections = {};
    this.state = null;
  }

  async start(selections = {}) {
    this.model = await api("GET", `/products/${encodeURIComponent(this.product)}`);
    this.selections = { ...selections };
    await this.refresh();
  }

  async refresh(focusId) {
    try {
      this.state = await api("POST", `/products/${encodeURIComponent(this.product)}/configure`,
        { selections: this.selections, explain: true });
      this.render(focusId);
      this.onChange(this);
      await this.price();
    } catch (error) {
      showError(this.root, error);
    }
  }

  async price() {
    try {
      const priced = await api("POST", `/products/${encodeURIComponent(this.product)}/price`,
        { selections: this.selections, quantity: this.quantity, price_book: this.priceBook });
      this.onPrice(priced, null);
    } catch (error) {
      this.onPrice(null, error);
    }
  }

  async complete() {
    const done = await api("POST", `/products/${encodeURIComponent(this.product)}/complete`,
      { selections: this.selections });
    this.selections = { ...done.assignment };
    await this.refresh();
  }

  pick(attribute, value, focusId) {
    if (value === "") delete this.selections[attribute];
    else this.selections[attribute] = value;
    return this.refresh(focusId);
  }

  render(focusId) {
    const states = Object.fromEntries(this.state.attributes.map((a) => [a.id, a]));
    const groups = this.model.groups?.length ? this.model.groups : [{ id: null, label: "" }];
    const body = el("div", { class: "configurator" });
    for (const group of groups) {
      const attributes = this.model.attributes.filter((a) => (a.group || null) === group.id || groups.length === 1);
      if (!attributes.length) continue;
      const section = el("section", { "aria-labelledby": `group-${group.id}` },
        group.label ? el("h2", { id: `group-${group.id}` }, group.label) : null);
      for (const attribute of attributes) section.append(this.renderAttribute(attribute, states[attribute.id]));
      body.append(section);
    }
    this.root.replaceChildren(body);
    if (focusId) document.getElementById(focusId)?.focus();
  }

  renderAttribute(attribute, state) {
    const excluded = Object.fromEntries((state.excluded || []).map((x) => [JSON.stringify(x.value), x.reason]));
    const chosen = this.selections[attribute.id];
    const values = allValues(attribute);
    const fieldset = el("fieldset", { class: "attribute", "data-attribute": attribute.id },
      el("legend", {}, attribute.label,
         state.decided && chosen === undefined ? el("span", { class: "muted" }, ` — ${valueLabel(attribute, state.value)}`) : null));
    if (values.length > 12) {
      const select = el("select", { id: `a-${attribute.id}`, "aria-label": attribute.label,
        onchange: (e) => this.pick(attribute.id, e.target.value === "" ? "" : JSON.parse(e.target.value), `a-${attribute.id}`) },
        el("option", { value: "" }, "—"));
      for (const value of values) {
        const reason = excluded[JSON.stringify(value)];
        select.append(el("option", { value: JSON.stringify(value), disabled: !!reason, title: reason?.message,
          selected: chosen !== undefined && JSON.stringify(chosen) === JSON.stringify(value) },
          valueLabel(attribute, value) + (reason ? " (unavailable)" : "")));
      }
      fieldset.append(select);
      return fieldset;
    }
    const choices = el("div", { class: "choices", role: "radiogroup" });
    values.forEach((value, i) => {
      const id = `a-${attribute.id}-${i}`;
      const reason = excluded[JSON.stringify(value)];
      const checked = chosen !== undefined ? JSON.stringify(chosen) === JSON.stringify(value)
        : state.decided && JSON.stringify(state.value) === JSON.stringify(value);
      const input = el("input", { type: "radio", name: attribute.id, id, checked,
        "aria-disabled": reason ? "true" : null, "aria-describedby": reason ? `${id}-why` : null });
      input.addEventListener("click", (event) => {
        if (reason) { event.preventDefault(); return; }
        if (chosen !== undefined && JSON.stringify(chosen) === JSON.stringify(value)) return;
        this.pick(attribute.id, value, id);
      });
      input.addEventListener("keydown", (event) => {   // space on a chosen value clears the pick
        if (event.key === "Backspace" || event.key === "Delete") { event.preventDefault(); this.pick(attribute.id, "", id); }
      });
      choices.append(el("label", { class: "choice", for: id }, input, el("span", {}, valueLabel(attribute, value)),
        reason ? el("span", { class: "why", id: `${id}-why`, role: "tooltip" }, reason.message) : null));
    });
    fieldset.append(choices);
    if (chosen !== undefined) {
      fieldset.append(el("button", { type: "button", class: "link muted", onclick: () => this.pick(attribute.id, "") },
        "Clear"));
    }
    return fieldset;
  }

  summary() {
    return this.model.attributes.map((a) => {
      const state = this.state.attributes.find((s) => s.id === a.id);
      const value = this.selections[a.id] ?? (state.decided ? state.value : undefined);
      return [a.label, value === undefined ? "—" : valueLabel(a, value)];
    });
  }
}

export function renderPrice(where, priced, error) {
  if (error) return showError(where, error);
  const c = priced.currency;
  const rows = [];
  for (const line of priced.lines) {
    rows.push(el("div", { class: "price-row" }, el("span", {}, `List (${line.quantity} × ${line.name})`),
                 el("span", { "data-amount": "list" }, money(line.list_total, c))));
    for (const step of line.steps) rows.push(el("div", { class: "price-row ok" }, el("span", {}, step.label),
                                                el("span", {}, money(step.amount, c))));
  }
  rows.push(el("div", { class: "price-row total" }, el("span", {}, "One-time total"),
               el("span", { "data-amount": "total" }, money(priced.totals.one_time_net, c))));
  for (const [period, amount] of Object.entries(priced.totals.recurring || {}))
    rows.push(el("div", { class: "price-row" }, el("span", {}, `Recurring (${period})`), el("span", {}, money(amount, c))));
  where.replaceChildren(...rows);
}
