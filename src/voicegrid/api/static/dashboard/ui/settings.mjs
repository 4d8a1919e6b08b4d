// Settings: the rest of what a business owns. SIP trunks, provider accounts (secrets are written,
// never shown again), users and roles, API keys (a new key is shown once), the webhook and its
// delivery log, privacy and retention. A section the caller's role may not read is not shown; one it
// may read but not change is shown without its controls. Every write goes through the public API.
import { CheckField, Problems, SelectField, TextField, fieldErrors, html, mayWrite, render, useState, when } from "./common.mjs";

const PROVIDERS = ["deepgram", "openai", "elevenlabs", "groq", "cartesia", "assemblyai", "other"];
export const ROLES = [["viewer", "Viewer: reads"], ["member", "Member: runs agents and calls"], ["admin", "Admin: manages"], ["owner", "Owner"]];

export async function show(page, ctx) {
  const b = `/v1/businesses/${ctx.business}`;
  const reads = {
    trunks: mayWrite(ctx.me, "viewer"), credentials: mayWrite(ctx.me, "viewer"), users: mayWrite(ctx.me, "member"),
    keys: mayWrite(ctx.me, "admin"), webhook: mayWrite(ctx.me, "admin"), privacy: mayWrite(ctx.me, "viewer"),
  };
  const get = (ok, path) => (ok ? ctx.api(path) : Promise.resolve(null));
  const [trunks, credentials, users, keys, webhook, deliveries, privacy] = await Promise.all([
    get(reads.trunks, `${b}/trunks?limit=200`), get(reads.credentials, `${b}/credentials?limit=200`),
    get(reads.users, `${b}/users?limit=200`), get(reads.keys, `${b}/api-keys?limit=200`),
    get(reads.webhook, `${b}/webhook`), get(reads.webhook, `${b}/webhook/deliveries`), get(reads.privacy, `${b}/privacy`),
  ]);
  render(html`<div class="toolbar"><h1>Settings</h1></div>
    ${trunks ? html`<${Collection} ctx=${ctx} base=${`${b}/trunks`} title="SIP trunks" first=${trunks.items} id="trunks"
      writer=${mayWrite(ctx.me, "admin")} blank=${{ name: "", inbound_cidrs: "", outbound_host: "", caller_ids: "" }}
      columns=${[["name", "Name"], ["inbound_cidrs", "Calls taken from"], ["outbound_host", "Calls placed through"], ["caller_ids", "Caller IDs"]]}
      toBody=${(f) => ({ name: f.name, inbound_cidrs: list(f.inbound_cidrs), outbound_host: f.outbound_host || null, caller_ids: list(f.caller_ids) })}
      fields=${[["name", "Name"], ["inbound_cidrs", "Addresses calls come from (CIDRs, comma separated)"],
        ["outbound_host", "Carrier host for outbound calls"], ["caller_ids", "Caller IDs you own (comma separated)"]]} />` : null}
    ${credentials ? html`<${Collection} ctx=${ctx} base=${`${b}/credentials`} title="Provider accounts" first=${credentials.items} id="credentials"
      writer=${mayWrite(ctx.me, "admin")} blank=${{ name: "", provider: "deepgram", secret: "" }}
      columns=${[["name", "Name"], ["provider", "Provider"], ["secret_hint", "Key ends in"]]}
      toBody=${(f) => f} secret="secret" choices=${{ provider: PROVIDERS.map((p) => [p, p]) }}
      fields=${[["name", "Name"], ["provider", "Provider"], ["secret", "API key (stored encrypted; never shown again)"]]} />` : null}
    ${users ? html`<${Collection} ctx=${ctx} base=${`${b}/users`} title="Users" first=${users.items} id="users"
      writer=${mayWrite(ctx.me, "admin")} blank=${{ email: "", name: "", role: "viewer", password: "" }}
      columns=${[["email", "Email"], ["name", "Name"], ["role", "Role"], ["last_login_at", "Last sign-in"]]}
      toBody=${(f) => ({ ...f, password: f.password || null })} secret="password" choices=${{ role: ROLES }}
      fields=${[["email", "Email"], ["name", "Name"], ["role", "Role"], ["password", "Password (at least 12 characters)"]]} />` : null}
    ${keys ? html`<${Collection} ctx=${ctx} base=${`${b}/api-keys`} title="API keys" first=${keys.items} id="api-keys"
      writer=${mayWrite(ctx.me, "admin")} blank=${{ name: "", role: "viewer" }} shownOnce="key"
      columns=${[["name", "Name"], ["role", "Role"], ["hint", "Starts with"], ["last_used_at", "Last used"]]}
      toBody=${(f) => f} choices=${{ role: ROLES }} fields=${[["name", "Name"], ["role", "Role"]]} />` : null}
    ${webhook ? html`<${Webhook} ctx=${ctx} base=${b} first=${webhook} deliveries=${deliveries} writer=${mayWrite(ctx.me, "admin")} />` : null}
    ${privacy ? html`<${Privacy} ctx=${ctx} base=${b} first=${privacy} writer=${mayWrite(ctx.me, "admin")} />` : null}`, page);
}

const list = (text) => String(text || "").split(",").map((s) => s.trim()).filter(Boolean);
const cell = (value) => (Array.isArray(value) ? value.join(", ") || "–" : value === null || value === undefined || value === "" ? "–"
  : /^\d{4}-\d\d-\d\dT/.test(String(value)) ? when(value) : String(value));

