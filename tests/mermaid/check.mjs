// Parse Mermaid diagrams with the real mermaid parser (no browser): jsdom supplies the
// window and document mermaid expects. Reads a JSON array of diagram texts on stdin and
// prints a JSON array of {ok, error} in the same order; exit 0 when all parse, 1 otherwise.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
for (const key of ["Element", "HTMLElement", "SVGElement", "DOMParser", "Node"]) {
  if (!(key in globalThis)) globalThis[key] = dom.window[key];
}

const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

let input = "";
for await (const chunk of process.stdin) input += chunk;
const diagrams = JSON.parse(input);
const results = [];
for (const text of diagrams) {
  try {
    await mermaid.parse(text);
    results.push({ ok: true });
  } catch (err) {
    results.push({ ok: false, error: String(err && err.message ? err.message : err).split("\n").slice(0, 6).join("\n") });
  }
}
process.stdout.write(JSON.stringify(results) + "\n");
process.exit(results.every((r) => r.ok) ? 0 : 1);
