// The configurator, shared by the customer's page and the rep's quote builder. Every pick asks
// the engine which values remain possible (with the reason for each one that is not), then the
// price and what each other value would change in it. Any value can be picked: one that
// conflicts with earlier choices asks the engine for the fewest of them to drop, and the page
// offers that switch ("Switch to …? This removes: …"). Each attribute is a radio group: one tab
// stop, arrow keys move and pick. Answers that arrive after a newer pick are ignored. Its words
// are the page's, in the page's language (pages/_configurator_messages.html), and so are the
// model's labels and rule messages, which the API gives in the language it is asked for.
import { api, el, money, showError } from "./api.js";

const key = (value) => JSON.stringify(value);
const LANGUAGES = ["en", "fr", "sv", "nl", "de"];        // those the models' texts may be written in
// The texts a page renders in its language into <script type="application/json" id=…>: `say(key,
// { name: value })` puts each value where the text has `{name}`.
export function wordsOf(id) {
  const words = JSON.parse(document.getElementById(id).textContent);
  return (key, values = {}) => words[key].replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
}
let said;
const say = (key, values) => (said ??= wordsOf("configurator-messages"))(key, values);
const pageLanguage = () => LANGUAGES.find((l) => document.documentElement.lang.startsWith(l)) || "en";
// A price difference with its sign: "+$120.00", "−$50.00"; nothing when it is zero.
const signed = (amount, currency) => (amount === undefined || Number(amount) === 0 ? ""
  : amount.startsWith("-") ? `−${money(amount.slice(1), currency)}` : `+${money(amount, currency)}`);

function valueLabel(attribute, code) {
  if (attribute.type === "bool") return say(code ? "yes" : "no");
  if (code === "none") return say("none");
  const value = (attribute.values || []).find((v) => v.code === code);
  return value ? value.label : String(code);
}

function allValues(attribute) {
  return attribute.domain?.length ? attribute.domain : (attribute.type === "bool" ? [false, true] : []);
}

// The reason a value is ruled out, in the model's own words; null when nothing but the
// attribute's own current choice excludes it (picking it simply replaces that choice).
function reasonText(reason) {
  if (!reason || !reason.rules?.length) return null;
  return reason.rules.map((r) => r.message).join(" ");
}

export class Configurator {
  constructor(root, { product, priceBook, quantity = 1, lang = pageLanguage(), onChange = () => {}, onPrice = () => {},
                      onBusy = () => {} }) {
    Object.assign(this, { root, product, priceBook, quantity, lang, onChange, onPrice, onBusy });
    this.selections = {};
    this.state = null;
    this.deltas = {};
    this.seq = 0;            // the newest request: older answers are dropped
  }

  path(what) { return `/products/${encodeURIComponent(this.product)}/${what}`; }

  async start(selections = {}) {
    this.model = await api("GET", `/products/${encodeURIComponent(this.product)}?lang=${this.lang}`);
    this.selections = { ...selections };
    await this.refresh();
  }

  busy(on) {
    this.root.setAttribute("aria-busy", on ? "true" : "false");
    this.root.classList.toggle("busy", on);
    this.onBusy(on);
  }

  async refresh(focusId) {
    const seq = ++this.seq;
    this.busy(true);
    try {
      const state = await api("POST", this.path("configure"),
        { selections: this.selections, explain: true, lang: this.lang });
      if (seq !== this.seq) return;
      this.state = state;
      this.deltas = {};
      this.render(focusId);
      this.onChange(this);
      await this.price(seq);
    } catch (error) {
      if (seq === this.seq) showError(this.root, error);
    } finally {
      if (seq === this.seq) this.busy(false);
    }
  }

  async price(seq = this.seq) {
    const body = { selections: this.selections, quantity: this.quantity, price_book: this.priceBook };
    const [priced, options] = await Promise.allSettled([
      api("POST", this.path("price"), body), api("POST", this.path("option-prices"), body)]);
    if (seq !== this.seq) return;
    this.onPrice(priced.value ?? null, priced.reason ?? null);
    if (options.status === "fulfilled") this.showDeltas(options.value);
  }

