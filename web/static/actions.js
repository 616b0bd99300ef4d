// The actions of the contract, order and invoice pages: each is a form whose data-api says
// which call it makes ("POST /contracts/C-2026-00001/send"); its named fields are the body
// (empty ones left out). Once the API answers, the page shows the object again (reload), or
// `after[form.id]` says what comes next. A refusal (a 403 included) shows as a message.
import { api, el, showError } from "./api.js";

export function wireForms(message, { body = {}, after = {} } = {}) {
  for (const form of document.querySelectorAll("form[data-api]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const [method, path] = form.dataset.api.split(" ");
      const fields = Object.fromEntries([...new FormData(form)].filter(([, value]) => value !== ""));
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const answer = await api(method, path, body[form.id] ? body[form.id](fields) : fields);
        if (after[form.id]) await after[form.id](answer);
        else location.reload();
      } catch (error) {
        showError(message, error);
      } finally {
        button.disabled = false;
      }
    });
  }
}

// A link to hand to the customer, with a button that copies it.
export function shareLink(where, text, url, id = "share-link") {
  const copy = el("button", { type: "button", class: "copy" }, "Copy link");
  copy.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(url); copy.textContent = "Copied"; }
    catch { copy.textContent = "Select the link and copy it"; }
  });
  where.replaceChildren(el("p", { class: "share-link" }, text, " ", el("a", { id, href: url }, url), " ", copy));
}
