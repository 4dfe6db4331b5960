// The registry's pull through cache rules: a prefix of this registry's repository names mapped to an
// upstream registry (Describe/Create/Validate/Update/DeletePullThroughCacheRule).
import { ecr, session, h, render, route, errorBox, field, notify, confirmDialog, table, fmtTime } from '../lib.js';

// UPSTREAMS are ECR's named upstream registries: their URL (blank: the user gives it) and whether a
// credential (a Secrets Manager secret named ecr-pullthroughcache/…) is needed.
const UPSTREAMS = [
  { name: 'ECR Public', url: 'public.ecr.aws', cred: 'none' },
  { name: 'Kubernetes container image registry', url: 'registry.k8s.io', cred: 'none' },
  { name: 'Quay', url: 'quay.io', cred: 'optional' },
  { name: 'Docker Hub', url: 'registry-1.docker.io', cred: 'required' },
  { name: 'GitHub Container Registry', url: 'ghcr.io', cred: 'required' },
  { name: 'GitLab Container Registry', url: 'registry.gitlab.com', cred: 'required' },
  { name: 'Microsoft Azure Container Registry', url: '', placeholder: 'myregistry.azurecr.io', cred: 'required' },
  { name: 'Chainguard', url: 'cgr.dev', cred: 'required' },
  { name: 'Amazon ECR (private)', url: '', placeholder: '111122223333.dkr.ecr.us-east-1.amazonaws.com', cred: 'role' },
  { name: 'Another OCI registry', url: '', placeholder: 'registry.example.com or https://registry.example.com/path', cred: 'optional' },
];

const CRED_HINT = {
  none: 'This upstream takes no credential.',
  optional: 'A credential is optional for this upstream.',
  required: 'This upstream needs a credential: the ARN of a secret named ecr-pullthroughcache/… holding {"username", "accessToken"}.',
  role: 'An ECR upstream takes no secret: give an upstream repository prefix, and a role of this account when the upstream is another account’s.',
};

