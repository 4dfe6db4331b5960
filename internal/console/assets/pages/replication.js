// The registry's replication configuration (DescribeRegistry, PutReplicationConfiguration): rules, each
// copying the images pushed to the repositories its prefixes match into its destination registries.
import { ecr, session, h, render, route, errorBox, field, notify, confirmDialog, table } from '../lib.js';

route('/registry/replication', async (main) => {
  const body = h('div', {});
  render(main,
    h('h1', {}, 'Replication'),
    h('p', { class: 'muted' }, 'Images pushed to the repositories a rule matches are copied to each of its destinations: another account’s registry (whose registry policy must allow this account ecr:ReplicateImage and ecr:CreateRepository) or another region. A rule without filters matches every repository.'),
    body);
  let reg;
  try { reg = await ecr('DescribeRegistry'); }
  catch (err) { render(body, errorBox(err)); return; }
  const saved = reg.replicationConfiguration?.rules || [];
  const rules = saved.map(r => ({
    destinations: (r.destinations || []).map(d => ({ region: d.region, registryId: d.registryId })),
    prefixes: (r.repositoryFilters || []).map(f => f.filter),
  }));
  const out = h('div', { 'aria-live': 'polite' });
  const rulesBox = h('div', {});
  const region = () => session.info?.region || 'us-east-1';

  const addRule = h('button', { type: 'button', onclick: () => {
    rules.push({ destinations: [{ region: region(), registryId: '' }], prefixes: [] });
    drawRules();
    document.getElementById(`repl-${rules.length - 1}-0-registry`)?.focus();
  } }, 'Add rule');

  function drawRules() {
    addRule.disabled = rules.length >= 10;
    render(rulesBox, rules.length ? rules.map((r, i) => h('fieldset', {}, h('legend', {}, `Rule ${i + 1}`),
      r.destinations.map((d, j) => h('div', { class: 'row destination' },
        h('div', {}, field('Destination region', h('input', { type: 'text', id: `repl-${i}-${j}-region`, value: d.region, autocomplete: 'off',
          oninput: e => { d.region = e.target.value.trim(); } }))),
        h('div', {}, field('Destination registry ID', h('input', { type: 'text', id: `repl-${i}-${j}-registry`, value: d.registryId, inputmode: 'numeric',
          autocomplete: 'off', placeholder: '12-digit account ID',
          oninput: e => { d.registryId = e.target.value.trim(); } }))),
        h('button', { type: 'button', 'aria-label': `Remove destination ${j + 1} of rule ${i + 1}`,
          onclick: () => { r.destinations.splice(j, 1); drawRules(); } }, 'Remove destination'))),
      h('div', { class: 'row' }, h('button', { type: 'button', onclick: () => {
        r.destinations.push({ region: region(), registryId: '' }); drawRules();
        document.getElementById(`repl-${i}-${r.destinations.length - 1}-registry`)?.focus();
      } }, `Add destination to rule ${i + 1}`)),
      field('Repository name prefixes', h('textarea', { id: `repl-${i}-prefixes`, rows: 3, class: 'short', spellcheck: 'false',
        value: r.prefixes.join('\n'), placeholder: 'prod\nteam-a/',
        oninput: e => { r.prefixes = e.target.value.split('\n').map(s => s.trim()).filter(Boolean); } }),
      'PREFIX_MATCH filters, one a line; none: every repository'),
      h('div', { class: 'row' }, h('button', { type: 'button', onclick: () => { rules.splice(i, 1); drawRules(); addRule.focus(); } }, `Remove rule ${i + 1}`))))
      : h('p', { class: 'empty' }, 'No rules: images are not replicated.'));
  }
  drawRules();

  const config = () => ({ rules: rules.map(r => {
    const rule = { destinations: r.destinations.map(d => ({ region: d.region, registryId: d.registryId })) };
    if (r.prefixes.length) rule.repositoryFilters = r.prefixes.map(p => ({ filter: p, filterType: 'PREFIX_MATCH' }));
    return rule;
  }) });

  async function save(cfg, what, box = out) {
    render(box);
    try {
      await ecr('PutReplicationConfiguration', { replicationConfiguration: cfg });
      notify(what);
      dispatchEvent(new HashChangeEvent('hashchange'));
    } catch (err) { render(box, errorBox(err)); }
  }

  const jsonOut = h('div', { 'aria-live': 'polite' });
  const jsonText = h('textarea', { id: 'repl-json', spellcheck: 'false', value: JSON.stringify({ rules: saved }, null, 2) });
  render(body,
    h('h2', {}, 'Rules in effect'),
    savedRules(saved),
    h('h2', {}, 'Edit rules'),
    h('form', { onsubmit: (e) => { e.preventDefault(); save(config(), 'Saved the replication configuration'); } },
      h('p', { class: 'muted' }, 'At most 10 rules and 25 destinations in all.'),
      rulesBox, h('div', { class: 'row' }, addRule), out,
      h('div', { class: 'row' },
        h('button', { type: 'submit', class: 'primary' }, 'Save rules'),
        h('button', { type: 'button', onclick: () => dispatchEvent(new HashChangeEvent('hashchange')) }, 'Discard changes'),
        saved.length ? h('button', { type: 'button', class: 'danger', onclick: async (e) => {
          const btn = e.currentTarget;
          if (!await confirmDialog('Remove all replication rules?', 'Images pushed from now on are no longer replicated. Replicas already made stay.', { confirm: 'Remove all rules' })) { btn.focus(); return; }
          save({ rules: [] }, 'Removed the replication rules');
        } }, 'Remove all rules') : null)),
    h('details', {}, h('summary', {}, 'Edit as JSON'),
      h('form', { onsubmit: (e) => {
        e.preventDefault();
        let cfg;
        try { cfg = JSON.parse(jsonText.value); } catch (err) { render(jsonOut, errorBox('The replication configuration is not valid JSON: ' + err.message)); return; }
        save(cfg, 'Saved the replication configuration', jsonOut);
      } },
        field('Replication configuration JSON', jsonText, 'as the aws CLI’s --replication-configuration'), jsonOut,
        h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Save JSON')))));
});

// savedRules shows the configuration in effect, a rule a row.
function savedRules(rules) {
  return table([
    { label: 'Rule', num: true, cell: r => r.n },
    { label: 'Destinations', cell: r => h('ul', { class: 'plain' }, (r.destinations || []).map(d => h('li', {}, d.registryId + ' in ' + d.region))) },
    { label: 'Repository filters', cell: r => r.repositoryFilters?.length
      ? h('ul', { class: 'plain' }, r.repositoryFilters.map(f => h('li', {}, h('code', {}, f.filter), h('span', { class: 'muted' }, ' (' + f.filterType + ')'))))
      : h('span', { class: 'muted' }, 'every repository') },
  ], rules.map((r, i) => ({ ...r, n: i + 1 })), { empty: 'No replication rules: images pushed to this registry are not replicated.' });
}
