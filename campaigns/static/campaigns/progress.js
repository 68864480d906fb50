// The live page of a campaign: asks the server for the campaign's progress every 2 seconds and
// updates the bar, the figures, why messages wait and the pause/resume/cancel buttons without
// reloading; every FULL_EVERY polls (and at the end) the same answer also carries the funnel and
// the chart, so the three change together.
(function () {
  "use strict";
  const box = document.getElementById("progress");
  if (!box) return;
  const FINISHED = ["completed", "cancelled"];
  const POLL_MS = 2000;
  const FULL_EVERY = 5;
  let polls = 0;

  function set(id, text) {
    const element = document.getElementById(id);
    if (element) element.textContent = text;
  }

  function render(data) {
    const bar = document.getElementById("progress-bar");
    bar.max = Math.max(data.total, 1);
    bar.value = data.total ? data.done : (data.status === "completed" ? 1 : 0);
    bar.textContent = data.percent + "%";
    set("progress-percent", data.percent);
    set("progress-done", data.done);
    set("progress-total", data.total);
    set("progress-sent", data.sent);
    set("progress-skipped", data.skipped);
    set("progress-failed", data.failed);
    set("progress-rate", data.rate_per_second === null ? "–" : data.rate_per_second);
    set("progress-eta", data.eta_text);
    set("progress-deferred", data.deferred);
    const deferrals = document.getElementById("progress-deferrals");
    if (deferrals) {
      deferrals.replaceChildren(...data.deferrals.map(function (deferral) {
        const item = document.createElement("li");
        item.textContent = deferral.text;
        return item;
      }));
    }
    // Server-rendered by our own templates (escaped there), like the page itself.
    const funnel = document.getElementById("funnel-table");
    if (funnel && data.funnel_html !== undefined) funnel.innerHTML = data.funnel_html;
    const chart = document.getElementById("chart-box");
    if (chart && data.chart_html !== undefined) chart.innerHTML = data.chart_html;
    const status = document.getElementById("campaign-status");
    status.textContent = data.status_label;
    status.className = "rt-status rt-status-" + data.status;
    set("campaign-status-reason", data.status_reason);
    document.querySelectorAll("#campaign-controls form[data-action]").forEach(function (form) {
      form.hidden = data.actions.indexOf(form.dataset.action) < 0;
    });
    box.dataset.status = data.status;
  }

  async function poll() {
    try {
      polls += 1;
      const full = polls % FULL_EVERY === 0;
      let response = await fetch(box.dataset.url + (full ? "?full=1" : ""), { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error("HTTP " + response.status);
      let data = await response.json();
      if (FINISHED.indexOf(data.status) >= 0 && !full) {
        // The last word: the final funnel and chart with the final bar.
        response = await fetch(box.dataset.url + "?full=1", { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (!response.ok) throw new Error("HTTP " + response.status);
        data = await response.json();
      }
      render(data);
      set("progress-note", FINISHED.indexOf(data.status) >= 0 ? "Finished: these are the final figures." : "");
      if (FINISHED.indexOf(data.status) >= 0) return;
    } catch (error) {
      set("progress-note", "Lost contact with the server (" + error.message + "); trying again.");
    }
    setTimeout(poll, POLL_MS);
  }

  document.querySelectorAll("#campaign-controls form[data-action=cancel]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm("Cancel this campaign for good? Messages not sent yet are skipped.")) event.preventDefault();
    });
  });
  if (FINISHED.indexOf(box.dataset.status) < 0) setTimeout(poll, POLL_MS);
})();
