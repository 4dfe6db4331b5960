// The console's shared pieces: the API client (the same operations as the aws CLI, through the signed-in
// session), DOM building, formatting, and the router pages register with.

export const session = { info: null };

const ECR_TARGET = 'AmazonEC2ContainerRegistry_V20150921.';
const TRAIL_TARGET = 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.';

// ApiError is an operation's error as its API answered it: its code and message are those the aws CLI
// prints ("An error occurred (CODE) when calling the OP operation: MESSAGE").
export class ApiError extends Error {
  constructor(code, message, op, status) {
    super(message || code);
    this.code = code; this.op = op; this.status = status;
  }
  toString() { return `An error occurred (${this.code}) when calling the ${this.op} operation: ${this.message}`; }
}

async function post(path, op, headers, body) {
  const h = { 'X-Wharf-Csrf': session.info ? session.info.csrfToken : '', ...headers };
  let res;
  try {
    res = await fetch(path, { method: 'POST', headers: h, body, credentials: 'same-origin' });
  } catch (e) {
    throw new ApiError('NetworkError', 'Wharf could not be reached: ' + e.message, op, 0);
  }
  if (res.status === 401) { // the session ended: sign in again, then come back
    session.info = null;
    if (!location.hash.startsWith('#/signin')) location.hash = '#/signin?next=' + encodeURIComponent(location.hash.slice(1));
  }
  return res;
}

// ecr calls an ECR operation with its JSON input and returns its JSON output.
export async function ecr(op, input = {}) {
  const res = await post('/console/api/ecr', op, { 'X-Amz-Target': ECR_TARGET + op, 'Content-Type': 'application/x-amz-json-1.1' }, JSON.stringify(input));
  return jsonResult(res, op);
}

// cloudtrail calls a CloudTrail operation (LookupEvents).
export async function cloudtrail(op, input = {}) {
  const res = await post('/console/api/cloudtrail', op, { 'X-Amz-Target': TRAIL_TARGET + op, 'Content-Type': 'application/x-amz-json-1.1' }, JSON.stringify(input));
  return jsonResult(res, op);
}

async function jsonResult(res, op) {
  const text = await res.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = { message: text }; }
  if (!res.ok) {
    const code = (data.__type || res.headers.get('x-amzn-ErrorType') || 'Error').split('#').pop().split(':')[0];
    throw new ApiError(code, data.message || data.Message || res.statusText, op, res.status);
  }
  return data;
}

// iam calls an IAM (or STS) operation with its parameters and returns its result as an object: XML
// elements as members, lists of <member> as arrays.
export async function iam(action, params = {}, service = 'iam') {
  const form = new URLSearchParams({ Action: action, Version: service === 'iam' ? '2010-05-08' : '2011-06-15' });
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') form.set(k, String(v));
  const res = await post('/console/api/' + service, action, { 'Content-Type': 'application/x-www-form-urlencoded' }, form.toString());
  const text = await res.text();
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  if (!res.ok) {
    const code = doc.querySelector('Error > Code')?.textContent || 'Error';
    const msg = doc.querySelector('Error > Message')?.textContent || res.statusText;
    throw new ApiError(code, msg, action, res.status);
  }
  const result = doc.documentElement.querySelector(':scope > ' + action + 'Result');
  return result ? fromXML(result) : {};
}

function fromXML(el) {
  const kids = [...el.children];
  if (kids.length === 0) return el.textContent;
  if (kids.every(k => k.tagName === 'member')) return kids.map(fromXML);
  const out = {};
  for (const k of kids) out[k.tagName] = fromXML(k);
  return out;
}

export function sts(action, params) { return iam(action, params, 'sts'); }

// consoleCall calls one of the console's own endpoints (sign-in, sign-out, switch role).
export async function consoleCall(path, input) {
  const res = await post('/console/api/' + path, path, { 'Content-Type': 'application/json' }, JSON.stringify(input || {}));
  return jsonResult(res, path);
}

// h builds an element: h('a', {href: '#/x', class: 'y', onclick: fn}, 'text', child…). Text is always
// text, never HTML.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'style') el.style.cssText = v; // through the CSSOM: the CSP refuses style attributes
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'required' || k === 'hidden') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// render replaces an element's content.
export function render(el, ...children) { el.replaceChildren(); append(el, children); return el; }

// errorBox shows an API error as the aws CLI would print it.
export function errorBox(err) {
  const text = err instanceof ApiError ? err.toString() : String(err && err.message || err);
  return h('div', { class: 'error', role: 'alert' }, text);
}

export function notify(msg) {
  const t = document.getElementById('toast');
  const d = h('div', {}, msg);
  t.append(d);
  setTimeout(() => d.remove(), 6000);
}

