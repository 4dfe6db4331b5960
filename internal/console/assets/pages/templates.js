// Repository creation templates: the settings of the repositories that pushes, replication and pull
// through cache create under a prefix (Describe/Create/Update/DeleteRepositoryCreationTemplate).
import { ecr, h, render, route, errorBox, field, notify, confirmDialog, table, crumbs, enc, fmtTime } from '../lib.js';
import { parseTags } from './repositories.js';

const APPLIED_FOR = [
  ['CREATE_ON_PUSH', 'Create on push'],
  ['REPLICATION', 'Replication'],
  ['PULL_THROUGH_CACHE', 'Pull through cache'],
];
const LIST = '#/registry/templates';

route('/registry/templates', async (main) => {
  const box = h('div', {});
  const out = h('div', { 'aria-live': 'polite' });
  const createLink = h('a', { class: 'button primary', href: LIST + '/new' }, 'Create template');
  render(main,
    h('h1', {}, 'Repository creation templates'),
    h('p', { class: 'muted' }, 'A template gives the repositories created under its prefix their settings: when a push creates one, or replication or a pull through the cache. The longest prefix that applies wins; ROOT applies to every repository.'),
    h('div', { class: 'toolbar' }, createLink), out, box);

  async function load() {
    const all = [];
    try {
      let token;
      do {
        const res = await ecr('DescribeRepositoryCreationTemplates', { maxResults: 100, nextToken: token });
        all.push(...(res.repositoryCreationTemplates || []));
        token = res.nextToken;
      } while (token);
    } catch (err) { render(box, errorBox(err)); return; }
    render(box, table([
      { label: 'Prefix', cell: t => h('a', { class: 'nowrap', href: LIST + '/edit/' + enc(t.prefix) }, t.prefix) },
      { label: 'Applied for', cell: t => h('span', { class: 'row' }, (t.appliedFor || []).map(a => h('span', { class: 'badge' }, a))) },
      { label: 'Tag mutability', cell: t => t.imageTagMutability || 'MUTABLE' },
      { label: 'Encryption', cell: t => t.encryptionConfiguration?.encryptionType || 'AES256' },
      { label: 'Description', cell: t => t.description || '' },
      { label: 'Updated', cell: t => fmtTime(t.updatedAt) },
      { label: 'Actions', cell: t => h('div', { class: 'row nowrap' },
        h('a', { class: 'button', href: LIST + '/edit/' + enc(t.prefix), 'aria-label': 'Edit ' + t.prefix }, 'Edit'),
        h('button', { type: 'button', class: 'danger', 'aria-label': 'Delete ' + t.prefix, onclick: (e) => remove(t, e.currentTarget) }, 'Delete')) },
    ], all, { empty: 'No creation templates: new repositories get ECR’s defaults.' }));
  }

  async function remove(t, btn) {
    if (!await confirmDialog('Delete creation template', `Delete the template of prefix ${t.prefix}? Repositories it created keep their settings.`)) { btn.focus(); return; }
    render(out);
    try {
      await ecr('DeleteRepositoryCreationTemplate', { prefix: t.prefix });
      notify('Deleted the template ' + t.prefix);
      await load();
      createLink.focus();
    } catch (err) { render(out, errorBox(err)); btn.focus(); }
  }

  await load();
});

route('/registry/templates/new', (main) => templateForm(main, null));

route('/registry/templates/edit/:prefix*', async (main, { prefix }) => {
  const res = await ecr('DescribeRepositoryCreationTemplates', { prefixes: [prefix] });
  const t = (res.repositoryCreationTemplates || [])[0];
  if (!t) throw new Error('No creation template of prefix ' + prefix + '.');
  templateForm(main, t);
});

