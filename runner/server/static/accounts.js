// Accounts: health, key presence and limits; add or update one (never a key: its variable).

import { get, post } from "./api.js";
import { badge, field, h, options, toast, usd } from "./dom.js";

const PROVIDERS = ["openai", "azure", "anthropic", "google", "cohere", "elevenlabs", "stability",
  "runway", "openai_compatible", "local"];

export async function accountsView(main) {
  const table = h("tbody");
  async function load() {
    const data = await get("/api/media/accounts");
    table.replaceChildren(...data.accounts.map((a) => h("tr", {},
      h("td", {}, a.name), h("td", {}, a.provider), h("td", { className: "mono" }, a.api_key_env || "—"),
      h("td", {}, badge(a.key)), h("td", {}, badge(a.status)),
      h("td", {}, ["rpm", "rpd", "tpm", "max_concurrency"].filter((k) => a[k] != null).map((k) => `${k} ${a[k]}`).join(", ") || "—"),
      h("td", { className: "n" }, a.successes), h("td", { className: "n" }, a.failures),
      h("td", { className: "n" }, a.rate_limited), h("td", { className: "n" }, usd(a.cost_usd)),
      h("td", { className: "mono" }, a.base_url || ""))));
    source.textContent = `From ${data.source}.`;
  }
  const source = h("p", { className: "hint" });
  const inputs = {
    name: h("input", { name: "name", required: true, pattern: "[A-Za-z_][A-Za-z0-9_\\-]*" }),
    provider: h("select", { name: "provider" }, options(PROVIDERS.map((p) => [p]), "openai")),
    apiKeyEnv: h("input", { name: "apiKeyEnv", placeholder: "OPENAI_API_KEY", className: "mono" }),
    baseUrl: h("input", { name: "baseUrl", type: "url", placeholder: "vendor's own" }),
    models: h("input", { name: "models", placeholder: "all" }),
    rpm: h("input", { name: "rpm", type: "number", min: 1 }),
    maxConcurrency: h("input", { name: "maxConcurrency", type: "number", min: 1 }),
  };
  const problem = h("p", { className: "err", role: "alert" });
  const form = h("form", { className: "stack", "aria-label": "Add or update an account" },
    field("Name", inputs.name), field("Provider", inputs.provider),
    field("Key variable", inputs.apiKeyEnv, "The NAME of the environment variable on the server, never the key."),
    field("Base URL", inputs.baseUrl), field("Models", inputs.models, "Comma-separated; empty: all."),
    field("Requests per minute", inputs.rpm), field("Max concurrency", inputs.maxConcurrency),
    problem, h("button", { type: "submit" }, "Save account"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    problem.textContent = "";
    const body = { name: inputs.name.value.trim(), provider: inputs.provider.value };
    if (inputs.apiKeyEnv.value.trim()) body.apiKeyEnv = inputs.apiKeyEnv.value.trim();
    if (inputs.baseUrl.value.trim()) body.baseUrl = inputs.baseUrl.value.trim();
    const models = inputs.models.value.split(",").map((m) => m.trim()).filter(Boolean);
    if (models.length) body.models = models;
    if (inputs.rpm.value) body.rpm = Number(inputs.rpm.value);
    if (inputs.maxConcurrency.value) body.maxConcurrency = Number(inputs.maxConcurrency.value);
    try {
      const saved = await post("/api/media/accounts", body);
      toast(`Account ${saved.account.name} ${saved.outcome}`);
      form.reset();
      await load();
    } catch (err) {
      problem.textContent = err.message;
    }
  });
  main.append(h("h1", {}, "Accounts"), source,
    h("div", { className: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, ...["name", "provider", "key variable", "key", "health", "limits", "ok",
        "failed", "429s", "cost", "base URL"].map((t) => h("th", { scope: "col" }, t)))), table)),
    h("h2", {}, "Add or update an account"), form);
  await load();
  return () => {};
}
