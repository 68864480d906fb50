// The campaign builder: adapts the placeholder rows to the chosen template, counts the chosen
// segment and redraws the message preview as the marketer types. The page works without it
// (the server renders everything); this only saves round trips.
(function () {
  "use strict";
  const form = document.getElementById("campaign-builder");
  if (!form) return;
  const template = form.querySelector("[name=template]");
  const segment = form.querySelector("[name=segment]");
  const previewFor = document.getElementById("preview-contact");
  const preview = document.getElementById("message-preview");
  const note = document.getElementById("preview-note");
  const count = document.getElementById("segment-count");
  let timer = null;

  function selectedOption(select) {
    return select && select.selectedIndex >= 0 ? select.options[select.selectedIndex] : null;
  }

  function adaptToTemplate() {
    const option = selectedOption(template);
    const names = option && option.dataset.params ? JSON.parse(option.dataset.params) : [];
    form.querySelectorAll("tr[data-row]").forEach(function (row) {
      const index = Number(row.dataset.row);
      row.hidden = index >= names.length;
      if (index < names.length) row.querySelector("[data-part=name]").textContent = "{{" + names[index] + "}}";
    });
    const none = document.getElementById("mapping-none");
    none.hidden = names.length > 0;
    none.textContent = option && option.value ? "This template has no placeholders." : "Choose a template: its placeholders appear here.";
    document.getElementById("mapping-table").hidden = names.length === 0;
    const linkStep = document.getElementById("link-step");
    linkStep.hidden = !(option && option.dataset.link === "1");
    const base = option ? option.dataset.linkBase || "" : "";
    document.getElementById("link-base-note").textContent = base ? "This template's button opens " + base + "{{1}} now." : "";
  }

  function show(part, text) {
    const element = preview.querySelector("[data-part=" + part + "]");
    element.textContent = text || "";
    if (part !== "body") element.hidden = !text;
  }

  async function refreshPreview() {
    const response = await fetch(form.dataset.previewUrl, { method: "POST", body: new FormData(form), credentials: "same-origin" });
    if (!response.ok) { note.textContent = "The preview is not available right now (" + response.status + ")."; return; }
    const data = await response.json();
    note.textContent = data.note || "";
    if (!data.preview) { show("header", ""); show("body", data.note); show("footer", ""); preview.querySelector("[data-part=buttons]").replaceChildren(); return; }
    // The server draws the message (media header, offer, buttons, carousel cards) in the same
    // template as the page itself; its HTML is escaped by Django.
    const drawn = new DOMParser().parseFromString(data.html, "text/html").getElementById("message-preview");
    if (drawn) preview.replaceChildren(...drawn.childNodes);
  }

  function later() { clearTimeout(timer); timer = setTimeout(refreshPreview, 300); }

  async function countSegment() {
    if (!segment.value) { count.textContent = "Choose a segment to see how many people it reaches."; return; }
    count.textContent = "Counting…";
    const url = form.dataset.countUrl.replace(/\/0\/count$/, "/" + encodeURIComponent(segment.value) + "/count");
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) { count.textContent = "Could not count this segment (" + response.status + ")."; return; }
    const data = await response.json();
    const strong = document.createElement("strong");
    strong.textContent = data.count.toLocaleString();
    count.replaceChildren(strong, document.createTextNode(" contacts match now."));
    previewFor.replaceChildren(...data.sample.map(function (person) {
      const option = document.createElement("option");
      option.value = person.id;
      option.textContent = person.name ? person.name + " (" + person.phone + ")" : person.phone;
      return option;
    }));
    refreshPreview();
  }

  template.addEventListener("change", function () { adaptToTemplate(); later(); });
  if (segment) segment.addEventListener("change", countSegment);  // a follow-up has no segment to choose
  previewFor.addEventListener("change", later);
  form.addEventListener("input", function (event) {
    if (event.target.closest("#mapping-step") || event.target.name === "tracked_url") later();
  });
  form.addEventListener("change", function (event) {
    if (event.target.closest("#mapping-step")) later();
  });
  adaptToTemplate();
})();
