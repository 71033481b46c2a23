"""The dashboard page's own stylesheet and scripts, inlined into every page it builds."""

STYLESHEET = """
:root {
  --ink: #1d2731; --muted: #5b6b7a; --line: #dde3e8; --panel: #ffffff; --page: #f3f5f7;
  --accent: #1b6ca8; --good: #2e7d4f; --warn: #b7791f; --bad: #c0392b;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header.page { background: #14324a; color: #fff; padding: 18px 32px 14px; }
header.page h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header.page p { margin: 0; color: #c9d6e2; }
nav.sections { background: #fff; border-bottom: 1px solid var(--line);
  padding: 8px 32px; display: flex; gap: 18px; flex-wrap: wrap; }
nav.sections a { color: var(--accent); text-decoration: none; font-weight: 500; }
nav.sections a:hover { text-decoration: underline; }
main { max-width: 1320px; margin: 0 auto; padding: 20px 32px 48px; }
section { margin-top: 28px; }
section > h2 { font-size: 18px; margin: 0 0 4px; }
section > p.lead { margin: 0 0 12px; color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(160px, 100%), 1fr)); gap: 12px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; min-width: 0; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; overflow-wrap: anywhere; }
/* Figures are compact (2.34M) so they fit; the exact value is the title, shown on hover. */
.card .value { font-size: 26px; font-weight: 600; margin: 2px 0; font-variant-numeric: tabular-nums;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; cursor: help; }
.card .note { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
/* min(…, 100%): on a phone a column is as wide as the screen, never wider. */
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(560px, 100%), 1fr)); gap: 16px; }
.grid > * { min-width: 0; }
.stack > * + * { margin-top: 16px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; overflow-x: auto; min-width: 0; }
.panel h3 { margin: 0 0 8px; font-size: 15px; }
.chart-note { margin: -4px 0 8px; color: var(--muted); font-size: 12px; }
.chart { min-height: 40px; width: 100%; }
.chart .vega-embed { width: 100%; }
.empty { color: var(--muted); font-style: italic; margin: 8px 0; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; white-space: nowrap; }
td.number, th.number { text-align: right; }
td.number, td.nowrap { white-space: nowrap; }
td .id { color: var(--muted); font-size: 12px; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th::after { content: " \\2195"; color: #aab5bf; }
table.sortable th[aria-sort="ascending"]::after { content: " \\2191"; color: var(--ink); }
table.sortable th[aria-sort="descending"]::after { content: " \\2193"; color: var(--ink); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.badge.good { background: #e3f3e9; color: var(--good); }
.badge.warn { background: #fcf1dc; color: var(--warn); }
.badge.bad { background: #fbe4e1; color: var(--bad); }
.badge.neutral { background: #e9edf1; color: var(--muted); }
ul.rules { margin: 0; padding-left: 18px; }
ul.rules li { margin: 3px 0; }
.lookup input { width: 100%; max-width: 520px; font-size: 15px; padding: 8px 10px; border: 1px solid #b8c3cc; border-radius: 6px; }
.lookup .hint { color: var(--muted); font-size: 12px; margin-top: 4px; }
#lookup-results { list-style: none; margin: 10px 0 0; padding: 0; max-width: 720px; }
#lookup-results li button { width: 100%; text-align: left; background: none; border: none; border-bottom: 1px solid var(--line);
  padding: 6px 4px; font: inherit; cursor: pointer; color: var(--ink); }
#lookup-results li button:hover, #lookup-results li button:focus { background: #eef4f9; }
#lookup-results .meta { color: var(--muted); }
#customer-profile { margin-top: 14px; }
#customer-profile h3 { font-size: 18px; margin: 0 0 2px; }
.profile-groups { display: grid; grid-template-columns: repeat(auto-fit, minmax(250px, 1fr)); gap: 12px; margin-top: 10px; }
.profile-groups dl { margin: 0; display: grid; grid-template-columns: max-content 1fr; gap: 3px 12px; }
.profile-groups dt { color: var(--muted); }
.profile-groups dd { margin: 0; font-variant-numeric: tabular-nums; }
.profile-groups h4 { margin: 0 0 6px; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.run-banner { margin: 0 0 12px; overflow-wrap: anywhere; }
footer { color: var(--muted); font-size: 12px; margin-top: 36px; }
@media (max-width: 640px) {
  header.page { padding: 14px 12px 12px; }
  nav.sections { padding: 8px 12px; gap: 6px 14px; }
  main { padding: 12px 12px 32px; }
  .panel { padding: 12px; }
  .card .value { font-size: 22px; }
  th, td { padding: 4px 6px; }
}
"""

