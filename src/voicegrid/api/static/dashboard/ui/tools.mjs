// An agent's tools in its form: where it may transfer a caller, the webhooks it may call (with a
// Test button that runs the tool as a call would, through the public API), hanging up and pressing
// keys. The tools are part of the draft: saved and published with the rest of the agent.
import { ListField, SelectField, TextArea, TextField, html, useState } from "./common.mjs";

const KINDS = [
  ["transfer_call", "Transfer the caller"],
  ["webhook", "Ask another system (webhook)"],
  ["end_call", "Hang up"],
  ["send_dtmf", "Press phone keys"],
];
const FRESH = {
  transfer_call: { targets: [] },
  webhook: { url: "", timeout_ms: 5000, parameters: { type: "object", properties: {} } },
  end_call: {},
  send_dtmf: {},
};

function freeName(tools, kind) {
  const stem = kind === "transfer_call" ? "transfer" : kind;
  for (let n = 1; ; n++) {
    const name = n === 1 ? stem : `${stem}_${n}`;
    if (!tools.some((t) => t.name === name)) return name;
  }
}

export function ToolsEditor({ ctx, base, tools, errors, writer, field, onChange }) {
  const put = (i, next) => onChange(tools.map((t, j) => (j === i ? next : t)));
  const [kind, setKind] = useState("transfer_call");
  const add = () => onChange([...tools, { name: freeName(tools, kind), kind, description: "", ...FRESH[kind] }]);
  return html`<div id="tools">
    <p class="muted">What the agent may do besides talking. It uses a tool when the conversation calls for it.</p>
    ${tools.map((tool, i) => html`<${ToolCard} key=${`${i}:${tools.length}`} index=${i} ctx=${ctx} base=${base} tool=${tool} errors=${errors}
      writer=${writer} field=${field} onChange=${(next) => put(i, next)}
      onRemove=${() => onChange(tools.filter((_, j) => j !== i))} />`)}
    ${tools.length ? null : html`<p class="muted">No tool yet.</p>`}
    ${writer ? html`<div class="inline">
      <${SelectField} label="A new tool that can…" path="new-tool-kind" value=${kind} onChange=${setKind} options=${KINDS} />
      <button type="button" id="add-tool" onClick=${add}>Add the tool</button></div>` : null}
  </div>`;
}

function ToolCard({ index, ctx, base, tool, errors, writer, field, onChange, onRemove }) {
  const at = `tools.${index}`;
  const n = index + 1;
  const set = (key, value) => onChange({ ...tool, [key]: value });
  const kindName = (KINDS.find(([v]) => v === tool.kind) || [tool.kind, tool.kind])[1];
  return html`<fieldset class="stage tool" id=${"tool-" + index}><legend>Tool ${n}: ${kindName}</legend>
    <${TextField} label=${`Tool ${n} name (letters, digits, _)`} path=${field(at + ".name")} value=${tool.name}
      onInput=${(v) => set("name", v)} errors=${errors} />
    <${TextField} label=${`Tool ${n}: when to use it`} path=${field(at + ".description")} value=${tool.description}
      onInput=${(v) => set("description", v)} errors=${errors} hint="The language model reads this to decide when to use the tool." />
    ${tool.kind === "transfer_call" ? html`
      <${ListField} label=${`Tool ${n}: where callers may be transferred (one per line)`} path=${field(at + ".targets")}
        value=${tool.targets} onChange=${(v) => set("targets", v)} errors=${errors} rows="3"
        hint="A number (+14155550100), a SIP address (sip:desk@pbx.example.com), or a number prefix ending in * (+4930*). The agent cannot transfer anywhere else." />` : null}
    ${tool.kind === "webhook" ? html`
      <${TextField} label=${`Tool ${n} address (https://…)`} path=${field(at + ".url")} value=${tool.url}
        onInput=${(v) => set("url", v)} errors=${errors} hint="Each request is signed with the business's webhook key (X-Voicegrid-Signature)." />
      <${TextField} label=${`Tool ${n}: give up after (ms)`} type="number" path=${field(at + ".timeout_ms")} value=${tool.timeout_ms}
        onInput=${(v) => set("timeout_ms", v)} errors=${errors} hint="Default: 5000. The agent tells the caller it could not find out." />
      <${JsonField} label=${`Tool ${n}: what it is asked with (JSON Schema)`} path=${field(at + ".parameters")}
        value=${tool.parameters} onChange=${(v) => set("parameters", v)} errors=${errors} />` : null}
    ${writer && (tool.kind === "webhook" || tool.kind === "transfer_call")
      ? html`<${ToolTest} ctx=${ctx} base=${base} tool=${tool} index=${index} />` : null}
    ${writer ? html`<button type="button" onClick=${onRemove}>Remove tool ${n}</button>` : null}
  </fieldset>`;
}

// JSON typed as text: kept as typed until it parses, with the parse error beside it.
function JsonField({ label, path, value, onChange, errors }) {
  const [text, setText] = useState(JSON.stringify(value ?? {}, null, 2));
  const [problem, setProblem] = useState("");
  const input = (typed) => {
    setText(typed);
    try {
      const parsed = JSON.parse(typed);
      setProblem("");
      onChange(parsed);
    } catch (error) {
      setProblem("Not valid JSON yet: " + error.message);
    }
  };
  const shown = problem ? { ...errors, [path]: problem } : errors;
  return html`<${TextArea} label=${label} path=${path} value=${text} onInput=${input} errors=${shown} rows="4" />`;
}

function ToolTest({ ctx, base, tool, index }) {
  const webhook = tool.kind === "webhook";
  const [given, setGiven] = useState(webhook ? "{}" : "");
  const [outcome, setOutcome] = useState(null);
  const [problem, setProblem] = useState("");
  const [busy, setBusy] = useState(false);
  const n = index + 1;
  const run = async () => {
    setBusy(true); setProblem(""); setOutcome(null);
    try {
      const args = webhook ? JSON.parse(given || "{}") : { to: given };
      setOutcome(await ctx.api(`${base}/tools/test`, { method: "POST", json: { tool, arguments: args } }));
    } catch (error) {
      const detail = Array.isArray(error.detail) ? error.detail.map((d) => d.msg).join(" ") : "";
      setProblem(detail || error.message);
    } finally {
      setBusy(false);
    }
  };
  const label = webhook ? `Tool ${n}: test with these arguments (JSON)` : `Tool ${n}: test a destination`;
  return html`<div class="tool-test">
    ${webhook ? html`<${TextArea} label=${label} path=${`test.${index}`} value=${given} onInput=${setGiven} rows="2" />`
      : html`<${TextField} label=${label} path=${`test.${index}`} value=${given} onInput=${setGiven} hint="A number or SIP address a caller might ask for." />`}
    <button type="button" id=${"test-tool-" + index} disabled=${busy} onClick=${run}>${busy ? "Testing…" : `Test tool ${n}`}</button>
    <div role="status" class="tool-outcome" id=${"tool-outcome-" + index}>
      ${problem ? html`<p class="error">${problem}</p>` : null}
      ${outcome ? html`<p>${outcome.ok ? html`<span class="pill ok">worked</span>` : html`<span class="pill bad">failed</span>`}
        ${" "}${outcome.action === "transfer" ? `would transfer to ${outcome.argument}` : ""}
        <span class="muted"> in ${Math.round(outcome.elapsed_ms)} ms</span></p>
        <pre class="tool-result">${outcome.result}</pre>` : null}
    </div>
  </div>`;
}
