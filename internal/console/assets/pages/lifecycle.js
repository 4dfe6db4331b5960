// A repository's lifecycle policy: the guide's rule editor (and an "Edit JSON" view), "Save and test
// rules" (a lifecycle policy preview of the draft), "Apply" (PutLifecyclePolicy), and the history of what
// the lifecycle expired, from the event history.
import { ecr, cloudtrail, h, render, route, errorBox, field, notify, confirmDialog, table, fmtTime, shortDigest, crumbs, ApiError } from '../lib.js';
import { repositoryTabs } from './policies.js';

// COUNT_TYPES are the match criteria Wharf's lifecycle engine accepts (internal/lifecycle).
const COUNT_TYPES = [
  ['imageCountMoreThan', 'Image count more than', 'images kept'],
  ['sinceImagePushed', 'Since image pushed', 'days'],
  ['sinceImagePulled', 'Since image last pulled', 'days'],
  ['sinceImageTransitioned', 'Since image archived (archived images only)', 'days'],
];

const asInt = s => /^\s*-?\d+\s*$/.test(String(s)) ? Number(s) : s; // anything else goes as typed, for the API to judge

function fromRule(r) {
  const sel = r.selection || {};
  return {
    priority: r.rulePriority ?? '', description: r.description ?? '', tagStatus: sel.tagStatus || 'any',
    tagMode: sel.tagPatternList ? 'pattern' : 'prefix', tags: [].concat(sel.tagPatternList || sel.tagPrefixList || []),
    countType: sel.countType || 'imageCountMoreThan', countNumber: sel.countNumber ?? '',
    action: r.action?.type || 'expire',
  };
}

function toRule(m) {
  const sel = { tagStatus: m.tagStatus };
  if (m.tagStatus === 'tagged' && m.tags.length) sel[m.tagMode === 'pattern' ? 'tagPatternList' : 'tagPrefixList'] = m.tags;
  if (m.countType === 'sinceImageTransitioned') sel.storageClass = 'archive';
  sel.countType = m.countType;
  if (m.countType !== 'imageCountMoreThan') sel.countUnit = 'days';
  sel.countNumber = asInt(m.countNumber);
  const rule = { rulePriority: asInt(m.priority) };
  if (m.description.trim()) rule.description = m.description.trim();
  rule.selection = sel;
  rule.action = m.action === 'transition' ? { type: 'transition', targetStorageClass: 'archive' } : { type: 'expire' };
  return rule;
}

