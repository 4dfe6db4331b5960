// Event history: CloudTrail's LookupEvents over the account's trail, newest first, with its filters kept
// in the hash query (#/events?attr=ResourceName&value=my-repo&start=…&end=…) so a link shows a filtered
// history.
import { cloudtrail, h, render, route, errorBox, field, fmtTime, pager, newPaging, enc } from '../lib.js';

// The lookup attributes LookupEvents filters by (one at a time).
const KEYS = [
  ['EventName', 'Event name'], ['Username', 'User name'], ['ResourceName', 'Resource name'],
  ['ResourceType', 'Resource type'], ['EventSource', 'Event source'], ['EventId', 'Event ID'],
  ['ReadOnly', 'Read-only'], ['AccessKeyId', 'AWS access key'],
];

const PAGE = 50;

route('/events', async (main, params, query) => {
  const attr = KEYS.some(([k]) => k === query.get('attr')) ? query.get('attr') : '';
  const value = query.get('value') || '';
  const start = query.get('start') || '', end = query.get('end') || '';

  const key = h('select', { id: 'ev-attr' }, h('option', { value: '' }, 'No filter'),
    KEYS.map(([k, label]) => h('option', { value: k, selected: k === attr }, label)));
  const text = h('input', { type: 'text', id: 'ev-value', autocomplete: 'off', value: attr === 'ReadOnly' ? '' : value });
  const bool = h('select', { id: 'ev-readonly' }, ['true', 'false'].map(v => h('option', { value: v, selected: v === value.toLowerCase() }, v)));
  const from = h('input', { type: 'datetime-local', id: 'ev-start', step: 1, value: toLocalInput(start) });
  const to = h('input', { type: 'datetime-local', id: 'ev-end', step: 1, value: toLocalInput(end) });
  const textField = h('div', { class: 'ev-value' }, field('Attribute value', text));
  const boolField = h('div', { class: 'ev-value' }, field('Read-only', bool));
  const showValue = () => {
    textField.hidden = key.value === '' || key.value === 'ReadOnly';
    boolField.hidden = key.value !== 'ReadOnly';
  };
  key.addEventListener('change', showValue);
  showValue();

  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'toolbar ev-filters', onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (key.value) {
      q.set('attr', key.value);
      q.set('value', key.value === 'ReadOnly' ? bool.value : text.value.trim());
    }
    if (from.value) q.set('start', new Date(from.value).toISOString());
    if (to.value) q.set('end', new Date(to.value).toISOString());
    const hash = '#/events' + (q.toString() ? '?' + q : '');
    if (location.hash === hash) { paging.page = 0; load(); } else location.hash = hash;
  } },
    h('div', {}, field('Lookup attribute', key)), textField, boolField,
    h('div', {}, field('Start time', from, 'your time zone')), h('div', {}, field('End time', to)),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Look up'),
      (attr || start || end) && h('a', { class: 'button', href: '#/events' }, 'Clear filters')));

  render(main,
    h('h1', {}, 'Event history'),
    h('p', { class: 'muted' }, 'The account’s API calls as CloudTrail records them, newest first. Times are in your time zone.'),
    form, out);

  const paging = newPaging();
  const input = {};
  if (attr) input.LookupAttributes = [{ AttributeKey: attr, AttributeValue: value }];
  if (start) input.StartTime = Date.parse(start) / 1000;
  if (end) input.EndTime = Date.parse(end) / 1000;

  async function load() {
    render(out, h('p', { class: 'loading', 'aria-busy': 'true' }, 'Loading…'));
    try {
      const res = await cloudtrail('LookupEvents', { ...input, MaxResults: PAGE, NextToken: paging.tokens[paging.page] });
      paging.tokens[paging.page + 1] = res.NextToken;
      const events = res.Events || [];
      let empty = attr || start || end ? 'No events match these filters.' : 'No events recorded yet.';
      if (res.NextToken) empty = 'No matching events in this stretch of the trail. Choose Next to look further back.';
      render(out, events.length ? eventTable(events) : h('div', { class: 'empty table-wrap' }, empty),
        (paging.page > 0 || res.NextToken) && pager(paging, load));
    } catch (err) { render(out, errorBox(err)); }
  }
  await load();
});

const COLUMNS = ['Event time', 'Event name', 'User name', 'Event source', 'Resources', 'Error code', 'Source IP address'];

// eventTable shows each event as a row and, under it, a <details> with its whole record.
function eventTable(events) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'events' },
    h('caption', { class: 'muted' }, events.length + ' event' + (events.length === 1 ? '' : 's') + ' on this page'),
    h('thead', {}, h('tr', {}, COLUMNS.map(c => h('th', { scope: 'col' }, c)))),
    events.map(ev => {
      let rec = {};
      try { rec = JSON.parse(ev.CloudTrailEvent || '{}'); } catch { /* shown raw below */ }
      const pretty = rec && Object.keys(rec).length ? JSON.stringify(rec, null, 2) : (ev.CloudTrailEvent || '');
      return h('tbody', {},
        h('tr', { class: 'ev-main' },
          h('td', {}, fmtTime(ev.EventTime)),
          h('td', {}, filterLink('EventName', ev.EventName)),
          h('td', {}, ev.Username ? filterLink('Username', ev.Username) : '—'),
          h('td', {}, ev.EventSource),
          h('td', {}, resources(ev.Resources || [])),
          h('td', {}, rec.errorCode ? h('span', { class: 'badge ev-error', title: rec.errorMessage || '' }, 'Error: ' + rec.errorCode) : '—'),
          h('td', {}, rec.sourceIPAddress || '—')),
        h('tr', { class: 'ev-more' }, h('td', { colspan: COLUMNS.length },
          h('details', {}, h('summary', {}, 'Event record ', h('code', {}, ev.EventId),
            rec.userAgent && h('span', { class: 'ev-ua' }, ' · user agent ', rec.userAgent)),
            rec.errorMessage && h('p', {}, h('strong', {}, 'Error message: '), rec.errorMessage),
            h('pre', { tabindex: 0, 'aria-label': 'Event record ' + ev.EventId }, pretty)))));
    })));
}

function resources(list) {
  if (!list.length) return '—';
  return h('ul', { class: 'plain' }, list.map(r => h('li', {},
    r.ResourceType === 'AWS::ECR::Repository'
      ? h('a', { href: '#/repository/images/' + enc(r.ResourceName) }, r.ResourceName)
      : filterLink('ResourceName', r.ResourceName),
    ' ', h('span', { class: 'hint' }, r.ResourceType))));
}

// filterLink shows a value as a link to the history filtered by it.
function filterLink(attr, value) {
  return h('a', { href: '#/events?' + new URLSearchParams({ attr, value }), title: 'Show only events with this ' + attr }, value);
}

// toLocalInput turns an ISO time into a datetime-local input's value, in the viewer's zone.
function toLocalInput(iso) {
  const d = new Date(iso);
  if (!iso || isNaN(d)) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
