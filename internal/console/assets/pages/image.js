// The image page: one image (or index, or artifact) of a repository — its details, manifest, platforms or
// config and layers, referrers, scan findings — and deleting it.
import { ecr, h, render, route, table, fmtTime, fmtBytes, shortDigest, copyButton, errorBox, notify, pager, newPaging,
  enc, crumbs, field, confirmDialog, ApiError } from '../lib.js';
import { artifactKind, severityBadges, failureBox } from './repository.js';

// What BatchGetImage may answer: every manifest type, so the stored manifest comes back as pushed.
const MEDIA_TYPES = [
  'application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws',
];
const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFORMATIONAL', 'UNDEFINED'];
const FINDINGS_PAGE = 50;

route('/image/:digest/:name*', async (main, { digest, name }) => {
  const imageId = { imageDigest: digest };
  // The manifest is read apart, so one who may describe images but not pull them still sees the rest.
  let getErr = null;
  const [desc, got] = await Promise.all([
    ecr('DescribeImages', { repositoryName: name, imageIds: [imageId] }),
    ecr('BatchGetImage', { repositoryName: name, imageIds: [imageId], acceptedMediaTypes: MEDIA_TYPES }).catch(err => { getErr = err; return {}; }),
  ]);
  const img = desc.imageDetails[0];
  const found = got.images?.[0];
  const tags = img.imageTags || [];
  let manifest = null, parseErr = null;
  try { manifest = found ? JSON.parse(found.imageManifest) : null; } catch (e) { parseErr = e; }
  const mediaType = found?.imageManifestMediaType || img.imageManifestMediaType || manifest?.mediaType;
  const isIndex = /index|manifest\.list/.test(mediaType || '');
  const delOut = h('div', { 'aria-live': 'polite' });
  const repoHref = '#/repository/images/' + enc(name);

  render(main,
    crumbs(['Repositories', '#/repositories'], [name, repoHref], shortDigest(digest)),
    h('h1', {}, name + (tags.length ? ':' + tags[0] : '@' + shortDigest(digest))),
    h('div', { class: 'toolbar' },
      h('button', { type: 'button', class: 'danger', onclick: (e) => remove(e.currentTarget) }, 'Delete image')),
    delOut,
    h('h2', {}, 'Details'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Image tags'), h('dd', {}, tags.length ? h('span', { class: 'row' }, tags.map(t => h('span', { class: 'badge' }, t))) : h('span', { class: 'muted' }, 'untagged')),
      h('dt', {}, 'Digest'), h('dd', { class: 'row' }, h('code', {}, digest), copyButton(digest, 'Copy digest')),
      h('dt', {}, 'Artifact type'), h('dd', {}, artifactKind(mediaType, img.artifactMediaType)),
      h('dt', {}, 'Manifest media type'), h('dd', {}, mediaType || '—'),
      img.artifactMediaType && [h('dt', {}, 'Artifact media type'), h('dd', {}, img.artifactMediaType)],
      h('dt', {}, 'Size'), h('dd', {}, fmtBytes(img.imageSizeInBytes)),
      h('dt', {}, 'Pushed at'), h('dd', {}, fmtTime(img.imagePushedAt)),
      h('dt', {}, 'Last pulled'), h('dd', {}, fmtTime(img.lastRecordedPullTime)),
      img.imageStatus && [h('dt', {}, 'Status'), h('dd', {}, img.imageStatus)],
      img.subjectManifestDigest && [h('dt', {}, 'Refers to'), h('dd', {},
        h('a', { href: '#/image/' + img.subjectManifestDigest + '/' + enc(name), class: 'mono' }, img.subjectManifestDigest))]),
    replication(name, imageId),
    (got.failures || []).length ? failureList(got.failures) : null,
    getErr ? [h('h2', {}, 'Manifest'), errorBox(getErr)] : null,
    parseErr ? errorBox('The manifest is not valid JSON: ' + parseErr.message) : null,
    manifest && isIndex ? platforms(manifest, name) : null,
    manifest && !isIndex ? configAndLayers(manifest, name) : null,
    referrers(name, digest),
    isIndex ? null : findings(name, imageId, img),
    found ? [h('h2', {}, 'Manifest'), h('pre', { tabindex: '0', 'aria-label': 'Manifest' }, h('code', {}, pretty(found.imageManifest)))] : null);

  async function remove(btn) {
    const what = tags.length ? `the image tagged ${tags.join(', ')}` : 'this untagged image';
    if (!await confirmDialog('Delete image', `Delete ${what} (${shortDigest(digest)}) from ${name}, with all its tags? This cannot be undone.`)) { btn.focus(); return; }
    render(delOut);
    try {
      const res = await ecr('BatchDeleteImage', { repositoryName: name, imageIds: [imageId] });
      if (res.failures?.length) { render(delOut, failureBox(res.failures)); btn.focus(); return; }
      notify('Deleted ' + shortDigest(digest) + ' from ' + name);
      location.hash = repoHref;
    } catch (err) { render(delOut, errorBox(err)); btn.focus(); }
  }
});

