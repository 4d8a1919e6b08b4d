// The reseller's own page: its branding with a live preview, its markup (set by the platform), its
// users. For platform users, the resellers: a new one, each one's branding and markup, switching one
// off and on.
// Every write goes through the public API.
import { Problems, TextField, fieldErrors, html, mayWrite, render, useEffect, useState } from "./common.mjs";
import { Collection, ROLES } from "./settings.mjs";

const BRANDING = [
  ["product_name", "Product name"], ["logo_url", "Logo (https URL)"], ["primary_color", "Main colour (#rrggbb)"],
  ["accent_color", "Header colour (#rrggbb)"], ["support_email", "Support email"], ["dashboard_domain", "Dashboard domain"],
];
const HEX = /^#[0-9a-fA-F]{6}$/;

export async function show(page, ctx) {
  if (ctx.me.scope === "platform") {
    const resellers = (await ctx.api("/v1/resellers?limit=200")).items;
    render(html`<${Resellers} ctx=${ctx} first=${resellers} />`, page);
    return;
  }
  const r = `/v1/resellers/${ctx.me.reseller_id}`;
  const [reseller, markup, users] = await Promise.all([
    ctx.api(r), ctx.api(`${r}/markup`), mayWrite(ctx.me, "member") ? ctx.api(`${r}/users?limit=200`) : null,
  ]);
  const admin = mayWrite(ctx.me, "admin");
  render(html`<div class="toolbar"><h1>${reseller.name}</h1></div>
    <${BrandingForm} ctx=${ctx} first=${reseller} writer=${admin} save=${(body) => ctx.api("/v1/branding", { method: "PUT", json: body })} />
    <section class="card" id="markup"><h2>Markup</h2>
      <p>${markup.percent} % on each call's cost, plus $${markup.per_minute} a billed minute. <span class="muted">Set by the platform.</span></p>
    </section>
    ${users ? html`<${Collection} ctx=${ctx} base=${`${r}/users`} title="Reseller users" first=${users.items} id="reseller-users"
      writer=${admin} blank=${{ email: "", name: "", role: "viewer", password: "" }} secret="password" choices=${{ role: ROLES }}
      columns=${[["email", "Email"], ["name", "Name"], ["role", "Role"], ["last_login_at", "Last sign-in"]]}
      toBody=${(f) => ({ ...f, password: f.password || null })}
      fields=${[["email", "Email"], ["name", "Name"], ["role", "Role"], ["password", "Password (at least 12 characters)"]]} />` : null}`, page);
}

function BrandingForm({ ctx, first, writer, save, id = "branding" }) {
  const [form, setForm] = useState(Object.fromEntries(BRANDING.map(([k]) => [k, first[k] || ""])));
  const [errors, setErrors] = useState({});
  const [note, setNote] = useState("");
  const submit = async (event) => {
    event.preventDefault();
    try {
      await save(Object.fromEntries(Object.entries(form).map(([k, v]) => [k, v || null])));
      setErrors({}); setNote("Branding saved.");
    } catch (error) { setErrors(error.status === 422 ? fieldErrors(error) : { _: error.message }); }
  };
  const path = (k) => `${id}.${k}`;
  const keyed = Object.fromEntries(Object.entries(errors).map(([k, v]) => [k === "_" ? "_" : path(k), v]));
  // The preview shows only colours that are whole hex colours (what the API accepts), so nothing a
  // user types half-way reaches a style.
  const primary = HEX.test(form.primary_color) ? form.primary_color : "#2563eb";
  const accent = HEX.test(form.accent_color) ? form.accent_color : "#0f172a";
  return html`<section class="card" id=${id}><h2>Branding</h2>
    <p class="saves" role="status">${note}</p>
    <div class="grid">
      <form onSubmit=${submit}><fieldset class="plain" disabled=${!writer}>
        ${BRANDING.map(([k, label]) => html`<${TextField} key=${k} label=${label} path=${path(k)} value=${form[k]}
          onInput=${(v) => setForm({ ...form, [k]: v })} errors=${keyed} />`)}
      </fieldset>${writer ? html`<button type="submit">Save branding</button>` : null}
      <${Problems} errors=${keyed} shown=${BRANDING.map(([k]) => path(k))} /></form>
      <div class="preview" role="img" aria-label="Preview of the branding" inert>
        <div class="preview-top" style=${`background:${accent}`}>${form.product_name || "Dashboard"}</div>
        <div class="preview-body"><button type="button" class="primary" style=${`background:${primary};border-color:${primary}`}>A button</button>
          <p>${form.support_email ? `Support: ${form.support_email}` : ""}</p></div>
      </div>
    </div>
  </section>`;
}

