// The segment admin's visual builder: groups (all / any / none of these) of conditions picked from
// what the data holds, written into the rules field as the JSON of campaigns/segments.py, with a live
// count and a few matching people (numbers masked) as you edit. "Edit as JSON" shows the field itself.
// The server checks the rules; its error lands next to the condition its path names.
// A file, not an inline script: the Content-Security-Policy runs no inline script.
(function () {
  "use strict";
  const root = document.getElementById("segment-builder");
  const field = document.getElementById("id_rules");
  const count = document.getElementById("segment-live-count");
  const sample = document.getElementById("segment-live-sample");
  if (!root || !field || !count) return;
  const tree = document.getElementById("sb-tree");
  const note = document.getElementById("sb-note");
  const toggle = document.getElementById("sb-advanced-toggle");
  const jsonSlot = document.getElementById("sb-json");
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;

  const KINDS = [
    ["event", "Did something (an event)"],
    ["attribute", "An attribute"],
    ["tag", "A tag"],
    ["country", "Country"],
    ["language", "Language"],
    ["consent_age", "How long ago they opted in"],
    ["last_inbound", "When they last wrote to us"],
    ["campaign", "An earlier campaign"],
  ];
  // The two ways each kind of condition reads: as is, and wrapped in "not".
  const POLARITY = {
    event: ["did", "did not do"], attribute: ["have", "do not have"], tag: ["have the tag", "do not have the tag"],
    country: ["live in", "do not live in"], language: ["speak", "do not speak"],
    consent_age: ["opted in", "did not opt in"], last_inbound: ["wrote to us", "did not write to us"],
    campaign: ["got campaign", "not: got campaign"],
  };
  const OPS = [
    ["eq", "is"], ["ne", "is not"], ["in", "is one of (commas between)"], ["contains", "contains"],
    ["gt", "is more than"], ["gte", "is at least"], ["lt", "is less than"], ["lte", "is at most"],
    ["exists", "is set"], ["missing", "is not set"],
  ];
  const AGE_OPS = [["lte", "at most"], ["lt", "less than"], ["gte", "at least"], ["gt", "more than"]];
  const OUTCOMES = [
    ["sent", "and it was sent to them"], ["delivered", "and it was delivered"], ["read", "and they read it"],
    ["clicked", "and they clicked its link"], ["not_read", "and they did not read it"],
  ];
  const GROUP_MODES = [["all", "all of these"], ["any", "any of these"], ["none", "none of these"], ["notall", "not all of these"]];
  const OTHER = "\u0000other";

  let vocabulary = { events: [], attributes: {}, tags: [], countries: [], languages: [], campaigns: [], limits: { max_depth: 6 } };
  let model = null; // the root group
  let nextId = 1;
  let timer = null;
  let advanced = false;
  let paths = []; // [path, node id, element] from the last serialisation: where errors go

  // --- the model -------------------------------------------------------------------------------

  function group(mode, children) { return { type: "group", id: nextId++, mode: mode, children: children || [] }; }
  function condition(kind, values) {
    const base = { type: "cond", id: nextId++, kind: kind, negate: false };
    const blank = {
      event: { event: "", min_count: "1", within_days: "", filters: [] }, attribute: { key: "", op: "eq", value: "" },
      tag: { tag: "" }, country: { value: "" }, language: { value: "" }, consent_age: { op: "lte", days: "" },
      last_inbound: { days: "" }, campaign: { campaign: "", outcome: "read" },
    }[kind];
    return Object.assign(base, blank, values || {});
  }
  function filter(key, op, value) { return { id: nextId++, key: key || "", op: op || "eq", value: value === undefined ? "" : value }; }

  function asText(value) {
    if (value === null || value === undefined) return "";
    return Array.isArray(value) ? value.map(asText).join(", ") : String(value);
  }
  function isObject(value) { return value !== null && typeof value === "object" && !Array.isArray(value); }

  // JSON rules -> model; null when the builder cannot show them faithfully (then: JSON only).
  function fromRules(rules) {
    if (!isObject(rules)) return null;
    const keys = Object.keys(rules);
    if (keys.length === 0) return group("all");
    const node = parseNode(rules);
    if (!node) return null;
    return node.type === "group" ? node : group("all", [node]);
  }
  function parseNode(rules) {
    if (!isObject(rules)) return null;
    const keys = Object.keys(rules);
    if (keys.length === 1 && (keys[0] === "all" || keys[0] === "any")) return parseGroup(keys[0], rules[keys[0]]);
    if (keys.length === 1 && keys[0] === "not") {
      const inner = rules.not;
      if (isObject(inner) && Object.keys(inner).length === 1 && (inner.any || inner.all)) {
        return parseGroup(inner.any ? "none" : "notall", inner.any || inner.all);
      }
      const cond = parseCondition(inner);
      if (!cond) return null;
      cond.negate = true;
      return cond;
    }
    return parseCondition(rules);
  }
  function parseGroup(mode, children) {
    if (!Array.isArray(children)) return null;
    const parsed = children.map(parseNode);
    return parsed.every(Boolean) ? group(mode, parsed) : null;
  }
  function parseWhere(where) {
    if (where === undefined) return [];
    if (!isObject(where)) return null;
    const filters = [];
    for (const key of Object.keys(where)) {
      const spec = where[key];
      if (isObject(spec)) {
        const ops = Object.keys(spec);
        if (ops.length !== 1) return null;
        filters.push(opFilter(key, ops[0], spec[ops[0]]));
      } else {
        filters.push(filter(key, "eq", asText(spec)));
      }
    }
    return filters.every(Boolean) ? filters : null;
  }
  function opFilter(key, op, value) {
    if (op === "exists") return filter(key, value === false ? "missing" : "exists", "");
    if (!OPS.some(function (o) { return o[0] === op; })) return null;
    return filter(key, op, asText(value));
  }
  function parseCondition(rules) {
    if (!isObject(rules)) return null;
    if ("event" in rules) {
      const filters = parseWhere(rules.where);
      if (!filters) return null;
      return condition("event", {
        event: asText(rules.event), filters: filters,
        min_count: "min_count" in rules ? asText(rules.min_count) : "1",
        within_days: "within_days" in rules ? asText(rules.within_days) : "",
      });
    }
    if ("attribute" in rules) {
      const parsed = opFilter(asText(rules.attribute), rules.op || "eq", rules.value);
      if (!parsed) return null;
      return condition("attribute", { key: parsed.key, op: parsed.op, value: parsed.value });
    }
    if ("tag" in rules) return condition("tag", { tag: asText(rules.tag) });
    if ("country" in rules) return condition("country", { value: asText(rules.country) });
    if ("language" in rules) return condition("language", { value: asText(rules.language) });
    if ("consent_age_days" in rules) {
      const spec = rules.consent_age_days;
      if (!isObject(spec) || Object.keys(spec).length !== 1) return null;
      const op = Object.keys(spec)[0];
      return condition("consent_age", { op: op, days: asText(spec[op]) });
    }
    if ("last_inbound_within_days" in rules) return condition("last_inbound", { days: asText(rules.last_inbound_within_days) });
    if ("campaign" in rules) return condition("campaign", { campaign: asText(rules.campaign), outcome: asText(rules.outcome) });
    return null;
  }

  // Model -> JSON rules. Numbers typed as digits become numbers; anything else goes as typed, so
  // the server's check names the problem next to the condition.
  function whole(text) { return /^\s*-?\d+\s*$/.test(text) ? parseInt(text, 10) : text; }
  function list(text) { return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean); }
  function known(key, eventName) {
    if (eventName === undefined) return vocabulary.attributes[key] || [];
    const event = vocabulary.events.find(function (e) { return e.name === eventName; });
    return (event && event.properties[key]) || [];
  }
  // A value as the data stores it: 30 stays a number when the data holds numbers there.
  function typed(text, op, examples) {
    const trimmed = text.trim();
    const number = Number(trimmed);
    if (trimmed !== "" && !isNaN(number)) {
      if (["gt", "gte", "lt", "lte"].indexOf(op) >= 0) return number;
      if (examples.some(function (v) { return typeof v === "number"; })) return number;
    }
    if ((trimmed === "true" || trimmed === "false") && examples.some(function (v) { return typeof v === "boolean"; })) return trimmed === "true";
    return text;
  }
  function opValue(op, text, examples) {
    if (op === "exists") return [ "exists", true ];
    if (op === "missing") return [ "exists", false ];
    if (op === "in") return [ "in", list(text).map(function (v) { return typed(v, "eq", examples); }) ];
    return [ op, typed(text, op, examples) ];
  }

  function toRules(node, path, out) {
    if (node.type === "group") {
      out.push([path, node.id]);
      const key = node.mode === "none" ? "any" : node.mode === "notall" ? "all" : node.mode;
      const inner = node.mode === "none" || node.mode === "notall" ? path + ".not" : path;
      const children = node.children.map(function (child, index) { return toRules(child, inner + "." + key + "[" + index + "]", out); });
      const rules = {}; rules[key] = children;
      return inner === path ? rules : { not: rules };
    }
    const own = node.negate ? path + ".not" : path;
    out.push([own, node.id]);
    const rules = conditionRules(node, own, out);
    return node.negate ? { not: rules } : rules;
  }
  function conditionRules(node, path, out) {
    switch (node.kind) {
      case "event": {
        const rules = { event: node.event };
        if (node.filters.length) {
          rules.where = {};
          node.filters.forEach(function (f) {
            out.push([path + ".where." + f.key, node.id, f.id]);
            const pair = opValue(f.op, f.value, known(f.key, node.event));
            const spec = {}; spec[pair[0]] = pair[1];
            rules.where[f.key] = pair[0] === "eq" ? pair[1] : spec;
          });
        }
        if (node.within_days.trim() !== "") rules.within_days = whole(node.within_days);
        if (node.min_count.trim() !== "" && node.min_count.trim() !== "1") rules.min_count = whole(node.min_count);
        return rules;
      }
      case "attribute": {
        const pair = opValue(node.op, node.value, known(node.key));
        const rules = { attribute: node.key, op: pair[0] };
        if (node.op !== "exists") rules.value = pair[1];
        return rules;
      }
      case "tag": return { tag: node.tag };
      case "country": { const codes = list(node.value); return { country: codes.length === 1 ? codes[0] : codes }; }
      case "language": { const codes = list(node.value); return { language: codes.length === 1 ? codes[0] : codes }; }
      case "consent_age": { const spec = {}; spec[node.op] = whole(node.days); return { consent_age_days: spec }; }
      case "last_inbound": return { last_inbound_within_days: whole(node.days) };
      case "campaign": return { campaign: whole(node.campaign), outcome: node.outcome };
    }
    return {};
  }

  function find(id, node, parent) {
    node = node || model;
    if (node.id === id) return { node: node, parent: parent || null };
    if (node.type !== "group") return null;
    for (const child of node.children) {
      const hit = find(id, child, node);
      if (hit) return hit;
    }
    return null;
  }
  function depth(id) {
    let level = 0;
    let hit = find(id);
    while (hit && hit.parent) { level += 1; hit = find(hit.parent.id); }
    return level;
  }

  // --- drawing -----------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    const element = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") element.textContent = attrs.text;
      else if (attrs[name] !== undefined && attrs[name] !== null && attrs[name] !== false) element.setAttribute(name, attrs[name] === true ? "" : attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) element.append(child); });
    return element;
  }
  function words(text) { return el("span", { class: "sb-words", text: text }); }

  function select(options, value, label, onChange, focusKey) {
    const box = el("select", { "aria-label": label, "data-focus": focusKey });
    options.forEach(function (option) { box.append(el("option", { value: option[0], text: option[1] })); });
    box.value = value;
    box.addEventListener("change", function () { onChange(box.value); });
    return box;
  }
  function input(value, label, onInput, attrs) {
    const box = el("input", Object.assign({ type: "text", "aria-label": label, value: value, autocomplete: "off" }, attrs || {}));
    box.value = value;
    box.addEventListener("input", function () { onInput(box.value); changed(); });
    return box;
  }
  function datalist(id, values) {
    return el("datalist", { id: id }, values.map(function (v) { return el("option", { value: asText(v) }); }));
  }
  // A picker of known names; "Another…" opens a text box for a name the data does not show yet.
  // ``onChosen`` runs after a pick from the list (e.g. to redraw what depends on it).
  function picker(names, value, label, onPick, focusKey, onChosen) {
    const options = names.map(function (n) { return [n, n]; });
    const isKnown = value === "" || names.indexOf(value) >= 0;
    const wrap = el("span", { class: "sb-picker" });
    const choice = select([["", "Choose…"]].concat(options, [[OTHER, "Another…"]]), isKnown ? value : OTHER, label, function (picked) {
      if (picked === OTHER) { other.hidden = false; other.focus(); onPick(other.value); changed(); return; }
      other.hidden = true;
      onPick(picked);
      (onChosen || changed)();
    }, focusKey);
    const other = input(isKnown ? "" : value, label + " (typed)", onPick, { hidden: isKnown });
    wrap.append(choice, other);
    return wrap;
  }

  // Numbers follow the nesting ("Condition 2.1" is the first one in group 2), so every label is unique.
  function drawGroup(node, isRoot, label) {
    const box = el("div", { class: "sb-group" + (isRoot ? " sb-root" : ""), role: "group", "data-node": node.id });
    const number = isRoot ? "" : " " + label;
    box.setAttribute("aria-label", isRoot ? "All conditions" : "Group" + number);
    const head = el("div", { class: "sb-group-head" }, [
      words(isRoot ? "People who match" : "A group: people who match"),
      select(GROUP_MODES, node.mode, isRoot ? "People who match" : "Group" + number + " matches", function (mode) { node.mode = mode; changed(); }, node.id + "-mode"),
    ]);
    if (!isRoot) {
      head.append(el("button", { type: "button", class: "sb-button sb-remove", "aria-label": "Remove group" + number, text: "Remove group" }));
      head.lastChild.addEventListener("click", function () { remove(node.id); });
    }
    box.append(head, el("p", { class: "sb-error", id: "sb-error-" + node.id, role: "alert", hidden: true }));
    const items = el("ol", { class: "sb-items" });
    node.children.forEach(function (child, index) {
      items.append(el("li", {}, [child.type === "group" ? drawGroup(child, false, (label ? label + "." : "") + (index + 1))
        : drawCondition(child, (label ? label + "." : "") + (index + 1))]));
    });
    if (!node.children.length) items.append(el("li", { class: "sb-empty", text: isRoot ? "No conditions yet: everyone matches." : "No conditions in this group yet." }));
    box.append(items);
    const actions = el("div", { class: "sb-actions" }, [
      el("button", { type: "button", class: "sb-button", "data-focus": node.id + "-add", text: "Add a condition" }),
    ]);
    actions.lastChild.addEventListener("click", function () { add(node, condition("event")); });
    if (depth(node.id) + 1 < (vocabulary.limits.max_depth || 6)) {
      const addGroup = el("button", { type: "button", class: "sb-button", text: "Add a group" });
      addGroup.addEventListener("click", function () { add(node, group("any")); });
      actions.append(addGroup);
    }
    box.append(actions);
    return box;
  }

  function drawCondition(node, number) {
    const box = el("div", { class: "sb-condition", role: "group", "aria-label": "Condition " + number, "data-node": node.id });
    const line = el("div", { class: "sb-line" }, [
      select(KINDS, node.kind, "Condition " + number + ": what", function (kind) { replace(node, condition(kind)); }, node.id + "-kind"),
      select([["no", POLARITY[node.kind][0]], ["yes", POLARITY[node.kind][1]]], node.negate ? "yes" : "no", "Condition " + number + ": include or exclude",
        function (value) { node.negate = value === "yes"; changed(); }),
    ]);
    drawFields(node, number).forEach(function (part) { line.append(part); });
    const removeButton = el("button", { type: "button", class: "sb-button sb-remove", "aria-label": "Remove condition " + number, text: "Remove" });
    removeButton.addEventListener("click", function () { remove(node.id); });
    line.append(removeButton);
    box.append(line);
    if (node.kind === "event") box.append(drawFilters(node, number));
    box.append(el("p", { class: "sb-error", id: "sb-error-" + node.id, role: "alert", hidden: true }));
    return box;
  }

  function drawFields(node, number) {
    const label = "Condition " + number + ": ";
    switch (node.kind) {
      case "event":
        return [
          picker(vocabulary.events.map(function (e) { return e.name; }), node.event, label + "event", function (v) { node.event = v; },
            node.id + "-event", function () { draw(node.id + "-event"); }),
          words("at least"),
          input(node.min_count, label + "how many times", function (v) { node.min_count = v; }, { inputmode: "numeric", size: 3, class: "sb-number" }),
          words("times, in the last"),
          input(node.within_days, label + "in the last how many days (empty: ever)", function (v) { node.within_days = v; }, { inputmode: "numeric", size: 4, class: "sb-number", placeholder: "any" }),
          words("days"),
        ];
      case "attribute": {
        const listId = "sb-values-" + node.id;
        return [
          picker(Object.keys(vocabulary.attributes), node.key, label + "attribute", function (v) { node.key = v; },
            node.id + "-attr", function () { draw(node.id + "-attr"); }),
          select(OPS, node.op, label + "comparison", function (op) { node.op = op; draw(node.id + "-op"); }, node.id + "-op"),
          node.op === "exists" || node.op === "missing" ? null :
            input(node.value, label + "value", function (v) { node.value = v; }, { list: listId }),
          datalist(listId, known(node.key)),
        ].filter(Boolean);
      }
      case "tag": return [picker(vocabulary.tags, node.tag, label + "tag", function (v) { node.tag = v; })];
      case "country":
        return [input(node.value, label + "countries (two-letter codes, commas between)", function (v) { node.value = v; }, { list: "sb-countries", placeholder: "DE, AT" })];
      case "language":
        return [input(node.value, label + "languages (commas between)", function (v) { node.value = v; }, { list: "sb-languages", placeholder: "de" })];
      case "consent_age":
        return [
          select(AGE_OPS, node.op, label + "how long ago", function (op) { node.op = op; changed(); }),
          input(node.days, label + "days", function (v) { node.days = v; }, { inputmode: "numeric", size: 4, class: "sb-number" }),
          words("days ago"),
        ];
      case "last_inbound":
        return [
          words("in the last"),
          input(node.days, label + "days", function (v) { node.days = v; }, { inputmode: "numeric", size: 4, class: "sb-number" }),
          words("days"),
        ];
      case "campaign": {
        const options = vocabulary.campaigns.map(function (c) { return [String(c.id), c.name + " (#" + c.id + ")"]; });
        if (node.campaign && !options.some(function (o) { return o[0] === node.campaign; })) options.push([node.campaign, "Campaign #" + node.campaign]);
        return [
          select([["", "Choose…"]].concat(options), node.campaign, label + "campaign", function (v) { node.campaign = v; changed(); }),
          select(OUTCOMES, node.outcome, label + "outcome", function (v) { node.outcome = v; changed(); }),
        ];
      }
    }
    return [];
  }

  function drawFilters(node, number) {
    const box = el("div", { class: "sb-filters" });
    const event = vocabulary.events.find(function (e) { return e.name === node.event; });
    const keys = event ? Object.keys(event.properties) : [];
    node.filters.forEach(function (f, index) {
      const label = "Condition " + number + ", property filter " + (index + 1) + ": ";
      const listId = "sb-values-" + f.id;
      const row = el("div", { class: "sb-line sb-filter", "data-filter": f.id }, [
        words(index ? "and" : "where"),
        picker(keys, f.key, label + "property", function (v) { f.key = v; }, f.id + "-key", function () { draw(f.id + "-key"); }),
        select(OPS, f.op, label + "comparison", function (op) { f.op = op; draw(f.id + "-op"); }, f.id + "-op"),
        f.op === "exists" || f.op === "missing" ? null : input(f.value, label + "value", function (v) { f.value = v; }, { list: listId }),
        datalist(listId, known(f.key, node.event)),
      ]);
      const removeButton = el("button", { type: "button", class: "sb-button sb-remove", "aria-label": "Remove " + label.replace(/: $/, ""), text: "Remove" });
      removeButton.addEventListener("click", function () {
        node.filters.splice(node.filters.indexOf(f), 1);
        draw(node.filters.length ? node.filters[Math.min(index, node.filters.length - 1)].id + "-key" : node.id + "-addfilter");
      });
      row.append(removeButton, el("p", { class: "sb-error", id: "sb-error-f" + f.id, role: "alert", hidden: true }));
      box.append(row);
    });
    const addFilter = el("button", { type: "button", class: "sb-button", "data-focus": node.id + "-addfilter", text: "Add a property filter" });
    addFilter.addEventListener("click", function () {
      const f = filter(keys.length === 1 ? keys[0] : "", "eq", "");
      node.filters.push(f);
      draw(f.id + "-key");
    });
    box.append(addFilter);
    return box;
  }

  function draw(focusKey) {
    const lists = el("div", { hidden: true }, [
      datalist("sb-countries", vocabulary.countries), datalist("sb-languages", vocabulary.languages),
    ]);
    tree.replaceChildren(drawGroup(model, true, ""), lists);
    if (focusKey) {
      const target = tree.querySelector('[data-focus="' + focusKey + '"]');
      if (target) target.focus();
    }
    changed();
  }

  // --- editing -----------------------------------------------------------------------------------

  function add(parent, node) {
    parent.children.push(node);
    draw(node.id + (node.type === "group" ? "-mode" : "-kind"));
  }
  function replace(old, node) {
    const hit = find(old.id);
    node.negate = old.negate;
    hit.parent.children[hit.parent.children.indexOf(old)] = node;
    draw(node.id + "-kind");
  }
  // Focus goes to the next condition, else the one before, else the group's "Add a condition".
  function remove(id) {
    const hit = find(id);
    const siblings = hit.parent.children;
    const index = siblings.indexOf(hit.node);
    siblings.splice(index, 1);
    const neighbour = siblings[Math.min(index, siblings.length - 1)];
    draw(neighbour ? neighbour.id + (neighbour.type === "group" ? "-mode" : "-kind") : hit.parent.id + "-add");
  }

  function currentRules() {
    const out = [];
    const rules = toRules(model, "rules", out);
    paths = out;
    return rules;
  }
  function changed() {
    if (!advanced) field.value = JSON.stringify(currentRules(), null, 2);
    else currentRules();
    clearTimeout(timer);
    timer = setTimeout(preview, 300);
  }

  // --- the live count and errors -----------------------------------------------------------------

  function clearErrors() {
    root.querySelectorAll(".sb-error").forEach(function (p) { p.hidden = true; p.textContent = ""; });
    root.querySelectorAll(".sb-invalid").forEach(function (e) { e.classList.remove("sb-invalid"); });
    note.textContent = "";
  }
  function sentence(message) {
    const text = String(message || "").trim();
    return text.charAt(0).toUpperCase() + text.slice(1);
  }
  // The deepest condition (or property filter) whose path starts the error's path gets the message.
  function showError(path, message) {
    let best = null;
    paths.forEach(function (entry) {
      const own = entry[0];
      const fits = path === own || path.indexOf(own + ".") === 0 || path.indexOf(own + "[") === 0;
      if (fits && (!best || own.length >= best[0].length)) best = entry;
    });
    const text = sentence(message);
    if (!best || advanced) { note.textContent = text + (path && path !== "rules" ? " (at " + path + ")" : ""); return; }
    const slot = document.getElementById(best[2] ? "sb-error-f" + best[2] : "sb-error-" + best[1]);
    if (!slot) { note.textContent = text; return; }
    slot.textContent = text;
    slot.hidden = false;
    slot.parentElement.classList.add("sb-invalid");
  }

  async function preview() {
    let rules;
    try { rules = advanced ? JSON.parse(field.value) : currentRules(); }
    catch (e) { clearErrors(); note.textContent = "The JSON is not valid yet: " + e.message; count.textContent = "Fix the JSON to see the count."; sample.replaceChildren(); return; }
    count.textContent = "Counting…";
    let response;
    try {
      response = await fetch(count.dataset.previewUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
        body: JSON.stringify({ rules: rules }),
      });
    } catch (e) { count.textContent = "Could not count just now (no connection)."; return; }
    const body = await response.json().catch(function () { return {}; });
    clearErrors();
    if (!response.ok) {
      showError(body.path || "", body.message || "Could not count these rules (" + response.status + ").");
      count.textContent = response.status === 400 ? "Fix the marked condition to see the count." : sentence(body.message || "Could not count just now.");
      sample.replaceChildren();
      return;
    }
    const strong = el("strong", { text: body.count.toLocaleString() });
    count.replaceChildren(strong, document.createTextNode(body.count === 1 ? " contact matches now." : " contacts match now."));
    sample.replaceChildren.apply(sample, body.sample.map(function (person) {
      return el("li", { text: (person.name ? person.name + " · " : "") + person.phone });
    }));
  }

  // --- JSON (advanced) ---------------------------------------------------------------------------

  const fieldRow = field.closest(".form-row") || field.parentElement;
  function setAdvanced(on) {
    advanced = on;
    toggle.setAttribute("aria-expanded", on ? "true" : "false");
    toggle.textContent = on ? "Back to the builder" : "Edit as JSON (advanced)";
    jsonSlot.hidden = !on;
    if (!on) {
      let parsed = null;
      try { parsed = fromRules(JSON.parse(field.value)); } catch (e) { parsed = null; }
      if (!parsed) {
        setAdvanced(true);
        note.textContent = "These rules use a form the builder cannot show (or are not valid JSON): edit them here.";
        return;
      }
      model = parsed;
      draw();
    }
    tree.hidden = on;
  }
  jsonSlot.append(fieldRow);
  toggle.addEventListener("click", function () { setAdvanced(!advanced); if (advanced) field.focus(); });
  field.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(preview, 400); });

  // --- start ---------------------------------------------------------------------------------------

  async function start() {
    try {
      const response = await fetch(root.dataset.vocabularyUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) vocabulary = await response.json();
    } catch (e) { /* the pickers then offer typed names only */ }
    root.hidden = false;
    let rules = null;
    try { rules = JSON.parse(field.value || "null"); } catch (e) { rules = undefined; }
    model = rules === null ? group("all") : fromRules(rules);
    if (!model) {
      model = group("all");
      draw();
      setAdvanced(true);
      note.textContent = "These rules use a form the builder cannot show (or are not valid JSON): edit them as JSON.";
      preview();
      return;
    }
    draw();
  }
  start();
})();
