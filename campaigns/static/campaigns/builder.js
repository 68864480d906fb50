// The campaign builder: adapts the placeholder rows to the chosen template, counts the chosen
// segment and redraws the message preview as the marketer types. The page works without it
// (the server renders everything); this only saves round trips.
(function () {
  "use strict";
  const form = document.getElementById("campaign-builder");
  if (!form) return;
  const find = document.getElementById("template-find");
  const audienceWarning = document.getElementById("audience-warning");
  const messagingLimit = Number(form.dataset.messagingLimit || 0);
  const segment = form.querySelector("[name=segment]");
  const previewFor = document.getElementById("preview-contact");
  const preview = document.getElementById("message-preview");
  const note = document.getElementById("preview-note");
  const count = document.getElementById("segment-count");
  let timer = null;

  function chosenTemplate() {
    return form.querySelector("[name=template]:checked");
  }

  function adaptToTemplate() {
    const option = chosenTemplate();
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
    adaptRichParts(option && option.dataset.rich ? JSON.parse(option.dataset.rich) : null);
    renumberSteps();
  }

  // What WhatsApp downloads from a media link (the same words as campaigns.rich_form.MEDIA_ACCEPTS).
  const mediaAccepts = {
    image: "a JPEG or PNG image of at most 5 MB",
    video: "an MP4 or 3GPP video (H.264 video, AAC audio) of at most 16 MB",
    document: "a PDF or other document of at most 100 MB",
  };

  function describeMedia(container, kind) {
    container.querySelectorAll("[data-part=media-kind]").forEach(function (el) { el.textContent = kind || "image"; });
    container.querySelectorAll("[data-part=media-accepts]").forEach(function (el) { el.textContent = mediaAccepts[kind] || ""; });
  }

  // The header, coupon, offer and card inputs the chosen template needs (campaigns.rich_form.rich_layout).
  function adaptRichParts(layout) {
    const parts = document.getElementById("rich-parts");
    if (!parts) return;
    const none = { header_media: "", header_params: [], coupon: false, offer: false, cards: [] };
    layout = layout || none;
    const headerMedia = document.getElementById("rich-header-media");
    headerMedia.hidden = !layout.header_media || layout.header_params.length > 0;
    describeMedia(headerMedia, layout.header_media);
    const headerText = document.getElementById("rich-header-text");
    headerText.hidden = layout.header_params.length === 0;
    if (layout.header_params.length) headerText.querySelector("[data-part=name]").textContent = "{{" + layout.header_params[0] + "}}";
    document.getElementById("rich-coupon").hidden = !layout.coupon;
    document.getElementById("rich-offer").hidden = !layout.offer;
    parts.querySelectorAll("[data-card]").forEach(function (fieldset) {
      const card = layout.cards[Number(fieldset.dataset.card)];
      fieldset.hidden = !card;
      if (!card) return;
      const media = fieldset.querySelector("[data-part=card-media]");
      media.hidden = !card.media;
      describeMedia(media, card.media);
      fieldset.querySelectorAll("[data-param]").forEach(function (row) {
        const index = Number(row.dataset.param);
        row.hidden = index >= card.params.length;
        if (!row.hidden) row.querySelector("[data-part=name]").textContent = "{{" + card.params[index] + "}}";
      });
      fieldset.querySelector("[data-part=buttons]").textContent = card.buttons;
    });
    parts.hidden = !(layout.header_media || layout.header_params.length || layout.coupon || layout.offer || layout.cards.length);
  }

  // The structured inputs and the Advanced JSON box say the same: the server builds one from the
  // other (campaigns.rich_form.rich_data_synced); the one being typed in is left alone.
  function syncRich(rich) {
    if (!rich) return;
    const source = form.querySelector("[name=rich_source]");
    Object.keys(rich).forEach(function (name) {
      const input = form.querySelector("[name=" + name + "]");
      if (!input || input === document.activeElement || input.value === rich[name]) return;
      if (source && source.value === "json" && name === "parameters_more") return;
      if (source && source.value === "fields" && name !== "parameters_more") return;
      input.value = rich[name];
    });
  }

  // Each shown step once, in order: the link step appears only for templates with a tracked link.
  function renumberSteps() {
    let number = 0;
    form.querySelectorAll(".rt-steps > .rt-step").forEach(function (step) {
      if (!step.hidden) step.querySelector(".rt-step-no").textContent = String(++number);
    });
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
    syncRich(data.rich);
    note.textContent = data.note || "";
    if (!data.preview) { show("header", ""); show("body", data.note); show("footer", ""); preview.querySelector("[data-part=buttons]").replaceChildren(); return; }
    // The server draws the message (media header, offer, buttons, carousel cards) in the same
    // template as the page itself; its HTML is escaped by Django.
    const drawn = new DOMParser().parseFromString(data.html, "text/html").getElementById("message-preview");
    if (drawn) preview.replaceChildren(...drawn.childNodes);
  }

  function later() { clearTimeout(timer); timer = setTimeout(refreshPreview, 300); }

  async function countSegment() {
    if (!segment.value) { count.textContent = "Choose a segment to see how many people it reaches."; warnAudience(null); return; }
    count.textContent = "Counting…";
    const url = form.dataset.countUrl.replace(/\/0\/count$/, "/" + encodeURIComponent(segment.value) + "/count");
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) { count.textContent = "Could not count this segment (" + response.status + ")."; return; }
    const data = await response.json();
    const strong = document.createElement("strong");
    strong.textContent = data.count.toLocaleString();
    count.replaceChildren(strong, document.createTextNode(data.count === 1 ? " contact matches now." : " contacts match now."));
    warnAudience(data.count);
    previewFor.replaceChildren(...data.sample.map(function (person) {
      const option = document.createElement("option");
      option.value = person.id;
      option.textContent = person.name ? person.name + " (" + person.phone + ")" : person.phone;
      return option;
    }));
    refreshPreview();
  }

  // The browser's search: hides the cards whose name, language and text lack every typed word.
  function filterTemplates() {
    const words = find.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    form.querySelectorAll(".rt-template-card").forEach(function (card) {
      const text = card.dataset.find || "";
      card.hidden = !words.every(function (word) { return text.includes(word); }) && !card.querySelector("input").checked;
      if (!card.hidden) shown += 1;
    });
    document.getElementById("template-find-none").hidden = shown > 0;
  }

  // Words the same as campaigns.admin_pages.audience_warning.
  function warnAudience(total) {
    let text = "";
    if (total === 0) text = "No one is in this segment now: a campaign to it would send nothing.";
    else if (messagingLimit && total > messagingLimit) {
      text = total + " people are more than the account's messaging limit of " + messagingLimit +
        " a day: if they all may be messaged, sending takes several days.";
    }
    audienceWarning.textContent = text;
    audienceWarning.hidden = !text;
  }

  form.addEventListener("change", function (event) {
    if (event.target.name === "template") { adaptToTemplate(); later(); }
  });
  if (find) find.addEventListener("input", filterTemplates);
  // Enter in the search box would submit the whole form.
  if (find) find.addEventListener("keydown", function (event) { if (event.key === "Enter") event.preventDefault(); });
  if (segment) segment.addEventListener("change", countSegment);  // a follow-up has no segment to choose
  previewFor.addEventListener("change", later);
  form.addEventListener("input", function (event) {
    const source = form.querySelector("[name=rich_source]");
    if (source && event.target.closest("#rich-fields")) source.value = "fields";
    if (source && event.target.name === "parameters_more") source.value = "json";
    if (event.target.closest("#mapping-step") || event.target.name === "tracked_url") later();
  });
  form.addEventListener("change", function (event) {
    if (event.target.closest("#mapping-step")) later();
  });
  adaptToTemplate();
  // The chosen template's card in view inside the browser's scrolling list.
  const chosen = chosenTemplate();
  const list = document.getElementById("template-list");
  if (chosen && list) list.scrollTop = chosen.closest(".rt-template-card").offsetTop - list.offsetTop;
})();
