// IAM: the account's users, groups and roles, their policies, access keys and console passwords, each
// through the IAM operation the aws CLI would call.
import { iam, h, render, route, table, errorBox, field, notify, confirmDialog, copyButton, fmtTime, pager, newPaging, crumbs, tabs, ApiError, session } from '../lib.js';

const PAGE = 100;

// list turns an IAM list member into an array: an empty list comes back as an empty element.
const list = (v) => Array.isArray(v) ? v : [];
const truncated = (res) => res.IsTruncated === 'true';

// all reads every page of a Marker-paged IAM list (at most 20 pages).
async function all(action, params, key) {
  const items = [];
  let marker;
  for (let i = 0; i < 20; i++) {
    const res = await iam(action, { ...params, Marker: marker, MaxItems: 1000 });
    items.push(...list(res[key]));
    if (!truncated(res)) break;
    marker = res.Marker;
  }
  return items;
}

// policyText shows a policy document as IAM returns it (URL-encoded JSON) pretty-printed.
function policyText(doc) {
  let text = doc || '';
  try { text = decodeURIComponent(text); } catch { /* not encoded */ }
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

// section is a part of a page that loads on its own: a denial of one operation shows in its section
// only, in IAM's own words.
function section(title, id, load) {
  const body = h('div', { 'aria-live': 'polite' });
  const el = h('section', { 'aria-labelledby': id }, h('h2', { id }, title), body);
  const reload = async () => {
    render(body, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading…'));
    try { await load(body, reload); } catch (err) { render(body, errorBox(err)); }
  };
  reload();
  return el;
}

// act runs an operation from a button, shows its error in out, and reloads on success.
async function act(out, fn, done) {
  render(out);
  try { await fn(); if (done) await done(); } catch (err) { render(out, errorBox(err)); }
}

const iamNav = (current) => tabs([['Users', '#/iam/users'], ['Groups', '#/iam/groups'], ['Roles', '#/iam/roles']], current);

// ---- Users

route('/iam/users', async (main) => {
  const name = h('input', { type: 'text', id: 'new-user', required: true, autocomplete: 'off', maxlength: 64 });
  const out = h('div', { 'aria-live': 'polite' });
  const listEl = h('div', { 'aria-live': 'polite' });
  const paging = newPaging();
  render(main, h('h1', {}, 'IAM users'), iamNav('#/iam/users'),
    h('form', { class: 'toolbar', onsubmit: (e) => {
      e.preventDefault();
      act(out, async () => {
        const res = await iam('CreateUser', { UserName: name.value.trim() });
        notify('Created user ' + res.User.UserName);
        location.hash = '#/iam/users/' + encodeURIComponent(res.User.UserName);
      });
    } }, h('div', { class: 'grow' }, field('New user name', name, 'letters, digits and + = , . @ _ -')),
      h('button', { type: 'submit', class: 'primary' }, 'Create user')),
    out, listEl);
  async function load() {
    render(listEl, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading…'));
    try {
      const res = await iam('ListUsers', { MaxItems: PAGE, Marker: paging.tokens[paging.page] });
      paging.tokens[paging.page + 1] = truncated(res) ? res.Marker : undefined;
      const users = list(res.Users);
      render(listEl, table([
        { label: 'User name', cell: u => h('a', { href: '#/iam/users/' + encodeURIComponent(u.UserName) }, u.UserName) },
        { label: 'ARN', cell: u => h('code', {}, u.Arn) },
        { label: 'Created', cell: u => fmtTime(u.CreateDate) },
        { label: 'Actions', cell: u => h('button', { type: 'button', class: 'danger', 'aria-label': 'Delete user ' + u.UserName,
          onclick: async () => {
            if (!await confirmDialog('Delete user ' + u.UserName + '?', 'IAM refuses to delete a user that still has access keys, policies, groups or a console password: remove them on the user’s page first.', { typed: u.UserName })) return;
            act(out, () => iam('DeleteUser', { UserName: u.UserName }), () => { notify('Deleted user ' + u.UserName); return load(); });
          } }, 'Delete') },
      ], users, { empty: 'No IAM users yet. Create one above.' }),
      (paging.page > 0 || paging.tokens[paging.page + 1]) && pager(paging, load));
    } catch (err) { render(listEl, errorBox(err)); }
  }
  await load();
});

route('/iam/users/:name', async (main, { name }) => {
  const res = await iam('GetUser', { UserName: name });
  const u = res.User;
  render(main,
    crumbs(['IAM users', '#/iam/users'], u.UserName),
    h('h1', {}, u.UserName),
    h('dl', { class: 'facts' },
      h('dt', {}, 'ARN'), h('dd', {}, h('span', { class: 'row' }, h('code', {}, u.Arn), copyButton(u.Arn, 'Copy ARN'))),
      h('dt', {}, 'User ID'), h('dd', {}, u.UserId),
      h('dt', {}, 'Path'), h('dd', {}, u.Path || '/'),
      h('dt', {}, 'Created'), h('dd', {}, fmtTime(u.CreateDate)),
      u.PasswordLastUsed && [h('dt', {}, 'Password last used'), h('dd', {}, fmtTime(u.PasswordLastUsed))]),
    attachedPolicies('User', u.UserName),
    inlinePolicies('User', u.UserName),
    userGroups(u.UserName),
    accessKeys(u.UserName),
    loginProfile(u.UserName));
});

function userGroups(user) {
  return section('Groups', 'sec-groups', async (body, reload) => {
    const groups = await all('ListGroupsForUser', { UserName: user }, 'Groups');
    const out = h('div', { 'aria-live': 'polite' });
    const pick = h('select', { id: 'add-group' }, h('option', { value: '' }, 'Loading groups…'));
    render(body, out, table([
      { label: 'Group name', cell: g => h('a', { href: '#/iam/groups/' + encodeURIComponent(g.GroupName) }, g.GroupName) },
      { label: 'Created', cell: g => fmtTime(g.CreateDate) },
      { label: 'Actions', cell: g => h('button', { type: 'button', 'aria-label': 'Remove from group ' + g.GroupName,
        onclick: () => act(out, () => iam('RemoveUserFromGroup', { GroupName: g.GroupName, UserName: user }), reload) }, 'Remove from group') },
    ], groups, { empty: 'This user is in no group.' }),
    h('form', { class: 'toolbar', onsubmit: (e) => {
      e.preventDefault();
      if (pick.value) act(out, () => iam('AddUserToGroup', { GroupName: pick.value, UserName: user }), reload);
    } }, h('div', {}, field('Add to group', pick)), h('button', { type: 'submit' }, 'Add')));
    try {
      const names = (await all('ListGroups', {}, 'Groups')).map(g => g.GroupName).filter(n => !groups.some(g => g.GroupName === n));
      render(pick, names.length ? names.map(n => h('option', { value: n }, n)) : h('option', { value: '' }, 'No other group'));
    } catch (err) { render(pick, h('option', { value: '' }, 'Groups cannot be listed')); out.append(errorBox(err)); }
  });
}

function accessKeys(user) {
  return section('Access keys', 'sec-keys', async (body, reload) => {
    const keys = await all('ListAccessKeys', { UserName: user }, 'AccessKeyMetadata');
    const out = h('div', { 'aria-live': 'polite' });
    render(body, out, table([
      { label: 'Access key ID', cell: k => h('code', {}, k.AccessKeyId) },
      { label: 'Status', cell: k => k.Status },
      { label: 'Created', cell: k => fmtTime(k.CreateDate) },
      { label: 'Actions', cell: k => h('span', { class: 'row' },
        h('button', { type: 'button', onclick: () => act(out, () => iam('UpdateAccessKey', { UserName: user, AccessKeyId: k.AccessKeyId, Status: k.Status === 'Active' ? 'Inactive' : 'Active' }), reload) },
          k.Status === 'Active' ? 'Make inactive' : 'Make active'),
        h('button', { type: 'button', class: 'danger', onclick: async () => {
          if (!await confirmDialog('Delete access key ' + k.AccessKeyId + '?', 'Programs using this key will be refused at once. This cannot be undone.', { typed: k.AccessKeyId })) return;
          act(out, () => iam('DeleteAccessKey', { UserName: user, AccessKeyId: k.AccessKeyId }), reload);
        } }, 'Delete')) },
    ], keys, { empty: 'No access keys.' }),
    h('div', { class: 'toolbar' }, h('button', { type: 'button', onclick: () => act(out, async () => {
      const { AccessKey: k } = await iam('CreateAccessKey', { UserName: user });
      await reload();
      const notice = h('div', { class: 'notice secret', role: 'status', tabindex: -1 },
        h('strong', {}, 'New access key created. This is the only time the secret access key can be seen: copy it now and keep it safe.'),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Access key ID'), h('dd', {}, h('span', { class: 'row' }, h('code', {}, k.AccessKeyId), copyButton(k.AccessKeyId, 'Copy access key ID'))),
          h('dt', {}, 'Secret access key'), h('dd', {}, h('span', { class: 'row' }, h('code', {}, k.SecretAccessKey), copyButton(k.SecretAccessKey, 'Copy secret access key')))));
      body.prepend(notice);
      notice.focus();
    }) }, 'Create access key')));
  });
}

function loginProfile(user) {
  return section('Console password', 'sec-password', async (body, reload) => {
    let profile = null;
    try { profile = (await iam('GetLoginProfile', { UserName: user })).LoginProfile; } catch (err) {
      if (!(err instanceof ApiError && err.code === 'NoSuchEntity')) throw err;
    }
    const out = h('div', { 'aria-live': 'polite' });
    const pw = h('input', { type: 'password', id: 'lp-password', autocomplete: 'new-password', required: true });
    const reset = h('input', { type: 'checkbox', id: 'lp-reset', checked: true });
    const form = h('form', { onsubmit: (e) => {
      e.preventDefault();
      const params = { UserName: user, Password: pw.value, PasswordResetRequired: String(reset.checked) };
      act(out, () => iam(profile ? 'UpdateLoginProfile' : 'CreateLoginProfile', params),
        () => { notify(profile ? 'Password changed' : 'Console password set'); return reload(); });
    } },
      h('input', { type: 'text', hidden: true, autocomplete: 'username', value: user, 'aria-hidden': 'true', tabindex: -1 }),
      field(profile ? 'New password' : 'Password', pw),
      h('div', {}, h('label', { class: 'inline' }, reset, 'Require a new password at next sign-in')),
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, profile ? 'Change password' : 'Enable console access'),
        profile && h('button', { type: 'button', class: 'danger', onclick: async () => {
          if (!await confirmDialog('Disable console access for ' + user + '?', 'The user’s console password is deleted; their access keys still work.', { confirm: 'Disable' })) return;
          act(out, () => iam('DeleteLoginProfile', { UserName: user }), reload);
        } }, 'Disable console access')));
    render(body,
      profile
        ? h('p', {}, 'Console access is enabled (password set ', fmtTime(profile.CreateDate), ').',
          profile.PasswordResetRequired === 'true' ? ' The user must choose a new password at next sign-in.' : '')
        : h('p', { class: 'muted' }, 'Console access is disabled: this user has no console password.'),
      out, form);
  });
}

