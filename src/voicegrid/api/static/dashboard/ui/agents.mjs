// Agents: the list, a new agent, and the editor of an agent's draft (what it says and knows, its
// providers with each one's price per minute, its tools, turn-taking), its trial call, talking to it
// from the browser, publishing, and its published versions. Every write goes through the public API
// (the audit log shows each).
import {
  CheckField, ListField, Problems, SelectField, TextArea, TextField, fieldErrors, html, mayWrite, money, render,
  useState, when,
} from "./common.mjs";
import { TalkToDraft } from "./talk.mjs";
import { ToolsEditor } from "./tools.mjs";

const LANGUAGES = [["en-US", "English (US)"], ["en-GB", "English (UK)"], ["de-DE", "German"], ["fr-FR", "French"],
  ["es-ES", "Spanish"], ["it-IT", "Italian"], ["nl-NL", "Dutch"], ["pt-BR", "Portuguese (Brazil)"]];
const STAGES = [
  ["stt", "Hearing (speech to text)"],
  ["llm", "Thinking (the language model)"],
  ["tts", "Speaking (text to speech)"],
];
const EMBEDDED_NOTE = "runs on this platform: no provider account, no price per minute";
// Turn-taking: what each setting does, in words, with the default the platform picked.
const TURN = [
  ["min_silence_ms", "Quiet that may end the caller's turn (ms)", 200, "Shorter answers sooner, but may cut a caller who pauses."],
  ["max_wait_ms", "Longest wait for the transcript after that (ms)", 1200, "Then the agent answers with what it heard."],
  ["barge_in_ms", "Caller speech that interrupts the agent (ms)", 200, "Lower lets callers interrupt sooner; coughs may interrupt too."],
  ["reprompt_after_s", "Ask again after this much silence (s)", 8, "\"Are you still there?\""],
  ["max_reprompts", "Times to ask again before hanging up", 2, ""],
  ["slot_wait_ms", "Wait for a busy provider before its fallback (ms)", 300, "When a provider account is at its limit."],
];

export async function show(page, ctx, id) {
  if (id === undefined) {
    const agents = (await ctx.api(ctx.biz("/agents?limit=200"))).items;
    render(html`<${AgentList} ctx=${ctx} agents=${agents} />`, page);
    return;
  }
  const base = ctx.biz(`/agents/${encodeURIComponent(id)}`);
  const [agent, draft, versions, prices, credentials] = await Promise.all([
    ctx.api(base), ctx.api(`${base}/draft`), ctx.api(`${base}/versions?limit=50`),
    ctx.api("/v1/catalog/per-minute"), ctx.api(ctx.biz("/credentials?limit=200")),
  ]);
  render(html`<${AgentEditor} ctx=${ctx} base=${base} agent=${agent} draft=${draft} versions=${versions.items}
    prices=${prices.items} credentials=${credentials.items} />`, page);
}

function AgentList({ ctx, agents }) {
  const [name, setName] = useState("");
  const [errors, setErrors] = useState({});
  const writer = mayWrite(ctx.me);
  const create = async (event) => {
    event.preventDefault();
    try {
      const made = await ctx.api(ctx.biz("/agents"), { method: "POST", json: { name } });
      location.hash = "#/agents/" + made.id;
    } catch (error) {
      setErrors(error.status === 422 ? fieldErrors(error) : { _: error.message });
    }
  };
  return html`
    <div class="toolbar"><h1>Agents</h1></div>
    ${writer ? html`<section class="card"><h2>New agent</h2>
      <form id="new-agent" onSubmit=${create} class="inline">
        <${TextField} label="Name" path="name" value=${name} onInput=${setName} errors=${errors} required />
        <button type="submit" class="primary">Create agent</button>
        <${Problems} errors=${errors} shown=${["name"]} />
      </form></section>` : null}
    <section class="card">
      ${agents.length ? html`<table id="agents-table"><thead><tr><th>Name</th><th>Published version</th><th>Draft</th><th>Kind</th></tr></thead>
        <tbody>${agents.map((a) => html`<tr key=${a.id} data-id=${a.id}>
          <td><a href=${"#/agents/" + a.id}>${a.name}</a></td><td>${a.version}</td>
          <td>${a.has_draft ? html`<span class="pill">changes waiting</span>` : "–"}</td><td>${a.kind}</td></tr>`)}</tbody></table>`
        : html`<p class="muted">No agent yet.</p>`}
    </section>`;
}

const clone = (value) => JSON.parse(JSON.stringify(value));

