// Search over the places, parameters, rules and articles of this site, in the browser and from file:// (the index
// is a script, search-index.js, that sets window.POLICYC_INDEX: no server, no fetch). An item of the index: its
// title t (Chinese), kind k, address u, code or id c (140105, dibao.standard.urban) and other text d searched.
//
// search(items, query, limit) is a pure function (tests/test_pages.py runs it with node): every word of the query
// must be found in an item — as its code, or as a substring of its title, code or other text — with case, width
// (全角/半角) and spaces ignored; no pinyin. Best first: the code itself, then titles that start with the query,
// titles that hold it, codes that start with it, codes that hold it, other text that holds it; then the shorter
// title, then the order of the index.
//
// On a page: results show as you type; Enter opens the first one; ↓/↑ move through them, Esc closes them; a query
// that finds nothing says so (没有找到…). A page opened as …/index.html?q=140105 starts with that search.
(function () {
  "use strict";

  function normalize(text) {
    var s = String(text === undefined || text === null ? "" : text);
    if (s.normalize) s = s.normalize("NFKC");
    return s.toLowerCase().replace(/\s+/g, "");
  }

  function rank(item, word) {
    var code = normalize(item.c), title = normalize(item.t), other = normalize(item.d);
    if (code && code === word) return 0;
    var at = title.indexOf(word);
    if (at === 0) return 1;
    if (at > 0) return 2;
    at = code.indexOf(word);
    if (at === 0) return 3;
    if (at > 0) return 4;
    return other.indexOf(word) >= 0 ? 5 : -1;
  }

  function search(items, query, limit) {
    var words = String(query === undefined || query === null ? "" : query).split(/\s+/).map(normalize)
      .filter(function (w) { return w.length > 0; });
    if (!words.length || !items) return [];
    var found = [];
    for (var i = 0; i < items.length; i++) {
      var worst = 0;
      for (var j = 0; j < words.length && worst >= 0; j++) {
        var r = rank(items[i], words[j]);
        worst = r < 0 ? -1 : Math.max(worst, r);
      }
      if (worst >= 0) found.push({ item: items[i], rank: worst, order: i });
    }
    found.sort(function (a, b) {
      return a.rank - b.rank || a.item.t.length - b.item.t.length || a.order - b.order;
    });
    return found.slice(0, limit || 30).map(function (x) { return x.item; });
  }

  function noneText(query) {
    return "没有找到与“" + String(query).trim() + "”相符的地区、参数、规则或条文。可以输入地名（如“小店”）、六位地区代码或名称中的任意几个字。";
  }

  var api = { search: search, normalize: normalize, noneText: noneText };
  if (typeof module === "object" && module && module.exports) {  // node (the tests)
    module.exports = api;
    return;
  }
  window.POLICYC_SEARCH = api;

  var script = document.currentScript;
  var root = (script && script.getAttribute("data-root")) || "";
  var input = document.getElementById("q"), hits = document.getElementById("hits");
  if (!input || !hits || !window.POLICYC_INDEX) return;
  var form = input.form, results = [];

  function clear() {
    while (hits.firstChild) hits.removeChild(hits.firstChild);
  }

  function show() {
    var query = input.value;
    clear();
    results = search(window.POLICYC_INDEX, query, 30);
    if (!query.trim()) return;
    if (!results.length) {
      var none = document.createElement("li");
      none.className = "empty";
      none.textContent = noneText(query);
      hits.appendChild(none);
      return;
    }
    results.forEach(function (x, i) {
      var li = document.createElement("li"), a = document.createElement("a"), kind = document.createElement("span");
      if (i === 0) li.className = "first";
      a.href = root + x.u;
      kind.className = "kind";
      kind.textContent = x.k;
      a.appendChild(kind);
      a.appendChild(document.createTextNode(x.t));
      if (x.c) {  // the code or id, as code: a place's six digits, a parameter's id
        var code = document.createElement("code");
        code.textContent = x.c;
        a.appendChild(code);
      }
      li.appendChild(a);
      hits.appendChild(li);
    });
  }

  function links() {
    return Array.prototype.slice.call(hits.querySelectorAll("a"));
  }

  input.addEventListener("input", show);
  if (form) {
    form.addEventListener("submit", function (event) {  // Enter: open the first result
      event.preventDefault();
      show();
      if (results.length) window.location.href = root + results[0].u;
    });
  }
  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown" && links().length) {
      event.preventDefault();
      links()[0].focus();
    } else if (event.key === "Escape") {
      input.value = "";
      clear();
    }
  });
  hits.addEventListener("keydown", function (event) {
    var all = links(), at = all.indexOf(document.activeElement);
    if (event.key === "ArrowDown" && at >= 0 && at + 1 < all.length) {
      event.preventDefault();
      all[at + 1].focus();
    } else if (event.key === "ArrowUp" && at >= 0) {
      event.preventDefault();
      (at > 0 ? all[at - 1] : input).focus();
    } else if (event.key === "Escape") {
      input.focus();
      clear();
    }
  });

  var start = null;
  try {
    start = new URLSearchParams(window.location.search).get("q");
  } catch (e) { /* an old browser: no search from the address */ }
  if (start) {
    input.value = start;
    show();
  }
})();
