// The console's shell: who is signed in, the navigation, sign-in, and the router that shows each page.
import { session, h, render, route, match, consoleCall, iam, errorBox, field, notify, ApiError } from './lib.js';
import './pages/repositories.js';
import './pages/repository.js';
import './pages/image.js';
import './pages/policies.js';
import './pages/lifecycle.js';
import './pages/registry.js';
import './pages/replication.js';
import './pages/pullthrough.js';
import './pages/templates.js';
import './pages/events.js';
import './pages/iam.js';
import './pages/usage.js';

const NAV = [
  ['Private registry', [['Repositories', '#/repositories'], ['Registry permissions', '#/registry/permissions'],
    ['Scanning', '#/registry/scanning'], ['Replication', '#/registry/replication'], ['Pull through cache', '#/registry/pull-through-cache'],
    ['Creation templates', '#/registry/templates'], ['Usage and cost', '#/usage']]],
  ['Account', [['Event history', '#/events'], ['IAM users', '#/iam/users'], ['IAM groups', '#/iam/groups'],
    ['IAM roles', '#/iam/roles']]],
];

async function loadSession() {
  const res = await fetch('/console/api/session', { credentials: 'same-origin' });
  session.info = res.ok ? await res.json() : null;
  return session.info;
}

function drawChrome() {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  const s = session.info;
  nav.hidden = !s || s.passwordResetRequired;
  render(nav, NAV.map(([title, items]) => [h('h2', {}, title),
    h('ul', {}, items.map(([label, href]) => h('li', {}, h('a', { href }, label))))]));
  if (!s) { render(who); return; }
  const role = s.roleName ? h('span', { class: 'badge', title: s.arn }, s.roleName + ' @ ' + s.accountId) : null;
  render(who,
    h('span', { title: s.arn }, s.userName + ' @ ' + s.signedInAccountId), role,
    s.roleName
      ? h('button', { type: 'button', class: 'linklike', onclick: switchBack }, 'Switch back')
      : h('a', { href: '#/switch-role' }, 'Switch role'),
    h('button', { type: 'button', class: 'linklike', onclick: signOut }, 'Sign out'));
}

function markNav() {
  const here = location.hash.split('?')[0];
  for (const a of document.querySelectorAll('nav#nav a')) {
    const href = a.getAttribute('href');
    a.setAttribute('aria-current', here === href || here.startsWith(href + '/') || (href === '#/repositories' && /^#\/(repository|image)\//.test(here)) ? 'page' : 'false');
  }
}

async function signOut() {
  try { await consoleCall('signout'); } catch { /* signed out either way */ }
  session.info = null;
  location.hash = '#/signin';
}

async function switchBack() {
  try { await consoleCall('switch-back'); await loadSession(); drawChrome(); show(); notify('Switched back to ' + session.info.userName); }
  catch (e) { notify(String(e)); }
}

route('/signin', (main, params, query) => {
  const account = h('input', { type: 'text', id: 'account', autocomplete: 'organization', required: true, value: localStorage.getItem('wharf.account') || '' });
  const user = h('input', { type: 'text', id: 'username', autocomplete: 'username', required: true });
  const pw = h('input', { type: 'password', id: 'password', autocomplete: 'current-password', required: true });
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'signin', onsubmit: async (e) => {
    e.preventDefault();
    render(out);
    try {
      const res = await consoleCall('signin', { accountId: account.value, userName: user.value, password: pw.value });
      localStorage.setItem('wharf.account', account.value);
      await loadSession();
      drawChrome();
      location.hash = res.passwordResetRequired ? '#/change-password' : '#' + (query.get('next') || '/repositories');
    } catch (err) { render(out, errorBox(err)); pw.value = ''; pw.focus(); }
  } },
    h('h1', {}, 'Sign in as IAM user'),
    field('Account ID (12 digits) or account alias', account),
    field('IAM user name', user), field('Password', pw),
    out, h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  render(main, form);
  (account.value ? user : account).focus();
}, { public: true });

route('/change-password', (main) => {
  const old = h('input', { type: 'password', id: 'old-password', autocomplete: 'current-password' });
  const nw = h('input', { type: 'password', id: 'new-password', autocomplete: 'new-password' });
  const again = h('input', { type: 'password', id: 'new-password-again', autocomplete: 'new-password' });
  const out = h('div', { 'aria-live': 'polite' });
  render(main, h('form', { class: 'signin', onsubmit: async (e) => {
    e.preventDefault();
    render(out);
    if (nw.value !== again.value) { render(out, h('div', { class: 'error', role: 'alert' }, 'The new passwords do not match.')); return; }
    try {
      await iam('ChangePassword', { OldPassword: old.value, NewPassword: nw.value });
      await loadSession(); drawChrome();
      notify('Password changed'); location.hash = '#/repositories';
    } catch (err) { render(out, errorBox(err)); }
  } },
    h('h1', {}, 'Change your password'),
    session.info?.passwordResetRequired ? h('p', { class: 'notice' }, 'Your administrator requires you to set a new password before you continue.') : null,
    field('Current password', old), field('New password', nw), field('Confirm new password', again),
    out, h('button', { type: 'submit', class: 'primary' }, 'Change password')));
  old.focus();
});

route('/switch-role', (main) => {
  const account = h('input', { type: 'text', id: 'role-account', required: true, inputmode: 'numeric' });
  const role = h('input', { type: 'text', id: 'role-name', required: true });
  const out = h('div', { 'aria-live': 'polite' });
  render(main, h('form', { class: 'signin', onsubmit: async (e) => {
    e.preventDefault();
    render(out);
    try {
      await consoleCall('switch-role', { roleArn: `arn:aws:iam::${account.value.trim()}:role/${role.value.trim()}` });
      await loadSession(); drawChrome();
      notify('Now acting as role ' + session.info.roleName); location.hash = '#/repositories';
    } catch (err) { render(out, errorBox(err)); }
  } },
    h('h1', {}, 'Switch role'),
    h('p', { class: 'muted' }, 'Act as a role of this or another account, as STS AssumeRole does: the role’s trust policy must allow you, and your own policies must allow sts:AssumeRole on it.'),
    field('Account ID', account), field('Role name', role),
    out, h('button', { type: 'submit', class: 'primary' }, 'Switch role')));
  account.focus();
});

route('/', () => { location.hash = '#/repositories'; });

async function show() {
  const main = document.getElementById('main');
  const raw = location.hash.slice(1) || '/repositories';
  const [path, qs] = raw.split('?');
  const query = new URLSearchParams(qs || '');
  if (!session.info && path !== '/signin') { location.hash = '#/signin?next=' + encodeURIComponent(raw); return; }
  if (session.info?.passwordResetRequired && path !== '/change-password') { location.hash = '#/change-password'; return; }
  markNav();
  const m = match(path);
  if (!m) { render(main, h('h1', {}, 'Page not found'), h('p', {}, h('a', { href: '#/repositories' }, 'Go to repositories'))); return; }
  render(main, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading…'));
  try {
    await m.view(main, m.params, query);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    render(main, errorBox(err));
  }
  if (document.activeElement === document.body) main.focus({ preventScroll: true });
}

document.querySelector('.menu').addEventListener('click', (e) => {
  const nav = document.getElementById('nav');
  const open = nav.classList.toggle('closed') === false;
  e.target.setAttribute('aria-expanded', String(open));
});
if (matchMedia('(max-width: 760px)').matches) document.getElementById('nav').classList.add('closed');

window.addEventListener('hashchange', show);
loadSession().then(() => { drawChrome(); show(); });