// ---- Policies of users, groups and roles (kind: 'User', 'Group' or 'Role')

function attachedPolicies(kind, name) {
  const p = { [kind + 'Name']: name };
  return section('Attached managed policies', 'sec-attached', async (body, reload) => {
    const attached = await all(`ListAttached${kind}Policies`, p, 'AttachedPolicies');
    const out = h('div', { 'aria-live': 'polite' });
    let pick = h('select', { id: 'attach-policy' }, h('option', { value: '' }, 'Loading policies…'));
    render(body, out, table([
      { label: 'Policy name', cell: a => a.PolicyName },
      { label: 'ARN', cell: a => h('code', {}, a.PolicyArn) },
      { label: 'Actions', cell: a => h('button', { type: 'button', 'aria-label': 'Detach ' + a.PolicyName,
        onclick: () => act(out, () => iam(`Detach${kind}Policy`, { ...p, PolicyArn: a.PolicyArn }), reload) }, 'Detach') },
    ], attached, { empty: 'No managed policies attached.' }),
    h('form', { class: 'toolbar', onsubmit: (e) => {
      e.preventDefault();
      if (pick.value) act(out, () => iam(`Attach${kind}Policy`, { ...p, PolicyArn: pick.value }), reload);
    } }, h('div', { class: 'grow' }, field('Attach an AWS managed policy', pick)), h('button', { type: 'submit' }, 'Attach')));
    try {
      const policies = (await all('ListPolicies', { Scope: 'AWS' }, 'Policies')).filter(x => !attached.some(a => a.PolicyArn === x.Arn));
      policies.sort((a, b) => a.PolicyName.localeCompare(b.PolicyName));
      render(pick, policies.length ? policies.map(x => h('option', { value: x.Arn }, x.PolicyName)) : h('option', { value: '' }, 'No other policy'));
    } catch (err) { // without ListPolicies, a policy is named by its ARN
      const arn = h('input', { type: 'text', id: 'attach-policy', required: true, placeholder: 'arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly' });
      pick.previousElementSibling.textContent = 'Attach a managed policy by ARN';
      pick.replaceWith(arn);
      pick = arn;
      out.append(errorBox(err));
    }
  });
}

