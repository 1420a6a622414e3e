// Generate: the original system's form; the new job appears at once and updates live.

import { get, post } from "./api.js";
import { field, h, options, toast } from "./dom.js";
import { JobTable, MEDIA_TYPES } from "./jobs.js";
import { subscribe } from "./live.js";

export async function generateView(main) {
  const presets = (await get("/api/media/presets")).presets;
  const mediaType = h("select", { name: "mediaType", required: true }, options(MEDIA_TYPES.map((m) => [m]), "image"));
  const prompt = h("textarea", { name: "prompt", rows: 5, required: true, maxlength: 32000,
    placeholder: "a lighthouse at dawn, flat illustration" });
  const preset = h("select", { name: "preset" });
  const workflow = h("select", { name: "workflowType" }, options([["simple", "simple (fallback in order)"],
    ["adaptive", "adaptive (learn from history)"]], "simple"));
  const attempts = h("input", { name: "maxAttempts", type: "number", min: 1, max: 20, placeholder: "preset's" });
  const submit = h("button", { type: "submit" }, "Generate");
  const problem = h("p", { className: "err", role: "alert" });
  function fillPresets() {
    const chosen = presets.filter((p) => p.media_type === mediaType.value);
    preset.replaceChildren(...options([["", "best for the media type"], ...chosen.map((p) => [p.name, `${p.name} (${p.models.join(" › ")})`])], ""));
  }
  mediaType.addEventListener("change", fillPresets);
  fillPresets();
  const form = h("form", { className: "stack", "aria-label": "Generate" },
    field("Media type", mediaType), field("Prompt", prompt, "Up to 32,000 characters."),
    field("Preset", preset), field("Workflow", workflow),
    field("Max attempts per candidate", attempts, "1–20; empty: the preset's own."),
    problem, submit);
  const table = new JobTable("Recent jobs, newest first; they update live.");
  main.append(h("h1", {}, "Generate"), h("div", { className: "grid2" }, form,
    h("section", { "aria-label": "Recent jobs" }, table.el)));

  async function loadRecent() {
    table.render((await get("/api/media/jobs?limit=15")).jobs);
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    problem.textContent = "";
    const body = { mediaType: mediaType.value, prompt: prompt.value, workflowType: workflow.value };
    if (preset.value) body.preset = preset.value;
    if (attempts.value) body.maxAttempts = Number(attempts.value);
    submit.disabled = true;
    try {
      const accepted = await post("/api/media/generate", body);
      table.upsert({ job_id: accepted.jobId, run_id: accepted.runId, status: accepted.status,
        media_type: body.mediaType, preset: body.preset || "", attempts: 0,
        submitted_at: new Date().toISOString() }, () => true);
      toast(`Job ${accepted.jobId.slice(0, 10)} queued`);
    } catch (err) {
      problem.textContent = err.message;
      const bad = err.data && err.data.field && form.querySelector(`[name="${CSS.escape(err.data.field)}"]`);
      if (bad) bad.focus();
    } finally {
      submit.disabled = false;
    }
  });
  await loadRecent();
  return subscribe((kind, data) => { if (kind === "job") table.upsert(data, () => true); }, loadRecent);
}
