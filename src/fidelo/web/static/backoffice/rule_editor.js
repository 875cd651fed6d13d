// The rule editor: rows of conditions and effects kept in sync with the JSON definition
// (the textarea the form posts). Any key the rows do not show is kept as it is.
(function () {
  "use strict";
  var editor = document.getElementById("rule-editor");
  var textarea = document.getElementById("id_definition");
  if (!editor || !textarea) return;
  var FIELDS = ["amount", "matching_amount", "store", "channel", "weekday", "time", "month", "date", "line.sku", "line.category",
    "line.brand", "line.amount", "member.tier", "member.interests", "member.birthday_month", "first_purchase", "event_count",
    "streak_months", "membership_years"];
  var OPS = ["eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in", "contains", "is", "multiple_of"];
  // The main parameter of each effect type.
  var EFFECTS = {points_per_euro: "points", fixed_points: "points", multiplier: "percent", cashback_percent: "basis_points",
    fixed_cashback: "amount_minor", stamps: "card", achievement: "badge", reward: "reward", tier_points: "points"};
  var definition;
  try { definition = JSON.parse(textarea.value || "{}"); } catch (e) { return; }  // leave invalid JSON to the textarea
  editor.hidden = false;

  function parseValue(text) {
    try { return JSON.parse(text); } catch (e) { return text; }
  }
  function show(value) { return typeof value === "string" ? value : JSON.stringify(value); }
  function select(options, current) {
    var el = document.createElement("select");
    options.forEach(function (option) {
      var o = document.createElement("option"); o.value = option; o.textContent = option; el.appendChild(o);
    });
    if (current !== undefined && options.indexOf(current) < 0) {
      var extra = document.createElement("option"); extra.value = current; extra.textContent = current; el.appendChild(extra);
    }
    if (current !== undefined) el.value = current;
    return el;
  }
  function input(value, placeholder) {
    var el = document.createElement("input"); el.type = "text"; el.value = value === undefined ? "" : show(value);
    el.placeholder = placeholder || ""; return el;
  }
  function removeButton(row) {
    var b = document.createElement("button"); b.type = "button"; b.textContent = "×"; b.className = "danger";
    b.setAttribute("aria-label", "remove"); b.onclick = function () { row.remove(); sync(); }; return b;
  }
  function conditionRow(c) {
    var row = document.createElement("div"); row.className = "row condition";
    row.dataset.extra = JSON.stringify(Object.fromEntries(Object.entries(c).filter(function (kv) { return ["field", "op", "value"].indexOf(kv[0]) < 0; })));
    row.append(select(FIELDS, c.field), select(OPS, c.op), input(c.value, "value"), removeButton(row));
    document.getElementById("re-conditions").appendChild(row);
  }
  function effectRow(e) {
    var row = document.createElement("div"); row.className = "row effect";
    var type = e.type || "fixed_points"; var key = EFFECTS[type];
    var rest = Object.assign({}, e); delete rest.type; var main = rest[key]; delete rest[key];
    row.dataset.extra = JSON.stringify(rest);
    var typeSelect = select(Object.keys(EFFECTS), type);
    var mainInput = input(main, key);
    typeSelect.onchange = function () { mainInput.placeholder = EFFECTS[typeSelect.value]; row.dataset.extra = "{}"; };
    row.append(typeSelect, mainInput, removeButton(row));
    document.getElementById("re-effects").appendChild(row);
  }
  function sync() {
    definition.name = document.getElementById("re-name").value;
    definition.event = document.getElementById("re-event").value;
    var eventName = document.getElementById("re-event-name").value;
    if (eventName || definition.event === "custom") definition.event_name = eventName; else delete definition.event_name;
    var priority = document.getElementById("re-priority").value;
    definition.priority = priority === "" ? 0 : parseInt(priority, 10);
    definition.exclusive = document.getElementById("re-exclusive").checked;
    var campaign = document.getElementById("re-campaign").value;
    if (campaign) definition.campaign = campaign; else delete definition.campaign;
    definition.conditions = Array.from(document.querySelectorAll("#re-conditions .row")).map(function (row) {
      var parts = row.querySelectorAll("select, input");
      return Object.assign({field: parts[0].value, op: parts[1].value, value: parseValue(parts[2].value)}, JSON.parse(row.dataset.extra || "{}"));
    });
    definition.effects = Array.from(document.querySelectorAll("#re-effects .row")).map(function (row) {
      var parts = row.querySelectorAll("select, input"); var effect = {type: parts[0].value};
      effect[EFFECTS[parts[0].value]] = parseValue(parts[1].value);
      return Object.assign(effect, JSON.parse(row.dataset.extra || "{}"));
    });
    textarea.value = JSON.stringify(definition, null, 2);
  }
  document.getElementById("re-name").value = definition.name || "";
  document.getElementById("re-event").value = definition.event || "purchase";
  document.getElementById("re-event-name").value = definition.event_name || "";
  document.getElementById("re-priority").value = definition.priority === undefined ? 0 : definition.priority;
  document.getElementById("re-exclusive").checked = !!definition.exclusive;
  document.getElementById("re-campaign").value = definition.campaign || "";
  (definition.conditions || []).forEach(conditionRow);
  (definition.effects || []).forEach(effectRow);
  document.getElementById("re-add-condition").onclick = function () { conditionRow({field: "amount", op: "gte", value: 2000}); sync(); };
  document.getElementById("re-add-effect").onclick = function () { effectRow({type: "fixed_points", points: 10}); sync(); };
  editor.addEventListener("input", sync);
  editor.addEventListener("change", sync);
  document.getElementById("rule-form").addEventListener("submit", sync);
})();
