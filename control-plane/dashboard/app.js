// The meshlight dashboard: the call graph (cytoscape), a panel per service and per call, filters, and the
// live tap. Plain ES module, no build step; everything comes from this control plane's own API.
import cytoscape from '/dashboard/cytoscape.mjs';

const POLL_MS = 5000;
/** The small charts: the control plane's history, refetched this often while a panel is open. */
const HISTORY_QUERY = 'window=10m&step=30s';
const HISTORY_MS = 30000;
const TAP_ROWS = 200;

const $ = (id) => document.getElementById(id);
const state = {
  graph: { nodes: [], edges: [] }, sidecars: [], services: [], selected: null, laidOut: '',
  history: { series: {} }, historyAt: 0, tap: null, tapRows: [], tapDropped: 0,
};

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const pct = (r) => `${(r * 100).toFixed(r > 0 && r < 0.01 ? 2 : 1)}%`;
const rps = (r) => (r >= 10 ? r.toFixed(0) : r.toFixed(2));
const ms = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const label = (id) => (id === 'unknown' ? 'unknown (no sidecar)' : id.endsWith('.default') ? id.slice(0, -'.default'.length) : id);
const health = (n) => (n.requests === 0 ? 'idle' : n.errorRate >= 0.05 ? 'bad' : n.errorRate >= 0.01 ? 'warn' : 'ok');

const cy = cytoscape({
  container: $('graph'),
  wheelSensitivity: 0.3,
  minZoom: 0.3,
  maxZoom: 3,
  style: [
    { selector: 'node', style: {
      label: 'data(label)', 'text-valign': 'bottom', 'text-margin-y': 4, 'font-size': 12, color: '#1f2328',
      width: 'data(size)', height: 'data(size)', 'background-color': '#9aa0a6', 'border-width': 2, 'border-color': '#fff',
      'text-background-color': '#fff', 'text-background-opacity': 0.8, 'text-background-padding': 2,
    } },
    { selector: 'node[health = "ok"]', style: { 'background-color': '#2ca02c' } },
    { selector: 'node[health = "warn"]', style: { 'background-color': '#e8a317' } },
    { selector: 'node[health = "bad"]', style: { 'background-color': '#d62728' } },
    { selector: 'edge', style: {
      width: 'data(width)', 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', 'line-color': '#8c959f', 'target-arrow-color': '#8c959f',
      label: 'data(label)', 'font-size': 10, color: '#3d444d', 'text-background-color': '#fff', 'text-wrap': 'wrap', 'text-max-width': 120,
      'text-background-opacity': 0.85, 'text-background-padding': 2,
    } },
    { selector: 'edge[?errors]', style: { 'line-color': '#e8a317', 'target-arrow-color': '#e8a317' } },
    { selector: 'edge[?unexpected]', style: { 'line-color': '#d62728', 'target-arrow-color': '#d62728', color: '#a4161a', 'font-weight': 'bold' } },
    { selector: 'edge[?idle]', style: { 'line-style': 'dashed', 'line-color': '#b0b7bf', 'target-arrow-color': '#b0b7bf' } },
    { selector: ':selected', style: { 'overlay-color': '#0b5cad', 'overlay-opacity': 0.18, 'overlay-padding': 6 } },
  ],
});

// The graph, for scripts in the browser's console (and the dashboard test, which clicks its nodes).
globalThis.meshlight = { cy };

function edgeLabel(e) {
  if (e.requests === 0) return `no traffic · ${e.protocol}`;
  const text = `${rps(e.rps)} rps · ${pct(e.errorRate)} err\np99 ${ms(e.p99)} ms · ${e.protocol}`;
  return e.unexpected ? `UNEXPECTED\n${text}` : text;
}

/** The graph as the filters show it: a namespace, only failing calls (and their ends). */
function visible() {
  const ns = $('namespace').value;
  const errorsOnly = $('errors-only').checked;
  const inNs = (id) => ns === '' || state.graph.nodes.find((n) => n.id === id)?.namespace === ns;
  let edges = state.graph.edges.filter((e) => inNs(e.source) || inNs(e.target));
  if (errorsOnly) edges = edges.filter((e) => e.errors > 0 || e.unexpected);
  const ids = new Set(edges.flatMap((e) => [e.source, e.target]));
  const nodes = state.graph.nodes.filter((n) => ids.has(n.id) || (!errorsOnly && inNs(n.id)) || (errorsOnly && n.errors > 0 && inNs(n.id)));
  return { nodes, edges };
}

