// Dashboard: per vault, jobs of the last 24 h and 7 d by state, each resource's newest
// recovery point (failures first), recent failures, stored size and dedup ratio, and the chart.
import { Badge, ErrorBox, fmtAge, fmtBytes, fmtTime, href, html, Problems, qs, useApi, useEffect } from "./lib.js";

const STATES = ["COMPLETED", "RUNNING", "PARTIAL", "FAILED", "ABORTED", "EXPIRED"];

export function Dashboard({ info }) {
  const { data, error, reload } = useApi("/api/dashboard");
  useEffect(() => {
    const t = setInterval(reload, 15000);
    return () => clearInterval(t);
  }, [reload]);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<p class="muted">Loading…</p>`;
  return html`<h1>Dashboard</h1>
    <p class="muted small">As of ${fmtTime(data.now)}</p>
    ${data.vaults.map((v) => html`<${VaultCard} v=${v} />`)}`;
}

function VaultCard({ v }) {
  if (!v.ok) {
    return html`<section class="card" data-vault=${v.name}><h2>Vault ${v.name} <span class="muted small">${v.location}</span></h2>
      <${ErrorBox} title="This vault cannot be read" error=${v.error} /></section>`;
  }
  const s = v.summary;
  return html`<section class="card" data-vault=${v.name}>
    <h2>Vault ${v.name} <span class="muted small">${v.location}</span></h2>
    <${Problems} problems=${v.problems} />
    <div class="row">${s.windows.map((w) => html`<${JobWindow} w=${w} vault=${v.name} />`)}
      <div class="stat-box"><h3>Storage</h3>
        <div class="kv"><span>Stored</span><b data-testid="stored">${fmtBytes(v.stored.warm + v.stored.cold)}</b></div>
        <div class="kv"><span>Cold tier</span><b>${fmtBytes(v.stored.cold)}</b></div>
        <div class="kv"><span>Packs</span><b>${v.stored.packs}</b></div>
        <div class="kv"><span>Recovery points</span><b data-testid="rp-count">${s.recoveryPoints}</b></div>
        <div class="kv"><span>Logical size</span><b>${fmtBytes(s.logicalBytes)}</b></div>
        <div class="kv" title="logical size of all recovery points / bytes stored"><span>Dedup ratio</span><b data-testid="dedup">${v.dedupRatio === null ? "-" : `${v.dedupRatio.toFixed(2)}×`}</b></div>
      </div>
    </div>
    <h3>Resources</h3>
    <table class="grid"><thead><tr><th>Resource</th><th>Last backup</th><th>Newest recovery point</th><th>Age</th></tr></thead>
      <tbody>${s.resources.map((r) => html`<tr class=${r.lastState && ["FAILED", "ABORTED", "EXPIRED", "PARTIAL"].includes(r.lastState) ? "alert" : ""}>
        <td>${r.resource}</td><td><${Badge} state=${r.lastState} /></td>
        <td>${r.newestRp ? html`<a href=${href("browse", { vault: v.name, rp: r.newestRp })}>${fmtTime(r.newestAt)}</a>` : html`<span class="bad-text">none</span>`}</td>
        <td data-testid="age">${fmtAge(r.ageSeconds)}</td></tr>`)}</tbody></table>
    ${s.failures.length ? html`<h3>Failures, last 7 d</h3>
      <table class="grid"><thead><tr><th>Job</th><th>Type</th><th>Resource</th><th>State</th><th>Created</th><th>Message</th></tr></thead>
      <tbody>${s.failures.map((j) => html`<tr><td><a href=${href("job", { vault: v.name, id: j.id })}>${j.id.slice(0, 12)}</a></td><td>${j.type}</td><td>${j.resource ?? "-"}</td><td><${Badge} state=${j.state} /></td><td>${fmtTime(j.created_at)}</td><td class="msg">${j.error ?? ""}</td></tr>`)}</tbody></table>` : null}
    <h3>Stored bytes and job outcomes</h3>
    <${Chart} vault=${v.name} />
  </section>`;
}

function JobWindow({ w, vault }) {
  const others = Object.keys(w.byState).filter((s) => !STATES.includes(s));
  return html`<div class="stat-box" data-window=${w.label}><h3>Jobs, last ${w.label}</h3>
    <div class="big" data-testid="total">${w.total}</div>
    ${[...STATES, ...others].map((st) => html`<div class="kv"><a href=${href("jobs", { vault, state: st })}><${Badge} state=${st} /></a><b data-state=${st}>${w.byState[st] ?? 0}</b></div>`)}
  </div>`;
}

/** uPlot chart: bars of job outcomes per bucket, and a line of the bytes backups stored. */
function Chart({ vault }) {
  const { data, error } = useApi(`/api/history${qs({ vault })}`);
  const id = `chart-${vault.replace(/[^\w-]/g, "_")}`;
  useEffect(() => {
    const el = document.getElementById(id);
    if (!data || !el || !window.uPlot) return;
    const bars = window.uPlot.paths.bars({ size: [0.6, 40] });
    const stacked = data.times.map((_, i) => [data.completed[i], data.completed[i] + data.partial[i], data.completed[i] + data.partial[i] + data.failed[i]]);
    const plot = new window.uPlot({
      width: Math.min(el.clientWidth || 900, 1100),
      height: 260,
      scales: { x: { time: true }, n: { range: (u, min, max) => [0, Math.max(3, max + 1)] }, bytes: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{}, { scale: "n", label: "jobs" }, { scale: "bytes", side: 1, label: "stored", size: 80, grid: { show: false }, values: (u, vals) => vals.map((x) => fmtBytes(Math.round(x))) }],
      series: [
        {},
        // drawn back to front: failed on top of partial on top of completed (stacked totals)
        { label: "failed", scale: "n", fill: "#d13212", stroke: "#d13212", paths: bars, points: { show: false }, value: (u, _v, _s, i) => (i === null ? "-" : data.failed[i]) },
        { label: "partial", scale: "n", fill: "#ff9900", stroke: "#ff9900", paths: bars, points: { show: false }, value: (u, _v, _s, i) => (i === null ? "-" : data.partial[i]) },
        { label: "completed", scale: "n", fill: "#1d8102", stroke: "#1d8102", paths: bars, points: { show: false }, value: (u, _v, _s, i) => (i === null ? "-" : data.completed[i]) },
        { label: "stored bytes", scale: "bytes", stroke: "#0073bb", width: 2, value: (u, v) => (v === null ? "-" : fmtBytes(v)) },
      ],
    }, [data.times, stacked.map((x) => x[2]), stacked.map((x) => x[1]), stacked.map((x) => x[0]), data.storedBytes], el);
    return () => plot.destroy();
  }, [data, id]);
  if (error) return html`<${ErrorBox} error=${error} />`;
  return html`<div class="chart" id=${id} data-testid="chart"></div><p class="muted small">per ${data?.bucket ?? "…"}; bars: jobs by outcome; line: bytes the backups stored, cumulative</p>`;
}
