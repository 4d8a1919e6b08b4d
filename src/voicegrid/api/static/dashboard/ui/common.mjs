// What the pages written as components share: htm bound to Preact (both served from our origin,
// installed by `make setup`), the API's field errors by field, labelled fields that show their
// error beside them, and who may change what. Text from the API is rendered as text, never markup.
import { h, render } from "/dashboard/lib/preact.mjs";
import { useEffect, useState } from "/dashboard/lib/hooks.mjs";
import htm from "/dashboard/lib/htm.mjs";

export const html = htm.bind(h);
export { render, useEffect, useState };

const RANK = { viewer: 0, member: 1, admin: 2, owner: 3 };

// The API's own rule for business objects: a member or above may write (the matrix test states it).
export const mayWrite = (me, needed = "member") => (RANK[me.role] ?? -1) >= RANK[needed];

// A 422's detail by field path: ["body", "knowledge_base", "faq", 0, "answer"] and the API's own
// ["body", "llm.credential_id"] both become "knowledge_base.faq.0.answer" / "llm.credential_id".
export function fieldErrors(error) {
  const out = {};
  if (!error || !Array.isArray(error.detail)) return out;
  for (const item of error.detail) {
    const path = (item.loc || []).slice(1).map(String).join(".") || "_";
    out[path] = out[path] ? `${out[path]} ${item.msg}` : item.msg;
  }
  return out;
}

export const fieldId = (path) => "f-" + path.replace(/[^a-zA-Z0-9]+/g, "-");

// Errors that belong to no field on the page: said at the top of the form.
export function Problems({ errors, shown }) {
  const rest = Object.entries(errors).filter(([path]) => !shown.includes(path));
  if (!rest.length) return null;
  return html`<div class="error" role="alert">${rest.map(([path, msg]) =>
    html`<p key=${path}>${path === "_" ? "" : path + ": "}${msg}</p>`)}</div>`;
}

function described(path, errors, hint) {
  const ids = [];
  if (hint) ids.push(fieldId(path) + "-hint");
  if (errors[path]) ids.push(fieldId(path) + "-error");
  return ids.join(" ") || undefined;
}

function After({ path, errors, hint }) {
  return html`${hint ? html`<span class="hint" id=${fieldId(path) + "-hint"}>${hint}</span>` : null}
    ${errors[path] ? html`<span class="field-error" id=${fieldId(path) + "-error"}>${errors[path]}</span>` : null}`;
}

export function TextField({ label, path, value, onInput, errors = {}, hint, type = "text", ...rest }) {
  const id = fieldId(path);
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <input id=${id} name=${path} type=${type} value=${value ?? ""} aria-invalid=${errors[path] ? "true" : undefined}
      aria-describedby=${described(path, errors, hint)} onInput=${(e) => onInput(type === "number" && e.target.value !== "" ? Number(e.target.value) : e.target.value)} ...${rest} />
    <${After} path=${path} errors=${errors} hint=${hint} />
  </div>`;
}

export function TextArea({ label, path, value, onInput, errors = {}, hint, rows = 3 }) {
  const id = fieldId(path);
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <textarea id=${id} name=${path} rows=${rows} aria-invalid=${errors[path] ? "true" : undefined}
      aria-describedby=${described(path, errors, hint)} onInput=${(e) => onInput(e.target.value)} value=${value ?? ""}></textarea>
    <${After} path=${path} errors=${errors} hint=${hint} />
  </div>`;
}

// A list typed as text (one item per line, or comma separated): the text is kept as typed (a
// newline or a comma not yet followed by an item stays), the list goes to `onChange`; a change from
// outside (a refresh after saving, a restore) shows through.
export function ListField({ label, path, value, onChange, errors = {}, hint, rows = 3, lines = true }) {
  const separator = lines ? "\n" : ",";
  const join = (list) => (list || []).join(lines ? "\n" : ", ");
  const parse = (text) => text.split(separator).map((item) => item.trim()).filter(Boolean);
  const [text, setText] = useState(join(value));
  const shown = JSON.stringify(parse(text)) === JSON.stringify(value || []) ? text : join(value);
  const input = (typed) => { setText(typed); onChange(parse(typed)); };
  return lines
    ? html`<${TextArea} label=${label} path=${path} value=${shown} onInput=${input} errors=${errors} hint=${hint} rows=${rows} />`
    : html`<${TextField} label=${label} path=${path} value=${shown} onInput=${input} errors=${errors} hint=${hint} />`;
}

export function SelectField({ label, path, value, onChange, options, errors = {}, hint }) {
  const id = fieldId(path);
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <select id=${id} name=${path} aria-invalid=${errors[path] ? "true" : undefined}
      aria-describedby=${described(path, errors, hint)} onChange=${(e) => onChange(e.target.value)}>
      ${options.map(([v, text]) => html`<option key=${v} value=${v} selected=${v === (value ?? "")}>${text}</option>`)}
    </select>
    <${After} path=${path} errors=${errors} hint=${hint} />
  </div>`;
}

export function CheckField({ label, path, checked, onChange, errors = {}, hint }) {
  const id = fieldId(path);
  return html`<div class="field check">
    <input id=${id} name=${path} type="checkbox" checked=${!!checked} aria-describedby=${described(path, errors, hint)}
      onChange=${(e) => onChange(e.target.checked)} />
    <label for=${id}>${label}</label>
    <${After} path=${path} errors=${errors} hint=${hint} />
  </div>`;
}

export const money = (v) => (v === null || v === undefined ? "–" : "$" + Number(v).toFixed(4));
export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