function draw() {
  const { nodes, edges } = visible();
  const maxRps = Math.max(0.001, ...nodes.map((n) => n.rps));
  const wanted = new Set([...nodes.map((n) => n.id), ...edges.map((e) => e.id)]);
  cy.batch(() => {
    cy.elements().filter((el) => !wanted.has(el.id())).remove();
    for (const n of nodes) {
      const data = { id: n.id, label: label(n.id), size: 26 + 34 * Math.sqrt(n.rps / maxRps), health: health(n) };
      const el = cy.getElementById(n.id);
      if (el.nonempty()) el.data(data);
      else cy.add({ group: 'nodes', data });
    }
    for (const e of edges) {
      const data = {
        id: e.id, source: e.source, target: e.target, label: edgeLabel(e), width: 1.5 + Math.min(5, e.rps / maxRps * 5),
        unexpected: e.unexpected, idle: e.requests === 0, errors: e.errors > 0,
      };
      const el = cy.getElementById(e.id);
      if (el.nonempty()) el.data(data);
      else cy.add({ group: 'edges', data });
    }
  });
  // A new set of services gets a new layout; new numbers alone never move anything.
  const shape = nodes.map((n) => n.id).join(',') + '|' + edges.map((e) => e.id).join(',');
  if (shape !== state.laidOut) {
    state.laidOut = shape;
    const roots = cy.nodes().filter((n) => n.indegree(false) === 0);
    cy.layout({ name: 'breadthfirst', directed: true, roots: roots.nonempty() ? roots : undefined, spacingFactor: 1.1, padding: 40, animate: false }).run();
    fit();
  }
  const empty = $('empty');
  empty.hidden = nodes.length > 0;
  const filtered = state.graph.nodes.length > 0;
  empty.querySelector('h2').textContent = filtered ? 'Nothing matches the filters' : 'No traffic yet';
  empty.querySelector('p').hidden = filtered;
  // What cytoscape holds, for anyone checking the picture against /api/v1/graph (the tests do).
  const graphEl = $('graph');
  graphEl.dataset.nodes = cy.nodes().map((n) => n.id()).sort().join(' ');
  graphEl.dataset.edges = cy.edges().map((e) => e.id()).sort().join(' ');
  graphEl.setAttribute('aria-label', `${nodes.length} services, ${edges.length} calls`);
}

/** The whole graph in view, but never magnified past where labels stay their normal size. */
function fit() {
  cy.resize();
  cy.fit(undefined, 30);
  if (cy.zoom() > 1.1) {
    cy.zoom(1.1);
    cy.center();
  }
}

/** Fetches the charts' history when a panel is open and it is older than HISTORY_MS. */
async function refreshHistory() {
  if (!state.selected || Date.now() - state.historyAt < HISTORY_MS) return;
  state.historyAt = Date.now();
  try {
    state.history = await getJson(`/api/v1/graph/history?${HISTORY_QUERY}`);
  } catch {
    state.history = { series: {} }; // the charts stay empty; the status line reports a dead control plane
  }
}

function sparkline(points, pick, caption, format) {
  const values = points.map(pick);
  const max = Math.max(...values, 0);
  const w = 100;
  const path = values.length < 2 ? '' : values.map((v, i) => `${i === 0 ? 'M' : 'L'}${(i / (values.length - 1)) * w},${38 - (max > 0 ? (v / max) * 34 : 0)}`).join(' ');
  const last = values.length > 0 ? format(values[values.length - 1]) : '–';
  return `<figure class="chart" aria-label="${esc(caption)}"><svg viewBox="0 0 ${w} 40" preserveAspectRatio="none" role="img"><path d="${path}" fill="none" stroke="#0b5cad" stroke-width="1.5" vector-effect="non-scaling-stroke"/></svg><figcaption>${esc(caption)}: ${esc(last)}</figcaption></figure>`;
}