const TEMPLATE = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['ecr:DescribeRepositories'], Resource: '*' }] };

function inlinePolicies(kind, name) {
  const p = { [kind + 'Name']: name };
  return section('Inline policies', 'sec-inline', async (body, reload) => {
    const names = await all(`List${kind}Policies`, p, 'PolicyNames');
    const out = h('div', { 'aria-live': 'polite' });
    const editor = h('div');
    const edit = async (policyName) => {
      let doc = JSON.stringify(TEMPLATE, null, 2);
      if (policyName) {
        try { doc = policyText((await iam(`Get${kind}Policy`, { ...p, PolicyName: policyName })).PolicyDocument); }
        catch (err) { render(out, errorBox(err)); return; }
      }
      render(editor, policyEditor(policyName, doc, async (pn, text) => {
        await iam(`Put${kind}Policy`, { ...p, PolicyName: pn, PolicyDocument: text });
        notify('Saved policy ' + pn);
        await reload();
      }, () => render(editor)));
      editor.querySelector('input:not([readonly]), textarea')?.focus();
    };
    render(body, out, table([
      { label: 'Policy name', cell: n => n },
      { label: 'Actions', cell: n => h('span', { class: 'row' },
        h('button', { type: 'button', 'aria-label': 'Edit policy ' + n, onclick: () => edit(n) }, 'View or edit'),
        h('button', { type: 'button', class: 'danger', 'aria-label': 'Delete policy ' + n, onclick: async () => {
          if (!await confirmDialog('Delete inline policy ' + n + '?', 'The permissions it grants end at once.')) return;
          act(out, () => iam(`Delete${kind}Policy`, { ...p, PolicyName: n }), reload);
        } }, 'Delete')) },
    ], names, { empty: 'No inline policies.' }),
    h('div', { class: 'toolbar' }, h('button', { type: 'button', onclick: () => edit('') }, 'Add inline policy')),
    editor);
  });
}