function AgentEditor({ ctx, base, agent: first, draft: firstDraft, versions: firstVersions, prices, credentials }) {
  const [agent, setAgent] = useState(first);
  const [draft, setDraft] = useState(firstDraft);
  const [config, setConfig] = useState(clone(firstDraft.config));
  const [versions, setVersions] = useState(firstVersions);
  const [errors, setErrors] = useState({});
  const [note, setNote] = useState("");
  const writer = mayWrite(ctx.me);
  const set = (path, value) => {
    const next = clone(config);
    const keys = path.split(".");
    let at = next;
    for (const key of keys.slice(0, -1)) at = at[key];
    at[keys[keys.length - 1]] = value;
    setConfig(next);
  };
  const refresh = async (message) => {
    const [a, d, v] = await Promise.all([ctx.api(base), ctx.api(`${base}/draft`), ctx.api(`${base}/versions?limit=50`)]);
    setAgent(a); setDraft(d); setConfig(clone(d.config)); setVersions(v.items); setErrors({}); setNote(message);
  };
  const act = (work, message) => async (event) => {
    if (event) event.preventDefault();
    setNote("");
    try {
      await work();
      await refresh(message);
    } catch (error) {
      setErrors(error.status === 422 ? fieldErrors(error) : { _: error.message });
      setNote("");
    }
  };
  const save = act(() => ctx.api(`${base}/draft`, { method: "PATCH", json: config }), "Draft saved: calls still use the published version.");
  const publish = act(async () => {
    await ctx.api(`${base}/draft`, { method: "PATCH", json: config });
    await ctx.api(`${base}/publish`, { method: "POST" });
  }, "Published: new calls use this version.");
  const discard = act(() => ctx.api(`${base}/draft`, { method: "DELETE" }), "Draft discarded.");
  const restore = (n) => act(() => ctx.api(`${base}/versions/${n}/restore`, { method: "POST" }), `Version ${n} published again.`)();
  const saveQuietly = () => ctx.api(`${base}/draft`, { method: "PATCH", json: config });
  const shown = [];
  const field = (path) => { shown.push(path); return path; };
  const kb = config.knowledge_base;
  return html`
    <div class="toolbar"><h1>${agent.name}</h1>
      <span class="pill" id="published-version">published version ${agent.version}</span>
      ${draft.changed ? html`<span class="pill" id="draft-state">draft has changes</span>` : null}
      <a href="#/agents">All agents</a></div>
    <p class="saves" role="status" id="agent-note">${note}</p>
    <form id="agent-form" onSubmit=${save} novalidate>
      <fieldset disabled=${!writer} class="plain">
      <section class="card"><h2>Basics</h2>
        <${TextField} label="Name" path=${field("name")} value=${config.name} onInput=${(v) => set("name", v)} errors=${errors} />
        <${TextArea} label="Greeting: what the agent says when it answers" path=${field("greeting")} value=${config.greeting}
          onInput=${(v) => set("greeting", v)} errors=${errors} rows="2" hint="Placeholders such as {name} are filled from a campaign's contact." />
        <${SelectField} label="Language" path=${field("language")} value=${config.language} onChange=${(v) => set("language", v)}
          options=${LANGUAGES.some(([v]) => v === config.language) ? LANGUAGES : [[config.language, config.language], ...LANGUAGES]} errors=${errors} />
        <${TextArea} label="Instructions: how the agent behaves" path=${field("system_prompt")} value=${config.system_prompt}
          onInput=${(v) => set("system_prompt", v)} errors=${errors} rows="4" hint="Read by language-model agents (OpenAI, llama.cpp); the knowledge-base agent answers from the FAQ." />
      </section>
      <section class="card"><h2>What the agent knows</h2>
        <${TextArea} label="About the business" path=${field("knowledge_base.text")} value=${kb.text}
          onInput=${(v) => set("knowledge_base.text", v)} errors=${errors} rows="4" />
        <h3>Questions and answers</h3>
        ${kb.faq.map((entry, i) => html`<div class="faq" key=${i} id=${"faq-" + i}>
          <${TextField} label=${`Question ${i + 1}`} path=${field(`knowledge_base.faq.${i}.question`)} value=${entry.question}
            onInput=${(v) => set(`knowledge_base.faq.${i}.question`, v)} errors=${errors} />
          <${TextArea} label=${`Answer ${i + 1}`} path=${field(`knowledge_base.faq.${i}.answer`)} value=${entry.answer}
            onInput=${(v) => set(`knowledge_base.faq.${i}.answer`, v)} errors=${errors} rows="2" />
          <${ListField} label=${`Keywords ${i + 1} (comma separated)`} path=${field(`knowledge_base.faq.${i}.keywords`)}
            value=${entry.keywords} errors=${errors} lines=${false}
            onChange=${(v) => set(`knowledge_base.faq.${i}.keywords`, v)} />
          ${writer ? html`<button type="button" onClick=${() => set("knowledge_base.faq", kb.faq.filter((_, j) => j !== i))}>Remove question ${i + 1}</button>` : null}
        </div>`)}
        ${kb.faq.length ? null : html`<p class="muted">No question yet.</p>`}
        ${writer ? html`<button type="button" id="add-faq" onClick=${() => set("knowledge_base.faq", [...kb.faq, { question: "", answer: "", keywords: [] }])}>Add a question</button>` : null}
        <${ListField} label="Other things callers say (one per line)" path=${field("knowledge_base.phrases")} value=${kb.phrases}
          onChange=${(v) => set("knowledge_base.phrases", v)} errors=${errors} rows="3"
          hint="The embedded speech recogniser learns these words." />
      </section>
      <section class="card"><h2>Voice and providers</h2>
        <${TextField} label="Voice (the provider's voice name; empty: the default)" path=${field("voice")} value=${config.voice}
          onInput=${(v) => set("voice", v || null)} errors=${errors} />
        ${STAGES.map(([stage, title]) => html`<${StageChoice} key=${stage} stage=${stage} title=${title} value=${config[stage]}
          prices=${prices} credentials=${credentials} errors=${errors} writer=${writer} field=${field}
          onChange=${(v) => set(stage, v)} />`)}
      </section>
      <section class="card"><h2>Tools</h2>
        <${ToolsEditor} ctx=${ctx} base=${base} tools=${config.tools} errors=${errors} writer=${writer} field=${field}
          onChange=${(v) => set("tools", v)} />
      </section>
      <section class="card"><h2>Taking turns</h2>
        <p class="muted">Each setting starts at a telephone-grade default; change one only when calls show why.</p>
        ${TURN.map(([key, label, fallback, hint]) => html`<${TextField} key=${key} label=${label} type="number"
          path=${field("turn." + key)} value=${config.turn[key] ?? fallback} onInput=${(v) => set("turn." + key, v)}
          errors=${errors} hint=${`${hint} Default: ${fallback}.`.trim()} />`)}
        <${CheckField} label="Start thinking on a steady partial transcript (faster answers, more LLM use)" path=${field("turn.early_llm")}
          checked=${config.turn.early_llm} onChange=${(v) => set("turn.early_llm", v)} errors=${errors} />
        <${CheckField} label="Send speech to text only the caller's speech (a third of the audio billed on a typical call; words the detector misses are not heard; not with Flux)"
          path=${field("turn.stt_speech_only")} checked=${config.turn.stt_speech_only}
          onChange=${(v) => set("turn.stt_speech_only", v)} errors=${errors} />
      </section>
      <section class="card"><h2>Calls</h2>
        <${TextField} label="Longest call (seconds)" type="number" path=${field("max_call_seconds")} value=${config.max_call_seconds}
          onInput=${(v) => set("max_call_seconds", v)} errors=${errors} />
        <${CheckField} label="Record calls" path=${field("recording")} checked=${config.recording}
          onChange=${(v) => set("recording", v)} errors=${errors} />
        <${SelectField} label="Answering machines on outbound calls" path=${field("amd")} value=${config.amd} onChange=${(v) => set("amd", v)} errors=${errors}
          options=${[["off", "Do not detect"], ["detect", "Detect and hang up"], ["message", "Detect and leave a message"]]} />
        <${TextArea} label="Message to leave on a machine" path=${field("voicemail_message")} value=${config.voicemail_message}
          onInput=${(v) => set("voicemail_message", v)} errors=${errors} rows="2" />
      </section>
      </fieldset>
      <${Problems} errors=${errors} shown=${shown} />
      ${writer ? html`<div class="actions">
        <button type="submit" id="save-draft">Save draft</button>
        <button type="button" class="primary" id="publish" onClick=${publish}>Publish</button>
        ${draft.changed ? html`<button type="button" id="discard-draft" onClick=${discard}>Discard draft</button>` : null}
      </div>` : null}
    </form>
    ${writer ? html`<${TryIt} ctx=${ctx} base=${base} beforeTrying=${saveQuietly} />` : null}
    ${writer && ctx.me.scope === "business" ? html`<${TalkToDraft} ctx=${ctx} agentId=${agent.id} beforeTalking=${saveQuietly} />` : null}
    <${Versions} versions=${versions} writer=${writer} restore=${restore} />`;
}