function redBlock(stats, key) {
  const points = state.history.series[key] ?? [];
  return `<div class="stats">
    <div class="stat"><b>${rps(stats.rps)}</b><span>req/s</span></div>
    <div class="stat"><b>${pct(stats.errorRate)}</b><span>errors</span></div>
    <div class="stat"><b>${ms(stats.p99)}</b><span>p99 ms</span></div></div>
    <p class="sub">p50 ${ms(stats.p50)} ms · p95 ${ms(stats.p95)} ms · ${stats.requests} requests in the window</p>
    <div class="charts">${sparkline(points, (p) => p.rps, 'rate', (v) => `${rps(v)}/s`)}${sparkline(points, (p) => p.errorRate, 'errors', pct)}${sparkline(points, (p) => p.p99, 'p99', (v) => `${ms(v)} ms`)}</div>
    <p class="sub muted">${state.history.window === undefined ? 'Charts: loading…' : `Charts: the last ${esc(state.history.window)}, one point per ${esc(state.history.step)}.`}</p>`;
}

function rulesTable(svc) {
  if (svc === undefined) return '<p class="muted">Not a service of the config (no MeshService).</p>';
  if (svc.rules.length === 0) return `<p class="muted">No HTTPRoute: calls go to its own endpoints, round robin.</p>`;
  const rows = svc.rules.map((r) => `<tr><td>${esc(r.route)}<br><span class="muted">${esc(r.rule)}</span></td><td>${r.matches.map(esc).join('<br>')}</td><td>${
    r.backends.map((b) => `${esc(label(b.service))} <b>${b.weight}</b>`).join('<br>')}${r.timeoutMs !== null ? `<br><span class="muted">timeout ${r.timeoutMs} ms</span>` : ''}</td></tr>`);
  return `<table><thead><tr><th>Route</th><th>Matches</th><th>Backends (weight)</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function sidecarsTable(id) {
  const list = state.sidecars.filter((s) => `${s.service}.${s.namespace || 'default'}` === id);
  if (list.length === 0) return '<p class="muted">No sidecar of this service is connected.</p>';
  const rows = list.map((s) => {
    const ack = s.synced ? '<span class="flag ok">ACK</span>' : s.lastNack !== null && s.lastNack.version === s.version ? `<span class="flag nack" title="${esc(s.lastNack.error)}">NACK</span>` : '<span class="flag idle">pending</span>';
    return `<tr><td>${esc(s.id)}<br><span class="muted">${esc(s.address)}</span></td><td><code>${esc(s.version)}</code></td><td>${ack}</td></tr>`;
  });
  return `<table><thead><tr><th>Sidecar</th><th>Config</th><th>State</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function edgeFlag(e) {
  if (e.unexpected) return '<span class="flag unexpected">unexpected</span>';
  if (e.requests === 0) return '<span class="flag idle">declared, no traffic</span>';
  if (e.declared) return '<span class="flag ok">declared</span>';
  return '';
}

function overview() {
  const { nodes, edges } = visible();
  const nodeRows = nodes.map((n) => `<tr class="selectable" tabindex="0" data-select="${esc(n.id)}" data-node-id="${esc(n.id)}"><td>${esc(label(n.id))}</td><td class="num">${rps(n.rps)}</td><td class="num">${pct(n.errorRate)}</td><td class="num">${ms(n.p99)}</td></tr>`);
  const edgeRows = edges.map((e) => `<tr class="selectable" tabindex="0" data-select="${esc(e.id)}" data-edge-id="${esc(e.id)}"><td>${esc(label(e.source))} → ${esc(label(e.target))} ${edgeFlag(e)}</td><td class="num">${rps(e.rps)}</td><td class="num">${pct(e.errorRate)}</td><td class="num">${ms(e.p99)}</td></tr>`);
  return `<h2>Mesh</h2><p class="sub">${nodes.length} services, ${edges.length} calls over the last ${esc(state.graph.window ?? '')}</p>
    <h3>Services</h3>${nodes.length === 0 ? '<p class="muted">None yet.</p>' : `<table><thead><tr><th>Service</th><th class="num">req/s</th><th class="num">err</th><th class="num">p99 ms</th></tr></thead><tbody>${nodeRows.join('')}</tbody></table>`}
    <h3>Calls</h3>${edges.length === 0 ? '<p class="muted">None yet.</p>' : `<table><thead><tr><th>Caller → callee</th><th class="num">req/s</th><th class="num">err</th><th class="num">p99 ms</th></tr></thead><tbody>${edgeRows.join('')}</tbody></table>`}`;
}

function servicePanel(n) {
  const svc = state.services.find((s) => s.id === n.id);
  const tapping = state.tap !== null && state.tap.service === n.id;
  const callers = svc?.callers == null ? 'not declared (no caller is flagged)' : svc.callers.map(label).join(', ') || 'none';
  return `<button class="back" data-select="">← Mesh</button><h2 data-panel="service">${esc(label(n.id))}</h2><p class="sub">service ${esc(n.id)}${svc ? ` · port ${svc.port} · ${esc(svc.protocol)}` : ''}</p>
    ${redBlock(n, n.id)}
    <h3>Routes and backends</h3>${rulesTable(svc)}
    <h3>Expected callers</h3><p>${esc(callers)}</p>
    <h3>Sidecars</h3>${sidecarsTable(n.id)}
    ${svc !== undefined ? `<h3>Live requests</h3><p><button id="tap-toggle" class="${tapping ? '' : 'primary'}">${tapping ? 'Stop tap' : 'Tap live requests'}</button> <span id="tap-note" class="muted">${tapping ? esc(state.tap.note) : ''}</span></p>
    <div class="tap-log" id="tap-log" ${tapping ? '' : 'hidden'}>${tapTable()}</div>` : ''}`;
}

function edgePanel(e) {
  const svc = state.services.find((s) => s.id === e.target);
  return `<button class="back" data-select="">← Mesh</button><h2 data-panel="edge">${esc(label(e.source))} → ${esc(label(e.target))}</h2><p class="sub">${esc(e.protocol)} ${edgeFlag(e)}</p>
    ${e.unexpected ? `<p>${esc(label(e.target))} declares its callers (<code>spec.callers</code>) and ${esc(label(e.source))} is not among them.</p>` : ''}
    ${e.requests === 0 ? '<p>Declared in the config, but no call was seen in the window.</p>' : ''}
    ${redBlock(e, e.id)}
    <p class="sub">${e.denied} denied by policy</p>
    <h3>Routes of ${esc(label(e.target))}</h3>${rulesTable(svc)}
    <h3>Sidecars of ${esc(label(e.target))}</h3>${sidecarsTable(e.target)}`;
}

function tapTable() {
  const rows = state.tapRows.map((t) => `<tr><td>${esc(new Date(t.start_ms).toISOString().slice(11, 23))}</td><td><span class="muted">${t.direction === 'inbound' ? 'in' : 'out'}</span> ${esc(t.method)} ${esc(t.authority)}${esc(t.path)}<br><span class="muted">trace ${esc(t.trace_id || '-')}</span></td><td class="num">${t.status || '—'}</td><td class="num">${ms(t.latency_ms)}</td><td>${esc(t.flags)}</td></tr>`);
  return `<table><thead><tr><th>Time</th><th>Request</th><th class="num">Status</th><th class="num">ms</th><th>Flags</th></tr></thead><tbody id="tap-rows">${rows.join('')}</tbody></table>${state.tapDropped > 0 ? `<p class="muted">${state.tapDropped} requests not shown (too many to keep up)</p>` : ''}${rows.length === 0 ? '<p class="muted" id="tap-empty">Waiting for requests…</p>' : ''}`;
}

function renderPanel() {
  const panel = $('panel');
  const active = document.activeElement;
  const focused = panel.contains(active) ? (active.id || active.dataset?.select) : undefined;
  const sel = state.selected;
  const node = sel && state.graph.nodes.find((n) => n.id === sel);
  const edge = sel && state.graph.edges.find((e) => e.id === sel);
  const tapScroll = $('tap-log')?.scrollTop;
  panel.innerHTML = node ? servicePanel(node) : edge ? edgePanel(edge) : overview();
  if (tapScroll !== undefined && $('tap-log')) $('tap-log').scrollTop = tapScroll;
  if (focused !== undefined) (document.getElementById(focused) ?? panel.querySelector(`[data-select="${CSS.escape(focused)}"]`))?.focus();
}

function select(id) {
  const opening = !state.selected && id;
  state.selected = id || null;
  cy.elements().unselect();
  if (state.selected) cy.getElementById(state.selected).select();
  renderPanel();
  if (opening) {
    state.historyAt = 0;
    refreshHistory().then(renderPanel);
  }
}

function toggleTap(service) {
  if (state.tap !== null) {
    state.tap.source.close();
    const same = state.tap.service === service;
    state.tap = null;
    if (same) return renderPanel();
  }
  state.tapRows = [];
  state.tapDropped = 0;
  const source = new EventSource(`/api/v1/tap?service=${encodeURIComponent(service)}`);
  state.tap = { service, source, note: 'connecting…' };
  source.addEventListener('notice', (ev) => {
    state.tap.note = JSON.parse(ev.data);
    const note = $('tap-note');
    if (note) note.textContent = state.tap.note;
  });
  source.onmessage = (ev) => {
    const t = JSON.parse(ev.data);
    state.tapDropped += t.dropped;
    state.tapRows.unshift(t);
    if (state.tapRows.length > TAP_ROWS) state.tapRows.pop();
    const log = $('tap-log');
    if (log) log.innerHTML = tapTable();
  };
  source.onerror = () => {
    if (state.tap?.source === source) {
      state.tap.note = 'tap interrupted; reconnecting…';
      const note = $('tap-note');
      if (note) note.textContent = state.tap.note;
    }
  };
  renderPanel();
}

async function getJson(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
  return body;
}

async function refresh() {
  try {
    const [graph, sidecars, services] = await Promise.all([
      getJson(`/api/v1/graph?window=${encodeURIComponent($('window').value)}`), getJson('/api/v1/sidecars'), getJson('/api/v1/services'),
    ]);
    state.graph = graph;
    state.sidecars = sidecars;
    state.services = services;
    await refreshHistory();
    const nsSelect = $('namespace');
    const namespaces = [...new Set([...services.map((s) => s.namespace), ...graph.nodes.map((n) => n.namespace)].filter((n) => n !== ''))].sort();
    const current = nsSelect.value;
    const have = [...nsSelect.options].map((o) => o.value).slice(1).join(',');
    if (have !== namespaces.join(',')) {
      nsSelect.innerHTML = '<option value="">all</option>' + namespaces.map((n) => `<option>${esc(n)}</option>`).join('');
      nsSelect.value = namespaces.includes(current) ? current : '';
    }
    draw();
    if (state.selected && cy.getElementById(state.selected).nonempty()) cy.getElementById(state.selected).select();
    renderPanel();
    $('status').textContent = `updated ${new Date(graph.generatedAt).toLocaleTimeString()} · ${sidecars.length} sidecars`;
  } catch (err) {
    $('status').textContent = `cannot reach the control plane: ${err.message}`;
  }
}

/** Arrow keys step through what the graph shows: ←/→ services, ↑/↓ calls; Enter opens, Esc goes back. */
function onGraphKey(ev) {
  const { nodes, edges } = visible();
  const list = ev.key === 'ArrowLeft' || ev.key === 'ArrowRight' ? nodes : ev.key === 'ArrowUp' || ev.key === 'ArrowDown' ? edges : null;
  if (ev.key === 'Escape') {
    select(null);
    ev.preventDefault();
    return;
  }
  if (list === null || list.length === 0) return;
  ev.preventDefault();
  const i = list.findIndex((x) => x.id === state.selected);
  const step = ev.key === 'ArrowRight' || ev.key === 'ArrowDown' ? 1 : -1;
  select(list[(i + step + list.length) % list.length].id);
}

cy.on('tap', 'node, edge', (ev) => select(ev.target.id()));
cy.on('tap', (ev) => {
  if (ev.target === cy) select(null);
});
$('graph').addEventListener('keydown', onGraphKey);
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && state.selected) select(null);
});
$('panel').addEventListener('click', (ev) => {
  if (ev.target.closest('#tap-toggle')) return toggleTap(state.selected);
  const row = ev.target.closest('[data-select]');
  if (row) select(row.dataset.select);
});
$('panel').addEventListener('keydown', (ev) => {
  const row = ev.target.closest('tr[data-select]');
  if (row && (ev.key === 'Enter' || ev.key === ' ')) {
    ev.preventDefault();
    select(row.dataset.select);
  }
});
for (const id of ['namespace', 'window', 'errors-only']) $(id).addEventListener('change', () => (id === 'window' ? refresh() : (draw(), renderPanel())));
$('filters').addEventListener('submit', (ev) => ev.preventDefault());
window.addEventListener('resize', fit);

refresh();
setInterval(refresh, POLL_MS);
