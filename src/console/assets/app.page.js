// The console page: top bar, navigation, and the router over the pages.
import { html, render, useState, useEffect } from "./preact.js";
import { api, currentRoute, ErrorBox, href } from "./lib.js";
import { Dashboard } from "./dashboard.js";
import { Browse } from "./browse.js";
import { JobDetail, Jobs, Plans, RecoveryPoints } from "./lists.js";

const PAGES = [
  ["dashboard", "Dashboard"],
  ["jobs", "Jobs"],
  ["rps", "Recovery points"],
  ["plans", "Backup plans"],
];

function App() {
  const [route, setRoute] = useState(currentRoute());
  const [info, setInfo] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const on = () => setRoute(currentRoute());
    addEventListener("hashchange", on);
    api("/api/info").then(setInfo, setError);
    return () => removeEventListener("hashchange", on);
  }, []);
  const go = (page, params) => (location.hash = href(page, params).slice(1));
  let body = null;
  if (error) body = html`<${ErrorBox} error=${error} />`;
  else if (!info) body = html`<p class="muted">Loading…</p>`;
  else {
    const vault = route.params.vault || info.vaults[0]?.name;
    const props = { info, params: { ...route.params, vault }, go };
    const page = { dashboard: Dashboard, jobs: Jobs, job: JobDetail, rps: RecoveryPoints, browse: Browse, plans: Plans }[route.page] ?? Dashboard;
    body = html`<${page} ...${props} />`;
  }
  const active = route.page === "job" ? "jobs" : route.page === "browse" ? "rps" : route.page;
  return html`
    <header class="top">
      <span class="brand">efsbak</span><span class="product">console</span>
      ${info?.readOnly ? html`<span class="ro" title="started with --read-only">read-only</span>` : null}
      <span class="spacer"></span>
      <span class="muted small">${info ? `v${info.version} · ${info.vaults.length} vault${info.vaults.length === 1 ? "" : "s"}` : ""}</span>
      <form method="post" action="/logout"><button class="link">Sign out</button></form>
    </header>
    <div class="layout">
      <nav class="side">${PAGES.map(([p, label]) => html`<a href=${href(p)} class=${active === p ? "on" : ""}>${label}</a>`)}</nav>
      <main>${body}</main>
    </div>`;
}

render(html`<${App} />`, document.getElementById("app"));