// The platform sets each reseller's markup: a share of each call's cost, and an amount a billed minute.
function MarkupForm({ ctx, reseller, writer }) {
  const base = `/v1/resellers/${reseller.id}/markup`;
  const [form, setForm] = useState(null);
  const [errors, setErrors] = useState({});
  const [note, setNote] = useState("");
  useEffect(() => { ctx.api(base).then(setForm, (error) => setErrors({ _: error.message })); }, [base]);
  const path = (k) => `markup-${reseller.id}.${k}`;
  const keyed = Object.fromEntries(Object.entries(errors).map(([k, v]) => [k === "_" ? "_" : path(k), v]));
  const submit = async (event) => {
    event.preventDefault();
    try {
      setForm(await ctx.api(base, { method: "PUT", json: form }));
      setErrors({}); setNote(`Markup of ${reseller.name} saved: calls that end from now on.`);
    } catch (error) { setErrors(error.status === 422 ? fieldErrors(error) : { _: error.message }); }
  };
  if (!form) return html`<${Problems} errors=${keyed} shown=${[]} />`;
  return html`<section class="card" id=${"markup-" + reseller.id}><h2>Markup of ${reseller.name}</h2>
    <p class="saves" role="status">${note}</p>
    <form class="inline" onSubmit=${submit}><fieldset class="plain" disabled=${!writer}>
      <${TextField} label="Percent on each call's cost" path=${path("percent")} value=${form.percent}
        onInput=${(v) => setForm({ ...form, percent: v })} errors=${keyed} hint="0 to 1000." />
      <${TextField} label="US dollars a billed minute" path=${path("per_minute")} value=${form.per_minute}
        onInput=${(v) => setForm({ ...form, per_minute: v })} errors=${keyed} hint="0 to 100." />
    </fieldset>${writer ? html`<button type="submit">Save markup of ${reseller.name}</button>` : null}
    <${Problems} errors=${keyed} shown=${[path("percent"), path("per_minute")]} /></form>
  </section>`;
}

function Resellers({ ctx, first }) {
  const [resellers, setResellers] = useState(first);
  const [name, setName] = useState("");
  const [errors, setErrors] = useState({});
  const [note, setNote] = useState("");
  const writer = mayWrite(ctx.me, "admin");
  const reload = async (message) => { setResellers((await ctx.api("/v1/resellers?limit=200")).items); setErrors({}); setNote(message); };
  const failed = (error) => setErrors(error.status === 422 ? fieldErrors(error) : { _: error.message });
  const create = async (event) => {
    event.preventDefault();
    try { await ctx.api("/v1/resellers", { method: "POST", json: { name } }); setName(""); await reload(`${name} created.`); }
    catch (error) { failed(error); }
  };
  const toggle = async (r) => {
    try { await ctx.api(`/v1/resellers/${r.id}`, { method: "PATCH", json: { enabled: !r.enabled } }); await reload(`${r.name} ${r.enabled ? "disabled" : "enabled"}.`); }
    catch (error) { failed(error); }
  };
  return html`<div class="toolbar"><h1>Resellers</h1></div>
    <p class="saves" role="status" id="resellers-note">${note}</p>
    <${Problems} errors=${errors} shown=${["name"]} />
    ${writer ? html`<section class="card"><form class="inline" id="new-reseller" onSubmit=${create}>
      <${TextField} label="New reseller's name" path="name" value=${name} onInput=${setName} errors=${errors} />
      <button type="submit" class="primary">Create reseller</button></form></section>` : null}
    ${resellers.map((r) => html`<div key=${r.id} data-reseller=${r.id}>
      <h2>${r.name} ${r.enabled ? html`<span class="pill ok">enabled</span>` : html`<span class="pill bad">disabled</span>`}
        ${writer ? html` <button type="button" onClick=${() => toggle(r)}>${r.enabled ? "Disable" : "Enable"} ${r.name}</button>` : null}</h2>
      <${BrandingForm} ctx=${ctx} first=${r} writer=${writer} id=${"branding-" + r.id}
        save=${(body) => ctx.api(`/v1/resellers/${r.id}`, { method: "PATCH", json: body })} />
      <${MarkupForm} ctx=${ctx} reseller=${r} writer=${writer} />
    </div>`)}`;
}
