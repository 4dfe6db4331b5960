// Repositories: the list (search, paging, image count and size) and the create form.
import { ecr, h, render, route, table, fmtTime, fmtBytes, copyButton, errorBox, field, notify, pager, newPaging, enc, crumbs } from '../lib.js';

const PAGE = 100;

route('/repositories', async (main, params, query) => {
  const search = h('input', { type: 'search', id: 'repo-search', placeholder: 'Find repositories by name', value: query.get('q') || '' });
  const list = h('div', { 'aria-live': 'polite' });
  const paging = newPaging();
  render(main,
    h('h1', {}, 'Private repositories'),
    h('div', { class: 'toolbar' },
      h('div', { class: 'grow' }, h('label', { for: 'repo-search', class: 'hint' }, 'Search'), search),
      h('a', { class: 'button primary', href: '#/repositories/new' }, 'Create repository')),
    list);
  let timer;
  search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => { paging.page = 0; paging.tokens = [undefined]; load(); }, 250); });
  async function load() {
    render(list, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading…'));
    try {
      const q = search.value.trim().toLowerCase();
      let repos, next;
      if (q) { // ECR lists in pages without a filter: look through all names, at most 10,000
        repos = [];
        let token;
        for (let i = 0; i < 10; i++) {
          const out = await ecr('DescribeRepositories', { maxResults: 1000, nextToken: token });
          repos.push(...out.repositories.filter(r => r.repositoryName.includes(q)));
          token = out.nextToken;
          if (!token) break;
        }
        repos = repos.slice(paging.page * PAGE, (paging.page + 1) * PAGE + 1);
        next = repos.length > PAGE ? 'more' : undefined;
        repos = repos.slice(0, PAGE);
      } else {
        const out = await ecr('DescribeRepositories', { maxResults: PAGE, nextToken: paging.tokens[paging.page] });
        repos = out.repositories; next = out.nextToken;
      }
      paging.tokens[paging.page + 1] = next;
      const usage = await usageOf(repos.map(r => r.repositoryName));
      render(list,
        table([
          { label: 'Repository name', cell: r => h('a', { href: '#/repository/images/' + enc(r.repositoryName) }, r.repositoryName) },
          { label: 'URI', cell: r => h('span', { class: 'row' }, h('code', {}, r.repositoryUri), copyButton(r.repositoryUri, 'Copy URI')) },
          { label: 'Created', cell: r => fmtTime(r.createdAt) },
          { label: 'Tag immutability', cell: r => r.imageTagMutability },
          { label: 'Scan on push', cell: r => r.imageScanningConfiguration?.scanOnPush ? 'Enabled' : 'Disabled' },
          { label: 'Encryption', cell: r => r.encryptionConfiguration?.encryptionType || 'AES256' },
          { label: 'Images', num: true, cell: r => usage[r.repositoryName]?.imageCount ?? '—' },
          { label: 'Size', num: true, cell: r => usage[r.repositoryName] ? fmtBytes(usage[r.repositoryName].storageBytes) : '—' },
        ], repos, { empty: q ? 'No repository matches “' + q + '”.' : 'No repositories yet. Create one, or push to a name with create-on-push.' }),
        pager(paging, load));
    } catch (err) { render(list, errorBox(err)); }
  }
  await load();
});

// usageOf returns the image count and size of repositories, by name: what DescribeUsage tells, or
// nothing when the caller may not see it.
async function usageOf(names) {
  if (!names.length) return {};
  try {
    const out = await ecr('DescribeUsage', { repositoryNames: names, days: 1 });
    return Object.fromEntries((out.repositories || []).map(r => [r.repositoryName, r]));
  } catch { return {}; }
}

route('/repositories/new', (main) => {
  const name = h('input', { type: 'text', id: 'repo-name', required: true, autocomplete: 'off', pattern: '(?:[a-z0-9]+(?:[._\\-][a-z0-9]+)*/)*[a-z0-9]+(?:[._\\-][a-z0-9]+)*' });
  const mut = h('select', { id: 'repo-mutability' }, ['MUTABLE', 'IMMUTABLE', 'MUTABLE_WITH_EXCLUSION', 'IMMUTABLE_WITH_EXCLUSION'].map(v => h('option', { value: v }, v)));
  const excl = h('input', { type: 'text', id: 'repo-exclusions', placeholder: 'latest, dev-*' });
  const scan = h('input', { type: 'checkbox', id: 'repo-scan' });
  const enc_ = h('select', { id: 'repo-encryption' }, ['AES256', 'KMS', 'KMS_DSSE'].map(v => h('option', { value: v }, v)));
  const kms = h('input', { type: 'text', id: 'repo-kms', placeholder: 'arn:aws:kms:… (blank: the AWS managed key)' });
  const tags = h('textarea', { id: 'repo-tags', rows: 3, style: 'min-height:4rem', placeholder: 'team=devs\nenv=prod' });
  const out = h('div', { 'aria-live': 'polite' });
  render(main,
    crumbs(['Repositories', '#/repositories'], 'Create'),
    h('h1', {}, 'Create repository'),
    h('form', { onsubmit: async (e) => {
      e.preventDefault();
      render(out);
      const input = { repositoryName: name.value.trim(), imageTagMutability: mut.value,
        imageScanningConfiguration: { scanOnPush: scan.checked },
        encryptionConfiguration: { encryptionType: enc_.value, ...(kms.value.trim() && enc_.value !== 'AES256' ? { kmsKey: kms.value.trim() } : {}) } };
      if (mut.value.endsWith('_WITH_EXCLUSION')) {
        input.imageTagMutabilityExclusionFilters = excl.value.split(',').map(s => s.trim()).filter(Boolean).map(f => ({ filterType: 'WILDCARD', filter: f }));
      }
      const t = parseTags(tags.value);
      if (t.length) input.tags = t;
      try {
        const res = await ecr('CreateRepository', input);
        notify('Created ' + res.repository.repositoryName);
        location.hash = '#/repository/images/' + enc(res.repository.repositoryName);
      } catch (err) { render(out, errorBox(err)); }
    } },
      h('fieldset', {}, h('legend', {}, 'General settings'),
        field('Repository name', name, 'lowercase letters, digits, . _ - and / between components'),
        field('Tag mutability', mut), field('Mutability exclusion filters', excl, 'comma-separated wildcards, for the *_WITH_EXCLUSION settings')),
      h('fieldset', {}, h('legend', {}, 'Image scan settings'),
        h('label', { class: 'inline' }, scan, 'Scan on push')),
      h('fieldset', {}, h('legend', {}, 'Encryption settings'), field('Encryption type', enc_), field('KMS key', kms)),
      h('fieldset', {}, h('legend', {}, 'Tags'), field('Resource tags', tags, 'one key=value a line')),
      out,
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Create'), h('a', { class: 'button', href: '#/repositories' }, 'Cancel'))));
  name.focus();
});

// parseTags reads "key=value" lines into ECR's tag list.
export function parseTags(text) {
  return text.split('\n').map(l => l.trim()).filter(Boolean).map(l => {
    const i = l.indexOf('=');
    return i < 0 ? { Key: l, Value: '' } : { Key: l.slice(0, i).trim(), Value: l.slice(i + 1).trim() };
  });
}
