// Jobs: the history (filters, paging, live rows) and one job's page (timeline, preview).

import { get, post, query } from "./api.js";
import { badge, clear, field, h, ms, options, toast, usd, when } from "./dom.js";
import { subscribe } from "./live.js";

export const STATUSES = ["queued", "running", "succeeded", "failed", "skipped", "cancelled"];
export const MEDIA_TYPES = ["image", "video", "audio", "text", "document"];

function jobRow(job) {
  const label = job.provider ? `${job.provider}/${job.model}` : "";
  return h("tr", { dataset: { jobId: job.job_id } },
    h("td", {}, badge(job.status)),
    h("td", {}, h("a", { href: `#/jobs/${job.job_id}`, className: "mono" }, job.job_id.slice(0, 10))),
    h("td", {}, job.media_type || ""),
    h("td", {}, job.preset || job.pipeline || ""),
    h("td", {}, label),
    h("td", { className: "n" }, job.attempts ?? ""),
    h("td", { className: "n" }, ms(job.latency_ms)),
    h("td", { className: "n" }, usd(job.cost_usd)),
    h("td", {}, when(job.started_at || job.submitted_at)),
    h("td", { className: "err" }, job.status === "failed" ? job.error || "" : ""));
}

export class JobTable {
  constructor(caption) {
    this.body = h("tbody");
    this.table = h("table", {},
      h("caption", { className: "hint" }, caption),
      h("thead", {}, h("tr", {}, ...["status", "job", "media", "preset", "provider / model",
        "attempts", "latency", "cost", "started", "error"].map((t, i) =>
        h("th", { scope: "col", className: i >= 5 && i <= 7 ? "n" : "" }, t)))),
      this.body);
    this.el = h("div", { className: "scroll" }, this.table);
  }

  render(rows, append = false) {
    if (!append) clear(this.body);
    for (const row of rows) this.body.append(jobRow(row));
    if (!this.body.firstChild) this.body.append(h("tr", { className: "empty" }, h("td", { colspan: 10 }, "No jobs yet.")));
  }

  // A job changed (SSE): update its row, or add it at the top when `accept(job)`.
  upsert(job, accept) {
    const existing = this.body.querySelector(`tr[data-job-id="${CSS.escape(job.job_id)}"]`);
    if (existing) { existing.replaceWith(jobRow(job)); return; }
    if (!accept(job)) return;
    const empty = this.body.querySelector("tr.empty");
    if (empty) empty.remove();
    this.body.prepend(jobRow(job));
  }
}

function filtersFrom(params) {
  return {
    status: params.get("status") || "",
    mediaType: params.get("mediaType") || "",
    preset: params.get("preset") || "",
    provider: params.get("provider") || "",
    since: params.get("since") || "",
  };
}

function matches(job, f) {
  return (!f.status || job.status === f.status) && (!f.mediaType || job.media_type === f.mediaType)
    && (!f.preset || job.preset === f.preset) && (!f.provider || job.provider === f.provider);
}

export async function jobsView(main, params) {
  const f = filtersFrom(params);
  const controls = {
    status: h("select", { name: "status" }, options([["", "any"], ...STATUSES.map((s) => [s])], f.status)),
    mediaType: h("select", { name: "mediaType" }, options([["", "any"], ...MEDIA_TYPES.map((m) => [m])], f.mediaType)),
    preset: h("input", { name: "preset", value: f.preset, size: 14 }),
    provider: h("input", { name: "provider", value: f.provider, size: 12 }),
    since: h("input", { name: "since", value: f.since, size: 8, placeholder: "24h, 7d" }),
  };
  const form = h("form", { className: "row", role: "search", "aria-label": "Filter jobs" },
    field("Status", controls.status), field("Media type", controls.mediaType),
    field("Preset", controls.preset), field("Provider", controls.provider),
    field("Since", controls.since),
    h("button", { type: "submit" }, "Filter"),
    h("button", { type: "button", className: "secondary", onclick: () => { location.hash = "#/jobs"; } }, "Clear"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const chosen = Object.fromEntries(Object.entries(controls).map(([k, el]) => [k, el.value.trim()]));
    location.hash = `#/jobs${query(chosen)}`;
  });
  const table = new JobTable("Newest first; rows update live.");
  const more = h("button", { type: "button", className: "secondary", hidden: true }, "Load more");
  const count = h("span", { className: "hint" });
  main.append(h("h1", {}, "Jobs"), form, table.el, h("div", { className: "pager" }, more, count));
  let cursor = null;
  let shown = 0;
  async function load(append) {
    const page = await get(`/api/media/jobs${query({ ...f, limit: 25, cursor: append ? cursor : "" })}`);
    table.render(page.jobs, append);
    shown = append ? shown + page.jobs.length : page.jobs.length;
    cursor = page.next_cursor;
    more.hidden = !cursor;
    count.textContent = `${shown} shown`;
  }
  more.addEventListener("click", () => load(true).catch((e) => toast(e.message)));
  await load(false);
  return subscribe((kind, data) => { if (kind === "job") table.upsert(data, (j) => matches(j, f)); },
    () => load(false));
}

// -- one job ---------------------------------------------------------------------------

