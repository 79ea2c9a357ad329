/* dashboard.js - the live dashboard of roma serve.
 *
 * Every second it asks /roma/v1/history for the samples after the last one
 * it has (?since=LAST: a few hundred bytes) and appends them to the charts;
 * every two seconds it reads the controller's decisions and the workers.
 * A failed read (roma serve restarting, a worker restarting does not even
 * show here) is shown in the header and retried on the next tick; nothing
 * reloads the page.  Charts keep only the chosen window (at most an hour of
 * points), so a page left open stays the same size.
 *
 * With ops.read: token the reads need the operations token: the page asks
 * for it in a form, or takes it once from the URL fragment (#token=...,
 * which browsers never send to the server), removes it from the address
 * bar and keeps it in sessionStorage (this tab only, gone when it closes).
 */
'use strict';

(function () {
  const POLL_MS = 1000;
  const TABLES_EVERY = 2; /* polls */
  const MAX_WINDOW_S = 3600;
  const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2',
                  '#ca8a04', '#db2777', '#4b5563'];

  let token = sessionStorage.getItem('roma-token') || '';
  let last = null;           /* "last" of the previous history answer */
  let polls = 0;
  let generation = 0;        /* bumped when the window changes: late answers are dropped */
  let windowS = 900;
  const models = new Map();  /* name -> {charts: {...}} */
  let gpuChart = null;

  function takeTokenFromFragment() {
    const m = /(?:^|[#&])token=([^&]*)/.exec(location.hash);
    if (!m) return;
    token = decodeURIComponent(m[1]);
    sessionStorage.setItem('roma-token', token);
    history.replaceState(null, '', location.pathname + location.search);
  }

  function setStatus(text, error) {
    const el = document.getElementById('status');
    el.textContent = text;
    el.classList.toggle('error', !!error);
  }

  async function api(path) {
    const headers = token ? {Authorization: 'Bearer ' + token} : {};
    const r = await fetch(path, {headers: headers, cache: 'no-store'});
    if (r.status === 401 || r.status === 403) {
      document.getElementById('token-form').hidden = false;
      throw new Error(r.status === 401 ? 'the operations token is needed'
                                       : 'wrong operations token');
    }
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.json();
  }

  /* ---- charts ---------------------------------------------------------- */

  function timeTick(v) {
    return new Date(v * 1000).toLocaleTimeString([], {hour12: false});
  }

  function makeChart(canvas, title, yTitle, series) {
    return new Chart(canvas, {
      type: 'line',
      data: {datasets: series.map((s, i) => ({
        label: s.label, data: [], borderColor: s.color || COLORS[i % COLORS.length],
        backgroundColor: s.color || COLORS[i % COLORS.length], borderDash: s.dash || [],
        borderWidth: s.width || 1.5, pointRadius: 0, stepped: !!s.stepped, spanGaps: false,
        key: s.key}))},
      options: {
        animation: false, responsive: true, maintainAspectRatio: false, normalized: true,
        interaction: {mode: 'nearest', axis: 'x', intersect: false},
        plugins: {title: {display: true, text: title}, legend: {labels: {boxWidth: 12}}},
        scales: {
          x: {type: 'linear', ticks: {callback: timeTick, maxTicksLimit: 6}},
          y: {beginAtZero: true, title: {display: true, text: yTitle}},
        },
      },
    });
  }

  function chartBox(parent, id) {
    const div = document.createElement('div');
    div.className = 'chart';
    const canvas = document.createElement('canvas');
    canvas.id = id;
    div.appendChild(canvas);
    parent.appendChild(div);
    return canvas;
  }

  /* The card of a model: its five charts.  devices: the "ok" keys. */
  function modelCard(name, devices) {
    const card = document.createElement('div');
    card.className = 'model';
    const h = document.createElement('h2');
    h.textContent = name;
    card.appendChild(h);
    const grid = document.createElement('div');
    grid.className = 'charts';
    card.appendChild(grid);
    document.getElementById('models').appendChild(card);
    const id = 'm-' + name.replace(/[^A-Za-z0-9_.-]/g, '_');
    const charts = {
      rt: makeChart(chartBox(grid, id + '-rt'), 'response time vs SLA', 'seconds', [
        {label: 'p50', key: 'p50'}, {label: 'p95', key: 'p95'},
        {label: 'SLA', key: 'sla', color: '#111', dash: [6, 4], stepped: true, width: 2}]),
      cores: makeChart(chartBox(grid, id + '-cores'), 'cores allocated vs CPU used', 'cores', [
        {label: 'allocated', key: 'cores', stepped: true}, {label: 'used', key: 'cpu_used'}]),
      rate: makeChart(chartBox(grid, id + '-rate'), 'requests answered by device', 'per second',
        devices.map(d => ({label: d, key: 'ok.' + d})).concat([
          {label: 'rejected (429)', key: 'rejected', color: '#b45309'},
          {label: 'failed', key: 'failed', color: '#7f1d1d'}])),
      queue: makeChart(chartBox(grid, id + '-queue'), 'queue length', 'requests', [
        {label: 'queue', key: 'queue', stepped: true}]),
      violations: makeChart(chartBox(grid, id + '-violations'), 'SLA violations', 'per second', [
        {label: 'violations', key: 'violations', color: '#dc2626'}]),
    };
    return {charts: charts};
  }

  function column(m, key) {
    if (key.startsWith('ok.')) return (m.ok || {})[key.slice(3)] || [];
    return m[key] || [];
  }

  /* Appends the samples times[i], values[i] to a chart, then keeps only
   * the window. */
  function append(chart, times, source) {
    for (const ds of chart.data.datasets) {
      const values = source(ds.key);
      for (let i = 0; i < times.length; i++) {
        const v = values[i];
        ds.data.push({x: times[i], y: v === null || v === undefined ? null : v});
      }
    }
  }

  /* Drops what is older than the window; the x axis spans the window, or
   * the data when there is less (a server started a minute ago). */
  function trim(chart, newest) {
    const from = newest - windowS;
    let oldest = newest;
    for (const ds of chart.data.datasets) {
      let k = 0;
      while (k < ds.data.length && ds.data[k].x < from) k++;
      if (k) ds.data.splice(0, k);
      if (ds.data.length && ds.data[0].x < oldest) oldest = ds.data[0].x;
    }
    chart.options.scales.x.min = Math.min(Math.max(from, oldest), newest - 10);
    chart.options.scales.x.max = newest;
    chart.update('none');
  }

  function applyHistory(h) {
    const times = h.t;
    const newest = times.length ? times[times.length - 1] : (last || h.last);
    for (const m of h.models) {
      let entry = models.get(m.name);
      if (!entry) {
        entry = modelCard(m.name, Object.keys(m.ok || {cpu: []}));
        models.set(m.name, entry);
      }
      for (const chart of Object.values(entry.charts)) {
        append(chart, times, key => column(m, key));
        trim(chart, newest);
      }
    }
    if (h.gpus.length) {
      if (!gpuChart) {
        document.getElementById('gpus-section').hidden = false;
        gpuChart = makeChart(document.getElementById('gpu-busy'), 'GPU busy share', 'share',
          h.gpus.map(g => ({label: g.name, key: g.name})));
      }
      append(gpuChart, times, key => (h.gpus.find(g => g.name === key) || {busy: []}).busy);
      trim(gpuChart, newest);
    }
    last = h.last;
  }

  /* ---- tables ---------------------------------------------------------- */

  function fmt(v, digits) {
    return typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(digits)) : '';
  }

  function fillTable(id, rows) {
    const body = document.querySelector('#' + id + ' tbody');
    body.replaceChildren(...rows.map(cells => {
      const tr = document.createElement('tr');
      for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = c.text;
        if (c.cls) td.className = c.cls;
        tr.appendChild(td);
      }
      return tr;
    }));
  }

  function applyController(c) {
    document.getElementById('controller-kind').textContent =
      c.controller + ', every ' + c.period + ' s, ' + c.node_cpus + ' CPUs';
    fillTable('controller', c.models.map(m => [
      {text: m.name}, {text: fmt(m.sla, 3)}, {text: fmt(m.rt_mean, 4)}, {text: fmt(m.completed)},
      {text: fmt(m.arrivals)}, {text: fmt(m.backlog)}, {text: fmt(m.error, 4)},
      {text: fmt(m.cores, 2)}, {text: fmt(m.cores_actuated, 2)}]));
  }

  function applyWorkers(w) {
    document.getElementById('cgroups').textContent = 'cgroups: ' + w.cgroups;
    fillTable('workers', w.workers.map(x => [
      {text: x.name}, {text: x.device}, {text: x.models.join(', ')},
      {text: x.state + (x.cores_error ? ' (cores: ' + x.cores_error + ')' : ''),
       cls: 'state-' + x.state},
      {text: fmt(x.pid)}, {text: fmt(x.cores, 2)}, {text: fmt(x.cpu_seconds, 1)},
      {text: fmt(x.restarts)}, {text: fmt(x.slots)}]));
  }

  /* ---- the loop -------------------------------------------------------- */

  async function poll() {
    try {
      const q = last === null ? '' : '?since=' + last;
      const asked = generation;
      const h = await api('/roma/v1/history' + q);
      if (asked === generation) applyHistory(h);
      if (polls++ % TABLES_EVERY === 0) {
        applyController(await api('/roma/v1/controller'));
        applyWorkers(await api('/roma/v1/workers'));
      }
      setStatus('updated ' + new Date().toLocaleTimeString([], {hour12: false}));
    } catch (e) {
      setStatus('cannot read roma serve (' + e.message + '); retrying', true);
    }
    setTimeout(poll, POLL_MS);
  }

  function start() {
    takeTokenFromFragment();
    document.getElementById('token-form').addEventListener('submit', ev => {
      ev.preventDefault();
      token = document.getElementById('token').value.trim();
      sessionStorage.setItem('roma-token', token);
      document.getElementById('token-form').hidden = true;
    });
    document.getElementById('window').addEventListener('change', ev => {
      windowS = Math.min(MAX_WINDOW_S, Number(ev.target.value) || 900);
      /* Points older than the old window are gone: read the whole hour again. */
      for (const entry of models.values())
        for (const chart of Object.values(entry.charts))
          for (const ds of chart.data.datasets) ds.data.length = 0;
      if (gpuChart) for (const ds of gpuChart.data.datasets) ds.data.length = 0;
      last = null;
      generation++;
    });
    poll();
  }

  start();
})();