SCRIPT = r"""
(function () {
  "use strict";
  function readJson(id) { return JSON.parse(document.getElementById(id).textContent); }

  // Charts: every spec is embedded and fitted to its panel's width. A chart with a narrow layout
  // switches to it when the wide one does not fit (and back when the panel grows again).
  var specs = readJson("chart-specs");
  var narrowSpecs = readJson("chart-narrow-specs");
  window.dashboardCharts = {};
  var wideWidths = {};

  function eachLegend(node, visit) {
    if (Array.isArray(node)) { node.forEach(function (child) { eachLegend(child, visit); }); return; }
    if (!node || typeof node !== "object") { return; }
    Object.keys(node).forEach(function (key) {
      if (key === "config") { return; }
      if (key === "legend" && node[key] && typeof node[key] === "object") { visit(node[key]); }
      else { eachLegend(node[key], visit); }
    });
  }

  function fitted(spec, width) {
    var copy = JSON.parse(JSON.stringify(spec));
    copy.config = copy.config || {};
    // Long axis labels (product and step names) take at most 40% of a narrow panel.
    copy.config.axis = Object.assign({}, copy.config.axis,
      { labelLimit: Math.max(80, Math.min(220, Math.floor(width * 0.4))) });
    eachLegend(copy, function (legend) {
      if (legend.columns) { legend.columns = Math.max(1, Math.min(legend.columns, Math.floor(width / 190))); }
    });
    return copy;
  }

  function drawnWidth(container) {
    var svg = container.querySelector("svg");
    return svg ? svg.getBoundingClientRect().width : 0;
  }

  function embed(id, layout) {
    var container = document.getElementById("chart-" + id);
    var spec = layout === "narrow" ? narrowSpecs[id] : specs[id];
    if (window.dashboardCharts[id]) { window.dashboardCharts[id].finalize(); }
    return vegaEmbed(container, fitted(spec, container.clientWidth), { actions: false, renderer: "svg" })
      .then(function (result) {
        window.dashboardCharts[id] = result.view;
        container.dataset.layout = layout;
        if (layout === "wide" && narrowSpecs[id] && drawnWidth(container) > container.clientWidth + 1) {
          wideWidths[id] = drawnWidth(container);
          return embed(id, "narrow");
        }
        container.dataset.rendered = "true";
      })
      .catch(function (error) { container.dataset.rendered = "error"; console.error("chart " + id + " failed: " + error); });
  }

  var embeds = Object.keys(specs).map(function (id) { return embed(id, "wide"); });
  Promise.all(embeds).then(function () { document.body.dataset.chartsReady = "true"; });

  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      Object.keys(narrowSpecs).forEach(function (id) {
        var container = document.getElementById("chart-" + id);
        if (!container) { return; }
        var tooWide = drawnWidth(container) > container.clientWidth + 1;
        var roomForWide = container.dataset.layout === "narrow" && container.clientWidth >= (wideWidths[id] || Infinity);
        if ((container.dataset.layout === "wide" && tooWide) || roomForWide) { embed(id, "wide"); }
      });
    }, 250);
  });

  // Sortable tables: click a header to sort by it, again to reverse.
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (header, column) {
      header.addEventListener("click", function () {
        var ascending = header.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column].dataset.sort, y = b.cells[column].dataset.sort;
          var order;
          if (x !== undefined && y !== undefined) {
            // Numeric cells: empty values always sort last.
            if (x === "") { return 1; }
            if (y === "") { return -1; }
            order = Number(x) - Number(y);
          } else {
            order = a.cells[column].textContent.localeCompare(b.cells[column].textContent);
          }
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });

  // Customer lookup over the embedded gold.customer_360 rows.
  var lookup = readJson("customer-data");
  var columns = lookup.columns, labels = lookup.labels;
  var customers = lookup.rows.map(function (row) {
    var record = {};
    columns.forEach(function (name, i) { record[name] = row[i]; });
    record._search = [record.customer_key, record.crm_customer_id, record.loyalty_card_id,
      (record.first_name || "") + " " + (record.last_name || ""), record.email, record.phone]
      .filter(Boolean).join("\n").toLowerCase();
    return record;
  });
  var money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
  var count = new Intl.NumberFormat("en-US");
  function show(name, value) {
    if (value === null || value === undefined || value === "") { return "\u2013"; }
    if (/revenue/.test(name)) { return money.format(value); }
    if (name === "avg_csat") { return Number(value).toFixed(2); }
    if (typeof value === "number") { return count.format(value); }
    return String(value);
  }
  function fullName(c) { return [c.first_name, c.last_name].filter(Boolean).join(" ") || "(no name)"; }
  var input = document.getElementById("lookup-query");
  var results = document.getElementById("lookup-results");
  var profile = document.getElementById("customer-profile");
  var status = document.getElementById("lookup-status");
  var LIMIT = 25;

  function renderProfile(c) {
    profile.textContent = "";
    var heading = document.createElement("h3");
    heading.textContent = fullName(c) + " \u00b7 " + c.customer_key;
    var segment = document.createElement("span");
    segment.className = "badge neutral";
    segment.textContent = c.segment;
    var line = document.createElement("div");
    line.appendChild(segment);
    profile.appendChild(heading);
    profile.appendChild(line);
    var groups = document.createElement("div");
    groups.className = "profile-groups";
    lookup.groups.forEach(function (group) {
      var box = document.createElement("div");
      box.className = "panel";
      var title = document.createElement("h4");
      title.textContent = group.title;
      box.appendChild(title);
      var list = document.createElement("dl");
      group.columns.forEach(function (name) {
        var term = document.createElement("dt");
        term.textContent = labels[name];
        var value = document.createElement("dd");
        value.textContent = show(name, c[name]);
        value.dataset.column = name;
        list.appendChild(term);
        list.appendChild(value);
      });
      box.appendChild(list);
      groups.appendChild(box);
    });
    profile.appendChild(groups);
    profile.dataset.customerKey = c.customer_key;
  }

  function clearProfile() {
    profile.textContent = "";
    delete profile.dataset.customerKey;
  }

  function search() {
    var query = input.value.trim().toLowerCase();
    results.textContent = "";
    // A new search never leaves an earlier customer on screen: only a single match (or a click) shows one.
    clearProfile();
    if (!query) { status.textContent = count.format(customers.length) + " customers; type to search."; return; }
    var exact = customers.filter(function (c) { return c.customer_key.toLowerCase() === query; });
    var found = exact.length ? exact : customers.filter(function (c) { return c._search.indexOf(query) !== -1; });
    status.textContent = found.length === 0 ? "No customer matches \u201c" + input.value.trim() + "\u201d."
      : count.format(found.length) + (found.length === 1 ? " customer matches." : " customers match")
        + (found.length > LIMIT ? "; showing the first " + LIMIT + "." : (found.length === 1 ? "" : "."));
    found.slice(0, LIMIT).forEach(function (c) {
      var item = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.dataset.customerKey = c.customer_key;
      var name = document.createElement("strong");
      name.textContent = fullName(c);
      var meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = " \u00b7 " + c.customer_key + (c.email ? " \u00b7 " + c.email : "") + " \u00b7 " + c.segment;
      button.appendChild(name);
      button.appendChild(meta);
      button.addEventListener("click", function () { renderProfile(c); });
      item.appendChild(button);
      results.appendChild(item);
    });
    if (found.length === 1) { renderProfile(found[0]); }
  }
  input.addEventListener("input", search);
  search();
})();
"""