function priceOf(prices, stage, provider) {
  const mine = prices.filter((p) => p.stage === stage && p.provider === provider);
  if (!mine.length) return "price not in the catalog";
  const low = Math.min(...mine.map((p) => Number(p.per_minute)));
  const high = Math.max(...mine.map((p) => Number(p.per_minute)));
  if (high === 0) return EMBEDDED_NOTE;
  return low === high ? `${money(low)} a minute` : `${money(low)} to ${money(high)} a minute, by model`;
}

function StageChoice({ stage, title, value, prices, credentials, errors, writer, field, onChange }) {
  const providers = [...new Set(prices.filter((p) => p.stage === stage).map((p) => p.provider))];
  if (!providers.includes(value.provider)) providers.unshift(value.provider);
  const choice = (path, item, update, label) => html`<div class="stage-choice">
    <${SelectField} label=${label} path=${field(path + ".provider")} value=${item.provider} errors=${errors}
      options=${providers.map((p) => [p, `${p}: ${priceOf(prices, stage, p)}`])}
      onChange=${(p) => update({ ...item, provider: p, model: null, credential_id: null })} />
    <${TextField} label="Model (empty: the provider's default)" path=${field(path + ".model")} value=${item.model}
      onInput=${(m) => update({ ...item, model: m || null })} errors=${errors} />
    <${SelectField} label="Account" path=${field(path + ".credential_id")} value=${item.credential_id || ""} errors=${errors}
      options=${[["", "The platform's account"], ...credentials.filter((c) => c.provider === item.provider).map((c) => [c.id, `${c.name} (…${c.secret_hint})`])]}
      onChange=${(c) => update({ ...item, credential_id: c || null })} />
  </div>`;
  const fallbacks = value.fallbacks || [];
  return html`<fieldset class="stage" id=${"stage-" + stage}><legend>${title}</legend>
    ${choice(stage, value, onChange, "Provider")}
    ${fallbacks.map((f, i) => html`<div key=${i}>${choice(`${stage}.fallbacks.${i}`, f,
      (next) => onChange({ ...value, fallbacks: fallbacks.map((g, j) => (j === i ? next : g)) }), `If it fails, then ${i + 1}`)}
      ${writer ? html`<button type="button" onClick=${() => onChange({ ...value, fallbacks: fallbacks.filter((_, j) => j !== i) })}>Remove fallback ${i + 1}</button>` : null}</div>`)}
    ${writer && fallbacks.length < 5 ? html`<button type="button" onClick=${() => onChange({ ...value, fallbacks: [...fallbacks, { provider: providers[0], model: null, credential_id: null, options: {} }] })}>Add a fallback</button>` : null}
  </fieldset>`;
}