  showDeltas(options) {
    this.deltas = Object.fromEntries(options.values.map((v) => [`${v.attribute}=${key(v.value)}`, v.difference]));
    for (const node of this.root.querySelectorAll("[data-delta]")) {
      const text = signed(this.deltas[node.dataset.delta], options.currency);
      if (node.tagName === "OPTION") node.textContent = node.dataset.label + (text ? ` (${text})` : "");
      else node.textContent = text;
    }
  }

  async complete() {
    const seq = ++this.seq;
    this.busy(true);
    try {
      const done = await api("POST", this.path("complete"), { selections: this.selections });
      if (seq !== this.seq) return;
      this.selections = { ...done.assignment };
    } catch (error) {
      if (seq === this.seq) { showError(this.root, error); this.busy(false); }
      return;
    }
    await this.refresh();
  }

  pick(attribute, value, focusId) {
    if (value === "") delete this.selections[attribute];
    else this.selections[attribute] = value;
    return this.refresh(focusId);
  }

  // A value ruled out by other choices: ask what it takes, and offer the switch.
  async propose(attribute, value, focusId) {
    const seq = ++this.seq;
    this.busy(true);
    let answer;
    try {
      answer = await api("POST", this.path("switch"),
        { selections: this.selections, attribute: attribute.id, value, lang: this.lang });
    } catch (error) {
      if (seq === this.seq) { showError(this.root, error); this.busy(false); }
      return;
    }
    if (seq !== this.seq) return;
    this.busy(false);
    if (!answer.possible) return this.announce(say("unavailable", { value: answer.value_label }));
    if (!answer.removes.length) { this.selections = answer.selections; return this.refresh(focusId); }
    const dialog = el("dialog", { class: "switch", "aria-labelledby": "switch-title" },
      el("h2", { id: "switch-title" }, say("switch_to", { value: answer.value_label })),
      el("p", {}, say("removes", { values: answer.removes.map((r) => `${r.value_label} (${r.label})`).join(", ") })),
      el("p", { class: "actions" },
        el("button", { type: "button", class: "primary", value: "switch", onclick: () => dialog.close("switch") }, say("switch")),
        el("button", { type: "button", value: "keep", onclick: () => dialog.close("keep") }, say("keep"))));
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (dialog.returnValue === "switch" && seq === this.seq) {
        this.selections = answer.selections;
        this.refresh(focusId);
      } else document.getElementById(focusId)?.focus();
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  announce(text) {
    const status = this.root.querySelector(".configurator-status");
    if (status) status.textContent = text;
  }

  render(focusId) {
    const states = Object.fromEntries(this.state.attributes.map((a) => [a.id, a]));
    const groups = this.model.groups?.length ? this.model.groups : [{ id: null, label: "" }];
    const body = el("div", { class: "configurator" }, el("p", { class: "configurator-status", role: "status" }));
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
    const reasons = Object.fromEntries((state.excluded || []).map((x) => [key(x.value), reasonText(x.reason)]));
    const chosen = this.selections[attribute.id];
    const current = chosen !== undefined ? chosen : (state.decided ? state.value : undefined);
    const values = allValues(attribute);
    const fieldset = el("fieldset", { class: "attribute", "data-attribute": attribute.id },
      el("legend", {}, attribute.label,
         state.decided && chosen === undefined ? el("span", { class: "muted" }, ` — ${valueLabel(attribute, state.value)}`) : null));
    const choose = (value, id) => {
      if (key(value) === key(chosen)) return;
      document.getElementById(id)?.closest(".choice")?.classList.add("pending");
      if (reasons[key(value)]) this.propose(attribute, value, id);
      else this.pick(attribute.id, value, id);
    };
    if (values.length > 12) {
      const id = `a-${attribute.id}`;
      const select = el("select", { id, "aria-label": attribute.label,
        onchange: (e) => e.target.value === "" ? this.pick(attribute.id, "", id) : choose(JSON.parse(e.target.value), id) },
        el("option", { value: "" }, "—"));
      for (const value of values) {
        const label = reasons[key(value)] ? say("needs_changes", { value: valueLabel(attribute, value) })
          : valueLabel(attribute, value);
        select.append(el("option", { value: key(value), title: reasons[key(value)], "data-label": label,
          "data-delta": `${attribute.id}=${key(value)}`, selected: current !== undefined && key(current) === key(value) }, label));
      }
      fieldset.append(select);
      return fieldset;
    }
    const choices = el("div", { class: "choices", role: "radiogroup", "aria-label": attribute.label });
    const why = el("div", { class: "why-line" });
    const inputs = [];
    values.forEach((value, i) => {
      const id = `a-${attribute.id}-${i}`;
      const reason = reasons[key(value)];
      const checked = current !== undefined && key(current) === key(value);
      const info = (attribute.values || []).find((v) => v.code === value);
      const input = el("input", { type: "radio", name: `attr-${attribute.id}`, id, checked,
        "data-ruled-out": reason ? "true" : null, "aria-describedby": reason ? `${id}-why` : null });
      input.addEventListener("click", (event) => {
        event.preventDefault();          // the answer decides what is chosen, not the click
        choose(value, id);
      });
      input.addEventListener("keydown", (event) => this.arrows(event, inputs, values, i, choose));
      inputs.push(input);
      const label = el("label", { class: "choice", for: id, "data-value": key(value) }, input,
        el("span", { class: "pill" },
          info?.image ? el("img", { src: info.image, alt: "", width: 32, height: 32, loading: "lazy" }) : null,
          valueLabel(attribute, value),
          el("small", { class: "delta", "data-delta": `${attribute.id}=${key(value)}` })));
      choices.append(label);
      if (reason) {
        const text = el("span", { class: "why", id: `${id}-why` }, say("why", { reason }));
        why.append(text);
        const show = (on) => text.classList.toggle("shown", on);
        for (const [node, on, off] of [[input, "focus", "blur"], [label, "mouseenter", "mouseleave"]]) {
          node.addEventListener(on, () => show(true));
          node.addEventListener(off, () => show(false));
        }
      }
    });
    fieldset.append(choices, why);
    return fieldset;
  }

  // The radio-group pattern: arrows move and pick (a ruled-out value is only focused, its
  // reason shows, and Space or Enter offers the switch); Delete clears the choice.
  arrows(event, inputs, values, i, choose) {
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
    if (event.key === " " || event.key === "Enter") {
      event.preventDefault();
      choose(values[i], inputs[i].id);
      return;
    }
    if (event.key === "Backspace" || event.key === "Delete") {
      event.preventDefault();
      const attribute = inputs[i].name.slice("attr-".length);
      if (attribute in this.selections) this.pick(attribute, "", inputs[i].id);
      return;
    }
    if (!step) return;
    event.preventDefault();
    const j = (i + step + inputs.length) % inputs.length;
    inputs[j].focus();
    if (!inputs[j].dataset.ruledOut) choose(values[j], inputs[j].id);
  }

  progress() {
    const decided = this.state.attributes.filter((a) => a.id in this.selections || a.decided).length;
    return [decided, this.state.attributes.length];
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
    rows.push(el("div", { class: "price-row" }, el("span", {}, say("list", { quantity: line.quantity, name: line.name })),
                 el("span", { "data-amount": "list" }, money(line.list_total, c))));
    for (const step of line.steps) rows.push(el("div", { class: "price-row ok" }, el("span", {}, step.label),
                                                el("span", {}, money(step.amount, c))));
  }
  rows.push(el("div", { class: "price-row total" }, el("span", {}, say("one_time_total")),
               el("span", { "data-amount": "total" }, money(priced.totals.one_time_net, c))));
  for (const [period, amount] of Object.entries(priced.totals.recurring || {}))
    rows.push(el("div", { class: "price-row" }, el("span", {}, say("recurring", { period })), el("span", {}, money(amount, c))));
  where.replaceChildren(...rows);
}