// policyEditor is a form to write a policy document: a name (fixed when editing) and its JSON.
function policyEditor(policyName, doc, save, cancel) {
  const nameIn = h('input', { type: 'text', id: 'policy-name', required: true, value: policyName, readonly: policyName ? true : null });
  const text = h('textarea', { id: 'policy-doc', spellcheck: 'false', rows: 16 }, doc);
  const out = h('div', { 'aria-live': 'polite' });
  return h('form', { class: 'policy-editor', onsubmit: async (e) => {
    e.preventDefault();
    render(out);
    try { await save(nameIn.value.trim(), text.value); } catch (err) { render(out, errorBox(err)); }
  } },
    h('fieldset', {}, h('legend', {}, policyName ? 'Edit ' + policyName : 'New inline policy'),
      field('Policy name', nameIn), field('Policy document (JSON)', text),
      out,
      h('div', { class: 'row' },
        h('button', { type: 'submit', class: 'primary' }, 'Save policy'),
        formatButton(text, out),
        h('button', { type: 'button', onclick: cancel }, 'Cancel'))));
}

// formatButton pretty-prints a JSON textarea, or says where its JSON is broken.
function formatButton(text, out) {
  return h('button', { type: 'button', onclick: () => {
    render(out);
    try { text.value = JSON.stringify(JSON.parse(text.value), null, 2); }
    catch (err) { render(out, h('div', { class: 'error', role: 'alert' }, 'The document is not valid JSON: ' + err.message)); }
  } }, 'Format JSON');
}

// ---- Groups