route('/registry/pull-through-cache', async (main) => {
  const box = h('div', {});
  const out = h('div', { 'aria-live': 'polite' });
  const formBox = h('div', {});
  const addBtn = h('button', { type: 'button', class: 'primary', onclick: () => showAdd() }, 'Add rule');
  render(main,
    h('h1', {}, 'Pull through cache rules'),
    h('p', { class: 'muted' }, 'A rule caches the images of an upstream registry in this registry: pulling <prefix>/<name> fetches <name> from the upstream the first time, then serves it from the cache.'),
    h('div', { class: 'toolbar' }, addBtn),
    formBox, out, box);

  async function load() {
    let rules = [];
    try {
      let token;
      do {
        const res = await ecr('DescribePullThroughCacheRules', { maxResults: 100, nextToken: token });
        rules.push(...(res.pullThroughCacheRules || []));
        token = res.nextToken;
      } while (token);
    } catch (err) { render(box, errorBox(err)); return; }
    render(box, table([
      { label: 'Prefix', cell: r => h('code', { class: 'nowrap' }, r.ecrRepositoryPrefix) },
      { label: 'Upstream', cell: r => [h('div', {}, r.upstreamRegistryUrl), r.upstreamRegistry && h('div', { class: 'muted' }, r.upstreamRegistry)] },
      { label: 'Upstream prefix', cell: r => r.upstreamRepositoryPrefix || '—' },
      { label: 'Credential ARN', cell: r => h('span', { class: 'break' }, r.credentialArn || (r.customRoleArn ? 'role ' + r.customRoleArn : '—')) },
      { label: 'Created / updated', cell: r => [h('div', {}, fmtTime(r.createdAt)), h('div', { class: 'muted' }, fmtTime(r.updatedAt))] },
      { label: 'Actions', cell: r => h('div', { class: 'row nowrap' },
        h('button', { type: 'button', 'aria-label': 'Validate ' + r.ecrRepositoryPrefix, onclick: (e) => validate(r, e.currentTarget) }, 'Validate'),
        h('button', { type: 'button', 'aria-label': 'Edit ' + r.ecrRepositoryPrefix, onclick: () => showEdit(r) }, 'Edit'),
        h('button', { type: 'button', class: 'danger', 'aria-label': 'Delete ' + r.ecrRepositoryPrefix, onclick: (e) => remove(r, e.currentTarget) }, 'Delete')) },
    ], rules, { empty: 'No pull through cache rules.' }));
  }

  async function validate(r, btn) {
    render(out, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Validating ' + r.ecrRepositoryPrefix + '…'));
    btn.disabled = true;
    try {
      const res = await ecr('ValidatePullThroughCacheRule', { ecrRepositoryPrefix: r.ecrRepositoryPrefix });
      render(out, res.isValid
        ? h('p', { class: 'notice' }, `The rule ${res.ecrRepositoryPrefix} is valid: ${res.upstreamRegistryUrl} answered with its credentials.`)
        : h('div', { class: 'error', role: 'alert' }, `The rule ${res.ecrRepositoryPrefix} is not valid: ${res.failure || 'the upstream refused it'}`));
    } catch (err) { render(out, errorBox(err)); }
    btn.disabled = false;
  }

  async function remove(r, btn) {
    if (!await confirmDialog('Delete pull through cache rule', `Delete the rule of prefix ${r.ecrRepositoryPrefix}? Repositories already cached under it stay, but no longer pull from ${r.upstreamRegistryUrl}.`)) { btn.focus(); return; }
    render(out);
    try {
      await ecr('DeletePullThroughCacheRule', { ecrRepositoryPrefix: r.ecrRepositoryPrefix });
      notify('Deleted the rule ' + r.ecrRepositoryPrefix);
      render(formBox);
      await load();
      addBtn.focus();
    } catch (err) { render(out, errorBox(err)); btn.focus(); }
  }

  function showEdit(r) {
    const cred = h('input', { type: 'text', id: 'ptc-edit-credential', value: r.credentialArn || '', autocomplete: 'off' });
    const role = h('input', { type: 'text', id: 'ptc-edit-role', value: r.customRoleArn || '', autocomplete: 'off' });
    const fout = h('div', { 'aria-live': 'polite' });
    render(out);
    render(formBox, h('form', { onsubmit: async (e) => {
      e.preventDefault();
      render(fout);
      const input = { ecrRepositoryPrefix: r.ecrRepositoryPrefix };
      if (cred.value.trim()) input.credentialArn = cred.value.trim();
      if (role.value.trim()) input.customRoleArn = role.value.trim();
      try {
        await ecr('UpdatePullThroughCacheRule', input);
        notify('Updated the rule ' + r.ecrRepositoryPrefix);
        render(formBox);
        await load();
        addBtn.focus();
      } catch (err) { render(fout, errorBox(err)); }
    } },
      h('fieldset', {}, h('legend', {}, 'Edit rule ' + r.ecrRepositoryPrefix),
        h('p', { class: 'muted' }, r.upstreamRegistryUrl),
        field('Credential ARN', cred, 'the secret ecr-pullthroughcache/… to log in to the upstream with'),
        field('Custom role ARN', role, 'ECR upstreams of another account only'),
        fout,
        h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Save changes'),
          h('button', { type: 'button', onclick: () => { render(formBox); addBtn.focus(); } }, 'Cancel')))));
    cred.focus();
  }

  function showAdd() {
    const prefix = h('input', { type: 'text', id: 'ptc-prefix', required: true, autocomplete: 'off', placeholder: 'ecr-public' });
    const upstream = h('select', { id: 'ptc-upstream' }, UPSTREAMS.map((u, i) => h('option', { value: String(i) }, u.name + (u.url ? ' (' + u.url + ')' : ''))));
    const url = h('input', { type: 'text', id: 'ptc-url', required: true, autocomplete: 'off', spellcheck: 'false' });
    const cred = h('input', { type: 'text', id: 'ptc-credential', autocomplete: 'off', 'aria-describedby': 'ptc-cred-hint',
      placeholder: `arn:aws:secretsmanager:${session.info?.region || 'us-east-1'}:${session.info?.accountId || '111122223333'}:secret:ecr-pullthroughcache/…` });
    const upPrefix = h('input', { type: 'text', id: 'ptc-upstream-prefix', autocomplete: 'off' });
    const role = h('input', { type: 'text', id: 'ptc-role', autocomplete: 'off' });
    const hint = h('p', { class: 'hint', id: 'ptc-cred-hint' });
    const fout = h('div', { 'aria-live': 'polite' });
    const pick = () => {
      const u = UPSTREAMS[Number(upstream.value)];
      url.value = u.url;
      url.placeholder = u.placeholder || '';
      url.readOnly = !!u.url;
      hint.textContent = CRED_HINT[u.cred];
    };
    upstream.addEventListener('change', pick);
    pick();
    render(out);
    render(formBox, h('form', { onsubmit: async (e) => {
      e.preventDefault();
      render(fout);
      const input = { ecrRepositoryPrefix: prefix.value.trim(), upstreamRegistryUrl: url.value.trim() };
      if (cred.value.trim()) input.credentialArn = cred.value.trim();
      if (upPrefix.value.trim()) input.upstreamRepositoryPrefix = upPrefix.value.trim();
      if (role.value.trim()) input.customRoleArn = role.value.trim();
      try {
        const res = await ecr('CreatePullThroughCacheRule', input);
        notify('Created the rule ' + res.ecrRepositoryPrefix);
        render(formBox);
        await load();
        addBtn.focus();
      } catch (err) { render(fout, errorBox(err)); }
    } },
      h('fieldset', {}, h('legend', {}, 'Add rule'),
        field('Cache repository prefix', prefix, 'this registry’s repositories <prefix>/… cache the upstream’s; ROOT: every name'),
        field('Upstream registry', upstream),
        field('Upstream registry URL', url),
        field('Credential ARN', cred, 'optional where the upstream allows'), hint,
        field('Upstream repository prefix', upPrefix, 'optional, ECR upstreams'),
        field('Custom role ARN', role, 'optional, ECR upstreams of another account'),
        fout,
        h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Create rule'),
          h('button', { type: 'button', onclick: () => { render(formBox); addBtn.focus(); } }, 'Cancel')))));
    prefix.focus();
  }

  await load();
});
