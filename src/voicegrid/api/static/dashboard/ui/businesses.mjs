// Businesses, for reseller and platform users: a new business, each one's limits, and switching it
// off and on (a disabled business's numbers refuse calls). Writes go through the public API.
import { Problems, SelectField, TextField, fieldErrors, html, mayWrite, render, useState } from "./common.mjs";

const LIMITS = [
  ["max_concurrent_calls", "Calls at once"],
  ["max_outbound_cps", "Outbound calls a second"],
  ["monthly_minutes", "Minutes a month"],
  ["reserved_inbound_calls", "Of the calls at once, kept for inbound"],
];

export async function show(page, ctx) {
  const [businesses, resellers] = await Promise.all([
    ctx.api("/v1/businesses?limit=200"),
    ctx.me.scope === "platform" ? ctx.api("/v1/resellers?limit=200") : Promise.resolve({ items: [] }),
  ]);
  render(html`<${Businesses} ctx=${ctx} first=${businesses.items} resellers=${resellers.items} />`, page);
}

// Empty means unlimited; numbers are sent as numbers.
const limitValue = (text, key) => (text === "" || text === null ? null : key === "max_outbound_cps" ? Number(text) : parseInt(text, 10));

function Businesses({ ctx, first, resellers }) {
  const [businesses, setBusinesses] = useState(first);
  const [fresh, setFresh] = useState({ name: "", reseller_id: resellers[0] ? resellers[0].id : "" });
  const [errors, setErrors] = useState({});
  const [note, setNote] = useState("");
  const writer = ctx.me.scope !== "business" && mayWrite(ctx.me, "admin");
  const reload = async (message) => {
    setBusinesses((await ctx.api("/v1/businesses?limit=200")).items);
    setErrors({}); setNote(message);
    await ctx.businessesChanged();
  };
  const failed = (error) => setErrors(error.status === 422 ? fieldErrors(error) : { _: error.message });
  const create = async (event) => {
    event.preventDefault();
    const body = { name: fresh.name };
    if (ctx.me.scope === "platform") body.reseller_id = fresh.reseller_id;
    try {
      await ctx.api("/v1/businesses", { method: "POST", json: body });
      setFresh({ ...fresh, name: "" });
      await reload(`${body.name} created.`);
    } catch (error) { failed(error); }
  };
  const toggle = async (b) => {
    try {
      await ctx.api(`/v1/businesses/${b.id}`, { method: "PATCH", json: { enabled: !b.enabled } });
      await reload(`${b.name} ${b.enabled ? "disabled: its numbers refuse calls" : "enabled again"}.`);
    } catch (error) { failed(error); }
  };
  return html`
    <div class="toolbar"><h1>Businesses</h1></div>
    <p class="saves" role="status" id="businesses-note">${note}</p>
    <${Problems} errors=${errors} shown=${["name", "reseller_id"]} />
    ${writer ? html`<section class="card"><h2>New business</h2>
      <form id="new-business" class="inline" onSubmit=${create}>
        <${TextField} label="Name" path="name" value=${fresh.name} onInput=${(v) => setFresh({ ...fresh, name: v })} errors=${errors} />
        ${ctx.me.scope === "platform" ? html`<${SelectField} label="Reseller" path="reseller_id" value=${fresh.reseller_id}
          options=${resellers.map((r) => [r.id, r.name])} onChange=${(v) => setFresh({ ...fresh, reseller_id: v })} errors=${errors} />` : null}
        <button type="submit" class="primary">Create business</button>
      </form></section>` : null}
    ${businesses.map((b) => html`<${Business} key=${b.id} ctx=${ctx} business=${b} writer=${writer} toggle=${toggle} reload=${reload} />`)}
    ${businesses.length ? null : html`<p class="muted">No business yet.</p>`}`;
}

function Business({ ctx, business, writer, toggle, reload }) {
  const [limits, setLimits] = useState(Object.fromEntries(LIMITS.map(([k]) => [k, business[k] ?? ""])));
  const [errors, setErrors] = useState({});
  const save = async (event) => {
    event.preventDefault();
    const body = Object.fromEntries(LIMITS.map(([k]) => [k, limitValue(limits[k], k)]));
    try {
      await ctx.api(`/v1/businesses/${business.id}/limits`, { method: "PUT", json: body });
      setErrors({});
      await reload(`Limits of ${business.name} saved.`);
    } catch (error) {
      setErrors(error.status === 422 ? fieldErrors(error) : { _: error.message });
    }
  };
  const path = (k) => `${business.id}.${k}`;
  const keyed = Object.fromEntries(Object.entries(errors).map(([k, v]) => [k === "_" ? "_" : path(k), v]));
  return html`<section class="card business" data-business=${business.id}>
    <h2>${business.name} ${business.enabled ? html`<span class="pill ok">enabled</span>` : html`<span class="pill bad">disabled</span>`}</h2>
    <form onSubmit=${save}>
      <fieldset class="plain" disabled=${!writer}>
        <div class="stage-choice">
          ${LIMITS.map(([k, label]) => html`<${TextField} key=${k} label=${label} type="number" path=${path(k)} value=${limits[k]}
            onInput=${(v) => setLimits({ ...limits, [k]: v })} errors=${keyed} hint="Empty: no limit." />`)}
        </div>
      </fieldset>
      <${Problems} errors=${keyed} shown=${LIMITS.map(([k]) => path(k))} />
      ${writer ? html`<div class="actions">
        <button type="submit">Save limits of ${business.name}</button>
        <button type="button" onClick=${() => toggle(business)}>${business.enabled ? "Disable" : "Enable"} ${business.name}</button>
      </div>` : null}
    </form>
  </section>`;
}
