// The dashboard's entry: a hash router over the views, and the live feed.

import { clear, h, toast } from "./dom.js";
import { accountsView } from "./accounts.js";
import { generateView } from "./generate.js";
import { jobView, jobsView } from "./jobs.js";
import { connect } from "./live.js";
import { presetEditor, presetsView } from "./presets.js";
import { statsView } from "./stats.js";

let leave = () => {};

const ROUTES = [
  [/^\/?$/, "generate", (main) => generateView(main)],
  [/^\/jobs$/, "jobs", (main, _m, params) => jobsView(main, params)],
  [/^\/jobs\/([A-Za-z0-9_-]+)$/, "jobs", (main, m) => jobView(main, m[1])],
  [/^\/accounts$/, "accounts", (main) => accountsView(main)],
  [/^\/presets$/, "presets", (main) => presetsView(main)],
  [/^\/presets\/([A-Za-z0-9_-]+)$/, "presets", (main, m) => presetEditor(main, decodeURIComponent(m[1]))],
  [/^\/stats$/, "stats", (main, _m, params) => statsView(main, params)],
];

async function show() {
  const [path, search] = (location.hash.replace(/^#/, "") || "/").split("?");
  const params = new URLSearchParams(search || "");
  const main = clear(document.getElementById("main"));
  leave();
  leave = () => {};
  for (const [pattern, nav, view] of ROUTES) {
    const m = path.match(pattern);
    if (!m) continue;
    for (const a of document.querySelectorAll("nav a")) {
      if (a.dataset.nav === nav) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    try {
      leave = (await view(main, m, params)) || (() => {});
    } catch (err) {
      main.append(h("p", { className: "err", role: "alert" }, err.message));
    }
    document.title = `mediamix · ${main.querySelector("h1")?.textContent || ""}`;
    return;
  }
  main.append(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to Generate")));
}

window.addEventListener("hashchange", () => show().catch((e) => toast(e.message)));
connect();
show().catch((e) => toast(e.message));