function TryIt({ ctx, base, beforeTrying }) {
  const [lines, setLines] = useState("When are you open?\nThank you, bye.");
  const [result, setResult] = useState(null);
  const [problem, setProblem] = useState("");
  const [busy, setBusy] = useState(false);
  const run = async (event) => {
    event.preventDefault();
    setBusy(true); setProblem(""); setResult(null);
    try {
      await beforeTrying();  // the draft as it is on the page
      const said = lines.split("\n").map((l) => l.trim()).filter(Boolean);
      setResult(await ctx.api(`${base}/draft/try`, { method: "POST", json: { lines: said } }));
    } catch (error) {
      setProblem(error.status === 422 ? Object.values(fieldErrors(error)).join(" ") : error.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<section class="card" id="try-it"><h2>Try the draft</h2>
    <p class="muted">A real call to the draft: each line is spoken in turn, and the agent answers as callers would hear it. It costs what a call costs.</p>
    <form onSubmit=${run}>
      <${TextArea} label="What the caller says (one line per turn)" path="try.lines" value=${lines} onInput=${setLines} rows="3" />
      <button type="submit" id="run-try" disabled=${busy}>${busy ? "Calling…" : "Run a test call"}</button>
    </form>
    <p class="error" role="alert">${problem}</p>
    ${result ? html`<div id="try-result" aria-live="polite">
      <p>${result.completed ? html`<span class="pill ok">completed</span>` : html`<span class="pill bad">not completed</span>`}
        ${" "}Cost ${money(result.cost && result.cost.total)}</p>
      <div class="transcript">${result.turns.map((t, i) => html`<p key=${i} class=${t.speaker}>
        <span class="speaker">${t.speaker}</span>${t.text}
        ${t.voice_to_voice_ms ? html` <span class="muted">(${Math.round(t.voice_to_voice_ms)} ms)</span>` : null}</p>`)}</div>
    </div>` : null}
  </section>`;
}

function Versions({ versions, writer, restore }) {
  return html`<section class="card" id="versions"><h2>Published versions</h2>
    <table><thead><tr><th>Version</th><th>Published</th><th>By</th><th>Note</th><th><span class="visually-hidden">Action</span></th></tr></thead>
    <tbody>${versions.map((v) => html`<tr key=${v.number} data-version=${v.number}>
      <td>${v.number}</td><td>${when(v.published_at)}</td><td>${v.published_by}</td>
      <td>${v.current ? html`<span class="pill ok">in use</span>` : ""}${v.restored_from ? ` restored from ${v.restored_from}` : ""}</td>
      <td>${writer && !v.current ? html`<button type="button" onClick=${() => restore(v.number)}>Restore version ${v.number}</button>` : null}</td>
    </tr>`)}</tbody></table></section>`;
}
