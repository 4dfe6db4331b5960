// The private registry's own settings: its permissions (the registry policy, with the statement editor of
// policies.js) and its scanning configuration.
import { ecr, session, h, render, route, errorBox, field, notify, confirmDialog, table, enc, ApiError } from '../lib.js';
import { policyEditor } from './policies.js';

// ALL_ACTIONS are ECR's actions (botocore's operations), those a registry policy of scope V2 may name.
const ALL_ACTIONS = [
  'BatchCheckLayerAvailability', 'BatchDeleteImage', 'BatchGetImage', 'BatchGetRepositoryScanningConfiguration',
  'BatchImportUpstreamImage', 'CompleteLayerUpload', 'CreatePullThroughCacheRule', 'CreateRepository',
  'CreateRepositoryCreationTemplate', 'DeleteLifecyclePolicy', 'DeletePullThroughCacheRule', 'DeleteRegistryPolicy',
  'DeleteRepository', 'DeleteRepositoryCreationTemplate', 'DeleteRepositoryPolicy', 'DeleteSigningConfiguration',
  'DeregisterPullTimeUpdateExclusion', 'DescribeImageReplicationStatus', 'DescribeImageScanFindings',
  'DescribeImageSigningStatus', 'DescribeImages', 'DescribePullThroughCacheRules', 'DescribeRegistry',
  'DescribeRepositories', 'DescribeRepositoryCreationTemplates', 'GetAccountSetting', 'GetAuthorizationToken',
  'GetDownloadUrlForLayer', 'GetLifecyclePolicy', 'GetLifecyclePolicyPreview', 'GetRegistryPolicy',
  'GetRegistryScanningConfiguration', 'GetRepositoryPolicy', 'GetSigningConfiguration', 'InitiateLayerUpload',
  'ListImageReferrers', 'ListImages', 'ListPullTimeUpdateExclusions', 'ListTagsForResource', 'PutAccountSetting',
  'PutImage', 'PutImageScanningConfiguration', 'PutImageTagMutability', 'PutLifecyclePolicy', 'PutRegistryPolicy',
  'PutRegistryScanningConfiguration', 'PutReplicationConfiguration', 'PutSigningConfiguration',
  'RegisterPullTimeUpdateExclusion', 'ReplicateImage', 'SetRepositoryPolicy', 'StartImageScan',
  'StartLifecyclePolicyPreview', 'TagResource', 'UntagResource', 'UpdateImageStorageClass', 'UpdatePullThroughCacheRule',
  'UpdateRepositoryCreationTemplate', 'UploadLayerPart', 'ValidatePullThroughCacheRule',
].map(a => 'ecr:' + a);

// V1_ACTIONS are the only actions a registry policy of scope V1 governs: replication and pull through cache.
const V1_ACTIONS = ['ecr:CreateRepository', 'ecr:ReplicateImage', 'ecr:BatchImportUpstreamImage'];

function repositoriesArn(prefix = '') {
  const s = session.info || {};
  return `arn:aws:ecr:${s.region || 'us-east-1'}:${s.accountId || '111122223333'}:repository/${prefix}*`;
}

