// Browsing a recovery point: a directory a page at a time, downloads (a file's bytes, a
// directory as tar), and a restore of the chosen path into a chosen target, followed live.
// Paths are display forms (printable, byte-safe) joined by "/", exactly as the server sent them.
import { api, Badge, ErrorBox, fmtBytes, fmtTime, href, html, qs, useApi, useEffect, useState } from "./lib.js";

const PAGE = 200;

export function Browse({ info, params, go }) {
  const { vault, rp } = params;
  const path = params.path ?? "";
  const offset = Number(params.offset ?? 0);
  const page = Number(params.limit) || PAGE; // ?limit= in the address changes the page size
  const { data, error } = useApi(rp ? `/api/ls${qs({ vault, rp, path, offset, limit: page })}` : null);
  const [chosen, setChosen] = useState(null);
  useEffect(() => setChosen(null), [vault, rp, path]);
  if (!rp) return html`<p>Choose a recovery point on the <a href=${href("rps", { vault })}>Recovery points</a> page.</p>`;
  const parts = path ? path.split("/") : [];
  const to = (p, o) => go("browse", { vault, rp, path: p, offset: o || undefined, limit: params.limit });
  const dl = (p) => `/api/download${qs({ vault, rp, path: p })}`;
  return html`<h1>Browse</h1>
    <p class="muted">Vault <b>${vault}</b> · recovery point <code>${rp}</code>${data ? html` · ${data.resource} · ${fmtTime(data.created_at)}` : null}</p>
    <nav class="crumbs" data-testid="crumbs"><a href="#" onClick=${(e) => (e.preventDefault(), to(""))}>${data?.resource ?? "root"}</a>
      ${parts.map((p, i) => html` / <a href="#" onClick=${(e) => (e.preventDefault(), to(parts.slice(0, i + 1).join("/")))}>${p}</a>`)}</nav>
    <${ErrorBox} error=${error} />
    ${data ? html`
      <div class="toolbar">
        <a class="button" href=${dl(path)} download data-testid="download-dir">Download this directory (tar)</a>
        ${info.readOnly ? null : html`<button onClick=${() => setChosen({ path, type: "dir" })} data-testid="restore-dir">Restore this directory…</button>`}
        <span class="muted small">${data.total} entries${data.total > page ? `, showing ${data.offset + 1}-${Math.min(data.total, data.offset + page)}` : ""}</span>
      </div>
      ${chosen ? html`<${RestorePanel} vault=${vault} rp=${rp} chosen=${chosen} onClose=${() => setChosen(null)} />` : null}
      <table class="grid" data-testid="entries"><thead><tr><th>Name</th><th>Type</th><th class="num">Size</th><th>Modified</th><th>Mode</th><th></th></tr></thead>
        <tbody>${data.entries.map((e) => {
          const p = path ? `${path}/${e.name}` : e.name;
          return html`<tr data-name=${e.name}>
            <td>${e.type === "dir" ? html`<a href="#" class="dir" onClick=${(ev) => (ev.preventDefault(), to(p))}>${e.name}/</a>` : html`<span>${e.name}</span>`}${e.target !== null ? html` <span class="muted">→ ${e.target}</span>` : null}${e.inconsistent ? html` <span class="badge warn" title="changed while it was backed up">inconsistent</span>` : null}</td>
            <td>${e.type}</td><td class="num">${e.size === null ? "" : fmtBytes(e.size)}</td><td>${fmtTime(e.mtime)}</td><td><code>${e.mode}</code></td>
            <td class="actions">${e.type === "file" || e.type === "dir" ? html`<a href=${dl(p)} download data-testid="download">download</a>` : null}
              ${info.readOnly ? null : html` <a href="#" onClick=${(ev) => (ev.preventDefault(), setChosen({ path: p, type: e.type }))} data-testid="restore">restore</a>`}</td></tr>`;
        })}</tbody></table>
      ${data.total > page ? html`<div class="pager">
        <button disabled=${data.offset === 0} onClick=${() => to(path, Math.max(0, data.offset - page))}>← Previous</button>
        <button disabled=${data.offset + page >= data.total} onClick=${() => to(path, data.offset + page)} data-testid="next-page">Next →</button></div>` : null}` : html`<p class="muted">Loading…</p>`}`;
}

/** Choose a target, start the restore, and follow its progress until it ends. */
function RestorePanel({ vault, rp, chosen, onClose }) {
  const [target, setTarget] = useState("");
  const [task, setTask] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!task || task.state !== "RUNNING") return;
    const t = setTimeout(() => api(`/api/restore${qs({ id: task.id })}`).then((r) => setTask(r.restore), setError), 400);
    return () => clearTimeout(t);
  }, [task]);
  const start = (e) => {
    e.preventDefault();
    setError(null);
    api("/api/restore", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ vault, rp, path: chosen.path, target }) }).then((r) => setTask(r.restore), setError);
  };
  const p = task?.progress;
  const pct = p && p.totalBytes > 0 ? Math.min(100, Math.round((100 * p.bytes) / p.totalBytes)) : task && task.state !== "RUNNING" ? 100 : 0;
  return html`<section class="card restore" data-testid="restore-panel">
    <h3>Restore ${chosen.path ? html`<code>${chosen.path}</code>` : "the whole recovery point"}</h3>
    <p class="muted small">Into a new directory ${"TARGET/efsbak-restore_<time>/"} on this machine; nothing existing is written over.</p>
    ${task ? null : html`<form onSubmit=${start}>
      <label>Target directory <input name="target" value=${target} onInput=${(e) => setTarget(e.target.value)} placeholder="/absolute/path" required size="50" /></label>
      <button type="submit" class="primary" data-testid="start-restore">Start restore</button> <button type="button" onClick=${onClose}>Cancel</button></form>`}
    <${ErrorBox} error=${error} />
    ${task ? html`<div data-testid="restore-status" data-state=${task.state}>
      <div class="kv"><span>State</span><${Badge} state=${task.state} /></div>
      <div class="progress"><div style=${`width:${pct}%`}></div></div>
      <div class="small">${p ? `${p.files} files, ${fmtBytes(p.bytes)} of ${fmtBytes(p.totalBytes)}` : task.state === "RUNNING" ? "starting…" : ""}${p?.currentPath && task.state === "RUNNING" ? html` · <code>${p.currentPath}</code>` : null}</div>
      ${task.restore_dir ? html`<div class="kv"><span>Restored into</span><code data-testid="restore-dir-path">${task.restore_dir}</code></div>` : null}
      ${task.state !== "RUNNING" ? html`<div class="small">${task.files} files, ${fmtBytes(task.bytes)}${task.fragments ? `, ${task.fragments} fragments in lost+found` : ""} · <a href=${href("job", { vault, id: task.job })}>job ${task.job?.slice(0, 12)}</a></div>` : null}
      ${task.error ? html`<${ErrorBox} error=${{ message: task.error, hint: task.hint }} />` : null}
      ${task.warnings.length ? html`<details><summary>${task.warnings.length} warnings</summary><ul>${task.warnings.map((w) => html`<li>${w}</li>`)}</ul></details>` : null}
      ${task.state !== "RUNNING" ? html`<button onClick=${onClose}>Close</button>` : null}
    </div>` : null}
  </section>`;
}
