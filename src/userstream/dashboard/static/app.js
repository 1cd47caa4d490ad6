// The userstream dashboard: polls api/snapshot every two seconds and draws it with Chart.js.
// Text that comes from the data (names are whatever a Kafka message said) is only ever set
// with textContent, and images only come from this server (portraits/<id>).
"use strict";

(() => {
  const REFRESH_MS = 2000;
  const COLORS = {
    produced: "#1f6feb", stored: "#1a7f37", rejected: "#cf222e",
    p50: "#8250df", p99: "#bf8700", bar: "#1f6feb",
  };
  const number = new Intl.NumberFormat("en");
  const el = (id) => document.getElementById(id);

  function node(tag, className, text) {
    const made = document.createElement(tag);
    if (className) made.className = className;
    if (text !== undefined) made.textContent = text;
    return made;
  }
  const fmt = (v, digits = 0) =>
    v === null || v === undefined ? "–" : number.format(Math.round(v * 10 ** digits) / 10 ** digits);
  const clock = (ms) => new Date(ms).toLocaleTimeString("en-GB");
  const when = (iso) => (iso ? new Date(iso).toLocaleString("en-GB") : "");
  const short = (text) => (text.length > 30 ? text.slice(0, 29) + "…" : text);

  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;

  function lineChart(id, series) {
    return new Chart(el(id), {
      type: "line",
      data: {
        labels: [],
        datasets: series.map(([label, color]) => ({
          label, data: [], borderColor: color, backgroundColor: color,
          pointRadius: 0, borderWidth: 2, tension: 0.2,
        })),
      },
      options: {
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom" } },
        scales: {
          x: { ticks: { maxTicksLimit: 8, maxRotation: 0 } },
          y: { beginAtZero: true },
        },
      },
    });
  }

  function barChart(id, label, horizontal) {
    const values = horizontal ? "x" : "y";
    return new Chart(el(id), {
      type: "bar",
      data: { labels: [], datasets: [{ label, data: [], backgroundColor: COLORS.bar }] },
      options: {
        indexAxis: horizontal ? "y" : "x",
        plugins: { legend: { display: false } },
        scales: {
          [values]: { beginAtZero: true, ticks: { precision: 0 } },
          [horizontal ? "y" : "x"]: { ticks: { autoSkip: false, font: { size: 11 } } },
        },
      },
    });
  }

  const charts = {
    rates: lineChart("chart-rates", [
      ["produced", COLORS.produced], ["stored", COLORS.stored], ["rejected", COLORS.rejected],
    ]),
    latency: lineChart("chart-latency", [["p50", COLORS.p50], ["p99", COLORS.p99]]),
    lag: barChart("chart-lag", "messages", false),
    reasons: barChart("chart-reasons", "records", true),
    countries: barChart("chart-countries", "users", true),
    ages: barChart("chart-ages", "users", false),
  };

  function draw(chart, labels, ...series) {
    chart.data.labels = labels;
    series.forEach((data, i) => { chart.data.datasets[i].data = data; });
    chart.update("none");
  }

  function renderParts(parts) {
    el("parts").replaceChildren(...parts.map((part) => {
      const item = node("li", part.healthy ? "ok" : "bad");
      item.dataset.part = part.name;
      const state = part.healthy ? "healthy" : part.pid ? "unhealthy" : "down";
      const detail = [part.address, part.detail].filter(Boolean).join(" · ");
      item.title = detail;
      item.append(node("span", "dot"), node("span", "name", part.name), ` ${state}`,
        node("span", "detail", detail));
      return item;
    }));
  }

  let shown = null;
  function renderNewest(users) {
    el("no-users").hidden = users.length > 0;
    const key = users.map((user) => user.id).join(",");
    if (key === shown) return;
    shown = key;
    el("newest").replaceChildren(...users.map((user) => {
      const item = node("li");
      item.dataset.id = user.id;
      const portrait = new Image(48, 48);
      portrait.alt = user.initials;
      portrait.src = user.portrait;
      const who = node("div");
      const ingested = user.ingested_at ? `ingested ${clock(Date.parse(user.ingested_at))}` : "";
      who.append(node("div", "name", user.name || "(no name)"),
        node("div", "meta", [user.country, ingested].filter(Boolean).join(" · ")));
      item.append(portrait, who);
      return item;
    }));
  }

  function renderRuns(runs, quality) {
    el("no-runs").hidden = runs.length > 0;
    el("runs").tBodies[0].replaceChildren(...runs.map((run) => {
      const row = node("tr");
      row.append(node("td", "", run.dag_run_id), node("td", run.state || "", run.state || ""),
        node("td", "", when(run.start_date)), node("td", "", when(run.end_date)));
      return row;
    }));
    el("quality-run").textContent = quality ? `of ${quality.run_id}` : "(none yet)";
    el("quality").replaceChildren(...(quality ? quality.checks : []).map((check) => {
      const item = node("li", check.passed ? "ok" : "bad", `${check.name} `);
      item.append(node("span", "detail", check.detail || ""));
      return item;
    }));
  }

  function render(s) {
    if (!s.generated_at) {
      el("updated").textContent = "gathering…";
      return;
    }
    el("where").textContent = `topic ${s.topic} · keyspace ${s.keyspace}`;
    const overall = el("overall");
    const known = s.healthy !== null && s.healthy !== undefined;
    overall.textContent = !known ? "…" : s.healthy ? "all healthy" : "not all healthy";
    overall.className = `badge ${!known ? "" : s.healthy ? "ok" : "bad"}`;
    el("updated").textContent = `updated ${clock(Date.parse(s.generated_at))}`;
    renderParts(s.parts);

    for (const name of ["produced", "stored", "rejected"]) {
      el(`rate-${name}`).textContent = fmt(s.rate_now[name], 1);
    }
    const c = s.counts;
    el("count-produced").textContent = c.produced == null ? "" : `${fmt(c.produced)} messages in the topic`;
    el("count-stored").textContent = c.stored == null ? "" : `${fmt(c.stored)} users in Cassandra`;
    el("count-rejected").textContent = c.rejected == null ? "" : `${fmt(c.rejected)} in the rejects table`;
    el("lag-total").textContent = fmt(c.lag);
    const lag = Object.entries(s.lag || {});
    el("lag-parts").textContent = s.lag
      ? lag.map(([p, n]) => `partition ${p}: ${fmt(n)}`).join(", ")
      : "known once a micro-batch ran";
    const last = s.latency.last;
    el("latency-now").textContent = last ? `${fmt(last.p50)} / ${fmt(last.p99)}` : "–";

    draw(charts.rates, s.rates.at.map(clock), s.rates.produced, s.rates.stored, s.rates.rejected);
    draw(charts.latency, s.latency.at.map(clock), s.latency.p50, s.latency.p99);
    draw(charts.lag, lag.map(([p]) => `partition ${p}`), lag.map(([, n]) => n));
    draw(charts.reasons, s.reasons.map(([r]) => short(r)), s.reasons.map(([, n]) => n));
    el("no-rejects").hidden = s.reasons.length > 0;
    const countries = s.countries || [];
    draw(charts.countries, countries.map(([name]) => name), countries.map(([, n]) => n));
    const ages = s.ages || { labels: [], counts: [], sample: 0 };
    draw(charts.ages, ages.labels, ages.counts);
    el("age-sample").textContent = ages.sample ? `(${fmt(ages.sample)} users read)` : "";

    renderNewest(s.newest);
    renderRuns(s.dag_runs, s.quality);
    el("notes").replaceChildren(...s.notes.map((note) => node("li", "", note)));
  }

  async function refresh() {
    let snapshot = null;
    try {
      const answer = await fetch("api/snapshot", { cache: "no-store" });
      if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
      snapshot = await answer.json();
      el("offline").hidden = true;
    } catch {
      el("offline").hidden = false;
    }
    try {
      if (snapshot) render(snapshot);
    } finally {
      setTimeout(refresh, REFRESH_MS);
    }
  }

  refresh();
})();
