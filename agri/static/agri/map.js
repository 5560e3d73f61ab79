/* The bureau's coverage map (/map/): Leaflet from django-leaflet's static files, data from the API with the
 * session cookie. Layers:
 *  - divisions: the township (or village) choropleth of coverage, from /coverage/divisions/;
 *  - hexagons: visits per H3 cell, from /coverage/hexagons/ (the resolution follows the zoom);
 *  - visits: below zoom 13 one bubble per H3 cell with its count (clustered on the server); from zoom 13 the
 *    points themselves, from visits.geojson for the visible box.
 * With crs=gcj02 (Amap tiles) every request asks the API for GCJ-02 coordinates; boxes sent to the API are in
 * WGS-84, so they are padded by more than the largest GCJ-02 offset (~700 m). */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("map-config").textContent);
  var POINTS_ZOOM = 13;
  var CRS_PAD_DEG = config.crs === "wgs84" ? 0 : 0.01;
  var COVERAGE_COLOURS = ["#ffffcc", "#c2e699", "#78c679", "#31a354", "#006837"];
  var HEX_COLOURS = ["#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15"];
  var NO_DATA = "#d0d0d0";
  var FIGURES = [
    ["visits", "服务次数"],
    ["households_visited", "走访示范户"],
    ["households", "登记示范户"],
    ["coverage", "覆盖率"],
    ["workers_active", "开展服务的农技人员"],
    ["commissioners_active", "开展服务的科技特派员"],
    ["last_visit", "最近服务"],
  ];

  var statusBox = document.getElementById("status");
  var form = document.getElementById("filters");
  var map = L.map("map", { zoomControl: true, preferCanvas: false }).setView(config.center, config.zoom);
  L.control.scale({ imperial: false }).addTo(map);
  window.nongjiMap = map; // for the browser test and for debugging from the console

  var overlays = {};
  if (config.tileUrl) {
    // With no tile server reachable the tiles fail quietly and the polygons still draw.
    L.tileLayer(config.tileUrl, {
      attribution: config.tileAttribution,
      subdomains: config.tileSubdomains || "abc",
      maxZoom: 18,
    }).addTo(map);
  }
  var divisions = L.geoJSON(null, { style: divisionStyle, onEachFeature: bindDivision }).addTo(map);
  var hexagons = L.geoJSON(null, { style: hexagonStyle, onEachFeature: bindHexagon });
  var visits = L.layerGroup().addTo(map);
  overlays["乡镇/村覆盖率"] = divisions;
  overlays["H3 六边形热力"] = hexagons;
  overlays["服务点（聚合）"] = visits;
  L.control.layers(null, overlays, { collapsed: false }).addTo(map);

  var legend = L.control({ position: "bottomleft" });
  legend.onAdd = function () {
    var box = L.DomUtil.create("div", "legend");
    var title = document.createElement("strong");
    title.textContent = "示范户覆盖率";
    box.appendChild(title);
    var labels = ["0–20%", "20–40%", "40–60%", "60–80%", "80–100%"];
    COVERAGE_COLOURS.forEach(function (colour, i) { box.appendChild(legendRow(colour, labels[i])); });
    box.appendChild(legendRow(NO_DATA, "无示范户"));
    return box;
  };
  legend.addTo(map);

  function legendRow(colour, label) {
    var row = document.createElement("div");
    var swatch = document.createElement("i");
    swatch.style.background = colour;
    row.appendChild(swatch);
    row.appendChild(document.createTextNode(label));
    return row;
  }

  // --- requests -------------------------------------------------------------------------------

  function filters() {
    var data = new FormData(form);
    var out = {};
    ["industry", "kind", "date_from", "date_to"].forEach(function (name) {
      if (data.get(name)) out[name] = data.get(name);
    });
    return out;
  }

  function url(path, params) {
    var query = new URLSearchParams(Object.assign({}, filters(), params || {}));
    if (config.crs !== "wgs84") query.set("crs", config.crs);
    return path + "?" + query.toString();
  }

  var pending = {};
  function fetchJSON(name, href) {
    if (pending[name]) pending[name].abort();
    var controller = new AbortController();
    pending[name] = controller;
    return fetch(href, { credentials: "same-origin", signal: controller.signal, headers: { Accept: "application/json, application/geo+json" } })
      .then(function (response) {
        if (!response.ok) {
          return response.json().catch(function () { return {}; }).then(function (body) {
            throw new Error(body.message || response.status + " " + response.statusText);
          });
        }
        return response.json();
      });
  }

  function bbox() {
    var b = map.getBounds().pad(0.05);
    var clamp = function (value, low, high) { return Math.min(high, Math.max(low, value)); };
    return [
      clamp(b.getWest() - CRS_PAD_DEG, -180, 180),
      clamp(b.getSouth() - CRS_PAD_DEG, -90, 90),
      clamp(b.getEast() + CRS_PAD_DEG, -180, 180),
      clamp(b.getNorth() + CRS_PAD_DEG, -90, 90),
    ].map(function (v) { return v.toFixed(5); }).join(",");
  }

  function resolutionForZoom(zoom) {
    return zoom <= 9 ? 5 : zoom <= 12 ? 7 : 9;
  }

  function report(message, isError) {
    statusBox.textContent = message;
    statusBox.style.color = isError ? "#b00020" : "";
  }

  // --- divisions ------------------------------------------------------------------------------

  function coverageColour(value) {
    if (value === null || value === undefined) return NO_DATA;
    return COVERAGE_COLOURS[Math.min(COVERAGE_COLOURS.length - 1, Math.floor(value * COVERAGE_COLOURS.length))];
  }

  function divisionStyle(feature) {
    return { className: "division", color: "#555", weight: 1, fillOpacity: 0.7, fillColor: coverageColour(feature.properties.coverage) };
  }

  function bindDivision(feature, layer) {
    layer.bindTooltip(feature.properties.name, { sticky: true });
    layer.on("click", function () { showDetails(feature.properties); });
  }

  function formatFigure(key, value) {
    if (value === null || value === undefined) return "—";
    if (key === "coverage") return (value * 100).toFixed(1) + "%";
    return String(value);
  }

  function showDetails(properties) {
    document.getElementById("details-title").textContent = properties.name + "（" + properties.code + "）";
    var body = document.getElementById("details-body");
    body.replaceChildren();
    FIGURES.forEach(function (pair) {
      var row = body.insertRow();
      row.insertCell().textContent = pair[1];
      row.insertCell().textContent = formatFigure(pair[0], properties[pair[0]]);
    });
    var link = document.getElementById("details-export");
    link.href = url(config.api.exportVisits, { format: "gpkg", division: properties.code });
    document.getElementById("details").hidden = false;
  }

  document.getElementById("details-close").addEventListener("click", function () {
    document.getElementById("details").hidden = true;
  });

  var fitted = false;
  function loadDivisions() {
    var level = new FormData(form).get("level") || "township";
    report("加载覆盖数据…");
    return fetchJSON("divisions", url(config.api.divisions, { level: level }))
      .then(function (collection) {
        divisions.clearLayers();
        var drawn = collection.features.filter(function (f) { return f.geometry; });
        divisions.addData({ type: "FeatureCollection", features: drawn });
        document.body.dataset.divisions = String(drawn.length);
        if (!fitted && drawn.length) {
          map.fitBounds(divisions.getBounds());
          fitted = true;
        }
        var total = collection.features.reduce(function (sum, f) { return sum + f.properties.visits; }, 0);
        report((level === "village" ? "村 " : "乡镇 ") + drawn.length + " 个，服务 " + total + " 次" +
          (collection.features.length > drawn.length ? "（" + (collection.features.length - drawn.length) + " 个无边界）" : ""));
        document.getElementById("png-link").href = url(config.api.mapPng, { level: level });
      })
      .catch(function (error) { if (error.name !== "AbortError") report("覆盖数据加载失败：" + error.message, true); });
  }

  // --- hexagons and visits ----------------------------------------------------------------------

  function quantileColour(value, breaks, colours) {
    for (var i = 0; i < breaks.length; i++) if (value <= breaks[i]) return colours[i];
    return colours[colours.length - 1];
  }

  var hexBreaks = [];
  function hexagonStyle(feature) {
    return { className: "hexagon", color: "#a50f15", weight: 0.5, fillOpacity: 0.6, fillColor: quantileColour(feature.properties.visits, hexBreaks, HEX_COLOURS) };
  }

  function bindHexagon(feature, layer) {
    layer.bindTooltip(feature.properties.visits + " 次（" + feature.properties.h3 + "）");
  }

  function breaksOf(values, n) {
    var sorted = values.slice().sort(function (a, b) { return a - b; });
    var out = [];
    for (var i = 1; i <= n; i++) out.push(sorted[Math.max(0, Math.ceil((i / n) * sorted.length) - 1)]);
    return out;
  }

  function loadCells() {
    var zoom = map.getZoom();
    var params = { resolution: resolutionForZoom(zoom), bbox: bbox() };
    return fetchJSON("hexagons", url(config.api.hexagons, params))
      .then(function (collection) {
        hexBreaks = breaksOf(collection.features.map(function (f) { return f.properties.visits; }), HEX_COLOURS.length);
        hexagons.clearLayers();
        hexagons.addData(collection);
        if (zoom < POINTS_ZOOM) drawClusters(collection.features);
      })
      .catch(function (error) { if (error.name !== "AbortError") report("六边形数据加载失败：" + error.message, true); });
  }

  function drawClusters(features) {
    visits.clearLayers();
    features.forEach(function (feature) {
      var centre = L.geoJSON(feature).getBounds().getCenter();
      var count = feature.properties.visits;
      var size = Math.round(22 + 8 * Math.log10(count + 1));
      var icon = L.divIcon({ className: "cluster", html: "", iconSize: [size, size] });
      var marker = L.marker(centre, { icon: icon, title: count + " 次服务" });
      marker.on("add", function () { marker.getElement().textContent = String(count); });
      marker.on("click", function () { map.setView(centre, Math.min(map.getZoom() + 2, POINTS_ZOOM)); });
      visits.addLayer(marker);
    });
  }

  function loadPoints() {
    return fetchJSON("visits", url(config.api.visits, { bbox: bbox() }))
      .then(function (collection) {
        visits.clearLayers();
        L.geoJSON(collection, {
          pointToLayer: function (feature, latlng) {
            return L.circleMarker(latlng, { className: "visit-point", radius: 5, color: "#fff", weight: 1, fillColor: "#d6604d", fillOpacity: 0.9 });
          },
          onEachFeature: function (feature, layer) {
            var p = feature.properties;
            var kind = config.kinds[p.kind] || p.kind;
            layer.bindTooltip((p.started_at || "").slice(0, 10) + " " + kind + (p.notes ? "：" + p.notes.slice(0, 40) : ""));
          },
        }).eachLayer(function (layer) { visits.addLayer(layer); });
      })
      .catch(function (error) { if (error.name !== "AbortError") report("服务点加载失败：" + error.message, true); });
  }

  var moveTimer = null;
  function refreshView() {
    clearTimeout(moveTimer);
    moveTimer = setTimeout(function () {
      loadCells();
      if (map.getZoom() >= POINTS_ZOOM) loadPoints();
    }, 250);
  }

  map.on("moveend", refreshView);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    loadDivisions();
    refreshView();
  });
  form.addEventListener("change", function () {
    loadDivisions();
    refreshView();
  });

  loadDivisions().then(refreshView);
})();
