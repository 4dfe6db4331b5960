// Permissions: a repository's policy as the ECR console's statement editor ("Edit permissions"), with a
// JSON view of the whole document. The editor is exported for the registry policy (registry.js).
import { ecr, iam, session, h, render, route, errorBox, field, notify, confirmDialog, tabs, crumbs, enc, ApiError } from '../lib.js';

// REPOSITORY_ACTIONS are the ECR actions on a repository, those a repository policy grants or denies
// (botocore's operations that act on a repository, and the guide's list of resource-level permissions).
export const REPOSITORY_ACTIONS = [
  'BatchCheckLayerAvailability', 'BatchDeleteImage', 'BatchGetImage', 'BatchGetRepositoryScanningConfiguration',
  'BatchImportUpstreamImage', 'CompleteLayerUpload', 'DeleteLifecyclePolicy', 'DeleteRepository',
  'DeleteRepositoryPolicy', 'DescribeImageReplicationStatus', 'DescribeImageScanFindings', 'DescribeImageSigningStatus',
  'DescribeImages', 'DescribeRepositories', 'GetDownloadUrlForLayer', 'GetLifecyclePolicy', 'GetLifecyclePolicyPreview',
  'GetRepositoryPolicy', 'InitiateLayerUpload', 'ListImageReferrers', 'ListImages', 'ListTagsForResource', 'PutImage',
  'PutImageScanningConfiguration', 'PutImageTagMutability', 'PutLifecyclePolicy', 'ReplicateImage', 'SetRepositoryPolicy',
  'StartImageScan', 'StartLifecyclePolicyPreview', 'TagResource', 'UntagResource', 'UpdateImageStorageClass', 'UploadLayerPart',
].map(a => 'ecr:' + a);

// The guide's groups of actions, offered as shortcuts.
const PULL = ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'];
const PUSH = ['ecr:BatchCheckLayerAvailability', 'ecr:CompleteLayerUpload', 'ecr:GetDownloadUrlForLayer',
  'ecr:InitiateLayerUpload', 'ecr:PutImage', 'ecr:UploadLayerPart'];

