// Shared pieces of the console page: the API client, formatting, and small components.
// Plain ES modules served from the binary; Preact + htm, so no build step for the page.
import { html, useState, useEffect, useCallback } from "./preact.js";

export { html, useState, useEffect, useCallback };

/** Calls the console API; throws an Error carrying the server's message and hint. */
export async function api(path, options = {}) {
  const res = await fetch(path, { credentials: "same-origin", ...options });
  const body = await res.json().catch(() => null);
  if (res.status === 401) {
    location.href = "/login";
    throw new Error("Sign in again");
  }
  if (!res.ok) {
    const err = new Error(body?.error?.message ?? `${res.status} ${res.statusText}`);
    err.hint = body?.error?.hint;
    throw err;
  }
  return body;
}

/** Loads an API path and reloads it when `path` changes: { data, error, reload }. */
export function useApi(path) {
  const [state, setState] = useState({ data: null, error: null, path: null });
  const load = useCallback(() => {
    if (!path) return;
    api(path).then((data) => setState({ data, error: null, path }), (error) => setState({ data: null, error, path }));
  }, [path]);
  useEffect(load, [load]);
  const stale = state.path !== path;
  return { data: stale ? null : state.data, error: stale ? null : state.error, reload: load };
}

/** "?a=1&b=x" from an object, leaving out empty values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : "";
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1536 -> "1.5 KiB": the same rule as formatBytes in cli/output.ts (this page has no build step, so it cannot import that module; the console test compares them on the page). */
export function fmtBytes(n) {
  if (n === null || n === undefined) return "-";
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${UNITS[i]}`;
}

/** Seconds as "45 s", "12 min", "3 h 05 min", "4 d 2 h". */
export function fmtAge(s) {
  if (s === null || s === undefined) return "-";
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** ISO time as the CLI shows it: "2026-11-24 21:06:22Z". */
export function fmtTime(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d{3}Z$/, "Z") : "-";
}

/** A job or recovery point state, coloured. */
export function Badge({ state }) {
  const tone = { COMPLETED: "ok", AVAILABLE: "ok", RUNNING: "run", PENDING: "run", CREATED: "run", CREATING: "run", PARTIAL: "warn", EXPIRED: "warn", FAILED: "bad", ABORTED: "bad", ABORTING: "bad" }[state] ?? "plain";
  return html`<span class="badge ${tone}">${state ?? "-"}</span>`;
}

/** An error as the server said it, with its hint. */
export function ErrorBox({ error, title }) {
  if (!error) return null;
  return html`<div class="error" role="alert"><strong>${title ?? "Error"}:</strong> ${error.message}${error.hint ? html`<div class="hint">hint: ${error.hint}</div>` : null}</div>`;
}

/** Problems found while reading (damaged records skipped). */
export function Problems({ problems }) {
  if (!problems || problems.length === 0) return null;
  return html`<div class="warning"><strong>${problems.length} damaged ${problems.length === 1 ? "record was" : "records were"} skipped:</strong><ul>${problems.map((p) => html`<li>${p}</li>`)}</ul></div>`;
}

/** A vault chooser that sets the `vault` route parameter. */
export function VaultPicker({ vaults, value, onChange }) {
  if (!vaults || vaults.length < 2) return null;
  return html`<label class="picker">Vault <select value=${value} onChange=${(e) => onChange(e.target.value)}>${vaults.map((v) => html`<option value=${v.name}>${v.name}</option>`)}</select></label>`;
}

/** The current route: "#/browse?vault=x" -> { page: "browse", params: { vault: "x" } }. */
export function currentRoute() {
  const h = location.hash.replace(/^#\/?/, "");
  const [page, query] = h.split("?");
  return { page: page || "dashboard", params: Object.fromEntries(new URLSearchParams(query ?? "")) };
}

/** A link to a route. */
export function href(page, params = {}) {
  return `#/${page}${qs(params)}`;
}
