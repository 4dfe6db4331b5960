// The repository pages: the header and five tabs every repository page shares, and the images, tags and
// settings tabs (the permissions and lifecycle tabs are in their own modules).
import { ecr, session, h, render, route, table, fmtTime, fmtBytes, shortDigest, copyButton, errorBox, field, notify,
  pager, newPaging, enc, crumbs, tabs, confirmDialog } from '../lib.js';

const PAGE = 100;

// repoHeader draws what every repository page starts with — breadcrumbs, name, URI and the tabs — and
// returns the repository (DescribeRepositories) with the element the tab's content goes in.
export async function repoHeader(main, name, tab) {
  const out = await ecr('DescribeRepositories', { repositoryNames: [name] });
  const repo = out.repositories[0];
  const body = h('div', {});
  const t = (label, id) => [label, '#/repository/' + id + '/' + enc(name)];
  render(main,
    crumbs(['Repositories', '#/repositories'], name),
    h('h1', {}, name),
    h('p', { class: 'row' }, h('span', { class: 'muted' }, 'URI'), h('code', {}, repo.repositoryUri), copyButton(repo.repositoryUri, 'Copy URI')),
    tabs([t('Images', 'images'), t('Tags', 'tags'), t('Permissions', 'permissions'), t('Lifecycle policy', 'lifecycle'), t('Settings', 'settings')],
      '#/repository/' + tab + '/' + enc(name)),
    body);
  return { repo, body };
}

// artifactKind names what a manifest holds, as ECR's console does ("Image", "Image index", …), from its
// media types.
export function artifactKind(manifestType, artifactType) {
  const m = manifestType || '', a = artifactType || '';
  if (/index|manifest\.list/.test(m)) return 'Image index';
  if (/sig|signature|notary/i.test(a)) return 'Signature';
  if (/spdx|cyclonedx|sbom/i.test(a)) return 'SBOM';
  if (/in-toto|attestation|provenance|vex/i.test(a)) return 'Attestation';
  if (/helm/.test(a)) return 'Helm chart';
  if (!a || /container\.image\.v1|image\.config\.v1/.test(a)) return 'Image';
  return a;
}

// severityBadges shows finding counts, worst first; the severity is in the text, not only the colour.
export function severityBadges(counts) {
  const order = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFORMATIONAL', 'UNDEFINED'];
  const keys = Object.keys(counts || {}).sort((a, b) => order.indexOf(a) - order.indexOf(b));
  if (!keys.length) return null;
  return h('span', { class: 'row' }, keys.map(k => h('span', { class: 'badge sev-' + k }, k + ' ' + counts[k])));
}

// scanCell is an image's scan status and the counts of its findings.
export function scanCell(img) {
  const st = img.imageScanStatus;
  if (!st) return h('span', { class: 'muted' }, 'Not scanned');
  return [h('span', { title: st.description || '' }, st.status), ' ', severityBadges(img.imageScanFindingsSummary?.findingSeverityCounts)];
}

