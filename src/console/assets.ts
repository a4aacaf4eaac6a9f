/**
 * The page's files, embedded in the binary at build time (imported as text) so the console
 * works offline and never loads anything from elsewhere: the page shell, its script and
 * style, Preact with htm (one 13 KB module, no build step for the page) and uPlot for the chart.
 */
import preact from "htm/preact/standalone.module.js" with { type: "text" };
import uplot from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import app from "./assets/app.page.js" with { type: "text" };
import browse from "./assets/browse.page.js" with { type: "text" };
import dashboard from "./assets/dashboard.page.js" with { type: "text" };
import lib from "./assets/lib.page.js" with { type: "text" };
import lists from "./assets/lists.page.js" with { type: "text" };
import appCss from "./assets/app.css" with { type: "text" };

/** An embedded file. */
export interface Asset {
  type: string;
  body: string;
}

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

/** Embedded files by URL path. */
export const ASSETS: Record<string, Asset> = {
  "/assets/preact.js": { type: JS, body: preact },
  "/assets/uplot.js": { type: JS, body: uplot },
  "/assets/uplot.css": { type: CSS, body: uplotCss },
  "/assets/app.js": { type: JS, body: app },
  "/assets/lib.js": { type: JS, body: lib },
  "/assets/dashboard.js": { type: JS, body: dashboard },
  "/assets/browse.js": { type: JS, body: browse },
  "/assets/lists.js": { type: JS, body: lists },
  "/assets/app.css": { type: CSS, body: appCss },
};

/** The page shell: the app renders into it. */
export const INDEX_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>efsbak console</title>
<link rel="stylesheet" href="/assets/uplot.css"><link rel="stylesheet" href="/assets/app.css">
<script src="/assets/uplot.js"></script>
<script type="module" src="/assets/app.js"></script>
</head><body><div id="app"></div></body></html>
`;

/** The login page (shown without the token, so it embeds its own style and no script). */
export function loginHtml(options: { failed: boolean }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>efsbak console: sign in</title>
<style>
body{font:15px system-ui,sans-serif;background:#f2f3f3;color:#16191f;display:flex;justify-content:center;padding-top:12vh;margin:0}
form{background:#fff;border:1px solid #d5dbdb;border-radius:8px;padding:28px 32px;width:360px;box-shadow:0 1px 3px #0002}
h1{font-size:20px;margin:0 0 6px}p{color:#545b64;margin:0 0 18px;font-size:13px}
input{width:100%;box-sizing:border-box;padding:8px;font:inherit;border:1px solid #aab7b8;border-radius:4px;margin-bottom:14px}
button{background:#ec7211;color:#fff;border:0;border-radius:4px;padding:8px 18px;font:inherit;font-weight:600;cursor:pointer}
.err{color:#d13212;font-weight:600}
</style></head><body>
<form method="post" action="/login">
<h1>efsbak console</h1>
<p>Paste the token that <code>efsbak console</code> printed when it started (or the one in its --token-file).</p>
${options.failed ? '<p class="err">That token is not right.</p>' : ""}
<input name="token" type="password" autocomplete="off" autofocus placeholder="token" aria-label="token">
<button type="submit">Sign in</button>
</form></body></html>
`;
}