export function Collection({ ctx, base, title, first, id, writer, blank, columns, fields, toBody, choices = {}, secret, shownOnce }) {
  const [items, setItems] = useState(first);
  const [form, setForm] = useState(blank);
  const [errors, setErrors] = useState({});
  const [note, setNote] = useState("");
  const [once, setOnce] = useState("");
  const reload = async (message) => { setItems((await ctx.api(`${base}?limit=200`)).items); setErrors({}); setNote(message); };
  const add = async (event) => {
    event.preventDefault();
    try {
      const made = await ctx.api(base, { method: "POST", json: toBody(form) });
      setOnce(shownOnce ? made[shownOnce] : "");
      setForm(blank);
      await reload(`${title}: added.`);
    } catch (error) { setErrors(error.status === 422 ? fieldErrors(error) : { _: error.message }); }
  };
  const remove = async (item) => {
    try { await ctx.api(`${base}/${item.id}`, { method: "DELETE" }); await reload(`${title}: removed.`); }
    catch (error) { setErrors({ _: error.message }); }
  };
  const path = (k) => `${id}.${k}`;
  const keyed = Object.fromEntries(Object.entries(errors).map(([k, v]) => [k === "_" ? "_" : path(k), v]));
  return html`<section class="card" id=${id}><h2>${title}</h2>
    <p class="saves" role="status">${note}</p>
    ${once ? html`<p class="once" id=${id + "-once"}>Copy it now, it is not shown again: <code>${once}</code></p>` : null}
    ${items.length ? html`<table><thead><tr>${columns.map(([, label]) => html`<th>${label}</th>`)}${writer ? html`<th><span class="visually-hidden">Action</span></th>` : null}</tr></thead>
      <tbody>${items.map((item) => html`<tr key=${item.id}>${columns.map(([k]) => html`<td>${cell(item[k])}</td>`)}
        ${writer ? html`<td><button type="button" onClick=${() => remove(item)}>Remove ${item.name || item.email || ""}</button></td>` : null}</tr>`)}</tbody></table>`
      : html`<p class="muted">None yet.</p>`}
    ${writer ? html`<form class="inline" onSubmit=${add}>
      ${fields.map(([k, label]) => (choices[k]
        ? html`<${SelectField} key=${k} label=${label} path=${path(k)} value=${form[k]} options=${choices[k]} errors=${keyed} onChange=${(v) => setForm({ ...form, [k]: v })} />`
        : html`<${TextField} key=${k} label=${label} path=${path(k)} value=${form[k]} type=${k === secret ? "password" : "text"} autocomplete="off"
            errors=${keyed} onInput=${(v) => setForm({ ...form, [k]: v })} />`))}
      <button type="submit" class="primary">Add</button>
    </form>` : null}
    <${Problems} errors=${keyed} shown=${fields.map(([k]) => path(k))} />
  </section>`;
}

function Webhook({ ctx, base, first, deliveries, writer }) {
  const [url, setUrl] = useState(first.url || "");
  const [errors, setErrors] = useState({});
  const [note, setNote] = useState("");
  const save = async (event) => {
    event.preventDefault();
    try {
      await ctx.api(`${base}/webhook`, { method: "PUT", json: { url: url || null } });
      setErrors({}); setNote("Webhook saved.");
    } catch (error) { setErrors(error.status === 422 ? fieldErrors(error) : { _: error.message }); }
  };
  const rows = [...(deliveries ? deliveries.waiting : []), ...(deliveries ? deliveries.given_up : [])];
  return html`<section class="card" id="webhook"><h2>Webhook</h2>
    <p class="saves" role="status">${note}</p>
    <form onSubmit=${save}><fieldset class="plain" disabled=${!writer}>
      <${TextField} label="Where call events are sent (https://...; empty: nowhere)" path="url" value=${url} onInput=${setUrl} errors=${errors}
        hint=${`Events: ${first.events.join(", ")}. Each is signed (X-Voicegrid-Signature).`} />
    </fieldset>${writer ? html`<button type="submit">Save webhook</button>` : null}</form>
    <${Problems} errors=${errors} shown=${["url"]} />
    <h3>Deliveries waiting or given up</h3>
    ${rows.length ? html`<table><thead><tr><th>Event</th><th>Call</th><th>Attempts</th><th>Last answer</th></tr></thead>
      <tbody>${rows.map((d) => html`<tr key=${d.id}><td>${d.event}</td><td>${d.call_id || "–"}</td><td>${d.attempts}</td>
        <td>${d.last_status || d.last_error || "–"}</td></tr>`)}</tbody></table>` : html`<p class="muted">Every event was delivered.</p>`}
  </section>`;
}

function Privacy({ ctx, base, first, writer }) {
  const [days, setDays] = useState(first.retention_days ?? "");
  const [mask, setMask] = useState(first.mask_pii);
  const [errors, setErrors] = useState({});
  const [note, setNote] = useState("");
  const save = async (event) => {
    event.preventDefault();
    try {
      await ctx.api(`${base}/privacy`, { method: "PUT", json: { retention_days: days === "" ? null : days, mask_pii: mask } });
      setErrors({}); setNote("Privacy saved.");
    } catch (error) { setErrors(error.status === 422 ? fieldErrors(error) : { _: error.message }); }
  };
  return html`<section class="card" id="privacy"><h2>Privacy and retention</h2>
    <p class="saves" role="status">${note}</p>
    <form onSubmit=${save}><fieldset class="plain" disabled=${!writer}>
      <${TextField} label="Days transcripts and recordings are kept (empty: kept)" type="number" path="retention_days" value=${days}
        onInput=${setDays} errors=${errors} />
      <${CheckField} label="Mask card and phone numbers in transcripts" path="mask_pii" checked=${mask} onChange=${setMask} errors=${errors} />
    </fieldset>${writer ? html`<button type="submit">Save privacy</button>` : null}</form>
    <${Problems} errors=${errors} shown=${["retention_days", "mask_pii"]} />
  </section>`;
}
