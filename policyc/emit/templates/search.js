// Client-side search over the localities and parameters of this site (no server needed).
(function () {
  var root = document.currentScript.getAttribute("data-root") || "";
  var input = document.getElementById("q"), hits = document.getElementById("hits");
  if (!input || !window.POLICYC_INDEX) return;
  input.addEventListener("input", function () {
    var q = input.value.trim();
    while (hits.firstChild) hits.removeChild(hits.firstChild);
    if (!q) return;
    window.POLICYC_INDEX.filter(function (x) { return x.t.indexOf(q) >= 0; }).slice(0, 30).forEach(function (x) {
      var li = document.createElement("li"), a = document.createElement("a");
      a.href = root + x.u;
      a.textContent = x.k + "：" + x.t;
      li.appendChild(a);
      hits.appendChild(li);
    });
  });
})();
