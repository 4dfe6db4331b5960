// Usage and cost: the registry's storage, pulls and estimated monthly cost, as DescribeUsage (Wharf's
// extension of the ECR API) reports them, for the account and per repository.
import { ecr, h, render, route, errorBox, field, fmtBytes, enc } from '../lib.js';

const DAYS = [7, 30, 90, 365];

route('/usage', async (main, params, query) => {
  const days = DAYS.includes(Number(query.get('days'))) ? Number(query.get('days')) : 30;
  const sort = ['storage', 'share', 'pulls', 'bytes', 'cost', 'name'].includes(query.get('sort')) ? query.get('sort') : 'storage';
  const period = h('select', { id: 'usage-days', onchange: () => { location.hash = '#/usage?' + new URLSearchParams({ days: period.value, sort }); } },
    DAYS.map(d => h('option', { value: d, selected: d === days }, 'Last ' + d + ' days')));
  const body = h('div', { 'aria-live': 'polite' }, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading…'));
  render(main, h('h1', {}, 'Usage and cost'),
    h('p', { class: 'muted' }, 'Storage is what the images present reference now, each blob counted once; pulls and bytes pulled are counted per day (UTC). Costs are estimates from the price table below.'),
    h('div', { class: 'toolbar' }, h('div', {}, field('Period', period))),
    body);

  let first, repos = [];
  try {
    let token;
    for (let i = 0; i < 50; i++) { // every repository, to sort them all
      const out = await ecr('DescribeUsage', { days, maxResults: 1000, nextToken: token, includeTotals: i === 0 });
      first ??= out;
      repos.push(...(out.repositories || []));
      token = out.nextToken;
      if (!token) break;
    }
  } catch (err) { render(body, errorBox(err)); return; }

  const t = first.totals;
  const cur = first.prices?.currency || 'USD';
  const fmt = (v, digits) => new Intl.NumberFormat(undefined, { style: 'currency', currency: cur, minimumFractionDigits: 2, maximumFractionDigits: digits }).format(v);
  const money = (v) => v > 0 && v < 0.0001 ? '< ' + fmt(0.0001, 4) : fmt(v || 0, v && v < 1 ? 4 : 2);
  render(body, h('div', { class: 'usage' },
    t && h('section', { 'aria-labelledby': 'u-account' }, h('h2', { id: 'u-account' }, 'Account'),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Repositories'), h('dd', {}, String(t.repositoryCount)),
        h('dt', {}, 'Storage'), h('dd', {}, exactBytes(t.storageBytes)),
        h('dt', {}, `Pulls (last ${first.days} days, since ${first.since})`), h('dd', {}, t.pulls.toLocaleString()),
        h('dt', {}, 'Bytes pulled'), h('dd', {}, exactBytes(t.bytesPulled)),
        h('dt', {}, 'Estimated monthly cost'), h('dd', {}, h('strong', {}, money(t.estimatedMonthlyCost.total)),
          ` (storage ${money(t.estimatedMonthlyCost.storage)}, data transfer ${money(t.estimatedMonthlyCost.transfer)})`))),
    first.prices && h('section', { 'aria-labelledby': 'u-prices' }, h('h2', { id: 'u-prices' }, 'Price table'),
      h('div', { class: 'table-wrap narrow' }, h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Item'), h('th', { scope: 'col', class: 'num' }, 'Price'))),
        h('tbody', {},
          h('tr', {}, h('th', { scope: 'row' }, 'Storage, per GB-month'), h('td', { class: 'num' }, money(first.prices.storagePerGBMonth))),
          h('tr', {}, h('th', { scope: 'row' }, 'Data transfer out, per GB'), h('td', { class: 'num' }, money(first.prices.transferOutPerGB)))))),
      h('p', { class: 'hint' }, 'A GB is 2³⁰ bytes. The transfer estimate scales the period’s bytes pulled to 30 days.')),
    t && h('section', { 'aria-labelledby': 'u-daily' }, h('h2', { id: 'u-daily' }, 'Pulls per day'),
      daily(first.since, first.days, t.daily || [])),
    h('section', { 'aria-labelledby': 'u-repos' }, h('h2', { id: 'u-repos' }, 'Repositories'),
      repoTable(repos, sort, days, money))));
});

function exactBytes(n) {
  return [fmtBytes(n), ' ', h('span', { class: 'muted' }, '(' + Number(n).toLocaleString() + ' bytes)')];
}