route('/repository/lifecycle/:name*', async (main, { name }) => {
  const current = h('div', { 'aria-live': 'polite' });
  const editor = h('div', {});
  const out = h('div', { 'aria-live': 'polite' });
  const preview = h('div', { 'aria-live': 'polite' });
  const history = h('div', {});
  render(main,
    crumbs(['Repositories', '#/repositories'], name),
    h('h1', {}, name),
    repositoryTabs(name, 'lifecycle'),
    h('p', { class: 'muted' }, 'Lifecycle rules expire (or archive) images of this repository automatically. Test a draft against the images now in the repository before you apply it; the images a policy marks are expired within 24 hours.'),
    h('section', { 'aria-labelledby': 'lc-current' }, h('h2', { id: 'lc-current' }, 'Lifecycle policy'), current),
    h('section', { 'aria-labelledby': 'lc-rules' }, h('h2', { id: 'lc-rules' }, 'Rules'), editor, out),
    h('section', { 'aria-labelledby': 'lc-test' }, h('h2', { id: 'lc-test' }, 'Image matches for test lifecycle rules'), preview),
    h('section', { 'aria-labelledby': 'lc-history' }, h('h2', { id: 'lc-history' }, 'What the lifecycle expired'), history));

  let rules = [];
  let mode = 'form';
  let jsonArea = null;
  let exists = false;

  async function loadPolicy() {
    render(current, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading…'));
    let text = null;
    try {
      const p = await ecr('GetLifecyclePolicy', { repositoryName: name });
      text = p.lifecyclePolicyText;
      exists = true;
      render(current, h('dl', { class: 'facts' },
        h('dt', {}, 'Status'), h('dd', {}, 'Applied'),
        h('dt', {}, 'Last evaluated'), h('dd', {}, p.lastEvaluatedAt ? fmtTime(p.lastEvaluatedAt) : 'Not yet')),
      h('button', { type: 'button', class: 'danger', onclick: onDelete }, 'Delete policy'));
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'LifecyclePolicyNotFoundException')) { render(current, errorBox(err)); return undefined; }
      exists = false;
      render(current, h('p', { class: 'notice' }, 'No lifecycle policy yet: add rules, test them and apply them.'));
    }
    return text;
  }

  function setText(text) {
    const doc = JSON.parse(text);
    rules = [].concat(doc.rules || []).map(fromRule);
  }

  function policyText() {
    if (mode === 'json') return jsonArea.value;
    return JSON.stringify({ rules: rules.map(toRule) }, null, 2);
  }

  function draw(raw) {
    const formBtn = h('button', { type: 'button', 'aria-pressed': String(mode === 'form'), onclick: () => switchTo('form') }, 'Rules');
    const jsonBtn = h('button', { type: 'button', 'aria-pressed': String(mode === 'json'), onclick: () => switchTo('json') }, 'Edit JSON');
    const body = h('div', {});
    if (mode === 'json') {
      jsonArea = h('textarea', { id: 'lc-json', rows: 22, spellcheck: 'false', value: raw ?? policyText() });
      render(body, field('Lifecycle policy JSON', jsonArea));
    } else {
      jsonArea = null;
      render(body, rulesForm());
    }
    render(editor,
      h('div', { class: 'row seg', role: 'group', 'aria-label': 'Editor view' }, formBtn, jsonBtn),
      h('form', { onsubmit: e => { e.preventDefault(); test(e.submitter); } }, body,
        h('div', { class: 'row' },
          h('button', { type: 'submit', class: 'primary' }, 'Save and test rules'),
          h('button', { type: 'button', onclick: e => apply(e.target) }, 'Apply as lifecycle policy'),
          h('button', { type: 'button', onclick: start }, 'Discard changes'))));
  }

  function switchTo(next) {
    if (next === mode) return;
    render(out);
    try {
      if (next === 'json') { const t = policyText(); mode = next; draw(t); }
      else { setText(jsonArea.value || '{}'); mode = next; draw(); }
      editor.querySelector('[aria-pressed="true"]')?.focus();
    } catch (e) { render(out, errorBox('The policy is not valid JSON: ' + e.message)); }
  }

  function rulesForm() {
    const list = h('div', {});
    const add = h('button', { type: 'button', onclick: () => {
      const next = rules.reduce((mx, r) => Math.max(mx, Number(r.priority) || 0), 0) + 1;
      rules.push({ priority: next, description: '', tagStatus: 'untagged', tagMode: 'prefix', tags: [], countType: 'sinceImagePushed', countNumber: 14, action: 'expire' });
      redraw();
      document.getElementById(`lc-${rules.length - 1}-priority`)?.focus();
    } }, 'Add rule');
    function redraw() {
      render(list, rules.length ? rules.map((r, i) => ruleFieldset(r, i, redraw, add)) : h('p', { class: 'empty' }, 'No rules yet. Add a rule.'));
    }
    redraw();
    return [list, h('div', { class: 'row' }, add)];
  }

  function ruleFieldset(r, i, redraw, add) {
    const id = s => `lc-${i}-${s}`;
    const legend = h('span', {}, `Rule ${i + 1}` + (r.priority !== '' ? ` (priority ${r.priority})` : ''));
    const priority = h('input', { type: 'number', id: id('priority'), min: 1, step: 1, value: r.priority, oninput: e => {
      r.priority = e.target.value; legend.textContent = `Rule ${i + 1}` + (r.priority !== '' ? ` (priority ${r.priority})` : '');
    } });
    const desc = h('input', { type: 'text', id: id('description'), value: r.description, oninput: e => { r.description = e.target.value; } });
    const tagsBox = h('div', {});
    const status = h('select', { id: id('status'), onchange: e => { r.tagStatus = e.target.value; drawTags(); } },
      [['tagged', 'Tagged'], ['untagged', 'Untagged'], ['any', 'Any']].map(([v, l]) => h('option', { value: v, selected: r.tagStatus === v }, l)));
    function drawTags() {
      if (r.tagStatus !== 'tagged') { render(tagsBox); return; }
      const modeSel = h('select', { id: id('tagmode'), onchange: e => { r.tagMode = e.target.value; } },
        h('option', { value: 'prefix', selected: r.tagMode === 'prefix' }, 'Tag prefixes (tagPrefixList)'),
        h('option', { value: 'pattern', selected: r.tagMode === 'pattern' }, 'Tag patterns with * wildcards (tagPatternList)'));
      const tags = h('input', { type: 'text', id: id('tags'), value: r.tags.join(', '), autocomplete: 'off', placeholder: 'prod, release-*',
        oninput: e => { r.tags = e.target.value.split(',').map(s => s.trim()).filter(Boolean); } });
      render(tagsBox, field('Match tags by', modeSel), field('Tags', tags, 'comma-separated; an image is selected when every one matches one of its tags'));
    }
    drawTags();
    const numLabel = h('span', {});
    const unit = () => (COUNT_TYPES.find(c => c[0] === r.countType) || COUNT_TYPES[0])[2];
    const count = h('select', { id: id('count'), onchange: e => { r.countType = e.target.value; numLabel.textContent = 'Count number (' + unit() + ')'; } },
      COUNT_TYPES.map(([v, l]) => h('option', { value: v, selected: r.countType === v }, `${l} (${v})`)));
    numLabel.textContent = 'Count number (' + unit() + ')';
    const number = h('input', { type: 'number', id: id('number'), min: 1, step: 1, value: r.countNumber, oninput: e => { r.countNumber = e.target.value; } });
    const action = h('select', { id: id('action'), onchange: e => { r.action = e.target.value; } },
      h('option', { value: 'expire', selected: r.action === 'expire' }, 'Expire (delete)'),
      h('option', { value: 'transition', selected: r.action === 'transition' }, 'Transition to the archive'));
    return h('fieldset', { class: 'rule' }, h('legend', {}, legend),
      field('Rule priority', priority, 'lowest first; the rule of image status Any must have the highest'),
      field('Rule description', desc, 'optional'),
      field('Image status', status), tagsBox,
      h('fieldset', { class: 'inner' }, h('legend', {}, 'Match criteria'),
        field('Count type', count),
        h('label', { for: number.id }, numLabel), number),
      field('Rule action', action),
      h('div', { class: 'row' },
        h('button', { type: 'button', onclick: () => { rules.splice(i, 1); redraw(); add.focus(); } }, `Remove rule ${i + 1}`)));
  }

  async function test(btn) {
    render(out);
    const text = policyText();
    if (btn) btn.disabled = true;
    try {
      await ecr('StartLifecyclePolicyPreview', { repositoryName: name, lifecyclePolicyText: text });
      render(preview, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Testing the rules against the images of the repository…'));
      await showPreview(true);
    } catch (err) { render(out, errorBox(err)); }
    finally { if (btn) btn.disabled = false; }
  }

  // showPreview shows the repository's latest preview, waiting while it runs.
  async function showPreview(fresh) {
    let res;
    for (let i = 0; ; i++) {
      try { res = await ecr('GetLifecyclePolicyPreview', { repositoryName: name, maxResults: 100 }); }
      catch (err) {
        if (!fresh && err instanceof ApiError && err.code === 'LifecyclePolicyPreviewNotFoundException') {
          render(preview, h('p', { class: 'muted' }, 'No test yet. Choose “Save and test rules” to see which images the draft would expire.'));
          return;
        }
        render(preview, errorBox(err)); return;
      }
      if (res.status !== 'IN_PROGRESS' || i >= 120) break;
      await new Promise(r => setTimeout(r, 1000));
    }
    const results = [...(res.previewResults || [])];
    let token = res.nextToken;
    for (let n = 0; token && n < 20; n++) { // at most 2,100 images listed
      const more = await ecr('GetLifecyclePolicyPreview', { repositoryName: name, maxResults: 100, nextToken: token });
      results.push(...(more.previewResults || []));
      token = more.nextToken;
    }
    const s = res.summary || {};
    const transitioning = (s.transitioningImageTotalCounts || []).reduce((n, t) => n + t.imageTotalCount, 0);
    render(preview,
      res.status === 'COMPLETE' ? null : h('div', { class: 'error', role: 'alert' }, `The test ended with status ${res.status}.`),
      h('p', {}, h('strong', {}, String(s.expiringImageTotalCount ?? 0)), ' image(s) would expire',
        transitioning ? [', ', h('strong', {}, String(transitioning)), ' would move to the archive'] : null, '.'),
      h('details', {}, h('summary', {}, 'Rules tested'), h('pre', {}, prettyJSON(res.lifecyclePolicyText))),
      table([
        { label: 'Image digest', cell: r => h('code', { title: r.imageDigest }, shortDigest(r.imageDigest)) },
        { label: 'Tags', cell: r => (r.imageTags || []).join(', ') || h('span', { class: 'muted' }, 'untagged') },
        { label: 'Pushed at', cell: r => fmtTime(r.imagePushedAt) },
        { label: 'Rule priority', num: true, cell: r => r.appliedRulePriority },
        { label: 'Action', cell: r => r.action?.type === 'transition' ? 'transition to ' + (r.action.targetStorageClass || 'archive').toLowerCase() : (r.action?.type || '') },
      ], results, { empty: 'No image matches these rules: nothing would expire.' }),
      token ? h('p', { class: 'muted' }, 'Only the first ' + results.length + ' matches are listed.') : null);
  }

  async function apply(btn) {
    render(out);
    btn.disabled = true;
    try {
      await ecr('PutLifecyclePolicy', { repositoryName: name, lifecyclePolicyText: policyText() });
      notify('Applied the lifecycle policy');
      await start();
      editor.querySelector('[aria-pressed="true"]')?.focus();
    } catch (err) { render(out, errorBox(err)); }
    finally { btn.disabled = false; }
  }

  async function onDelete() {
    if (!await confirmDialog('Delete the lifecycle policy?', `The lifecycle rules of ${name} are removed; no image of it expires automatically any more.`)) return;
    try { await ecr('DeleteLifecyclePolicy', { repositoryName: name }); notify('Deleted the lifecycle policy'); await start(); editor.querySelector('[aria-pressed="true"]')?.focus(); }
    catch (err) { render(current, errorBox(err)); }
  }

  async function start() {
    render(out);
    const text = await loadPolicy();
    rules = [];
    if (text === undefined) { render(editor, h('p', { class: 'muted' }, 'The rules cannot be edited without reading the current policy.')); return; }
    mode = 'form';
    if (text) { try { setText(text); } catch { mode = 'json'; } }
    draw(mode === 'json' ? text : undefined);
  }

  await start();
  showPreview(false);
  showHistory(history, name);
});