route('/iam/groups', async (main) => {
  const name = h('input', { type: 'text', id: 'new-group', required: true, autocomplete: 'off', maxlength: 128 });
  const out = h('div', { 'aria-live': 'polite' });
  const listEl = h('div', { 'aria-live': 'polite' });
  const paging = newPaging();
  render(main, h('h1', {}, 'IAM groups'), iamNav('#/iam/groups'),
    h('form', { class: 'toolbar', onsubmit: (e) => {
      e.preventDefault();
      act(out, async () => {
        const res = await iam('CreateGroup', { GroupName: name.value.trim() });
        notify('Created group ' + res.Group.GroupName);
        location.hash = '#/iam/groups/' + encodeURIComponent(res.Group.GroupName);
      });
    } }, h('div', { class: 'grow' }, field('New group name', name)), h('button', { type: 'submit', class: 'primary' }, 'Create group')),
    out, listEl);
  async function load() {
    render(listEl, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading…'));
    try {
      const res = await iam('ListGroups', { MaxItems: PAGE, Marker: paging.tokens[paging.page] });
      paging.tokens[paging.page + 1] = truncated(res) ? res.Marker : undefined;
      render(listEl, table([
        { label: 'Group name', cell: g => h('a', { href: '#/iam/groups/' + encodeURIComponent(g.GroupName) }, g.GroupName) },
        { label: 'ARN', cell: g => h('code', {}, g.Arn) },
        { label: 'Created', cell: g => fmtTime(g.CreateDate) },
      ], list(res.Groups), { empty: 'No IAM groups yet. Create one above.' }),
      (paging.page > 0 || paging.tokens[paging.page + 1]) && pager(paging, load));
    } catch (err) { render(listEl, errorBox(err)); }
  }
  await load();
});

route('/iam/groups/:name', async (main, { name }) => {
  const first = await iam('GetGroup', { GroupName: name });
  const g = first.Group;
  render(main,
    crumbs(['IAM groups', '#/iam/groups'], g.GroupName),
    h('h1', {}, g.GroupName),
    h('dl', { class: 'facts' },
      h('dt', {}, 'ARN'), h('dd', {}, h('span', { class: 'row' }, h('code', {}, g.Arn), copyButton(g.Arn, 'Copy ARN'))),
      h('dt', {}, 'Group ID'), h('dd', {}, g.GroupId),
      h('dt', {}, 'Created'), h('dd', {}, fmtTime(g.CreateDate))),
    section('Members', 'sec-members', async (body, reload) => {
      const users = await all('GetGroup', { GroupName: name }, 'Users');
      const out = h('div', { 'aria-live': 'polite' });
      const pick = h('select', { id: 'add-member' }, h('option', { value: '' }, 'Loading users…'));
      render(body, out, table([
        { label: 'User name', cell: u => h('a', { href: '#/iam/users/' + encodeURIComponent(u.UserName) }, u.UserName) },
        { label: 'Created', cell: u => fmtTime(u.CreateDate) },
        { label: 'Actions', cell: u => h('button', { type: 'button', 'aria-label': 'Remove ' + u.UserName + ' from the group',
          onclick: () => act(out, () => iam('RemoveUserFromGroup', { GroupName: name, UserName: u.UserName }), reload) }, 'Remove') },
      ], users, { empty: 'No users in this group.' }),
      h('form', { class: 'toolbar', onsubmit: (e) => {
        e.preventDefault();
        if (pick.value) act(out, () => iam('AddUserToGroup', { GroupName: name, UserName: pick.value }), reload);
      } }, h('div', {}, field('Add user', pick)), h('button', { type: 'submit' }, 'Add')));
      try {
        const others = (await all('ListUsers', {}, 'Users')).filter(x => !users.some(u => u.UserName === x.UserName));
        render(pick, others.length ? others.map(x => h('option', { value: x.UserName }, x.UserName)) : h('option', { value: '' }, 'No other user'));
      } catch (err) { render(pick, h('option', { value: '' }, 'Users cannot be listed')); out.append(errorBox(err)); }
    }),
    attachedPolicies('Group', name),
    inlinePolicies('Group', name));
});

// ---- Roles

route('/iam/roles', async (main, params, query) => {
  if (query.has('create')) { createRole(main); return; }
  const out = h('div', { 'aria-live': 'polite' });
  const listEl = h('div', { 'aria-live': 'polite' });
  const paging = newPaging();
  render(main, h('h1', {}, 'IAM roles'), iamNav('#/iam/roles'),
    h('div', { class: 'toolbar' }, h('a', { class: 'button primary', href: '#/iam/roles?create' }, 'Create role')),
    out, listEl);
  async function load() {
    render(listEl, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading…'));
    try {
      const res = await iam('ListRoles', { MaxItems: PAGE, Marker: paging.tokens[paging.page] });
      paging.tokens[paging.page + 1] = truncated(res) ? res.Marker : undefined;
      render(listEl, table([
        { label: 'Role name', cell: r => h('a', { href: '#/iam/roles/' + encodeURIComponent(r.RoleName) }, r.RoleName) },
        { label: 'Description', cell: r => r.Description || '—' },
        { label: 'Trusted entities', cell: r => trusted(r.AssumeRolePolicyDocument) },
        { label: 'Created', cell: r => fmtTime(r.CreateDate) },
      ], list(res.Roles), { empty: 'No IAM roles yet.' }),
      (paging.page > 0 || paging.tokens[paging.page + 1]) && pager(paging, load));
    } catch (err) { render(listEl, errorBox(err)); }
  }
  await load();
});

// trusted names the principals a trust policy lets assume the role.
function trusted(doc) {
  try {
    const p = JSON.parse(policyText(doc));
    const st = Array.isArray(p.Statement) ? p.Statement : [p.Statement];
    const out = [];
    for (const s of st) {
      if (s.Effect !== 'Allow' || !s.Principal) continue;
      if (s.Principal === '*') { out.push('*'); continue; }
      for (const v of Object.values(s.Principal)) out.push(...(Array.isArray(v) ? v : [v]));
    }
    return out.length ? h('ul', { class: 'plain' }, out.map(x => h('li', {}, h('code', {}, x)))) : '—';
  } catch { return '—'; }
}

// createRole is the form of CreateRole, at #/iam/roles?create.
function createRole(main) {
  const account = session.info?.accountId || '000000000000';
  const name = h('input', { type: 'text', id: 'role-new-name', required: true, autocomplete: 'off', maxlength: 64 });
  const desc = h('input', { type: 'text', id: 'role-description', maxlength: 1000 });
  const trust = h('textarea', { id: 'role-trust', spellcheck: 'false', rows: 14 }, JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'sts:AssumeRole' }],
  }, null, 2));
  const out = h('div', { 'aria-live': 'polite' });
  render(main,
    crumbs(['IAM roles', '#/iam/roles'], 'Create'),
    h('h1', {}, 'Create role'),
    h('form', { onsubmit: async (e) => {
      e.preventDefault();
      render(out);
      try {
        const res = await iam('CreateRole', { RoleName: name.value.trim(), Description: desc.value.trim(), AssumeRolePolicyDocument: trust.value });
        notify('Created role ' + res.Role.RoleName);
        location.hash = '#/iam/roles/' + encodeURIComponent(res.Role.RoleName);
      } catch (err) { render(out, errorBox(err)); }
    } },
      h('fieldset', {}, h('legend', {}, 'Role'),
        field('Role name', name, 'letters, digits and + = , . @ _ -'), field('Description', desc),
        field('Trust policy (JSON)', trust, 'who may assume the role: by default, this account’s users and roles whose own policies allow sts:AssumeRole on it')),
      out,
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Create role'), formatButton(trust, out),
        h('a', { class: 'button', href: '#/iam/roles' }, 'Cancel'))));
  name.focus();
}

