// Presets: the list, and an editor that shows each problem at its line.

import { get, post, put } from "./api.js";
import { clear, field, h, toast } from "./dom.js";

export async function presetsView(main) {
  const data = await get("/api/media/presets");
  main.append(...[h("h1", {}, "Presets"),
    h("p", {}, h("a", { href: "#/presets/new" }, "New preset"), " · ",
      h("button", { type: "button", className: "secondary", onclick: async () => {
        const done = await post("/api/media/init");
        toast(done.installed.length ? `Installed ${done.installed.join(", ")}` : "All default presets are already in the project");
      } }, "Install the default presets into the project")),
    data.problems.length ? h("ul", { className: "problems", "aria-label": "Broken preset files" },
      ...data.problems.map((p) => h("li", { className: "mono" }, p))) : null,
    h("div", { className: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, ...["name", "media", "strategy", "candidates, in order", "attempts", "source"]
        .map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, ...data.presets.map((p) => h("tr", {},
        h("td", {}, h("a", { href: `#/presets/${encodeURIComponent(p.name)}` }, p.name)),
        h("td", {}, p.media_type), h("td", {}, p.strategy), h("td", {}, p.models.join(" › ")),
        h("td", { className: "n" }, p.max_attempts), h("td", {}, p.source))))))].filter(Boolean));
  return () => {};
}

const TEMPLATE = `# yaml-language-server: $schema=../schemas/preset.schema.json
media_type: image
models:
  - provider: local
    model: card
    params: {width: 1024, height: 1024}
retry: {max_attempts: 2}
`;

export async function presetEditor(main, name) {
  const isNew = name === "new";
  let text = TEMPLATE;
  let source = "project";
  if (!isNew) {
    const shown = await get(`/api/media/presets/${encodeURIComponent(name)}`);
    text = shown.yaml;
    source = shown.source || "project";
  }
  const nameInput = h("input", { name: "name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_\\-]*",
    value: isNew ? "" : name, readonly: !isNew });
  const gutter = h("pre", { className: "gutter", "aria-hidden": "true" });
  const area = h("textarea", { name: "yaml", spellcheck: "false", "aria-label": "Preset YAML",
    "aria-describedby": "preset-problems", wrap: "off" });
  area.value = text;
  const problems = h("ul", { className: "problems", id: "preset-problems", "aria-live": "polite" });
  const status = h("p", { role: "status" });
  let bad = new Map();

  function paint() {
    const lines = area.value.split("\n").length;
    area.rows = Math.max(lines + 1, 16);
    clear(gutter).append(...Array.from({ length: lines }, (_, i) => {
      const n = i + 1;
      return h("span", { className: bad.has(n) ? "bad" : "", title: bad.get(n) || null }, n);
    }));
  }
  area.addEventListener("input", paint);
  area.addEventListener("keydown", (e) => {  // Tab indents (2 spaces); Escape leaves the editor
    if (e.key === "Tab" && !e.shiftKey) {
      e.preventDefault();
      area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end");
      paint();
    }
  });
  paint();

  const save = h("button", { type: "submit" }, isNew ? "Create preset" : "Save preset");
  const form = h("form", { className: "stack", "aria-label": "Edit preset" },
    field("Name", nameInput, isNew ? "Saved as presets/NAME.yaml in the project." : null),
    h("div", { className: "editor" }, gutter, area),
    h("p", { className: "hint" }, "Tab indents; press Escape, then Tab, to leave the editor."),
    problems, status, save);
  area.addEventListener("keydown", (e) => { if (e.key === "Escape") save.focus(); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear(problems);
    status.textContent = "";
    bad = new Map();
    const target = isNew ? nameInput.value.trim() : name;
    try {
      const saved = isNew
        ? await post("/api/media/presets", { name: target, yaml: area.value })
        : await put(`/api/media/presets/${encodeURIComponent(target)}`, { yaml: area.value });
      status.className = "ok-text";
      status.textContent = `Saved presets/${saved.name}.yaml (${saved.outcome}).`;
      for (const w of saved.warnings) problems.append(h("li", {}, w));
      if (isNew) location.hash = `#/presets/${encodeURIComponent(saved.name)}`;
    } catch (err) {
      status.className = "err";
      status.textContent = err.message;
      for (const d of err.data.diagnostics || []) {
        bad.set(d.line, d.message);
        problems.append(h("li", { dataset: { line: d.line } },
          h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); goTo(d.line, d.column); } },
            `line ${d.line}, column ${d.column}`), `: ${d.path ? `${d.path}: ` : ""}${d.message}`));
      }
      if (!err.data.diagnostics && err.data.field) problems.append(h("li", {}, err.message));
    }
    paint();
  });
  function goTo(line, column) {
    const lines = area.value.split("\n");
    let offset = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    offset += Math.max(0, column - 1);
    area.focus();
    area.setSelectionRange(offset, offset);
  }
  main.append(...[h("h1", {}, isNew ? "New preset" : `Preset ${name}`),
    source === "built-in" ? h("p", { className: "hint" }, "Built in: saving writes the project's own copy, which overrides it.") : null,
    form].filter(Boolean));
  return () => {};
}
