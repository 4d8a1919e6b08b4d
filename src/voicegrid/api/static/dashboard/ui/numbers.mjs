// Phone numbers: which agent answers each, and a new number. Writes go through the public API.
import { Problems, SelectField, TextField, fieldErrors, html, mayWrite, render, useState } from "./common.mjs";

export async function show(page, ctx) {
  const [numbers, agents] = await Promise.all([
    ctx.api(ctx.biz("/numbers?limit=200")), ctx.api(ctx.biz("/agents?limit=200")),
  ]);
  render(html`<${Numbers} ctx=${ctx} first=${numbers.items} agents=${agents.items} />`, page);
}

function Numbers({ ctx, first, agents }) {
  const [numbers, setNumbers] = useState(first);
  const [fresh, setFresh] = useState({ number: "", label: "", agent_id: "" });
  const [errors, setErrors] = useState({});
  const [note, setNote] = useState("");
  const writer = mayWrite(ctx.me);
  const choices = [["", "No agent (calls are refused)"], ...agents.map((a) => [a.id, a.name])];
  const reload = async (message) => {
    setNumbers((await ctx.api(ctx.biz("/numbers?limit=200"))).items);
    setErrors({}); setNote(message);
  };
  const assign = async (row, agentId) => {
    try {
      await ctx.api(ctx.biz(`/numbers/${row.id}`), { method: "PATCH", json: { agent_id: agentId || null } });
      await reload(`${row.number} now goes to ${agentId ? agents.find((a) => a.id === agentId).name : "no agent"}.`);
    } catch (error) {
      setErrors({ _: error.message });
    }
  };
  const add = async (event) => {
    event.preventDefault();
    try {
      await ctx.api(ctx.biz("/numbers"), { method: "POST", json: { ...fresh, agent_id: fresh.agent_id || null } });
      setFresh({ number: "", label: "", agent_id: "" });
      await reload("Number added.");
    } catch (error) {
      setErrors(error.status === 422 ? fieldErrors(error) : { _: error.message });
    }
  };
  return html`
    <div class="toolbar"><h1>Numbers</h1></div>
    <p class="saves" role="status" id="numbers-note">${note}</p>
    <section class="card">
      ${numbers.length ? html`<table id="numbers-table"><thead><tr><th>Number</th><th>Label</th><th>Answered by</th></tr></thead>
        <tbody>${numbers.map((n) => html`<tr key=${n.id} data-number=${n.number}><td>${n.number}</td><td>${n.label}</td>
          <td>${writer ? html`<${SelectField} label=${`Agent for ${n.number}`} path=${`number.${n.id}`} value=${n.agent_id || ""}
              options=${choices} onChange=${(v) => assign(n, v)} />`
            : (agents.find((a) => a.id === n.agent_id) || { name: "–" }).name}</td></tr>`)}</tbody></table>`
        : html`<p class="muted">No number yet.</p>`}
    </section>
    ${writer ? html`<section class="card"><h2>Add a number</h2>
      <form id="new-number" onSubmit=${add}>
        <${TextField} label="Number (E.164, such as +15550100)" path="number" value=${fresh.number}
          onInput=${(v) => setFresh({ ...fresh, number: v })} errors=${errors} />
        <${TextField} label="Label" path="label" value=${fresh.label} onInput=${(v) => setFresh({ ...fresh, label: v })} errors=${errors} />
        <${SelectField} label="Answered by" path="agent_id" value=${fresh.agent_id} options=${choices}
          onChange=${(v) => setFresh({ ...fresh, agent_id: v })} errors=${errors} />
        <button type="submit" class="primary">Add number</button>
      </form></section>` : null}
    <${Problems} errors=${errors} shown=${["number", "label", "agent_id"]} />`;
}