function prettyJSON(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text || ''; }
}

// showHistory lists the lifecycle's executions on this repository: the PolicyExecutionEvent records of
// the event history (CloudTrail LookupEvents), newest first.
async function showHistory(box, name) {
  render(box, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading…'));
  const rows = [];
  let token, pages = 0;
  try {
    do {
      const res = await cloudtrail('LookupEvents', { LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'PolicyExecutionEvent' }], MaxResults: 50, NextToken: token });
      for (const e of res.Events || []) {
        let rec;
        try { rec = JSON.parse(e.CloudTrailEvent); } catch { continue; }
        const p = rec.requestParameters || {};
        // The lifecycle's own passes name the repository and images in their parameters; a run on demand
        // (wharf lifecycle run) names the repository as its resource only.
        const onDemand = !rec.requestParameters;
        if (p.repositoryName !== name && !(onDemand && (rec.resources || []).some(r => (r.ARN || '').endsWith(':repository/' + name)))) continue;
        const ids = p.imageIds || (p.imageId ? [p.imageId] : []);
        const u = rec.userIdentity || {};
        rows.push({ time: e.EventTime, archived: !!p.targetStorageClass, onDemand, ids, rules: p.rulePriorities || {}, by: u.invokedBy || u.arn || u.type || '',
          error: rec.errorCode ? `${rec.errorCode}: ${rec.errorMessage || ''}` : '' });
      }
      token = res.NextToken;
    } while (token && ++pages < 10 && rows.length < 100);
  } catch (err) { render(box, errorBox(err)); return; }
  render(box,
    table([
      { label: 'When', cell: r => fmtTime(r.time) },
      { label: 'Action', cell: r => (r.onDemand ? 'Applied on demand' : r.archived ? 'Archived' : 'Expired') + (r.error ? ' (failed: ' + r.error + ')' : '') },
      { label: 'By', cell: r => r.by },
      { label: 'Images', cell: r => r.onDemand ? h('span', { class: 'muted' }, 'not recorded') : h('ul', { class: 'plain' }, groupIds(r.ids).map(([d, tags]) =>
        h('li', {}, h('code', { title: d }, shortDigest(d)), tags.length ? ' ' + tags.join(', ') : h('span', { class: 'muted' }, ' untagged'),
          r.rules[d] !== undefined ? h('span', { class: 'muted' }, ' — rule ' + r.rules[d]) : null))) },
      { label: 'Count', num: true, cell: r => r.onDemand ? '—' : groupIds(r.ids).length },
    ], rows, { empty: 'The lifecycle has not expired any image of this repository in the event history.' }),
    h('p', { class: 'hint' }, 'From the event history (PolicyExecutionEvent by the lifecycle): when, which images, and the priority of the rule that selected each.'),
    token ? h('p', { class: 'muted' }, 'Only the latest executions are listed; see Event history for older ones.') : null);
}

// groupIds turns an imageIds list (one entry per tag) into digests with their tags.
function groupIds(ids) {
  const m = new Map();
  for (const id of ids) {
    if (!m.has(id.imageDigest)) m.set(id.imageDigest, []);
    if (id.imageTag) m.get(id.imageDigest).push(id.imageTag);
  }
  return [...m];
}
