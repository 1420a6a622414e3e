// Statistics: success rate, latency and cost by one dimension, and the report's charts.

import { get, query } from "./api.js";
import { field, h, ms, options, usd } from "./dom.js";

const BY = ["preset", "provider", "model", "account", "media_type", "day"];

export async function statsView(main, params) {
  const by = BY.includes(params.get("by")) ? params.get("by") : "provider";
  const since = params.get("since") || "";
  const data = await get(`/api/media/stats${query({ by, since })}`);
  const bySelect = h("select", { name: "by" }, options(BY.map((b) => [b, b.replace("_", " ")]), by));
  const sinceInput = h("input", { name: "since", value: since, size: 8, placeholder: "7d" });
  const form = h("form", { className: "row" }, field("Group by", bySelect), field("Since", sinceInput),
    h("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `#/stats${query({ by: bySelect.value, since: sinceInput.value.trim() })}`;
  });
  const pct = (v) => (v === null || v === undefined ? "" : `${(100 * v).toFixed(1)}%`);
  const table = h("table", {},
    h("thead", {}, h("tr", {}, ...[by.replace("_", " "), "jobs", "succeeded", "failed", "success rate",
      "attempts / success", "p50 latency", "p95 latency", "cost"].map((t, i) => h("th", { scope: "col", className: i ? "n" : "" }, t)))),
    h("tbody", {}, ...(data.rows.length ? data.rows.map((r) => h("tr", {},
      h("td", {}, r[by] ?? "—"), h("td", { className: "n" }, r.jobs), h("td", { className: "n" }, r.succeeded),
      h("td", { className: "n" }, r.failed), h("td", { className: "n" }, pct(r.success_rate)),
      h("td", { className: "n" }, r.attempts_per_success ? r.attempts_per_success.toFixed(2) : ""),
      h("td", { className: "n" }, ms(r.p50_latency_ms)), h("td", { className: "n" }, ms(r.p95_latency_ms)),
      h("td", { className: "n" }, usd(r.cost_usd)))) : [h("tr", {}, h("td", { colspan: 9 }, "No jobs in this window."))])));
  // The charts are the HTML report's own SVG, made by the server (every label escaped there).
  const charts = h("div", { className: "charts" });
  const parser = new DOMParser();
  for (const [title, svg] of [["Attempt success rate by provider", data.charts.success], ["Cost by provider", data.charts.cost]]) {
    // Parsed as HTML (inert: a parsed document runs no script), which puts <svg> in the
    // SVG namespace as the report's own page does.
    const node = parser.parseFromString(svg, "text/html").body.querySelector("svg");
    charts.append(h("h2", {}, title), node ? document.importNode(node, true) : h("p", {}, "No chart."));
  }
  main.append(h("h1", {}, "Statistics"), form, h("div", { className: "scroll" }, table), charts);
  return () => {};
}