// repositoryTemplates are the guide's example statements ("Amazon ECR Repository Policy Examples"), with
// this account's id where the example has aws_account_id: edit the principals before saving.
export function repositoryTemplates() {
  const acct = session.info?.accountId || '111122223333';
  return [
    { label: 'Allow pull from another account', st: { Sid: 'AllowPull', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: PULL } },
    { label: 'Allow push and pull for IAM users of this account', st: { Sid: 'AllowPushPull', Effect: 'Allow',
      Principal: { AWS: [`arn:aws:iam::${acct}:user/push-pull-user-1`, `arn:aws:iam::${acct}:user/push-pull-user-2`] }, Action: [...new Set([...PULL, ...PUSH])] } },
    { label: 'Allow another account to push', st: { Sid: 'AllowCrossAccountPush', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: PUSH } },
    { label: 'Allow everyone to pull', st: { Sid: 'AllowPull', Effect: 'Allow', Principal: '*', Action: PULL } },
    { label: 'Allow all actions for an admin user', st: { Sid: 'AllowAll', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:user/admin-user` }, Action: ['ecr:*'] } },
    { label: 'Deny pull to everyone', st: { Sid: 'DenyPull', Effect: 'Deny', Principal: '*', Action: PULL } },
  ];
}

const KNOWN_MEMBERS = ['Sid', 'Effect', 'Principal', 'Action', 'Resource', 'Condition'];

// fromStatement turns a policy statement into the editor's model; what the form does not edit (NotAction,
// NotPrincipal, other principal types…) is kept as it is.
function fromStatement(st, actionList) {
  const m = { sid: st.Sid || '', effect: st.Effect || 'Allow', everyone: false, aws: [], service: [], otherPrincipal: {},
    actions: new Set(), otherActions: [], resources: [].concat(st.Resource ?? []), condition: '', rest: {} };
  const p = st.Principal;
  if (p === '*') m.everyone = true;
  else if (p && typeof p === 'object') {
    for (const [k, v] of Object.entries(p)) {
      const list = [].concat(v);
      if (k === 'AWS') { if (list.includes('*')) m.everyone = m.everyoneAWS = true; m.aws.push(...list.filter(x => x !== '*')); }
      else if (k === 'Service') m.service.push(...list);
      else m.otherPrincipal[k] = v;
    }
  }
  const canon = new Map([...actionList, 'ecr:*'].map(a => [a.toLowerCase(), a]));
  for (const a of [].concat(st.Action ?? [])) {
    const c = canon.get(String(a).toLowerCase());
    if (c) m.actions.add(c); else m.otherActions.push(a);
  }
  if (st.Condition !== undefined) m.condition = JSON.stringify(st.Condition, null, 2);
  for (const [k, v] of Object.entries(st)) if (!KNOWN_MEMBERS.includes(k)) m.rest[k] = v;
  return m;
}

const one = list => list.length === 1 ? list[0] : list;

// toStatement turns a model back into a statement; n numbers it in messages.
function toStatement(m, n, actionList, withResource) {
  const st = {};
  if (m.sid.trim()) st.Sid = m.sid.trim();
  st.Effect = m.effect;
  const aws = m.aws.map(s => s.trim()).filter(Boolean), service = m.service.map(s => s.trim()).filter(Boolean);
  if (m.everyone && !m.everyoneAWS && !service.length && !Object.keys(m.otherPrincipal).length) st.Principal = '*';
  else {
    const p = {};
    if (m.everyone) p.AWS = '*';
    else if (aws.length) p.AWS = one(aws);
    if (service.length) p.Service = one(service);
    Object.assign(p, m.otherPrincipal);
    if (Object.keys(p).length) st.Principal = p;
  }
  const actions = m.actions.has('ecr:*') ? ['ecr:*'] : [...actionList, 'ecr:*'].filter(a => m.actions.has(a));
  actions.push(...m.otherActions.map(s => String(s).trim()).filter(Boolean));
  if (actions.length) st.Action = actions;
  const res = m.resources.map(s => s.trim()).filter(Boolean);
  if (withResource && res.length) st.Resource = one(res);
  else if (!withResource && m.resources.length) st.Resource = one(m.resources);
  Object.assign(st, m.rest);
  if (m.condition.trim()) {
    try { st.Condition = JSON.parse(m.condition); }
    catch (e) { throw new Error(`Statement ${n}: the condition is not valid JSON (${e.message}).`); }
  }
  return st;
}

const lines = s => s.split('\n').map(x => x.trim()).filter(Boolean);

let entities; // the IAM users and roles of the account, for the principal picker (none when not allowed)
async function iamEntities() {
  if (entities) return entities;
  entities = [];
  try {
    const [u, r] = await Promise.allSettled([iam('ListUsers', { MaxItems: 1000 }), iam('ListRoles', { MaxItems: 1000 })]);
    if (u.status === 'fulfilled') entities.push(...[].concat(u.value.Users || []).map(x => x.Arn));
    if (r.status === 'fulfilled') entities.push(...[].concat(r.value.Roles || []).map(x => x.Arn));
  } catch { /* the picker is a convenience: the text field takes any ARN */ }
  return entities;
}

// policyEditor is the statement editor of a resource policy: a list of statements (Sid, Effect,
// principals, actions, optional condition) and an "Edit JSON" view of the whole document.
//   actions():   the actions offered as checkboxes
//   templates(): example statements, [{label, st}]
//   resource:    a default Resource for new statements (registry policies name resources); none for a
//                repository policy, whose resource is the repository
//   load():      the policy text, or null when there is none yet
//   save(text), remove(): the API calls; their errors are shown as the API gave them
export function policyEditor({ what, actions, templates, resource, load, save, remove, notFound }) {
  const box = h('div', { class: 'policy-editor' });
  const out = h('div', { 'aria-live': 'polite' });
  let doc = null;      // the document's other members (Version, Id)
  let models = [];     // the statements
  let mode = 'form';
  let exists = false;
  let jsonArea;
  const idp = 'pe-';

  async function reload() {
    render(box, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading…'));
    let text = null;
    try { text = await load(); }
    catch (err) {
      if (!(err instanceof ApiError && err.code === notFound)) { render(box, errorBox(err)); return; }
    }
    exists = text !== null;
    doc = { Version: '2012-10-17' };
    models = [];
    if (exists) {
      try { setDocument(JSON.parse(text)); }
      catch { mode = 'json'; } // not JSON the form can show: the JSON view shows it as it is
    }
    draw(text);
  }

  function setDocument(d) {
    const { Statement, ...restDoc } = d;
    doc = restDoc;
    models = [].concat(Statement ?? []).map(st => fromStatement(st, actions()));
  }

  function documentText() {
    const d = { ...doc, Statement: models.map((m, i) => toStatement(m, i + 1, actions(), !!resource)) };
    return JSON.stringify(d, null, 2);
  }

  function draw(rawText) {
    render(out);
    const formBtn = h('button', { type: 'button', 'aria-pressed': String(mode === 'form'), onclick: () => switchTo('form') }, 'Statements');
    const jsonBtn = h('button', { type: 'button', 'aria-pressed': String(mode === 'json'), onclick: () => switchTo('json') }, 'Edit JSON');
    const body = h('div', {});
    if (mode === 'json') {
      let text = rawText;
      if (text === undefined || text === null) { try { text = documentText(); } catch { text = ''; } }
      jsonArea = h('textarea', { id: idp + 'json', rows: 24, spellcheck: 'false', value: text });
      render(body, field('Policy JSON', jsonArea, `the whole ${what} policy document`));
    } else {
      jsonArea = null;
      render(body, statementsForm());
    }
    render(box,
      exists ? null : h('p', { class: 'notice' }, `No ${what} policy yet: add a statement and save to create one.`),
      h('div', { class: 'row seg', role: 'group', 'aria-label': 'Editor view' }, formBtn, jsonBtn),
      h('form', { onsubmit: onSave }, body, out,
        h('div', { class: 'row' },
          h('button', { type: 'submit', class: 'primary' }, 'Save'),
          h('button', { type: 'button', onclick: reload }, 'Discard changes'),
          exists && h('button', { type: 'button', class: 'danger', onclick: onDelete }, 'Delete policy'))));
  }

  function switchTo(next) {
    if (next === mode) return;
    try {
      if (next === 'json') { const t = documentText(); mode = next; draw(t); }
      else { setDocument(JSON.parse(jsonArea.value || '{}')); mode = next; draw(); }
      box.querySelector('[aria-pressed="true"]')?.focus();
    } catch (e) { render(out, errorBox(e instanceof SyntaxError ? 'The policy is not valid JSON: ' + e.message : e)); }
  }

  function statementsForm() {
    const list = h('div', {});
    const pick = h('select', { id: idp + 'template' }, h('option', { value: '' }, 'Blank statement'),
      templates().map((t, i) => h('option', { value: String(i) }, t.label)));
    const add = h('button', { type: 'button', onclick: () => {
      const t = pick.value === '' ? { Effect: 'Allow' } : structuredClone(templates()[Number(pick.value)].st);
      if (resource && t.Resource === undefined) t.Resource = resource();
      models.push(fromStatement(t, actions()));
      redraw();
      document.getElementById(`${idp}${models.length - 1}-sid`)?.focus();
    } }, 'Add statement');
    function redraw() { render(list, models.length ? models.map((m, i) => statementFieldset(m, i, redraw)) : h('p', { class: 'empty' }, 'No statements.')); }
    redraw();
    return [list, h('div', { class: 'toolbar' }, h('div', {}, h('label', { for: pick.id, class: 'hint' }, 'Start from'), pick), add)];
  }

  function statementFieldset(m, i, redraw) {
    const id = s => `${idp}${i}-${s}`;
    const sid = h('input', { type: 'text', id: id('sid'), value: m.sid, autocomplete: 'off', oninput: e => { m.sid = e.target.value; legendText.textContent = legendOf(); } });
    const legendOf = () => `Statement ${i + 1}` + (m.sid ? ` — ${m.sid}` : '');
    const legendText = h('span', {}, legendOf());
    const effect = h('fieldset', { class: 'inner' }, h('legend', {}, 'Effect'),
      ['Allow', 'Deny'].map(v => h('label', { class: 'inline' },
        h('input', { type: 'radio', name: id('effect'), value: v, checked: m.effect === v, onchange: () => { m.effect = v; } }), v)));

    const aws = h('textarea', { id: id('aws'), rows: 3, class: 'short', spellcheck: 'false', value: m.aws.join('\n'), oninput: e => { m.aws = lines(e.target.value); } });
    const everyone = h('input', { type: 'checkbox', id: id('everyone'), checked: m.everyone, onchange: e => { m.everyone = e.target.checked; aws.disabled = m.everyone; } });
    aws.disabled = m.everyone;
    const service = h('textarea', { id: id('service'), rows: 2, class: 'short', spellcheck: 'false', value: m.service.join('\n'), oninput: e => { m.service = lines(e.target.value); } });
    const listId = id('entities');
    const pickEntity = h('input', { type: 'text', id: id('entity'), list: listId, autocomplete: 'off', placeholder: 'arn:aws:iam::…:user/… or role/…' });
    const entityList = h('datalist', { id: listId });
    iamEntities().then(arns => render(entityList, arns.map(a => h('option', { value: a }))));
    const addEntity = h('button', { type: 'button', onclick: () => {
      const v = pickEntity.value.trim();
      if (!v) return;
      if (!m.aws.includes(v)) m.aws.push(v);
      aws.value = m.aws.join('\n'); pickEntity.value = ''; pickEntity.focus();
    } }, 'Add');
    const principals = h('fieldset', { class: 'inner' }, h('legend', {}, 'Principals'),
      h('label', { class: 'inline' }, everyone, 'Everyone (*)'),
      field('AWS accounts and IAM entities', aws, 'account ids (111122223333) or ARNs, one a line'),
      h('label', { for: pickEntity.id }, 'Add an IAM user or role of this account'),
      h('div', { class: 'row' }, h('div', { class: 'grow' }, pickEntity), addEntity), entityList,
      field('Service principals', service, 'e.g. ecr.amazonaws.com, one a line'),
      Object.keys(m.otherPrincipal).length ? h('p', { class: 'hint' }, 'Also keeps principals of type ' + Object.keys(m.otherPrincipal).join(', ') + ' (edit them in the JSON view).') : null);

    const boxes = new Map();
    const all = h('input', { type: 'checkbox', checked: m.actions.has('ecr:*'), onchange: e => {
      if (e.target.checked) m.actions.add('ecr:*'); else m.actions.delete('ecr:*');
      for (const b of boxes.values()) b.disabled = e.target.checked;
    } });
    const grid = h('div', { class: 'action-grid' }, actions().map(a => {
      const b = h('input', { type: 'checkbox', value: a, checked: m.actions.has(a), disabled: m.actions.has('ecr:*'),
        onchange: e => { if (e.target.checked) m.actions.add(a); else m.actions.delete(a); } });
      boxes.set(a, b);
      return h('label', { class: 'inline' }, b, h('span', { class: 'mono' }, a.slice(4)));
    }));
    const select = set => () => { for (const a of set) { if (boxes.has(a)) { m.actions.add(a); boxes.get(a).checked = true; } } };
    const clear = () => { for (const [a, b] of boxes) { m.actions.delete(a); b.checked = false; } };
    const other = h('input', { type: 'text', id: id('other-actions'), autocomplete: 'off', value: m.otherActions.join(', '),
      oninput: e => { m.otherActions = e.target.value.split(',').map(s => s.trim()).filter(Boolean); } });
    const actionSet = h('fieldset', { class: 'inner' }, h('legend', {}, 'Actions'),
      h('label', { class: 'inline' }, all, 'All Amazon ECR actions (ecr:*)'),
      h('div', { class: 'row' },
        boxes.has(PULL[0]) && boxes.has(PULL[2]) ? h('button', { type: 'button', onclick: select(PULL) }, 'Select pull actions') : null,
        boxes.has('ecr:PutImage') ? h('button', { type: 'button', onclick: select(PUSH) }, 'Select push actions') : null,
        h('button', { type: 'button', onclick: clear }, 'Clear')),
      grid,
      field('Other actions', other, 'comma-separated, e.g. ecr:Describe*'));

    const resources = resource ? h('textarea', { id: id('resource'), rows: 2, class: 'short', spellcheck: 'false', value: m.resources.join('\n'),
      oninput: e => { m.resources = lines(e.target.value); } }) : null;
    const cond = h('textarea', { id: id('condition'), rows: 4, class: 'short', spellcheck: 'false', value: m.condition,
      placeholder: '{"StringEquals": {"aws:PrincipalOrgID": "o-…"}}', oninput: e => { m.condition = e.target.value; } });
    const rest = Object.keys(m.rest);
    return h('fieldset', { class: 'statement' }, h('legend', {}, legendText),
      field('Statement ID (Sid)', sid, 'optional'),
      effect, principals, actionSet,
      resources && field('Resources', resources, 'ARNs, one a line'),
      field('Condition', cond, 'optional, JSON'),
      rest.length ? h('p', { class: 'hint' }, 'Also keeps ' + rest.join(', ') + ' (edit in the JSON view).') : null,
      h('div', { class: 'row' },
        h('button', { type: 'button', disabled: i === 0, onclick: () => { [models[i - 1], models[i]] = [models[i], models[i - 1]]; redraw(); document.getElementById(`${idp}${i - 1}-sid`)?.focus(); } }, 'Move up'),
        h('button', { type: 'button', disabled: i === models.length - 1, onclick: () => { [models[i + 1], models[i]] = [models[i], models[i + 1]]; redraw(); document.getElementById(`${idp}${i + 1}-sid`)?.focus(); } }, 'Move down'),
        h('button', { type: 'button', onclick: () => { models.splice(i, 1); redraw(); document.getElementById(`${idp}template`)?.focus(); } }, `Remove statement ${i + 1}`)));
  }

  async function onSave(e) {
    e.preventDefault();
    render(out);
    let text;
    try { text = mode === 'json' ? jsonArea.value : documentText(); }
    catch (err) { render(out, errorBox(err)); return; }
    const btn = e.submitter; if (btn) btn.disabled = true;
    try {
      await save(text);
      notify(`Saved the ${what} policy`);
      await reload();
      box.querySelector('.seg [aria-pressed="true"]')?.focus();
    } catch (err) { render(out, errorBox(err)); }
    finally { if (btn) btn.disabled = false; }
  }

  async function onDelete() {
    if (!await confirmDialog(`Delete the ${what} policy?`, `Every statement of the ${what} policy is removed; access falls back to identity policies alone.`)) return;
    try { await remove(); notify(`Deleted the ${what} policy`); await reload(); box.querySelector('.seg [aria-pressed="true"]')?.focus(); }
    catch (err) { render(out, errorBox(err)); }
  }

  reload();
  return box;
}

// repositoryTabs are the five tabs of a repository's pages.
export function repositoryTabs(name, current) {
  const n = enc(name);
  return tabs([['Images', '#/repository/images/' + n], ['Tags', '#/repository/tags/' + n], ['Permissions', '#/repository/permissions/' + n],
    ['Lifecycle policy', '#/repository/lifecycle/' + n], ['Settings', '#/repository/settings/' + n]], `#/repository/${current}/${n}`);
}

route('/repository/permissions/:name*', (main, { name }) => {
  render(main,
    crumbs(['Repositories', '#/repositories'], name),
    h('h1', {}, name),
    repositoryTabs(name, 'permissions'),
    h('h2', {}, 'Repository policy'),
    h('p', { class: 'muted' }, 'Who may act on this repository, beyond the identity policies of your account. Users also need ecr:GetAuthorizationToken from an identity policy to sign in to the registry.'),
    policyEditor({
      what: 'repository',
      actions: () => REPOSITORY_ACTIONS,
      templates: repositoryTemplates,
      notFound: 'RepositoryPolicyNotFoundException',
      load: async () => (await ecr('GetRepositoryPolicy', { repositoryName: name })).policyText,
      save: text => ecr('SetRepositoryPolicy', { repositoryName: name, policyText: text }),
      remove: () => ecr('DeleteRepositoryPolicy', { repositoryName: name }),
    }));
});
