// Calls to the JSON API from the pages: the session cookie goes along by itself, and every
// state-changing call echoes the session's CSRF token (rendered into <meta name="csrf-token">).
const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

export class ApiError extends Error {
  constructor(status, error) {
    const message = error?.message || `HTTP ${status}`;
    super(status === 403 ? `You are not allowed to do this (${message}).` : message);
    this.status = status;
    this.error = error || {};
  }
}

// `body`: a value sent as JSON, or a Blob (a file) sent as it is, with its own type.
export async function api(method, path, body, extraHeaders = {}) {
  const headers = { Accept: "application/json", ...extraHeaders };
  const raw = body instanceof Blob;
  if (body !== undefined) headers["Content-Type"] = raw ? body.type : "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrf();
  const response = await fetch(`/api/v1${path}`, {
    method, headers, credentials: "same-origin", body: body === undefined || raw ? body : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data?.error);
  return data;
}

// An amount as the API gives it (a decimal string), formatted in the page's language (<html lang>).
export function money(amount, currency) {
  if (amount === null || amount === undefined || amount === "") return "";
  return new Intl.NumberFormat(document.documentElement.lang || undefined, { style: "currency", currency }).format(Number(amount));
}

// A state as people read it ('partially_paid' → 'Partially paid'), as sales/documents.py's state()
export function stateLabel(code) {
  const text = String(code ?? "").replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined)
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

export function showError(where, error) {
  where.replaceChildren(el("div", { class: "message error", role: "alert" }, error.message || String(error)));
}

// The embedding protocol (docs/web.md): events to the parent frame, for the origins allowed.
export function tell(type, detail = {}) {
  if (window.parent === window) return;
  const origins = JSON.parse(document.body.dataset.embedOrigins || "[]");
  for (const origin of origins) window.parent.postMessage({ source: "cpq", type, ...detail }, origin);
}

if (document.body?.dataset.embedded === "true") {
  let last = 0;
  new ResizeObserver(() => {
    const height = Math.ceil(document.documentElement.scrollHeight);
    if (height !== last) { last = height; tell("cpq:resize", { height }); }
  }).observe(document.body);
}

// Documents are rendered by a worker after the commit that asked for them: until then their
// URL answers 202 (being prepared) with Retry-After. A link marked data-document says
// "Preparing…" and asks again until the PDF is there, then opens it, instead of showing JSON.
document.addEventListener("click", async (event) => {
  const link = event.target.closest?.("a[data-document]");
  if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || link.getAttribute("aria-busy")) return;
  event.preventDefault();
  const tab = window.open("", "_blank");
  if (tab) tab.opener = null;
  const label = link.textContent;
  link.setAttribute("aria-busy", "true");
  try {
    for (let attempt = 0; attempt < 60; attempt++) {
      const response = await fetch(link.href, { credentials: "same-origin" });
      if (response.status !== 202) {
        if (!response.ok) throw new ApiError(response.status, (await response.json().catch(() => null))?.error);
        const url = URL.createObjectURL(await response.blob());
        if (tab) tab.location = url; else window.location.assign(url);
        return;
      }
      link.textContent = "Preparing…";
      await new Promise((resolve) => setTimeout(resolve, 1000 * Number(response.headers.get("Retry-After") || 2)));
    }
    throw new Error("The document is taking longer than usual: try again in a minute.");
  } catch (error) {
    tab?.close();
    link.after(el("span", { class: "message error", role: "alert" }, ` ${error.message}`));
  } finally {
    link.textContent = label;
    link.removeAttribute("aria-busy");
  }
});

// On a phone a wide table scrolls within itself (cpq.css), and keyboard users must be able to
// scroll it too: a table that scrolls takes focus, one that fits does not (no needless stops).
function focusableWhenScrolling() {
  for (const table of document.querySelectorAll("main table")) {
    const scrolls = table.scrollWidth > table.clientWidth + 1;
    if (scrolls && !table.hasAttribute("tabindex")) {
      table.tabIndex = 0;
      table.dataset.scrolls = "true";
    } else if (!scrolls && table.dataset.scrolls) {
      table.removeAttribute("tabindex");
      delete table.dataset.scrolls;
    }
  }
}
const main = document.querySelector("main");
if (main) {
  new MutationObserver(focusableWhenScrolling).observe(main, { childList: true, subtree: true });
  addEventListener("resize", focusableWhenScrolling);
  focusableWhenScrolling();
}
