// The segment editor's live count: counts the rules being typed, without saving, through the
// API's preview endpoint (same login). A file, not an inline script: the Content-Security-Policy
// runs no inline script without the page's nonce.
(function () {
  "use strict";
  const rules = document.getElementById("id_rules");
  const out = document.getElementById("segment-live-count");
  const sample = document.getElementById("segment-live-sample");
  if (!rules || !out) return;
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  let timer = null;
  function show(text) { out.textContent = text; }
  async function count() {
    let parsed;
    try { parsed = JSON.parse(rules.value); } catch (e) { show("Not valid JSON yet: " + e.message); sample.replaceChildren(); return; }
    const response = await fetch(out.dataset.previewUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ rules: parsed }),
    });
    const body = await response.json();
    if (!response.ok) { show(body.detail || JSON.stringify(body)); sample.replaceChildren(); return; }
    show(body.count + " contacts match now.");
    sample.replaceChildren(...body.sample.map(function (c) {
      const li = document.createElement("li"); li.textContent = (c.name || c.phone) + " (#" + c.id + ")"; return li;
    }));
  }
  rules.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(count, 400); });
  count();
})();
