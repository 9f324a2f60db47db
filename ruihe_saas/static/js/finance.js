/* Finance pages: the dashboard's charts (ECharts, vendored) from the JSON block
   #finance-chart-data, and the "print" buttons. No inline script: the CSP is 'self'. */
(function () {
  "use strict";

  function number(value) {
    return value === null || value === undefined ? null : Number(value);
  }

  function incomeChart(el, data) {
    var chart = window.echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0, type: "scroll" },
      grid: { left: 60, right: 20, top: 40, bottom: 30 },
      xAxis: { type: "category", data: data.months },
      yAxis: { type: "value", name: "¥" },
      series: data.income.map(function (s) {
        return { name: s.name, type: "bar", stack: "income", emphasis: { focus: "series" },
                 data: s.data.map(number) };
      })
    });
    return chart;
  }

  function rateChart(el, data) {
    var chart = window.echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis", valueFormatter: function (v) { return v === null ? "—" : v + "%"; } },
      legend: { top: 0, type: "scroll" },
      grid: { left: 50, right: 20, top: 40, bottom: 30 },
      xAxis: { type: "category", data: data.months },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      series: data.rates.map(function (s) {
        return { name: s.name, type: "line", connectNulls: false, data: s.data.map(number) };
      })
    });
    return chart;
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
    var source = document.getElementById("finance-chart-data");
    if (!source || !window.echarts) { return; }
    var data = JSON.parse(source.textContent);
    var charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var build = el.getAttribute("data-chart") === "income" ? incomeChart : rateChart;
      charts.push(build(el, data));
      el.setAttribute("data-rendered", "true");
    });
    window.addEventListener("resize", function () {
      charts.forEach(function (c) { c.resize(); });
    });
  });
})();