// confirmDialog asks a question in a modal dialog; with typed, the user must type that word to confirm.
export function confirmDialog(title, text, { confirm = 'Delete', typed = '' } = {}) {
  return new Promise(resolve => {
    const input = typed ? h('input', { type: 'text', id: 'confirm-typed', autocomplete: 'off' }) : null;
    const ok = h('button', { type: 'submit', class: 'danger', disabled: !!typed }, confirm);
    if (input) input.addEventListener('input', () => { ok.disabled = input.value !== typed; });
    const dlg = h('dialog', { 'aria-labelledby': 'dlg-title' },
      h('form', { method: 'dialog' },
        h('h2', { id: 'dlg-title' }, title), h('p', {}, text),
        input && [h('label', { for: 'confirm-typed' }, `To confirm, type “${typed}”`), input],
        h('div', { class: 'row' }, ok, h('button', { type: 'button', onclick: () => dlg.close('cancel') }, 'Cancel'))));
    ok.value = 'ok';
    dlg.addEventListener('close', () => { dlg.remove(); resolve(dlg.returnValue === 'ok'); });
    document.body.append(dlg);
    dlg.showModal();
    (input || ok).focus();
  });
}

export function copyButton(text, label = 'Copy') {
  return h('button', { type: 'button', 'aria-label': label + ' ' + text, onclick: async (e) => {
    try { await navigator.clipboard.writeText(text); notify('Copied'); }
    catch { const r = document.createRange(); r.selectNodeContents(e.target.previousSibling || e.target); getSelection().removeAllRanges(); getSelection().addRange(r); }
  } }, label);
}

// Formatting. Times are shown in the viewer's own time zone.
export function fmtTime(t) {
  if (t === undefined || t === null || t === '' || t === 0) return '—';
  const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
  if (isNaN(d)) return String(t);
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, d.toLocaleString());
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0, v = Number(n);
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return (i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)) + ' ' + units[i];
}

export function shortDigest(d) { return d ? d.replace(/^sha256:/, '').slice(0, 12) : ''; }

export function table(columns, rows, { empty = 'Nothing here yet.', caption } = {}) {
  if (!rows.length) return h('div', { class: 'empty table-wrap' }, empty);
  return h('div', { class: 'table-wrap' }, h('table', {},
    caption && h('caption', { class: 'muted' }, caption),
    h('thead', {}, h('tr', {}, columns.map(c => h('th', { scope: 'col', class: c.num ? 'num' : '' }, c.label)))),
    h('tbody', {}, rows.map(r => h('tr', {}, columns.map(c => h('td', { class: c.num ? 'num' : '' }, c.cell(r))))))));
}

// pager returns a "Previous / Next" control over token-paged results.
export function pager(state, onChange) {
  return h('div', { class: 'pager' },
    h('button', { type: 'button', disabled: state.page === 0, onclick: () => { state.page--; onChange(); } }, 'Previous'),
    h('span', { class: 'muted' }, 'Page ' + (state.page + 1)),
    h('button', { type: 'button', disabled: !state.tokens[state.page + 1], onclick: () => { state.page++; onChange(); } }, 'Next'));
}

// newPaging keeps the nextToken of each page seen, so Previous works on APIs that page forward only.
export function newPaging() { return { page: 0, tokens: [undefined] }; }

export function tabs(items, current) {
  return h('nav', { class: 'tabs', 'aria-label': 'Sections' },
    items.map(([label, href]) => h('a', { href, 'aria-current': href === current ? 'page' : null }, label)));
}

export function crumbs(...parts) {
  return h('div', { class: 'crumbs' }, parts.map((p, i) => [i ? ' › ' : '', Array.isArray(p) ? h('a', { href: p[1] }, p[0]) : p]));
}

export function field(label, control, hint) {
  if (!control.id) control.id = 'f-' + label.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return [h('label', { for: control.id }, label, hint && h('span', { class: 'hint' }, ' — ' + hint)), control];
}

// The router: pages register patterns like '/repositories/:name'; the hash (#/repositories/app?x=1)
// picks one. :rest* matches the remainder (repository names have slashes).
const routes = [];
export function route(pattern, view, { nav } = {}) {
  const names = [];
  const re = new RegExp('^' + pattern.replace(/:(\w+)(\*?)/g, (_, n, star) => { names.push(n); return star ? '(.+)' : '([^/]+)'; }) + '$');
  routes.push({ re, names, view, nav });
}

export function match(path) {
  for (const r of routes) {
    const m = r.re.exec(path);
    if (m) {
      const params = {};
      r.names.forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
      return { view: r.view, params };
    }
  }
  return null;
}

export function go(hash) { location.hash = hash; }

export function enc(s) { return encodeURIComponent(s).replace(/%2F/g, '/'); }

// registryHost is this registry's host name for image references: the repositoryUri's host.
export function registryHost() { return location.host; }
