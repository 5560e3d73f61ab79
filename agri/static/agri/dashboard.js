/* The bureau's plan dashboard (/dashboard/): Plotly.js from the plotly package's static files, data from the API
 * with the session cookie, the same endpoints that each piece's export link downloads. The page's words come
 * translated in its config (Chinese, or English for an English browser); the indicators carry both names. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("dashboard-config").textContent);
  var text = config.text;
  var lang = config.language === "en" ? "en" : "zh-CN";
  var STATUS_COLOURS = { under: "#c0392b", met: "#1a9850", over: "#2c6fbb" };
  var PLOT_CONFIG = { displayModeBar: false, responsive: true };
  var FONT = { family: 'system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif', size: 12 };
  var GAP_ROWS = 50; // the rest is in the export
  var statusBox = document.getElementById("status");

  document.querySelector("#year-form select").addEventListener("change", function (event) {
    event.target.form.submit();
  });

  function fetchJSON(href) {
    return fetch(href, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          throw new Error(body.message || response.status + " " + response.statusText);
        });
      }
      return response.json();
    });
  }

  function number(value, digits) {
    if (value === null || value === undefined) return "—";
    return Number(value).toLocaleString(lang, { maximumFractionDigits: digits === undefined ? 2 : digits });
  }

  function percent(share) {
    return share === null || share === undefined ? "—" : number(share * 100, 1) + "%";
  }

  function cell(row, content, className) {
    var td = row.insertCell();
    td.textContent = content;
    if (className) td.className = className;
    return td;
  }

  // Counts: whole-number ticks (Plotly would label 0.5 and 1.5 on a small axis).
  function countAxis(values, extra) {
    var top = Math.max.apply(null, values.filter(function (v) { return v !== null; }).concat([0]));
    return Object.assign({ rangemode: "tozero", tickformat: ",d", dtick: top <= 5 ? 1 : undefined }, extra);
  }

  function layout(extra) {
    return Object.assign({ font: FONT, margin: { l: 50, r: 20, t: 10, b: 40 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff" }, extra);
  }

  // --- indicators -----------------------------------------------------------------------------------

  function isShare(indicator) {
    return indicator.code === "township_worker_share";
  }

  function indicatorName(indicator) {
    return lang === "en" ? indicator.name_en : indicator.name;
  }

  function formatValue(indicator, value) {
    return isShare(indicator) ? percent(value) : number(value);
  }

  function formatTarget(indicator) {
    var low = indicator.target;
    var high = indicator.target_max;
    if (low === null || low === undefined) return "—";
    if (high === null || high === undefined) return "≥ " + formatValue(indicator, low);
    if (high === low) return formatValue(indicator, low);
    return formatValue(indicator, low) + "–" + formatValue(indicator, high);
  }

  function drawIndicators(data) {
    var body = document.querySelector("#indicator-table tbody");
    body.replaceChildren();
    data.indicators.forEach(function (indicator) {
      var row = body.insertRow();
      row.dataset.code = indicator.code;
      row.dataset.status = indicator.status || "";
      cell(row, indicatorName(indicator) + (lang === "en" ? "" : "（" + indicator.unit + "）"));
      cell(row, formatValue(indicator, indicator.value), "number");
      cell(row, formatTarget(indicator), "number");
      var status = row.insertCell();
      if (indicator.status) {
        var badge = document.createElement("span");
        badge.className = "status status-" + indicator.status;
        badge.textContent = text.status[indicator.status];
        status.appendChild(badge);
      } else {
        status.textContent = "—";
      }
    });
    // The share of its target each indicator reached (the lower bound where the plan gives a range).
    var shown = data.indicators.filter(function (i) { return i.target && i.value !== null; });
    var trace = {
      type: "bar",
      orientation: "h",
      y: shown.map(indicatorName),
      x: shown.map(function (i) { return Math.round((i.value / i.target) * 1000) / 10; }),
      marker: { color: shown.map(function (i) { return STATUS_COLOURS[i.status]; }) },
      text: shown.map(function (i) { return text.status[i.status]; }),
      textposition: "auto",
      customdata: shown.map(function (i) { return [formatValue(i, i.value), formatTarget(i)]; }),
      hovertemplate: "%{y}<br>%{customdata[0]} / %{customdata[1]}<br>%{x}%<extra></extra>",
    };
    return Plotly.newPlot("indicator-chart", [trace], layout({
      height: Math.max(280, 26 * shown.length + 60),
      margin: { l: 10, r: 20, t: 10, b: 40 },
      // Far past a floor (visits, trainings) the bar is cut at 200%: its label and hover still tell.
      xaxis: { title: { text: text.percentOfTarget }, ticksuffix: "%", range: [0, Math.min(200, Math.max(120, Math.max.apply(null, trace.x) + 10))] },
      yaxis: { autorange: "reversed", automargin: true },
      shapes: [{ type: "line", x0: 100, x1: 100, yref: "paper", y0: 0, y1: 1, line: { color: "#333", dash: "dash", width: 1 } }],
    }), PLOT_CONFIG);
  }

  // --- month by month, and who was active ----------------------------------------------------------------

  function monthLabels(months) {
    return months.map(function (m) {
      var parts = m.month.split("-");
      return new Date(Number(parts[0]), Number(parts[1]) - 1, 1).toLocaleString(lang, { month: "short" });
    });
  }

  function drawTrend(monthly, indicators) {
    var labels = monthLabels(monthly.months);
    var now = new Date();
    // This year's months still to come have no figures: the running total stops at the current month.
    var last = monthly.year === now.getFullYear() ? now.getMonth() : 11;
    var running = 0;
    var cumulative = monthly.months.map(function (m, i) {
      running += m.visits;
      return i <= last ? running : null;
    });
    var visitsTarget = (indicators.indicators.find(function (i) { return i.code === "village_visits"; }) || {}).target;
    var traces = [
      { type: "bar", name: text.visits, x: labels, y: monthly.months.map(function (m) { return m.visits; }), marker: { color: "#78c679" } },
      { type: "bar", name: text.trainings, x: labels, y: monthly.months.map(function (m) { return m.trainings; }), marker: { color: "#fdae61" } },
      { type: "scatter", mode: "lines+markers", name: text.cumulativeVisits, x: labels, y: cumulative, yaxis: "y2", line: { color: "#1f5130" } },
    ];
    if (visitsTarget) {
      traces.push({
        type: "scatter", mode: "lines", name: text.yearlyTarget, x: [labels[0], labels[11]], y: [visitsTarget, visitsTarget],
        yaxis: "y2", line: { color: "#c0392b", dash: "dash" },
      });
    }
    return Plotly.newPlot("trend-chart", traces, layout({
      height: 320,
      barmode: "group",
      margin: { l: 50, r: 60, t: 10, b: 40 },
      legend: { orientation: "h", y: 1.12 },
      yaxis: countAxis(traces[0].y, { title: { text: text.visits } }),
      yaxis2: countAxis(cumulative.concat([visitsTarget || 0]), { title: { text: text.cumulativeVisits }, overlaying: "y", side: "right", showgrid: false }),
    }), PLOT_CONFIG);
  }

  function drawPeople(monthly, indicators) {
    var commissioners = indicators.indicators.find(function (i) { return i.code === "commissioners_in_service"; }) || {};
    document.getElementById("workers-active").textContent =
      number(monthly.total.workers_active, 0) + " / " + number(monthly.workers_registered, 0);
    var box = document.getElementById("commissioners-active");
    box.textContent = number(monthly.total.commissioners_active, 0) + " / " + number(monthly.commissioners_in_service, 0);
    if (commissioners.status) {
      // The plan's target is on those in service (the second number).
      var badge = document.createElement("span");
      badge.className = "status status-" + commissioners.status;
      badge.textContent = text.status[commissioners.status];
      var target = document.createElement("span");
      target.className = "note";
      var words = text.target + " " + formatTarget(commissioners);
      target.textContent = lang === "en" ? " (" + words + ")" : "（" + words + "）";
      box.append(target, " ", badge);
    }
    var labels = monthLabels(monthly.months);
    var people = monthly.months.map(function (m) { return Math.max(m.workers_active, m.commissioners_active); });
    return Plotly.newPlot("people-chart", [
      { type: "scatter", mode: "lines+markers", name: text.workersActive, x: labels, y: monthly.months.map(function (m) { return m.workers_active; }), line: { color: "#1a9850" } },
      { type: "scatter", mode: "lines+markers", name: text.commissionersActive, x: labels, y: monthly.months.map(function (m) { return m.commissioners_active; }), line: { color: "#2c6fbb" } },
    ], layout({ height: 260, margin: { l: 40, r: 20, t: 10, b: 80 }, legend: { orientation: "h", y: -0.3 }, yaxis: countAxis(people) }), PLOT_CONFIG);
  }

  // --- coverage by township ---------------------------------------------------------------------------

  function drawCoverage(collection) {
    var rows = collection.features.map(function (f) { return f.properties; });
    var counted = rows.filter(function (r) { return r.coverage !== null; });
    // Best first, ties by name: the eye reads the ranking from the top.
    counted.sort(function (a, b) { return b.coverage - a.coverage || a.name.localeCompare(b.name, "zh-CN"); });
    var without = rows.length - counted.length;
    document.getElementById("coverage-note").textContent = without ? text.noHouseholds.replace("%(n)s", String(without)) : "";
    var trace = {
      type: "bar",
      orientation: "h",
      y: counted.map(function (r) { return r.name; }),
      x: counted.map(function (r) { return Math.round(r.coverage * 1000) / 10; }),
      text: counted.map(function (r) { return percent(r.coverage); }),
      textposition: "auto",
      customdata: counted.map(function (r) { return [r.households_visited, r.households, r.visits]; }),
      hovertemplate: "%{y}<br>%{customdata[0]} / %{customdata[1]}<br>%{x}%<extra></extra>",
      marker: { color: "#41ab5d" },
    };
    return Plotly.newPlot("coverage-chart", [trace], layout({
      height: Math.max(260, 22 * counted.length + 60),
      margin: { l: 10, r: 20, t: 10, b: 40 },
      xaxis: { title: { text: text.coverage }, range: [0, 100], ticksuffix: "%" },
      yaxis: { autorange: "reversed", automargin: true },
    }), PLOT_CONFIG);
  }

  // --- gaps -----------------------------------------------------------------------------------------

  function fillTable(id, rows, columns) {
    var body = document.querySelector("#" + id + " tbody");
    body.replaceChildren();
    rows.slice(0, GAP_ROWS).forEach(function (item) {
      var row = body.insertRow();
      columns.forEach(function (column) { cell(row, column[0](item), column[1]); });
    });
    if (rows.length > GAP_ROWS) {
      var more = body.insertRow();
      more.className = "table-more";
      var td = cell(more, text.more.replace("%(n)s", String(rows.length - GAP_ROWS)));
      td.colSpan = columns.length;
    }
    document.getElementById(id + "-count").textContent = "(" + rows.length + ")";
  }

  function drawGaps(gaps, coverage) {
    var townships = {};
    coverage.features.forEach(function (f) { townships[f.properties.code] = f.properties.name; });
    var lastVisit = function (item) { return item.last_visit || text.never; };
    fillTable("gap-villages", gaps.villages, [
      [function (v) { return v.name; }],
      [function (v) { return townships[v.township_code] || v.township_code; }],
      [function (v) { return number(v.households, 0); }, "number"],
      [lastVisit],
    ]);
    fillTable("gap-households", gaps.households, [
      [function (h) { return h.head_name; }],
      [function (h) { return h.village_name; }],
      [function (h) { return h.worker_name; }],
      [lastVisit],
    ]);
  }

  // --- all together -------------------------------------------------------------------------------------

  var loads = {
    indicators: fetchJSON(config.api.indicators),
    monthly: fetchJSON(config.api.monthly),
    coverage: fetchJSON(config.api.coverage),
    gaps: fetchJSON(config.api.gaps),
  };
  var failed = [];
  function settle(promise, name) {
    return promise.catch(function (error) { failed.push(name + ": " + error.message); });
  }
  Promise.all([
    settle(loads.indicators.then(drawIndicators), "indicators"),
    settle(Promise.all([loads.monthly, loads.indicators]).then(function (d) { return Promise.all([drawTrend(d[0], d[1]), drawPeople(d[0], d[1])]); }), "monthly"),
    settle(loads.coverage.then(drawCoverage), "coverage"),
    settle(Promise.all([loads.gaps, loads.coverage]).then(function (d) { drawGaps(d[0], d[1]); }), "gaps"),
  ]).then(function () {
    statusBox.textContent = failed.length ? text.failed + " " + failed.join("; ") : text.loaded;
    statusBox.style.color = failed.length ? "#b00020" : "";
    document.body.dataset.ready = failed.length ? "failed" : "true";
  });
})();
