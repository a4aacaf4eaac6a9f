// The list pages: jobs (filtered) and a job's record, recovery points per vault, backup plans.
import { Badge, ErrorBox, fmtBytes, fmtTime, href, html, Problems, qs, useApi, VaultPicker } from "./lib.js";

const STATES = ["", "COMPLETED", "RUNNING", "PARTIAL", "FAILED", "ABORTED", "EXPIRED", "PENDING", "CREATED"];
const TYPES = ["", "backup", "restore", "prune", "check", "drill"];

export function Jobs({ info, params, go }) {
  const { vault, state = "", type = "", resource = "" } = params;
  const { data, error } = useApi(`/api/jobs${qs({ vault, state, type, resource })}`);
  const set = (patch) => go("jobs", { vault, state, type, resource, ...patch });
  return html`<h1>Jobs</h1>
    <div class="filters">
      <${VaultPicker} vaults=${info.vaults} value=${vault} onChange=${(v) => set({ vault: v })} />
      <label>State <select name="state" value=${state} onChange=${(e) => set({ state: e.target.value })}>${STATES.map((s) => html`<option value=${s}>${s || "any"}</option>`)}</select></label>
      <label>Type <select name="type" value=${type} onChange=${(e) => set({ type: e.target.value })}>${TYPES.map((s) => html`<option value=${s}>${s || "any"}</option>`)}</select></label>
      <label>Resource <input name="resource" value=${resource} onChange=${(e) => set({ resource: e.target.value })} placeholder="any" /></label>
    </div>
    <${ErrorBox} error=${error} />
    ${data ? html`<${Problems} problems=${data.problems} />
      <table class="grid" data-testid="jobs"><thead><tr><th>Job</th><th>Type</th><th>State</th><th>Resource</th><th>Started</th><th>Ended</th><th class="num">Files</th><th class="num">New</th><th>Message</th></tr></thead>
      <tbody>${data.jobs.map((j) => html`<tr>
        <td><a href=${href("job", { vault, id: j.id })}><code>${j.id.slice(0, 12)}</code></a></td><td>${j.type}</td><td><${Badge} state=${j.state} /></td><td>${j.resource ?? "-"}</td>
        <td>${fmtTime(j.started_at ?? j.created_at)}</td><td>${fmtTime(j.ended_at)}</td><td class="num">${j.files.toLocaleString("en-US")}</td><td class="num">${fmtBytes(j.bytes_new)}</td>
        <td class="msg">${j.error ?? (j.warnings.length ? `${j.warnings.length} warnings` : "")}</td></tr>`)}</tbody></table>
      ${data.jobs.length === 0 ? html`<p class="muted">No jobs</p>` : null}` : error ? null : html`<p class="muted">Loading…</p>`}`;
}

export function JobDetail({ params }) {
  const { vault, id } = params;
  const { data, error } = useApi(`/api/job${qs({ vault, id })}`);
  const j = data?.job;
  return html`<h1>Job <code>${id}</code></h1>
    <p><a href=${href("jobs", { vault })}>← all jobs</a></p>
    <${ErrorBox} error=${error} />
    ${j ? html`<div class="card">
      <div class="kv"><span>State</span><${Badge} state=${j.state} /></div>
      ${[["Type", j.type], ["Resource", j.resource], ["Plan / rule", j.plan ? `${j.plan} / ${j.rule}` : null], ["Scheduled for", fmtTime(j.scheduled_for)], ["Started", fmtTime(j.started_at)], ["Ended", fmtTime(j.ended_at)],
        ["Files", j.files], ["Bytes read", fmtBytes(j.bytes_read)], ["Bytes new", fmtBytes(j.bytes_new)], ["Bytes stored", fmtBytes(j.bytes_stored)], ["Host", j.host], ["efsbak", j.efsbak_version]]
        .map(([k, v]) => html`<div class="kv"><span>${k}</span><b>${v ?? "-"}</b></div>`)}
      ${j.recovery_point ? html`<div class="kv"><span>Recovery point</span><a href=${href("browse", { vault, rp: j.recovery_point })}><code>${j.recovery_point}</code></a></div>` : null}
      ${j.restore_dir ? html`<div class="kv"><span>Restored into</span><code>${j.restore_dir}</code></div>` : null}
      ${j.error ? html`<${ErrorBox} title="Failed" error=${{ message: j.error }} />` : null}
      ${j.warnings.length ? html`<h3>Warnings</h3><ul>${j.warnings.map((w) => html`<li>${w}</li>`)}</ul>` : null}
      <h3>Record</h3><pre data-testid="job-record">${JSON.stringify(j, null, 2)}</pre></div>` : null}`;
}