function preview(job) {
  const wrap = h("div", { className: "preview", id: "preview" });
  const artifacts = job.artifacts || [];
  if (!artifacts.length) {
    wrap.append(h("p", { className: "hint" }, job.status === "succeeded" ? "No artifact." : "No artifact yet."));
    return wrap;
  }
  for (const a of artifacts) {
    const name = (a.url || a.uri || "").split("/").pop();
    if (!a.url) { wrap.append(h("p", {}, a.public_url ? h("a", { href: a.public_url }, name) : a.uri)); continue; }
    const kind = a.media_type;
    if (kind === "image") wrap.append(h("img", { src: a.url, alt: `Generated image ${name}` }));
    else if (kind === "video") wrap.append(h("video", { src: a.url, controls: true, preload: "metadata", "aria-label": `Generated video ${name}` }));
    else if (kind === "audio") wrap.append(h("audio", { src: a.url, controls: true, preload: "metadata", "aria-label": `Generated audio ${name}` }));
    else if (kind === "text") {
      const pre = h("pre", { className: "mono", "aria-label": "Generated text" }, "loading…");
      fetch(a.url, { credentials: "same-origin" }).then((r) => r.text()).then((t) => { pre.textContent = t; });
      wrap.append(pre);
    }
    const details = [a.mime, `${(a.size / 1024).toFixed(1)} KB`,
      a.width ? `${a.width}×${a.height}` : null, a.duration_s ? `${a.duration_s.toFixed(1)} s` : null,
      a.pages ? `${a.pages} pages` : null].filter(Boolean).join(" · ");
    wrap.append(h("p", {}, h("a", { href: `${a.url}?download=1`, download: name }, `Download ${name}`),
      " ", h("span", { className: "hint" }, details)));
  }
  return wrap;
}

function timeline(job) {
  const items = [];
  for (const a of job.attempts || []) {
    const ok = a.status === "succeeded";
    items.push({
      at: a.started_at, cls: ok ? "good" : a.status === "skipped" ? "wait" : "bad",
      text: `attempt ${a.number}: ${a.provider}/${a.model}${a.account ? ` via ${a.account}` : ""} — ${a.status}`
        + (a.latency_ms != null ? ` in ${ms(a.latency_ms)}` : "") + (a.cost_usd != null ? `, ${usd(a.cost_usd)}` : "")
        + (a.error ? ` — ${a.error_class}: ${a.error}` : ""),
    });
  }
  for (const e of job.events || []) {
    const cls = /fail|error|invalid/.test(e.kind) ? "bad" : /wait|cooldown|fallback/.test(e.kind) ? "wait" : "";
    items.push({ at: e.occurred_at, cls, text: `${e.kind}: ${e.message}` });
  }
  items.sort((x, y) => String(x.at).localeCompare(String(y.at)));
  if (!items.length) return h("p", { className: "hint" }, "Nothing yet.");
  return h("ol", { className: "timeline", "aria-label": "Attempt timeline" },
    ...items.map((i) => h("li", { className: i.cls }, h("time", { datetime: i.at }, when(i.at)), i.text)));
}

export async function jobView(main, jobId) {
  const heading = h("h1", {}, `Job ${jobId.slice(0, 12)}`);
  const body = h("div");
  main.append(heading, body);
  let busy = false;
  let again = false;
  let shownArtifacts = null;
  let previewNode = null;
  async function load() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const job = await get(`/api/media/jobs/${encodeURIComponent(jobId)}`);
      render(job);
    } finally {
      busy = false;
      if (again) { again = false; load(); }
    }
  }
  function render(job) {
    const active = job.status === "queued" || job.status === "running";
    const cancel = h("button", { type: "button", className: "danger", hidden: !active,
      onclick: async () => {
        cancel.disabled = true;
        try { await post(`/api/media/jobs/${encodeURIComponent(jobId)}/cancel`); toast("Cancelling…"); }
        catch (e) { toast(e.message); cancel.disabled = false; }
      } }, "Cancel job");
    clear(body).append(...[
      h("div", { className: "cards" },
        h("div", { className: "card" }, "Status", h("b", { id: "job-status" }, badge(job.status))),
        h("div", { className: "card" }, "Media", h("b", {}, job.media_type || "")),
        h("div", { className: "card" }, "Preset", h("b", {}, job.preset || "—")),
        h("div", { className: "card" }, "Made by", h("b", {}, job.provider ? `${job.provider}/${job.model}` : "—")),
        h("div", { className: "card" }, "Latency", h("b", {}, ms(job.latency_ms) || "—")),
        h("div", { className: "card" }, "Cost", h("b", {}, usd(job.cost_usd) || "—"))),
      cancel,
      job.error ? h("p", { className: "err", role: "note" }, `${job.error_class || "error"}: ${job.error}`) : null,
      h("div", { className: "grid2" },
        h("section", { "aria-labelledby": "tl" }, h("h2", { id: "tl" }, "Timeline"), timeline(job)),
        h("section", { "aria-labelledby": "pv" }, h("h2", { id: "pv" }, "Preview"), previewOf(job)))
    ].filter(Boolean));
  }
  function previewOf(job) {
    // Rebuilt only when the artifacts change, so a playing video is not reset by updates.
    const key = JSON.stringify((job.artifacts || []).map((a) => a.url));
    if (key !== shownArtifacts || !previewNode) { previewNode = preview(job); shownArtifacts = key; }
    return previewNode;
  }
  await load();
  return subscribe((kind, data) => { if (data.job_id === jobId) load(); }, load);
}