// templateForm creates a template (t null) or edits one, sending every member it shows.
function templateForm(main, t) {
  const editing = !!t;
  t = t || { appliedFor: ['CREATE_ON_PUSH'], imageTagMutability: 'MUTABLE', encryptionConfiguration: { encryptionType: 'AES256' } };
  const prefix = h('input', { type: 'text', id: 'tpl-prefix', required: true, autocomplete: 'off', value: t.prefix || '', readOnly: editing });
  const applied = APPLIED_FOR.map(([v, l]) => h('input', { type: 'checkbox', id: 'tpl-applied-' + v.toLowerCase(), value: v, checked: (t.appliedFor || []).includes(v) }));
  const desc = h('input', { type: 'text', id: 'tpl-description', autocomplete: 'off', value: t.description || '' });
  const mut = h('select', { id: 'tpl-mutability' }, ['MUTABLE', 'IMMUTABLE', 'MUTABLE_WITH_EXCLUSION', 'IMMUTABLE_WITH_EXCLUSION']
    .map(v => h('option', { value: v, selected: t.imageTagMutability === v }, v)));
  const excl = h('input', { type: 'text', id: 'tpl-exclusions', placeholder: 'latest, dev-*',
    value: (t.imageTagMutabilityExclusionFilters || []).map(f => f.filter).join(', ') });
  const encType = h('select', { id: 'tpl-encryption' }, ['AES256', 'KMS', 'KMS_DSSE']
    .map(v => h('option', { value: v, selected: t.encryptionConfiguration?.encryptionType === v }, v)));
  const kms = h('input', { type: 'text', id: 'tpl-kms', value: t.encryptionConfiguration?.kmsKey || '', placeholder: 'arn:aws:kms:… (blank: the AWS managed key)' });
  const tags = h('textarea', { id: 'tpl-tags', rows: 3, class: 'short', placeholder: 'team=devs\nenv=prod',
    value: (t.resourceTags || []).map(x => x.Key + '=' + x.Value).join('\n') });
  const policy = h('textarea', { id: 'tpl-policy', spellcheck: 'false', value: t.repositoryPolicy || '', placeholder: '{"Version": "2012-10-17", "Statement": [ … ]}' });
  const lifecycle = h('textarea', { id: 'tpl-lifecycle', spellcheck: 'false', value: t.lifecyclePolicy || '', placeholder: '{"rules": [ … ]}' });
  const role = h('input', { type: 'text', id: 'tpl-role', autocomplete: 'off', value: t.customRoleArn || '' });
  const out = h('div', { 'aria-live': 'polite' });

  render(main,
    crumbs(['Creation templates', LIST], editing ? t.prefix : 'Create'),
    h('h1', {}, editing ? 'Edit creation template ' + t.prefix : 'Create repository creation template'),
    h('form', { onsubmit: async (e) => {
      e.preventDefault();
      render(out);
      const input = { prefix: prefix.value.trim(), description: desc.value, imageTagMutability: mut.value,
        appliedFor: applied.filter(c => c.checked).map(c => c.value),
        encryptionConfiguration: { encryptionType: encType.value, ...(kms.value.trim() && encType.value !== 'AES256' ? { kmsKey: kms.value.trim() } : {}) },
        resourceTags: parseTags(tags.value), repositoryPolicy: policy.value.trim(), lifecyclePolicy: lifecycle.value.trim() };
      if (mut.value.endsWith('_WITH_EXCLUSION')) {
        input.imageTagMutabilityExclusionFilters = excl.value.split(',').map(s => s.trim()).filter(Boolean).map(f => ({ filterType: 'WILDCARD', filter: f }));
      }
      if (role.value.trim() || t.customRoleArn) input.customRoleArn = role.value.trim();
      try {
        const res = await ecr(editing ? 'UpdateRepositoryCreationTemplate' : 'CreateRepositoryCreationTemplate', input);
        notify((editing ? 'Saved the template ' : 'Created the template ') + res.repositoryCreationTemplate.prefix);
        location.hash = LIST;
      } catch (err) { render(out, errorBox(err)); }
    } },
      h('fieldset', {}, h('legend', {}, 'Template'),
        field('Prefix', prefix, editing ? 'a template’s prefix does not change' : 'applies to <prefix>/…; ROOT: every repository'),
        field('Description', desc)),
      h('fieldset', {}, h('legend', {}, 'Applied for'),
        applied.map((c, i) => h('label', { class: 'inline' }, c, APPLIED_FOR[i][1] + ' (' + APPLIED_FOR[i][0] + ')'))),
      h('fieldset', {}, h('legend', {}, 'Repository settings'),
        field('Tag mutability', mut), field('Mutability exclusion filters', excl, 'comma-separated wildcards, for the *_WITH_EXCLUSION settings'),
        field('Encryption type', encType), field('KMS key', kms),
        field('Resource tags', tags, 'one key=value a line'),
        field('Custom role ARN', role, 'optional, a role of this account')),
      h('fieldset', {}, h('legend', {}, 'Policies'),
        field('Repository policy JSON', policy, 'optional, as SetRepositoryPolicy takes it'),
        field('Lifecycle policy JSON', lifecycle, 'optional, as PutLifecyclePolicy takes it')),
      out,
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, editing ? 'Save changes' : 'Create template'),
        h('a', { class: 'button', href: LIST }, 'Cancel'))));
  (editing ? desc : prefix).focus();
}