export function RecoveryPoints({ info, params, go }) {
  const { vault } = params;
  const { data, error } = useApi(`/api/rps${qs({ vault })}`);
  return html`<h1>Recovery points</h1>
    <div class="filters"><${VaultPicker} vaults=${info.vaults} value=${vault} onChange=${(v) => go("rps", { vault: v })} /></div>
    <${ErrorBox} error=${error} />
    ${data ? html`<${Problems} problems=${data.problems} />
      <table class="grid" data-testid="rps"><thead><tr><th>Recovery point</th><th>Resource</th><th>Created</th><th>Status</th><th>Tier</th><th>Cold at</th><th>Delete at</th><th class="num">Files</th><th class="num">Size</th><th></th></tr></thead>
      <tbody>${[...data.recovery_points].reverse().map((r) => html`<tr data-rp=${r.id}>
        <td><code title=${r.id}>${r.id.slice(0, 12)}</code></td><td>${r.resource}</td><td>${fmtTime(r.created_at)}</td><td><${Badge} state=${r.status} /></td>
        <td><span class="tier ${r.tier}">${r.tier}</span></td><td>${fmtTime(r.cold_at)}</td><td>${fmtTime(r.delete_at)}</td>
        <td class="num">${r.files.toLocaleString("en-US")}</td><td class="num">${fmtBytes(r.size_bytes)}</td>
        <td><a href=${href("browse", { vault, rp: r.id })} data-testid="browse">Browse</a></td></tr>`)}</tbody></table>
      ${data.recovery_points.length === 0 ? html`<p class="muted">No recovery points</p>` : null}` : error ? null : html`<p class="muted">Loading…</p>`}`;
}

export function Plans() {
  const { data, error } = useApi("/api/plans");
  return html`<h1>Backup plans</h1>
    <${ErrorBox} error=${error} />
    ${data?.problems?.length ? html`<div class="warning"><strong>Problems:</strong><ul>${data.problems.map((p) => html`<li><code>${p}</code></li>`)}</ul></div>` : null}
    ${data?.noPlans ? html`<p class="muted">No plans directory (give --plans DIR).</p>` : null}
    ${data?.rules.map((r) => html`<section class="card" data-rule=${`${r.plan}/${r.rule}`}>
      <h2>${r.plan} <span class="muted">/</span> ${r.rule} <span class="muted small">${r.file}</span></h2>
      <div class="cols">
        <div>
          <div class="kv"><span>Schedule</span><b><code>${r.schedule}</code></b></div>
          <div class="kv"><span>In words</span><b data-testid="words">${r.words} (${r.timezone})</b></div>
          <div class="kv"><span>Vault</span><b>${r.vault}</b></div>
          <div class="kv"><span>Start / completion window</span><b>${r.startWindow} / ${r.completionWindow}</b></div>
          <div class="kv"><span>Cold after / delete after</span><b>${r.coldAfter ?? "never"} / ${r.deleteAfter ?? "never"}</b></div>
        </div>
        <div><h3>Next runs (${r.timezone})</h3><ol data-testid="next">${r.next.map((o) => html`<li title=${o.at}>${o.local}</li>`)}</ol></div>
        <div><h3>Last outcome per resource</h3><table class="grid"><tbody>${r.resources.map((x) => html`<tr><td>${x.resource}</td><td><${Badge} state=${x.state} /></td><td class="small">${fmtTime(x.at)}</td></tr>`)}</tbody></table></div>
      </div></section>`)}`;
}