route('/repository/images/:name*', async (main, { name }) => {
  const { repo, body } = await repoHeader(main, name, 'images');
  const status = h('select', { id: 'img-status' },
    [['ANY', 'Any'], ['TAGGED', 'Tagged'], ['UNTAGGED', 'Untagged']].map(([v, l]) => h('option', { value: v }, l)));
  const prefix = h('input', { type: 'search', id: 'img-tag', placeholder: 'v1.', autocomplete: 'off' });
  const delBtn = h('button', { type: 'button', class: 'danger', disabled: true, onclick: () => remove() }, 'Delete');
  const pushBtn = h('button', { type: 'button', onclick: () => pushDialog(repo) }, 'View push commands');
  const list = h('div', { 'aria-live': 'polite', tabindex: '-1' });
  const out = h('div', { 'aria-live': 'polite', tabindex: '-1' });
  const selected = new Set();
  const paging = newPaging();
  render(body,
    h('div', { class: 'toolbar' },
      h('div', {}, h('label', { for: 'img-status', class: 'hint' }, 'Tag status'), status),
      h('div', { class: 'grow' }, h('label', { for: 'img-tag', class: 'hint' }, 'Tag starts with'), prefix),
      delBtn, pushBtn),
    out, list);
  const restart = () => { paging.page = 0; paging.tokens = [undefined]; load(); };
  status.addEventListener('change', restart);
  let timer;
  // A tag prefix searches the tagged images: the tag status does not apply then.
  prefix.addEventListener('input', () => { status.disabled = !!prefix.value.trim(); clearTimeout(timer); timer = setTimeout(restart, 300); });
  const refreshDelete = () => {
    delBtn.disabled = selected.size === 0;
    delBtn.textContent = selected.size ? `Delete (${selected.size})` : 'Delete';
  };

  async function load() {
    selected.clear(); refreshDelete();
    render(list, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading…'));
    try {
      const p = prefix.value.trim();
      let images, next;
      if (p) {
        ({ images, next } = await byTagPrefix(name, p, paging.page));
      } else {
        const res = await ecr('DescribeImages', { repositoryName: name, filter: { tagStatus: status.value }, maxResults: PAGE, nextToken: paging.tokens[paging.page] });
        images = res.imageDetails; next = res.nextToken;
      }
      paging.tokens[paging.page + 1] = next;
      if (!images.length && paging.page === 0 && !p && status.value === 'ANY') {
        render(list, h('div', { class: 'empty' }, h('p', {}, 'No images yet. Push one with:')), pushCommands(repo));
        return;
      }
      const boxes = [];
      const all = h('input', { type: 'checkbox', 'aria-label': 'Select all images on this page', onchange: () => {
        for (const b of boxes) { b.checked = all.checked; b.dispatchEvent(new Event('change')); }
      } });
      render(list,
        table([
          { label: all, cell: img => {
            const b = h('input', { type: 'checkbox', 'aria-label': 'Select image ' + (img.imageTags?.join(', ') || shortDigest(img.imageDigest)),
              onchange: () => { b.checked ? selected.add(img.imageDigest) : selected.delete(img.imageDigest); refreshDelete(); } });
            boxes.push(b);
            return b;
          } },
          { label: 'Image tags', cell: img => img.imageTags?.length ? img.imageTags.join(', ') : h('span', { class: 'muted' }, 'untagged') },
          { label: 'Digest', cell: img => h('a', { href: '#/image/' + img.imageDigest + '/' + enc(name), title: img.imageDigest, class: 'mono' }, shortDigest(img.imageDigest)) },
          { label: 'Artifact type', cell: img => h('span', { title: [img.imageManifestMediaType, img.artifactMediaType].filter(Boolean).join('\n') },
            artifactKind(img.imageManifestMediaType, img.artifactMediaType),
            img.subjectManifestDigest && [' of ', h('a', { href: '#/image/' + img.subjectManifestDigest + '/' + enc(name), title: img.subjectManifestDigest, class: 'mono' },
              shortDigest(img.subjectManifestDigest))]) },
          { label: 'Size', num: true, cell: img => fmtBytes(img.imageSizeInBytes) },
          { label: 'Pushed at', cell: img => fmtTime(img.imagePushedAt) },
          { label: 'Last pulled', cell: img => fmtTime(img.lastRecordedPullTime) },
          { label: 'Scan status', cell: scanCell },
        ], images, { empty: p ? 'No image has a tag starting with “' + p + '”.' : status.value === 'UNTAGGED' ? 'No untagged images.' : 'No tagged images.' }),
        pager(paging, load));
    } catch (err) { render(list, errorBox(err)); }
  }

  async function remove() {
    const digests = [...selected];
    const ok = await confirmDialog('Delete images',
      digests.length > 1 ? `Delete ${digests.length} images and all their tags from ${name}? This cannot be undone.`
        : `Delete this image and all its tags from ${name}? This cannot be undone.`);
    if (!ok) return;
    render(out);
    const failures = [];
    let deleted = 0;
    try {
      for (let i = 0; i < digests.length; i += 100) {
        const res = await ecr('BatchDeleteImage', { repositoryName: name, imageIds: digests.slice(i, i + 100).map(d => ({ imageDigest: d })) });
        deleted += new Set((res.imageIds || []).map(id => id.imageDigest)).size;
        failures.push(...(res.failures || []));
      }
    } catch (err) { render(out, errorBox(err)); }
    if (failures.length) render(out, failureBox(failures));
    if (deleted) notify(`Deleted ${deleted} image${deleted > 1 ? 's' : ''}`);
    await load();
    (out.firstChild ? out : list).focus();
  }
  await load();
});

// failureBox lists BatchDeleteImage's (or BatchGetImage's) failures, one per image.
export function failureBox(failures) {
  return h('div', { class: 'error', role: 'alert' }, h('strong', {}, 'Some images were not deleted:'),
    h('ul', {}, failures.map(f => h('li', {}, (f.imageId?.imageDigest || f.imageId?.imageTag || '') + ': ' + f.failureCode + ' — ' + f.failureReason))));
}

// byTagPrefix finds the images with a tag that starts with prefix: ListImages over the whole repository (at
// most 10,000 tags, the way the repositories page searches names), then DescribeImages for one page of them.
async function byTagPrefix(name, prefix, page) {
  const found = new Set();
  let token;
  for (let i = 0; i < 10; i++) {
    const res = await ecr('ListImages', { repositoryName: name, filter: { tagStatus: 'TAGGED' }, maxResults: 1000, nextToken: token });
    for (const id of res.imageIds) if (id.imageTag.startsWith(prefix)) found.add(id.imageDigest);
    token = res.nextToken;
    if (!token) break;
  }
  const digests = [...found];
  const these = digests.slice(page * PAGE, (page + 1) * PAGE);
  if (!these.length) return { images: [], next: undefined };
  const res = await ecr('DescribeImages', { repositoryName: name, imageIds: these.map(d => ({ imageDigest: d })) });
  const order = new Map(these.map((d, i) => [d, i]));
  const images = res.imageDetails.sort((a, b) => order.get(a.imageDigest) - order.get(b.imageDigest));
  return { images, next: digests.length > (page + 1) * PAGE ? 'more' : undefined };
}

// pushCommands are the commands that push an image to the repository — what ECR's console shows and the
// aws CLI prints — for this registry: its host, its region, and its endpoint when it is not AWS's.
export function pushCommands(repo) {
  const uri = repo.repositoryUri;
  const host = uri.split('/')[0];
  const name = repo.repositoryName;
  const region = session.info?.region || 'us-east-1';
  const onAWS = /\.amazonaws\.com(\.cn)?$/.test(location.hostname);
  const insecure = location.protocol === 'http:';
  const login = `aws ecr get-login-password --region ${region}${onAWS ? '' : ' --endpoint-url ' + location.origin}`;
  const tools = [
    ['Docker', [
      ['Retrieve an authentication token and authenticate your Docker client to your registry:', `${login} | docker login --username AWS --password-stdin ${host}`],
      ['Build your Docker image (skip this step if your image is already built):', `docker build -t ${name} .`],
      ['Tag your image so you can push it to this repository:', `docker tag ${name}:latest ${uri}:latest`],
      ['Push the image to this repository:', `docker push ${uri}:latest`]],
      insecure ? 'This registry is served over plain HTTP: list ' + host + ' in the Docker daemon’s "insecure-registries" first.' : ''],
    ['Podman', [
      ['Authenticate Podman to your registry:', `${login} | podman login --username AWS --password-stdin${insecure ? ' --tls-verify=false' : ''} ${host}`],
      ['Build your image:', `podman build -t ${name} .`],
      ['Tag it for this repository:', `podman tag ${name}:latest ${uri}:latest`],
      ['Push it:', `podman push${insecure ? ' --tls-verify=false' : ''} ${uri}:latest`]], ''],
    ['crane', [
      ['Authenticate crane to your registry:', `${login} | crane auth login ${host} -u AWS --password-stdin`],
      ['Push an image tarball (docker save, or crane pull --format=tarball):', `crane push${insecure ? ' --insecure' : ''} image.tar ${uri}:latest`],
      ['Or make an image from a layer tarball on a base image:', `crane append${insecure ? ' --insecure' : ''} -b BASE_IMAGE -f layer.tar -t ${uri}:latest`]], ''],
  ];
  return h('div', { class: 'push-commands' }, tools.map(([tool, steps, note]) => h('section', {},
    h('h3', {}, tool),
    note && h('p', { class: 'hint' }, note),
    h('ol', {}, steps.map(([what, cmd]) => h('li', {}, h('p', {}, what), h('div', { class: 'cmd' }, h('pre', {}, h('code', {}, cmd)), copyButton(cmd, 'Copy command'))))))));
}

function pushDialog(repo) {
  const opener = document.activeElement;
  const dlg = h('dialog', { 'aria-labelledby': 'push-title', class: 'wide' },
    h('h2', { id: 'push-title' }, 'Push commands for ' + repo.repositoryName),
    pushCommands(repo),
    h('div', { class: 'row' }, h('button', { type: 'button', class: 'primary', onclick: () => dlg.close() }, 'Close')));
  const leave = () => dlg.close();
  window.addEventListener('hashchange', leave, { once: true });
  dlg.addEventListener('close', () => { window.removeEventListener('hashchange', leave); dlg.remove(); if (opener?.isConnected) opener.focus(); });
  document.body.append(dlg);
  dlg.showModal();
  dlg.querySelector('button').focus();
}

route('/repository/tags/:name*', async (main, { name }) => {
  const { repo, body } = await repoHeader(main, name, 'tags');
  const arn = repo.repositoryArn;
  const list = h('div', { 'aria-live': 'polite' });
  const out = h('div', { 'aria-live': 'polite' });
  const key = h('input', { type: 'text', id: 'tag-key', required: true, maxlength: 128, autocomplete: 'off' });
  const value = h('input', { type: 'text', id: 'tag-value', maxlength: 256, autocomplete: 'off' });
  render(body,
    h('p', { class: 'muted' }, 'Resource tags label the repository (ListTagsForResource); policies can match them with aws:ResourceTag conditions.'),
    out, list,
    h('form', { onsubmit: async (e) => {
      e.preventDefault();
      render(out);
      try {
        await ecr('TagResource', { resourceArn: arn, tags: [{ Key: key.value.trim(), Value: value.value }] });
        notify('Tagged ' + name + ' with ' + key.value.trim());
        key.value = ''; value.value = '';
        await load();
        key.focus();
      } catch (err) { render(out, errorBox(err)); }
    } },
      h('fieldset', {}, h('legend', {}, 'Add a tag'),
        field('Key', key), field('Value', value, 'optional; a key that exists gets this value'),
        h('div', { class: 'row actions' }, h('button', { type: 'submit', class: 'primary' }, 'Add tag')))));
  async function load() {
    try {
      const res = await ecr('ListTagsForResource', { resourceArn: arn });
      const tags = (res.tags || []).sort((a, b) => a.Key.localeCompare(b.Key));
      render(list, table([
        { label: 'Key', cell: t => t.Key },
        { label: 'Value', cell: t => t.Value || h('span', { class: 'muted' }, '(empty)') },
        { label: 'Actions', cell: t => h('button', { type: 'button', 'aria-label': 'Remove tag ' + t.Key, onclick: async () => {
          if (!await confirmDialog('Remove tag', `Remove the tag “${t.Key}” from ${name}?`, { confirm: 'Remove' })) return;
          render(out);
          try { await ecr('UntagResource', { resourceArn: arn, tagKeys: [t.Key] }); notify('Removed tag ' + t.Key); await load(); key.focus(); }
          catch (err) { render(out, errorBox(err)); }
        } }, 'Remove') },
      ], tags, { empty: 'This repository has no tags.' }));
    } catch (err) { render(list, errorBox(err)); }
  }
  await load();
});

route('/repository/settings/:name*', async (main, { name }) => {
  const { repo, body } = await repoHeader(main, name, 'settings');
  const mut = h('select', { id: 'set-mutability' }, ['MUTABLE', 'IMMUTABLE', 'MUTABLE_WITH_EXCLUSION', 'IMMUTABLE_WITH_EXCLUSION']
    .map(v => h('option', { value: v, selected: v === repo.imageTagMutability }, v)));
  const excl = h('input', { type: 'text', id: 'set-exclusions', placeholder: 'latest, dev-*',
    value: (repo.imageTagMutabilityExclusionFilters || []).map(f => f.filter).join(', ') });
  const exclOK = () => { excl.disabled = !mut.value.endsWith('_WITH_EXCLUSION'); };
  mut.addEventListener('change', exclOK); exclOK();
  const scan = h('input', { type: 'checkbox', id: 'set-scan', checked: !!repo.imageScanningConfiguration?.scanOnPush });
  const force = h('input', { type: 'checkbox', id: 'set-force' });
  const mutOut = h('div', { 'aria-live': 'polite' }), scanOut = h('div', { 'aria-live': 'polite' }), delOut = h('div', { 'aria-live': 'polite' });
  const encr = repo.encryptionConfiguration || { encryptionType: 'AES256' };
  render(body,
    h('form', { onsubmit: async (e) => {
      e.preventDefault();
      render(mutOut);
      const input = { repositoryName: name, imageTagMutability: mut.value };
      if (mut.value.endsWith('_WITH_EXCLUSION')) {
        input.imageTagMutabilityExclusionFilters = excl.value.split(',').map(s => s.trim()).filter(Boolean).map(f => ({ filterType: 'WILDCARD', filter: f }));
      }
      try { await ecr('PutImageTagMutability', input); notify('Tag mutability of ' + name + ' is ' + mut.value); }
      catch (err) { render(mutOut, errorBox(err)); }
    } },
      h('fieldset', {}, h('legend', {}, 'Image tag mutability'),
        h('p', { class: 'hint' }, 'Immutable tags cannot be overwritten by a push; exclusion filters (wildcards, comma-separated) name the tags that behave the other way.'),
        field('Tag mutability', mut), field('Exclusion filters', excl, 'for the *_WITH_EXCLUSION settings'),
        mutOut, h('div', { class: 'row actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save tag mutability')))),
    h('form', { onsubmit: async (e) => {
      e.preventDefault();
      render(scanOut);
      try {
        await ecr('PutImageScanningConfiguration', { repositoryName: name, imageScanningConfiguration: { scanOnPush: scan.checked } });
        notify('Scan on push ' + (scan.checked ? 'enabled' : 'disabled') + ' for ' + name);
      } catch (err) { render(scanOut, errorBox(err)); }
    } },
      h('fieldset', {}, h('legend', {}, 'Image scanning'),
        h('label', { class: 'inline' }, scan, 'Scan on push'),
        h('p', { class: 'hint' }, 'The registry’s scanning configuration, when set, supersedes this: ', h('a', { href: '#/registry/scanning' }, 'registry scanning'), '.'),
        scanOut, h('div', { class: 'row actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save scanning')))),
    h('fieldset', {}, h('legend', {}, 'Encryption'),
      h('p', { class: 'hint' }, 'Set when the repository was created; it cannot be changed.'),
      h('dl', { class: 'facts' }, h('dt', {}, 'Encryption type'), h('dd', {}, encr.encryptionType),
        encr.kmsKey && [h('dt', {}, 'KMS key'), h('dd', {}, encr.kmsKey)])),
    h('fieldset', { class: 'danger-zone' }, h('legend', {}, 'Delete repository'),
      h('p', {}, 'Deleting the repository deletes its policies and settings. A repository that still has images is deleted only with “force”, and its images with it.'),
      h('label', { class: 'inline' }, force, 'Force: also delete its images'),
      delOut,
      h('div', { class: 'row' }, h('button', { type: 'button', class: 'danger', onclick: async (e) => {
        const btn = e.currentTarget;
        if (!await confirmDialog('Delete repository ' + name,
          force.checked ? 'The repository and all its images will be deleted. This cannot be undone.' : 'The repository will be deleted. This cannot be undone.',
          { typed: name })) { btn.focus(); return; }
        render(delOut);
        try {
          await ecr('DeleteRepository', { repositoryName: name, force: force.checked });
          notify('Deleted repository ' + name);
          location.hash = '#/repositories';
        } catch (err) { render(delOut, errorBox(err)); btn.focus(); }
      } }, 'Delete repository'))));
});