// daily shows the period's pulls and bytes pulled per day: a column chart (a picture, hidden from screen
// readers) and a table of the days with pulls that says the same.
function daily(since, days, list) {
  if (!list.length) return h('div', { class: 'empty table-wrap' }, 'No pulls in this period.');
  const byDay = Object.fromEntries(list.map(d => [d.day, d]));
  const all = [];
  const d0 = Date.parse(since + 'T00:00:00Z');
  for (let i = 0; i < days; i++) { // oldest first, as a chart reads
    const day = new Date(d0 + i * 86400000).toISOString().slice(0, 10);
    all.push(byDay[day] || { day, pulls: 0, bytesPulled: 0 });
  }
  const maxBytes = Math.max(1, ...all.map(r => r.bytesPulled));
  const maxPulls = Math.max(1, ...all.map(r => r.pulls));
  const bar = (v, max, cls) => { // el.style, as the Content-Security-Policy refuses style attributes
    const b = h('span', { class: 'bar ' + cls });
    b.style.height = (v / max * 100).toFixed(1) + '%';
    return b;
  };
  const chart = h('div', { class: 'chart', 'aria-hidden': 'true' },
    all.map(r => h('div', { class: 'day', title: `${r.day}: ${r.pulls} pulls, ${fmtBytes(r.bytesPulled)}` },
      bar(r.pulls, maxPulls, 'pulls'), bar(r.bytesPulled, maxBytes, 'bytes'))));
  const rows = list.filter(r => r.pulls || r.bytesPulled).reverse();
  return [
    chart,
    h('p', { class: 'hint', 'aria-hidden': 'true' }, h('span', { class: 'key pulls' }), ' pulls  ', h('span', { class: 'key bytes' }),
      ` bytes pulled, each scaled to the busiest day; ${all[0].day} to ${all[all.length - 1].day} (UTC)`),
    h('div', { class: 'table-wrap narrow' }, h('table', {},
      h('caption', { class: 'muted' }, 'Days with pulls (UTC), newest first; other days had none'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Day'), h('th', { scope: 'col', class: 'num' }, 'Pulls'),
        h('th', { scope: 'col', class: 'num' }, 'Bytes pulled'))),
      h('tbody', {}, rows.map(r => h('tr', {},
        h('th', { scope: 'row' }, h('time', { datetime: r.day }, r.day)),
        h('td', { class: 'num' }, r.pulls.toLocaleString()),
        h('td', { class: 'num', title: r.bytesPulled.toLocaleString() + ' bytes' }, fmtBytes(r.bytesPulled))))))),
  ];
}

const SORTS = {
  name: (a, b) => a.repositoryName.localeCompare(b.repositoryName),
  storage: (a, b) => b.storageBytes - a.storageBytes,
  share: (a, b) => b.storageShareBytes - a.storageShareBytes,
  pulls: (a, b) => b.pulls - a.pulls,
  bytes: (a, b) => b.bytesPulled - a.bytesPulled,
  cost: (a, b) => b.estimatedMonthlyCost.total - a.estimatedMonthlyCost.total,
};

function repoTable(repos, sort, days, money) {
  if (!repos.length) return h('div', { class: 'empty table-wrap' }, 'No repositories yet.');
  const rows = [...repos].sort((a, b) => SORTS[sort](a, b) || SORTS.name(a, b));
  // A column header sorts by linking to the same page sorted by it: it works with the keyboard and a
  // link to it keeps the order.
  const head = (label, key, num) => h('th', { scope: 'col', class: num ? 'num' : '', 'aria-sort': sort === key ? (key === 'name' ? 'ascending' : 'descending') : null },
    h('a', { href: '#/usage?' + new URLSearchParams({ days, sort: key }) }, label, sort === key ? (key === 'name' ? ' ▲' : ' ▼') : ''));
  return [h('div', { class: 'table-wrap' }, h('table', {},
    h('caption', { class: 'muted' }, 'Sorted by ' + ({ name: 'name', storage: 'storage', share: 'storage share', pulls: 'pulls', bytes: 'bytes pulled', cost: 'cost' })[sort] + '; choose a column heading to sort by it.'),
    h('thead', {}, h('tr', {},
      head('Repository', 'name'), head('Storage', 'storage', true), head('Share of storage', 'share', true),
      h('th', { scope: 'col', class: 'num' }, 'Shared with others'), h('th', { scope: 'col', class: 'num' }, 'Images'),
      head('Pulls', 'pulls', true), head('Bytes pulled', 'bytes', true), head('Estimated monthly cost', 'cost', true))),
    h('tbody', {}, rows.map(r => h('tr', {},
      h('th', { scope: 'row' }, h('a', { href: '#/repository/images/' + enc(r.repositoryName) }, r.repositoryName)),
      h('td', { class: 'num', title: r.storageBytes.toLocaleString() + ' bytes' }, fmtBytes(r.storageBytes)),
      h('td', { class: 'num', title: r.storageShareBytes.toLocaleString() + ' bytes' }, fmtBytes(r.storageShareBytes)),
      h('td', { class: 'num', title: r.sharedBytes.toLocaleString() + ' bytes' }, fmtBytes(r.sharedBytes)),
      h('td', { class: 'num' }, r.imageCount.toLocaleString()),
      h('td', { class: 'num' }, r.pulls.toLocaleString()),
      h('td', { class: 'num', title: r.bytesPulled.toLocaleString() + ' bytes' }, fmtBytes(r.bytesPulled)),
      h('td', { class: 'num' }, money(r.estimatedMonthlyCost.total))))))),
  h('p', { class: 'hint' }, 'Share of storage divides each blob among the repositories that hold it, so the shares add up to the account’s storage; the cost is on the share. “Shared with others” is the part of the storage other repositories hold too.')];
}
