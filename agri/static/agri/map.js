/* The bureau's coverage map (/map/): Leaflet from django-leaflet's static files, data from the API with the
 * session cookie. Nothing is asked of any other host unless a basemap is configured (MAP_TILE_URL).
 * Layers:
 *  - divisions: the township (or village) choropleth from /coverage/divisions/?scheme=…: the server classes it
 *    (geo.classes, the same classes as the PNG map) and sends the legend with the features;
 *  - names: township names (village names from zoom config.villageLabelsZoom), at each division's representative
 *    point; a name that would overlap one already placed is left out (bigger divisions are placed first);
 *  - hexagons (off by default): visits per H3 cell, classed on the server too (the resolution follows the zoom);
 *  - clusters (off by default): one bubble per H3 cell with its count, below zoom config.pointsZoom;
 *  - points: the visits themselves from zoom config.pointsZoom, from visits.geojson for the visible box.
 * Every layer that is on has its section in the legend. With crs=gcj02 (Amap tiles) every request asks the API for
 * GCJ-02 coordinates; boxes sent to the API are in WGS-84, so they are padded by more than the largest GCJ-02
 * offset (~700 m). Texts come from config.text, in the page's language. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("map-config").textContent);
  var T = config.text;
  var POINTS_ZOOM = config.pointsZoom;
  var CRS_PAD_DEG = config.crs === "wgs84" ? 0 : 0.01;
  var POINT_COLOUR = "#b2182b";
  var CLUSTER_COLOUR = "rgba(33, 102, 172, 0.85)";

  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (match, name) {
      return name in values ? String(values[name]) : match;
    });
  }

  function number(n) {
    return Number(n).toLocaleString(document.documentElement.lang || undefined);
  }

  var statusBox = document.getElementById("status");
  var form = document.getElementById("filters");
  var map = L.map("map", { zoomControl: true, zoomSnap: 0.25, zoomDelta: 0.5 }).setView(config.center, config.zoom);
  window.nongjiMap = map; // for the browser test and for debugging from the console
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
  if (config.synthetic) map.attributionControl.addAttribution(T.synthetic);

  // --- layers ------------------------------------------------------------------------------------

  var bases = {};
  if (config.tileUrl) {
    // Only when configured (MAP_TILE_URL): the default page needs no outside host. Unreachable tiles fail quietly.
    var tiles = L.tileLayer(config.tileUrl, {
      attribution: config.tileAttribution,
      subdomains: config.tileSubdomains || "abc",
      maxZoom: 18,
    }).addTo(map);
    bases[T.baseTiles] = tiles;
    bases[T.basePlain] = L.layerGroup();
  }
  var divisions = L.geoJSON(null, { style: divisionStyle, onEachFeature: bindDivision }).addTo(map);
  var labels = L.layerGroup().addTo(map);
  var hexagons = L.geoJSON(null, { style: hexagonStyle, onEachFeature: bindHexagon });
  var clusters = L.layerGroup();
  var points = L.layerGroup().addTo(map);
  var overlays = {};
  overlays[T.layerDivisions] = divisions;
  overlays[T.layerLabels] = labels;
  overlays[T.layerHexagons] = hexagons;
  overlays[T.layerClusters] = clusters;
  overlays[fmt(T.layerPoints, { zoom: POINTS_ZOOM })] = points;
  L.control.layers(bases, overlays, { collapsed: false }).addTo(map);

  // The division's figures: a control under the layer switcher, so that it never covers it.
  var details = L.control({ position: "topright" });
  details.onAdd = function () {
    var box = document.getElementById("details-template").content.firstElementChild.cloneNode(true);
    box.hidden = true;
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    return box;
  };
  details.addTo(map);

  var legend = L.control({ position: "bottomleft" });
  legend.onAdd = function () {
    var box = L.DomUtil.create("div", "legend");
    L.DomEvent.disableScrollPropagation(box);
    return box;
  };
  legend.addTo(map);

  // --- state -------------------------------------------------------------------------------------

  var divisionLegend = null; // the server's classification of the divisions
  var divisionColour = {};
  var hexagonLegend = null;
  var hexagonColour = {};
  var selected = null; // the code of the division whose figures are shown
  var currentLevel = "township";

  // --- requests ------------------------------------------------------------------------------------

  function formValue(name) {
    return new FormData(form).get(name) || "";
  }

  function filters() {
    var out = {};
    ["industry", "kind", "date_from", "date_to"].forEach(function (name) {
      if (formValue(name)) out[name] = formValue(name);
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
    return fetch(href, {
      credentials: "same-origin",
      signal: controller.signal,
      headers: { Accept: "application/json, application/geo+json" },
    }).then(function (response) {
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
    return zoom < 10 ? 5 : zoom < 13 ? 7 : 9;
  }

  var summary = "";
  function report(message, isError) {
    statusBox.textContent = message;
    statusBox.classList.toggle("error", Boolean(isError));
  }

  // --- legend --------------------------------------------------------------------------------------

  function legendSection(layer, title) {
    var section = document.createElement("section");
    section.dataset.layer = layer;
    var heading = document.createElement("strong");
    heading.textContent = title;
    section.appendChild(heading);
    return section;
  }

  function legendRow(swatch, label, count, key) {
    var row = document.createElement("div");
    row.className = "legend-row";
    if (key) row.dataset.key = key;
    row.appendChild(swatch);
    var text = document.createElement("span");
    text.textContent = label;
    row.appendChild(text);
    if (count !== undefined) {
      var n = document.createElement("small");
      n.textContent = number(count);
      row.appendChild(n);
    }
    return row;
  }

  function swatch(colour, shape) {
    var mark = document.createElement("i");
    mark.className = shape || "box";
    mark.style.background = colour;
    return mark;
  }

  function classRows(section, classification) {
    classification.classes.forEach(function (cls) {
      section.appendChild(legendRow(swatch(cls.colour), cls.label, cls.count, cls.key));
    });
  }

  function drawLegend() {
    var box = legend.getContainer();
    box.replaceChildren();
    if (map.hasLayer(divisions) && divisionLegend) {
      var section = legendSection("divisions", config.values[divisionLegend.value]);
      classRows(section, divisionLegend);
      box.appendChild(section);
    }
    if (map.hasLayer(hexagons) && hexagonLegend) {
      var hex = legendSection("hexagons", T.legendHexagons);
      classRows(hex, hexagonLegend);
      box.appendChild(hex);
    }
    if (map.hasLayer(clusters)) {
      var bubbles = legendSection("clusters", T.legendClusters);
      var bubble = swatch(CLUSTER_COLOUR, "bubble");
      bubble.textContent = "12";
      bubbles.appendChild(legendRow(bubble, T.legendClusterSample));
      box.appendChild(bubbles);
    }
    if (map.hasLayer(points)) {
      var dots = legendSection("points", T.legendPoints);
      dots.appendChild(legendRow(swatch(POINT_COLOUR, "dot"), T.legendPoint));
      if (map.getZoom() < POINTS_ZOOM) {
        var hint = document.createElement("div");
        hint.className = "legend-hint";
        hint.textContent = fmt(T.legendPointsHidden, { zoom: POINTS_ZOOM });
        dots.appendChild(hint);
      }
      box.appendChild(dots);
    }
    box.hidden = !box.childElementCount;
  }

  // --- divisions -----------------------------------------------------------------------------------

  function divisionStyle(feature) {
    var p = feature.properties;
    var chosen = p.code === selected;
    return {
      className: "division",
      color: chosen ? "#111" : "#444",
      weight: chosen ? 3 : currentLevel === "village" ? 0.6 : 1,
      fillOpacity: 0.8,
      fillColor: divisionColour[p.map_class] || "#ffffff",
    };
  }

  function bindDivision(feature, layer) {
    layer.bindTooltip(feature.properties.name, { sticky: true, className: "division-tip" });
    layer.on("click", function (event) {
      L.DomEvent.stopPropagation(event); // not a click on the map, which closes the figures
      select(feature.properties.code);
    });
  }

  function formatFigure(key, value) {
    if (value === null || value === undefined) return "—";
    if (key === "coverage") return Math.round(value * 100) + "%";
    if (key === "last_visit") return value;
    return number(value);
  }

  var FIGURES = [
    ["visits", "figureVisits"],
    ["households_visited", "figureHouseholdsVisited"],
    ["households", "figureHouseholds"],
    ["coverage", "figureCoverage"],
    ["workers_active", "figureWorkers"],
    ["commissioners_active", "figureCommissioners"],
    ["last_visit", "figureLastVisit"],
  ];

  function propertiesOf(code) {
    var found = null;
    divisions.eachLayer(function (layer) { if (layer.feature.properties.code === code) found = layer.feature.properties; });
    return found;
  }

  function select(code) {
    selected = code;
    divisions.setStyle(divisionStyle);
    var properties = code && propertiesOf(code);
    var box = details.getContainer();
    if (!properties) {
      selected = null;
      box.hidden = true;
      return;
    }
    box.querySelector("#details-title").textContent = properties.name + " (" + properties.code + ")";
    var body = box.querySelector("#details-body");
    body.replaceChildren();
    var cls = divisionLegend && divisionLegend.classes.find(function (c) { return c.key === properties.map_class; });
    var rows = [[T.figureClass, cls ? cls.label : "—"]].concat(FIGURES.map(function (pair) {
      return [T[pair[1]], formatFigure(pair[0], properties[pair[0]])];
    }));
    rows.forEach(function (pair) {
      var row = body.insertRow();
      row.insertCell().textContent = pair[0];
      row.insertCell().textContent = pair[1];
    });
    box.querySelector("#details-export").href = url(config.api.exportVisits, { format: "gpkg", division: properties.code });
    box.hidden = false;
  }

  details.getContainer().querySelector("#details-close").addEventListener("click", function () { select(null); });
  document.addEventListener("keydown", function (event) { if (event.key === "Escape") select(null); });

  // --- names ---------------------------------------------------------------------------------------

  // Village names are official committee names: 黄陵村村民委员会 is written 黄陵村 on the map, 新社区居民委员会 新社区.
  function shortName(name) {
    return name.replace(/村民委员会$/, "").replace(/居民委员会$/, "");
  }

  function drawLabels() {
    labels.clearLayers();
    var items = [];
    divisions.eachLayer(function (layer) {
      var p = layer.feature.properties;
      if (p.label_lat === null || p.label_lon === null) return;
      var bounds = layer.getBounds();
      var size = (bounds.getEast() - bounds.getWest()) * (bounds.getNorth() - bounds.getSouth());
      items.push({ name: shortName(p.name), code: p.code, at: [p.label_lat, p.label_lon], size: size });
    });
    items.sort(function (a, b) { return b.size - a.size; });
    items.forEach(function (item) {
      var text = document.createElement("span");
      text.textContent = item.name;
      var icon = L.divIcon({ className: "division-label", html: text, iconSize: null });
      var marker = L.marker(item.at, { icon: icon, interactive: false, keyboard: false });
      marker.code = item.code;
      labels.addLayer(marker);
    });
    placeLabels();
  }

  // Show the names that fit: village names only when zoomed in, and none over another.
  function placeLabels() {
    var show = currentLevel === "township" || map.getZoom() >= config.villageLabelsZoom;
    var placed = [];
    labels.eachLayer(function (marker) {
      var element = marker.getElement();
      if (!element) return;
      var visible = show;
      if (visible) {
        element.classList.remove("hidden");
        var box = element.firstChild.getBoundingClientRect();
        visible = !placed.some(function (other) {
          return box.left < other.right + 2 && box.right > other.left - 2 && box.top < other.bottom + 1 && box.bottom > other.top - 1;
        });
        if (visible) placed.push(box);
      }
      element.classList.toggle("hidden", !visible);
    });
    document.body.dataset.labels = String(placed.length);
  }

  var fitted = false;
  function loadDivisions() {
    var level = formValue("level") || "township";
    var params = { level: level, value: formValue("value") || "coverage", scheme: formValue("scheme") || "fisher_jenks" };
    report(T.loading);
    return fetchJSON("divisions", url(config.api.divisions, params))
      .then(function (collection) {
        if (level !== currentLevel) selected = null; // the figures of a township are not those of a village
        currentLevel = level;
        divisionLegend = collection.classification;
        divisionColour = {};
        divisionLegend.classes.forEach(function (cls) { divisionColour[cls.key] = cls.colour; });
        divisions.clearLayers();
        var drawn = collection.features.filter(function (f) { return f.geometry; });
        divisions.addData({ type: "FeatureCollection", features: drawn });
        document.body.dataset.divisions = String(drawn.length);
        if (!fitted && drawn.length) {
          map.fitBounds(divisions.getBounds(), { padding: [8, 8], animate: false });
          fitted = true;
        }
        drawLabels();
        select(selected);
        drawLegend();
        var total = collection.features.reduce(function (sum, f) { return sum + f.properties.visits; }, 0);
        var missing = collection.features.length - drawn.length;
        summary = fmt(level === "village" ? T.summaryVillages : T.summaryTownships, { n: number(drawn.length), visits: number(total) }) +
          (missing ? " " + fmt(T.withoutBoundary, { n: number(missing) }) : "");
        report(summary);
        document.getElementById("png-link").href = url(config.api.mapPng, params);
      })
      .catch(function (error) {
        if (error.name !== "AbortError") report(fmt(T.divisionsFailed, { error: error.message }), true);
      });
  }

  // --- hexagons, clusters and points ------------------------------------------------------------------

  function hexagonStyle(feature) {
    return { className: "hexagon", color: "#3f007d", weight: 0.5, fillOpacity: 0.7, fillColor: hexagonColour[feature.properties.map_class] };
  }

  function bindHexagon(feature, layer) {
    layer.bindTooltip(fmt(T.hexagonTip, { n: number(feature.properties.visits), cell: feature.properties.h3 }));
  }

  function loadCells() {
    var zoom = map.getZoom();
    var wantClusters = map.hasLayer(clusters) && zoom < POINTS_ZOOM;
    if (!map.hasLayer(hexagons) && !wantClusters) {
      clusters.clearLayers();
      return Promise.resolve();
    }
    var params = { resolution: resolutionForZoom(zoom), bbox: bbox(), scheme: "fisher_jenks" };
    return fetchJSON("hexagons", url(config.api.hexagons, params))
      .then(function (collection) {
        hexagonLegend = collection.classification;
        hexagonColour = {};
        hexagonLegend.classes.forEach(function (cls) { hexagonColour[cls.key] = cls.colour; });
        hexagons.clearLayers();
        hexagons.addData(collection);
        drawClusters(wantClusters ? collection.features : []);
        drawLegend();
      })
      .catch(function (error) {
        if (error.name !== "AbortError") report(fmt(T.hexagonsFailed, { error: error.message }), true);
      });
  }

  function drawClusters(features) {
    clusters.clearLayers();
    features.forEach(function (feature) {
      var centre = L.geoJSON(feature).getBounds().getCenter();
      var count = feature.properties.visits;
      var size = Math.round(22 + 8 * Math.log10(count + 1));
      var icon = L.divIcon({ className: "cluster", html: "", iconSize: [size, size] });
      var marker = L.marker(centre, { icon: icon, title: fmt(T.visitsCount, { n: number(count) }) });
      marker.on("add", function () { marker.getElement().textContent = String(count); });
      marker.on("click", function () { map.setView(centre, Math.min(map.getZoom() + 2, POINTS_ZOOM)); });
      clusters.addLayer(marker);
    });
  }

  function loadPoints() {
    if (!map.hasLayer(points) || map.getZoom() < POINTS_ZOOM) {
      points.clearLayers();
      return Promise.resolve();
    }
    return fetchJSON("visits", url(config.api.visits, { bbox: bbox() }))
      .then(function (collection) {
        points.clearLayers();
        L.geoJSON(collection, {
          pointToLayer: function (feature, latlng) {
            return L.circleMarker(latlng, { className: "visit-point", radius: 5, color: "#fff", weight: 1, fillColor: POINT_COLOUR, fillOpacity: 0.9 });
          },
          onEachFeature: function (feature, layer) {
            var p = feature.properties;
            var kind = config.kinds[p.kind] || p.kind;
            layer.bindTooltip((p.started_at || "").slice(0, 10) + " " + kind + (p.notes ? ": " + p.notes.slice(0, 40) : ""));
          },
        }).eachLayer(function (layer) { points.addLayer(layer); });
      })
      .catch(function (error) {
        if (error.name !== "AbortError") report(fmt(T.pointsFailed, { error: error.message }), true);
      });
  }

  var moveTimer = null;
  function refreshView() {
    clearTimeout(moveTimer);
    moveTimer = setTimeout(function () {
      loadCells();
      loadPoints();
      drawLegend();
    }, 250);
  }

  map.on("zoomend moveend", placeLabels);
  map.on("moveend", refreshView);
  map.on("overlayadd overlayremove", function (event) {
    if (event.layer === labels) placeLabels();
    refreshView();
  });
  map.on("click", function () { select(null); });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    loadDivisions();
    refreshView();
  });
  form.addEventListener("change", function () {
    loadDivisions();
    refreshView();
  });

  drawLegend();
  loadDivisions().then(refreshView);
})();