// registryTemplates are the ECR user guide's registry permission examples.
function registryTemplates(scope) {
  const t = [
    { label: 'Allow another account to replicate into this registry', st: { Sid: 'ReplicationAccessCrossAccount', Effect: 'Allow',
      Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: ['ecr:CreateRepository', 'ecr:ReplicateImage'], Resource: repositoriesArn() } },
    { label: 'Allow pull through cache for an account', st: { Sid: 'PullThroughCache', Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${session.info?.accountId || '111122223333'}:root` },
      Action: ['ecr:CreateRepository', 'ecr:BatchImportUpstreamImage'], Resource: repositoriesArn('ecr-public/') } },
  ];
  if (scope !== 'V1') {
    t.push({ label: 'Allow another account to pull from every repository', st: { Sid: 'AllowPull', Effect: 'Allow',
      Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'], Resource: repositoriesArn() } });
  }
  return t;
}

route('/registry/permissions', async (main) => {
  let scope = 'V2';
  let scopeError = null;
  try { scope = (await ecr('GetAccountSetting', { name: 'REGISTRY_POLICY_SCOPE' })).value || 'V2'; }
  catch (err) { scopeError = err; }
  const scopeOut = h('div', { 'aria-live': 'polite' });
  const other = scope === 'V1' ? 'V2' : 'V1';
  render(main,
    h('h1', {}, 'Registry permissions'),
    h('p', { class: 'muted' }, 'The registry policy grants other principals access across the repositories of this registry.'),
    h('section', { 'aria-labelledby': 'scope-h' },
      h('h2', { id: 'scope-h' }, 'Registry policy scope'),
      scopeError ? errorBox(scopeError) : h('p', {},
        h('strong', {}, scope), ' — ',
        scope === 'V1'
          ? 'the policy governs replication and pull through cache only (ecr:ReplicateImage, ecr:CreateRepository, ecr:BatchImportUpstreamImage).'
          : 'the policy may grant any ECR action on the repositories of this registry.'),
      scopeError ? null : h('button', { type: 'button', onclick: async () => {
        if (!await confirmDialog('Change the registry policy scope?', `Set REGISTRY_POLICY_SCOPE to ${other}: this changes which actions the registry policy governs.`, { confirm: 'Change to ' + other })) return;
        try { await ecr('PutAccountSetting', { name: 'REGISTRY_POLICY_SCOPE', value: other }); notify('Registry policy scope is now ' + other); dispatchEvent(new HashChangeEvent('hashchange')); }
        catch (err) { render(scopeOut, errorBox(err)); }
      } }, 'Change to ' + other), scopeOut),
    h('h2', {}, 'Registry policy'),
    policyEditor({
      what: 'registry',
      actions: () => scope === 'V1' ? V1_ACTIONS : ALL_ACTIONS,
      templates: () => registryTemplates(scope),
      resource: () => repositoriesArn(),
      notFound: 'RegistryPolicyNotFoundException',
      load: async () => (await ecr('GetRegistryPolicy')).policyText,
      save: text => ecr('PutRegistryPolicy', { policyText: text }),
      remove: () => ecr('DeleteRegistryPolicy'),
    }));
});

const FREQUENCIES = [
  ['SCAN_ON_PUSH', 'Scan on push'],
  ['CONTINUOUS_SCAN', 'Continuous scanning'],
  ['MANUAL', 'Manual'],
];

// The scanning configuration: scan type and up to two rules, each a scan frequency for the repositories
// its wildcard filters match (the ECR console's "Scanning configuration").
route('/registry/scanning', async (main) => {
  const out = h('div', { 'aria-live': 'polite' });
  const body = h('div', {});
  render(main,
    h('h1', {}, 'Scanning configuration'),
    h('p', { class: 'muted' }, 'Which repositories are scanned for vulnerabilities, and when. Basic scanning scans on push (or on request); enhanced scanning also rescans continuously as new vulnerabilities are published.'),
    body);
  let cfg;
  try { cfg = (await ecr('GetRegistryScanningConfiguration')).scanningConfiguration || {}; }
  catch (err) { render(body, errorBox(err)); return; }
  let scanType = cfg.scanType || 'BASIC';
  const rules = (cfg.rules || []).map(r => ({ freq: r.scanFrequency, filters: (r.repositoryFilters || []).map(f => f.filter) }));

  const rulesBox = h('div', {});
  const typeSet = h('fieldset', {}, h('legend', {}, 'Scan type'),
    [['BASIC', 'Basic scanning'], ['ENHANCED', 'Enhanced scanning']].map(([v, l]) =>
      h('label', { class: 'inline' }, h('input', { type: 'radio', name: 'scan-type', value: v, checked: scanType === v, onchange: () => { scanType = v; } }), l)),
    h('p', { class: 'hint' }, 'Basic scanning rules scan on push; enhanced scanning rules scan on push or continuously.'));
  const addBtn = h('button', { type: 'button', onclick: () => {
    rules.push({ freq: 'SCAN_ON_PUSH', filters: ['*'] }); drawRules();
    document.getElementById(`scan-rule-${rules.length - 1}-freq`)?.focus();
  } }, 'Add rule');
  function drawRules() {
    addBtn.disabled = rules.length >= 2;
    render(rulesBox, rules.length ? rules.map((r, i) => {
      const freq = h('select', { id: `scan-rule-${i}-freq`, onchange: e => { r.freq = e.target.value; } },
        FREQUENCIES.map(([v, l]) => h('option', { value: v, selected: r.freq === v }, `${l} (${v})`)));
      const filters = h('textarea', { id: `scan-rule-${i}-filters`, rows: 3, class: 'short', spellcheck: 'false', value: r.filters.join('\n'),
        oninput: e => { r.filters = e.target.value.split('\n').map(s => s.trim()).filter(Boolean); } });
      return h('fieldset', {}, h('legend', {}, `Rule ${i + 1}`),
        field('Scan frequency', freq),
        field('Repository filters', filters, 'wildcards such as prod-* or *, one a line'),
        h('button', { type: 'button', onclick: () => { rules.splice(i, 1); drawRules(); addBtn.focus(); } }, `Remove rule ${i + 1}`));
    }) : h('p', { class: 'empty' }, 'No rules: no repository is scanned on push or continuously; images can still be scanned on request.'));
  }
  drawRules();
  const appliesBox = h('div', { 'aria-live': 'polite' });
  render(body,
    h('form', { onsubmit: async (e) => {
      e.preventDefault();
      render(out);
      const input = { scanType, rules: rules.map(r => ({ scanFrequency: r.freq, repositoryFilters: r.filters.map(f => ({ filter: f, filterType: 'WILDCARD' })) })) };
      try {
        await ecr('PutRegistryScanningConfiguration', input);
        notify('Saved the scanning configuration');
        render(out, h('p', { class: 'notice' }, 'Saved.'));
        showApplied(appliesBox);
      } catch (err) { render(out, errorBox(err)); }
    } },
      typeSet,
      h('h2', {}, 'Scanning rules'),
      h('p', { class: 'muted' }, 'At most two rules.'),
      rulesBox, h('div', { class: 'row' }, addBtn), out,
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Save'),
        h('button', { type: 'button', onclick: () => dispatchEvent(new HashChangeEvent('hashchange')) }, 'Discard changes'))),
    h('h2', {}, 'What applies to each repository'),
    appliesBox);
  showApplied(appliesBox);
});

// showApplied lists the first repositories with the scan frequency the saved configuration gives each
// (BatchGetRepositoryScanningConfiguration, 25 names a call).
async function showApplied(box) {
  render(box, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading…'));
  try {
    const repos = (await ecr('DescribeRepositories', { maxResults: 100 })).repositories || [];
    const configs = [];
    for (let i = 0; i < repos.length; i += 25) {
      const out = await ecr('BatchGetRepositoryScanningConfiguration', { repositoryNames: repos.slice(i, i + 25).map(r => r.repositoryName) });
      configs.push(...(out.scanningConfigurations || []));
    }
    render(box, table([
      { label: 'Repository', cell: c => h('a', { href: '#/repository/images/' + enc(c.repositoryName) }, c.repositoryName) },
      { label: 'Scan frequency', cell: c => c.scanFrequency || '—' },
      { label: 'Matched filters', cell: c => (c.appliedScanFilters || []).map(f => f.filter).join(', ') || '—' },
    ], configs, { empty: 'No repositories yet.', caption: repos.length === 100 ? 'The first 100 repositories.' : undefined }));
  } catch (err) {
    render(box, err instanceof ApiError ? errorBox(err) : errorBox(String(err)));
  }
}