function failureList(failures) {
  return h('div', { class: 'error', role: 'alert' }, failures.map(f => h('div', {}, f.failureCode + ': ' + f.failureReason)));
}

function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

function platformName(p) {
  if (!p || !(p.os || p.architecture)) return 'not stated';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/') + (p['os.version'] ? ' ' + p['os.version'] : '');
}

// platforms is an index's manifests, each a link to its own page.
function platforms(index, name) {
  const ms = index.manifests || [];
  return [h('h2', {}, 'Platforms'),
    table([
      { label: 'Platform', cell: m => m.annotations?.['vnd.docker.reference.type'] ? 'attestation (' + m.annotations['vnd.docker.reference.type'] + ')' : platformName(m.platform) },
      { label: 'Digest', cell: m => h('a', { href: '#/image/' + m.digest + '/' + enc(name), title: m.digest, class: 'mono' }, shortDigest(m.digest)) },
      { label: 'Media type', cell: m => m.mediaType || '—' },
      { label: 'Size', num: true, cell: m => fmtBytes(m.size) },
    ], ms, { empty: 'This index lists no manifests.' })];
}

// configAndLayers is an image manifest's config (downloaded through GetDownloadUrlForLayer) and layers.
function configAndLayers(m, name) {
  const out = [];
  if (m.schemaVersion === 1) { // Docker schema 1: layers only, by fsLayers
    out.push(h('h2', {}, 'Layers'), table([
      { label: '#', num: true, cell: l => l.i },
      { label: 'Digest', cell: l => h('code', { title: l.blobSum }, shortDigest(l.blobSum)) },
    ], (m.fsLayers || []).map((l, i) => ({ ...l, i: i + 1 })), { empty: 'No layers.' }));
    return out;
  }
  const cfg = m.config;
  if (cfg) {
    const box = h('div', { 'aria-live': 'polite' }, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading the config…'));
    out.push(h('h2', {}, 'Config'),
      h('p', { class: 'muted' }, cfg.mediaType + ' · ' + fmtBytes(cfg.size) + ' · ', h('code', { title: cfg.digest }, shortDigest(cfg.digest))),
      box);
    loadConfig(box, name, cfg);
  }
  const layers = (m.layers || []).map((l, i) => ({ ...l, i: i + 1 }));
  const total = layers.reduce((s, l) => s + (l.size || 0), 0);
  out.push(h('h2', {}, 'Layers'),
    table([
      { label: '#', num: true, cell: l => l.i },
      { label: 'Digest', cell: l => h('code', { title: l.digest }, shortDigest(l.digest)) },
      { label: 'Media type', cell: l => l.mediaType },
      { label: 'Size', num: true, cell: l => fmtBytes(l.size) },
    ], layers, { empty: 'This manifest has no layers.', caption: layers.length ? layers.length + (layers.length > 1 ? ' layers, ' : ' layer, ') + fmtBytes(total) + ' compressed' : undefined }));
  return out;
}

async function loadConfig(box, name, cfg) {
  if (cfg.mediaType === 'application/vnd.oci.empty.v1+json' || cfg.size === 2) {
    render(box, h('pre', {}, h('code', {}, '{}')));
    return;
  }
  if (cfg.size > 4 << 20) {
    render(box, h('p', { class: 'muted' }, 'The config is too large to show here (' + fmtBytes(cfg.size) + ').'));
    return;
  }
  try {
    const res = await ecr('GetDownloadUrlForLayer', { repositoryName: name, layerDigest: cfg.digest });
    const url = new URL(res.downloadUrl, location.href);
    if (url.origin !== location.origin) {
      render(box, errorBox('The config’s download URL is not on this console’s origin (' + url.origin + '), so the page cannot read it.'),
        webURL(url.href) && h('p', {}, h('a', { href: url.href, rel: 'noopener noreferrer', target: '_blank', download: '' }, 'Download the config')));
      return;
    }
    let resp;
    try { resp = await fetch(url.href, { credentials: 'omit' }); }
    catch (e) { throw new Error('The config could not be downloaded: ' + e.message); }
    if (!resp.ok) throw new Error('The config could not be downloaded: HTTP ' + resp.status + ' ' + (await resp.text()).slice(0, 300));
    const text = await resp.text();
    let cfgJSON = null;
    try { cfgJSON = JSON.parse(text); } catch { /* shown as it is */ }
    render(box, cfgJSON ? configFacts(cfgJSON) : null,
      h('details', {}, h('summary', {}, 'Config JSON'), h('pre', { tabindex: '0' }, h('code', {}, cfgJSON ? JSON.stringify(cfgJSON, null, 2) : text))));
  } catch (err) { render(box, errorBox(err)); }
}

// configFacts is what an image config tells at a glance: platform, creation, how it runs.
function configFacts(c) {
  if (!c.architecture && !c.config && !c.os) return null;
  const rc = c.config || {};
  const rows = [
    ['Platform', platformName(c)],
    ['Created', c.created && new Date(c.created).getUTCFullYear() > 1 ? fmtTime(c.created) : null],
    ['Entrypoint', rc.Entrypoint ? JSON.stringify(rc.Entrypoint) : null],
    ['Command', rc.Cmd ? JSON.stringify(rc.Cmd) : null],
    ['Working directory', rc.WorkingDir || null],
    ['User', rc.User || null],
    ['Environment', rc.Env?.length ? h('ul', { class: 'plain' }, rc.Env.map(e => h('li', {}, h('code', {}, e)))) : null],
    ['Exposed ports', rc.ExposedPorts ? Object.keys(rc.ExposedPorts).join(', ') : null],
    ['Labels', rc.Labels && Object.keys(rc.Labels).length ? h('ul', { class: 'plain' }, Object.entries(rc.Labels).map(([k, v]) => h('li', {}, h('code', {}, k + '=' + v)))) : null],
  ].filter(([, v]) => v);
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// replication lists where the image is replicated (DescribeImageReplicationStatus), and nothing when it
// is not, nor to one who may not ask (read-only policies do not grant the action).
function replication(name, imageId) {
  const box = h('div', { 'aria-live': 'polite' });
  ecr('DescribeImageReplicationStatus', { repositoryName: name, imageId }).then(res => {
    const rows = res.replicationStatuses || [];
    if (rows.length) render(box, h('h2', {}, 'Replication'), table([
      { label: 'Region', cell: s => s.region },
      { label: 'Registry ID', cell: s => s.registryId },
      { label: 'Status', cell: s => h('span', { class: 'badge' }, s.status) },
      { label: 'Failure code', cell: s => s.failureCode || '—' },
    ], rows));
  }, err => { if (!(err instanceof ApiError && err.code === 'AccessDeniedException')) render(box, h('h2', {}, 'Replication'), errorBox(err)); });
  return box;
}

// referrers lists what refers to the image (signatures, SBOMs, attestations) with ListImageReferrers.
function referrers(name, digest) {
  const box = h('div', { 'aria-live': 'polite' }, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading…'));
  const paging = newPaging();
  async function load() {
    try {
      const res = await ecr('ListImageReferrers', { repositoryName: name, subjectId: { imageDigest: digest }, maxResults: 50, nextToken: paging.tokens[paging.page] });
      paging.tokens[paging.page + 1] = res.nextToken;
      const rows = res.referrers || [];
      render(box, table([
        { label: 'Kind', cell: r => artifactKind(r.mediaType, r.artifactType) },
        { label: 'Artifact type', cell: r => r.artifactType || '—' },
        { label: 'Digest', cell: r => h('a', { href: '#/image/' + r.digest + '/' + enc(name), title: r.digest, class: 'mono' }, shortDigest(r.digest)) },
        { label: 'Size', num: true, cell: r => fmtBytes(r.size) },
        { label: 'Created', cell: r => fmtTime(r.annotations?.['org.opencontainers.image.created']) },
        { label: 'Status', cell: r => r.artifactStatus || '—' },
      ], rows, { empty: 'Nothing refers to this image: no signatures, SBOMs or attestations.' }),
      paging.page || paging.tokens[1] ? pager(paging, load) : null);
    } catch (err) { render(box, errorBox(err)); }
  }
  load();
  return [h('h2', {}, 'Referrers'), box];
}

// findings is the image's scan: status, counts, the findings with a severity filter, and a Scan button.
function findings(name, imageId, img) {
  const box = h('div', { 'aria-live': 'polite' });
  const sev = h('select', { id: 'finding-severity' }, h('option', { value: '' }, 'All severities'), SEVERITIES.map(s => h('option', { value: s }, s)));
  const out = h('div', { 'aria-live': 'polite' });
  const scanBtn = h('button', { type: 'button', onclick: () => scan() }, 'Scan');
  const paging = { page: 0 };
  let all = [], status = img.imageScanStatus, summary = img.imageScanFindingsSummary, poll;
  sev.addEventListener('change', () => { paging.page = 0; draw(); });

  async function load() {
    render(box, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading the findings…'));
    all = [];
    try {
      let token;
      for (let i = 0; i < 10; i++) { // at most 10,000 findings
        const res = await ecr('DescribeImageScanFindings', { repositoryName: name, imageId, maxResults: 1000, nextToken: token });
        status = res.imageScanStatus; summary = res.imageScanFindings || summary;
        const f = res.imageScanFindings || {};
        all.push(...(f.findings || []).map(basic), ...(f.enhancedFindings || []).map(enhanced));
        token = res.nextToken;
        if (!token) break;
      }
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'ScanNotFoundException')) { render(box, errorBox(err)); drawButton(); return; }
      status = null;
    }
    draw();
  }

  function drawButton() {
    const busy = status && (status.status === 'IN_PROGRESS' || status.status === 'PENDING');
    scanBtn.hidden = !!busy;
    clearTimeout(poll);
    if (busy) poll = setTimeout(() => { if (box.isConnected) load(); }, 3000);
  }

  function draw() {
    drawButton();
    const rank = f => SEVERITIES.indexOf(f.severity) < 0 ? SEVERITIES.length : SEVERITIES.indexOf(f.severity);
    const shown = all.filter(f => !sev.value || f.severity === sev.value).sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
    const pages = Math.max(1, Math.ceil(shown.length / FINDINGS_PAGE));
    paging.page = Math.min(paging.page, pages - 1);
    const state = { page: paging.page, tokens: Array.from({ length: pages + 1 }, (_, i) => i < pages ? String(i) : undefined) };
    render(box,
      status ? h('dl', { class: 'facts' },
        h('dt', {}, 'Status'), h('dd', {}, status.status, status.description ? h('span', { class: 'muted' }, ' — ' + status.description) : null),
        summary?.imageScanCompletedAt && [h('dt', {}, 'Completed'), h('dd', {}, fmtTime(summary.imageScanCompletedAt))],
        summary?.vulnerabilitySourceUpdatedAt && [h('dt', {}, 'Vulnerability source updated'), h('dd', {}, fmtTime(summary.vulnerabilitySourceUpdatedAt))],
        summary?.findingSeverityCounts && Object.keys(summary.findingSeverityCounts).length ? [h('dt', {}, 'Findings'), h('dd', {}, severityBadges(summary.findingSeverityCounts))] : null)
        : h('p', { class: 'muted' }, 'This image has not been scanned.'),
      all.length ? h('div', { class: 'toolbar' }, h('div', {}, field('Severity', sev))) : null,
      all.length ? table([
        { label: 'Name', cell: f => webURL(f.uri) ? h('a', { href: webURL(f.uri), rel: 'noopener noreferrer', target: '_blank' }, f.name) : f.name },
        { label: 'Severity', cell: f => h('span', { class: 'badge sev-' + f.severity }, f.severity) },
        { label: 'Package', cell: f => f.pkg || '—' },
        all.some(f => f.fixed) && { label: 'Fixed in', cell: f => f.fixed || '—' },
        { label: 'Description', cell: f => f.description || '' },
      ].filter(Boolean), shown.slice(paging.page * FINDINGS_PAGE, (paging.page + 1) * FINDINGS_PAGE), { empty: 'No finding of severity ' + sev.value + '.' }) : null,
      all.length > FINDINGS_PAGE || sev.value ? pager(state, () => { paging.page = state.page; draw(); }) : null,
      status?.status === 'COMPLETE' && !all.length ? h('p', {}, 'No vulnerabilities were found.') : null);
  }

  async function scan() {
    render(out);
    try {
      const res = await ecr('StartImageScan', { repositoryName: name, imageId });
      status = res.imageScanStatus;
      notify('Scan started');
      await load();
    } catch (err) { render(out, errorBox(err)); }
  }

  load();
  return [h('h2', {}, 'Vulnerabilities'), h('div', { class: 'toolbar' }, scanBtn), out, box];
}

// webURL is a finding's link when it is a web address (never a javascript: one).
function webURL(u) {
  try { const url = new URL(u); return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null; } catch { return null; }
}

// basic is a BASIC scan's finding; its package is in its attributes.
function basic(f) {
  const attr = Object.fromEntries((f.attributes || []).map(a => [a.key, a.value]));
  return { name: f.name, uri: f.uri, severity: f.severity || 'UNDEFINED', description: f.description,
    pkg: attr.package_name ? attr.package_name + (attr.package_version ? ' ' + attr.package_version : '') : '', fixed: attr.fixed_in_version || attr.package_fixed_version || '' };
}

// enhanced is an ENHANCED scan's finding.
function enhanced(f) {
  const d = f.packageVulnerabilityDetails || {};
  const pkgs = d.vulnerablePackages || [];
  return { name: d.vulnerabilityId || f.title || f.findingArn, uri: d.sourceUrl || d.referenceUrls?.[0], severity: f.severity || 'UNDEFINED',
    description: f.description || f.title,
    pkg: pkgs.map(p => p.name + (p.version ? ' ' + p.version : '') + (p.filePath ? ' (' + p.filePath + ')' : '')).join(', '),
    fixed: pkgs.map(p => p.fixedInVersion).filter(Boolean).join(', ') };
}