route('/iam/roles/:name', async (main, { name }) => {
  const { Role: r } = await iam('GetRole', { RoleName: name });
  render(main,
    crumbs(['IAM roles', '#/iam/roles'], r.RoleName),
    h('h1', {}, r.RoleName),
    h('dl', { class: 'facts' },
      h('dt', {}, 'ARN'), h('dd', {}, h('span', { class: 'row' }, h('code', {}, r.Arn), copyButton(r.Arn, 'Copy ARN'))),
      h('dt', {}, 'Role ID'), h('dd', {}, r.RoleId),
      h('dt', {}, 'Description'), h('dd', {}, r.Description || '—'),
      h('dt', {}, 'Maximum session duration'), h('dd', {}, r.MaxSessionDuration ? Math.round(r.MaxSessionDuration / 60) + ' minutes' : '—'),
      h('dt', {}, 'Created'), h('dd', {}, fmtTime(r.CreateDate)),
      h('dt', {}, 'Switch role'), h('dd', {}, h('a', { href: '#/switch-role' }, 'Act as a role'))),
    h('section', { 'aria-labelledby': 'sec-trust' }, h('h2', { id: 'sec-trust' }, 'Trust policy'),
      h('pre', { tabindex: 0, 'aria-labelledby': 'sec-trust' }, policyText(r.AssumeRolePolicyDocument))),
    attachedPolicies('Role', name),
    inlinePolicies('Role', name));
});
