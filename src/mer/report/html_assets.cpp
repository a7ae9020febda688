#include "mer/report/html_assets.h"

namespace mer::report {

const char* const kReportCss = R"CSS(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;
  color:#1b1b1b;background:#f4f5f7;font-size:14px;line-height:1.4}
header{background:#1f2a38;color:#fff;padding:14px 28px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0 0 6px;color:#c9d1db}
td a{white-space:nowrap}
nav a{color:#9fd0ff;margin-right:10px;text-decoration:none;white-space:nowrap}
nav a.oracle-link{color:#ff9b9b;font-weight:bold}
main{max-width:1280px;margin:0 auto;padding:8px 24px 40px}
section{background:#fff;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.12);
  padding:12px 20px 18px;margin:18px 0;overflow-x:auto}
h2{font-size:19px;margin:6px 0 10px;border-bottom:1px solid #e3e6ea;padding-bottom:6px}
h2 .sub{font-weight:normal;color:#5a6572;font-size:15px}
h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;margin:4px 0 10px}
th,td{border:1px solid #dde1e6;padding:3px 8px;text-align:left}
th{background:#eef1f4;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:bold}
.ci{color:#5a6572;font-size:12px}
.config{color:#5a6572;font-size:12px}
.note{color:#4a5561;font-size:13px;margin:4px 0 8px}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:6px 0 10px;
  font-size:13px}
dl.facts dt{color:#5a6572}
dl.facts dd{margin:0;word-break:break-all}
.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.row>figure.chart{flex:1 1 360px}
.comparison figure.chart,.occlusion figure.chart{max-width:760px}
figure.chart{margin:8px 0 14px;min-width:320px}
figure.chart figcaption{font-weight:600;font-size:13px;margin-bottom:4px}
.chart-box{position:relative;width:100%}
table.heatmap td{width:64px;height:34px;text-align:center;font-variant-numeric:tabular-nums;
  font-weight:600}
table.heatmap th.corner{font-weight:normal;font-size:12px;color:#5a6572}
.oracle-banner{background:#b00020;color:#fff;font-size:16px;padding:12px 16px;
  border-radius:4px;margin:8px 0 12px;border:3px solid #6d0014}
.oracle-banner strong{font-size:20px;letter-spacing:.04em}
.comparison.oracle{border-left:6px solid #b00020;padding-left:12px}
.oracle-note{color:#b00020;font-weight:bold}
tr.oracle-row td{background:#fde7ea}
.badge{background:#b00020;color:#fff;border-radius:3px;padding:1px 6px;font-weight:bold}
.explanations{display:flex;flex-wrap:wrap;gap:16px}
figure.explanation{margin:0;max-width:100%}
figure.explanation img{max-width:100%;border:1px solid #dde1e6}
figure.explanation figcaption{font-size:13px;font-weight:600}
#render-status{display:none}
)CSS";

const char* const kErrorCaptureJs = R"JS(
window.merErrors = [];
window.addEventListener('error', function (e) { window.merErrors.push(String(e.message)); });
(function () {
  var original = console.error;
  console.error = function () {
    window.merErrors.push(Array.prototype.join.call(arguments, ' '));
    return original.apply(console, arguments);
  };
})();
)JS";

const char* const kReportJs = R"JS(
(function () {
  'use strict';
  var DATA = JSON.parse(document.getElementById('report-data').textContent);
  var palette = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#ff9da6',
                 '#9d755d', '#bab0ac', '#eeca3b'];
  // A table of the page data as objects keyed by column name.
  function rows(name, keep) {
    var t = DATA.tables[name];
    return t.rows.map(function (r) {
      var o = {};
      t.columns.forEach(function (c, i) { o[c] = r[i]; });
      return o;
    }).filter(keep || function () { return true; });
  }
  function unique(values) { return values.filter(function (v, i) { return values.indexOf(v) === i; }); }
  var metricName = {uf1: 'UF1', uar: 'UAR', accuracy: 'accuracy'};

  Chart.defaults.animation = false;
  Chart.defaults.responsive = true;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.size = 12;
  // Interval whiskers on bars: dataset.errorBars[i] = [low, high] in the value axis' units.
  Chart.register({
    id: 'errorBars',
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx;
      var horizontal = chart.options.indexAxis === 'y';
      var scale = horizontal ? chart.scales.x : chart.scales.y;
      chart.data.datasets.forEach(function (ds, i) {
        var meta = chart.getDatasetMeta(i);
        if (!ds.errorBars || meta.hidden) return;
        meta.data.forEach(function (bar, j) {
          var e = ds.errorBars[j];
          if (!e) return;
          var lo = scale.getPixelForValue(e[0]), hi = scale.getPixelForValue(e[1]);
          ctx.save();
          ctx.strokeStyle = '#222';
          ctx.lineWidth = 1.5;
          ctx.beginPath();
          if (horizontal) {
            ctx.moveTo(lo, bar.y); ctx.lineTo(hi, bar.y);
            ctx.moveTo(lo, bar.y - 5); ctx.lineTo(lo, bar.y + 5);
            ctx.moveTo(hi, bar.y - 5); ctx.lineTo(hi, bar.y + 5);
          } else {
            ctx.moveTo(bar.x, lo); ctx.lineTo(bar.x, hi);
            ctx.moveTo(bar.x - 5, lo); ctx.lineTo(bar.x + 5, lo);
            ctx.moveTo(bar.x - 5, hi); ctx.lineTo(bar.x + 5, hi);
          }
          ctx.stroke();
          ctx.restore();
        });
      });
    }
  });

  var builders = {
    subjects: function (el) {
      var r = rows('per_subject', function (x) { return x.run === el.dataset.run; });
      return {
        type: 'bar',
        data: {
          labels: r.map(function (x) { return x.subject + ' (n=' + x.n + ')'; }),
          datasets: [{label: 'accuracy', data: r.map(function (x) { return x.accuracy; }),
                      backgroundColor: '#4c78a8', minBarLength: 2}]
        },
        options: {
          plugins: {legend: {display: false},
                    tooltip: {callbacks: {label: function (c) {
                      var x = r[c.dataIndex];
                      return 'accuracy ' + x.accuracy.toFixed(4) + ' (' + x.correct + ' of ' + x.n + ')';
                    }}}},
          scales: {y: {min: 0, max: 1, title: {display: true, text: 'accuracy'}},
                   x: {ticks: {autoSkip: false, maxRotation: 90, minRotation: 50,
                               font: {size: r.length > 30 ? 9 : 11}}}}
        }
      };
    },
    curve: function (el) {
      var c = DATA.curves[el.dataset.run][el.dataset.metric];
      var xy = function (p) { return {x: p[0], y: p[1]}; };
      var ds = c.folds.map(function (f, i) {
        return {label: i === 0 ? 'each fold' : f.fold, data: f.points.map(xy),
                borderColor: 'rgba(80,80,80,0.3)', borderWidth: 1, pointRadius: 0};
      });
      ds.push({label: 'median over folds', data: c.median.map(xy), borderColor: '#d62728',
               borderWidth: 3, pointRadius: 0});
      var label = {train_loss: 'training loss', train_accuracy: 'training accuracy',
                   selection_score: DATA.curves[el.dataset.run].selection_axis}[el.dataset.metric];
      return {
        type: 'line',
        data: {datasets: ds},
        options: {
          parsing: false,
          plugins: {legend: {labels: {filter: function (item) {
                      return item.datasetIndex === 0 || item.datasetIndex === ds.length - 1; }}},
                    tooltip: {enabled: false}},
          scales: {x: {type: 'linear', title: {display: true, text: 'epoch'}},
                   y: {title: {display: true, text: label}}}
        }
      };
    },
    comparison: function (el) {
      var r = rows('comparison', function (x) { return x.comparison === el.dataset.comparison; });
      var metrics = ['uf1', 'uar', 'accuracy'];
      var ds = unique(r.map(function (x) { return x.model; })).map(function (m, i) {
        var mr = metrics.map(function (k) {
          return r.filter(function (x) { return x.model === m && x.metric === k; })[0];
        });
        return {label: mr[0].label, backgroundColor: palette[i % palette.length],
                data: mr.map(function (x) { return x.mean; }),
                errorBars: mr.map(function (x) { return [x.ci_low, x.ci_high]; })};
      });
      return {type: 'bar', data: {labels: metrics.map(function (k) { return metricName[k]; }),
                                  datasets: ds},
              options: {scales: {y: {min: 0, max: 1}}}};
    },
    gap: function (el) {
      var r = rows('selection_gap', function (x) {
        return x.comparison === el.dataset.comparison && x.metric === 'uf1';
      });
      return {type: 'bar',
              data: {labels: r.map(function (x) { return x.label; }),
                     datasets: [{label: 'last epoch (honest)', backgroundColor: palette[0],
                                 data: r.map(function (x) { return x.last_epoch; })},
                                {label: 'epoch chosen on the test subject (ORACLE)',
                                 backgroundColor: '#b00020',
                                 data: r.map(function (x) { return x.oracle; })}]},
              options: {scales: {y: {min: 0, max: 1, title: {display: true, text: 'UF1'}}}}};
    },
    paired: function (el) {
      var r = rows('paired_differences', function (x) { return x.comparison === el.dataset.comparison; });
      var pairOf = function (x) { return x.model_a + ' \u2212 ' + x.model_b; };
      var pairs = unique(r.map(pairOf));
      var labels = pairs.map(function (p) {
        var x = r.filter(function (y) { return pairOf(y) === p; })[0];
        return x.label_a + ' \u2212 ' + x.label_b;
      });
      var ds = ['uf1', 'uar'].map(function (k, i) {
        var mr = pairs.map(function (p) {
          return r.filter(function (x) { return pairOf(x) === p && x.metric === k; })[0];
        });
        return {label: metricName[k], backgroundColor: palette[i],
                data: mr.map(function (x) { return x.difference; }),
                errorBars: mr.map(function (x) { return [x.ci_low, x.ci_high]; })};
      });
      // The axis spans every interval and 0, so no whisker is cut off.
      var ends = [0];
      ds.forEach(function (d) { d.errorBars.forEach(function (e) { ends.push(e[0], e[1]); }); });
      var pad = 0.05 * (Math.max.apply(null, ends) - Math.min.apply(null, ends) || 1);
      return {type: 'bar', data: {labels: labels, datasets: ds},
              options: {indexAxis: 'y',
                        scales: {x: {min: Math.min.apply(null, ends) - pad,
                                     max: Math.max.apply(null, ends) + pad,
                                     title: {display: true, text: 'difference (first - second model)'},
                                     grid: {color: function (c) {
                                       return c.tick && c.tick.value === 0 ? '#333' : 'rgba(0,0,0,0.1)'; }}}}}};
    },
    occlusion: function (el) {
      var r = rows('occlusion_by_model', function (x) { return x.model === el.dataset.model; });
      var conditions = unique(r.map(function (x) { return x.condition; }));
      var ds = [];
      ['uf1', 'uar'].forEach(function (k, i) {
        var mr = conditions.map(function (c) {
          return r.filter(function (x) { return x.condition === c && x.metric === k; })[0];
        });
        ds.push({label: 'clean ' + metricName[k], backgroundColor: i ? '#b7d4ea' : '#9ecae9',
                 data: mr.map(function (x) { return x ? x.clean : null; })});
        ds.push({label: 'occluded ' + metricName[k], backgroundColor: i ? '#f5a26c' : '#e45756',
                 data: mr.map(function (x) { return x ? x.occluded : null; })});
      });
      return {type: 'bar', data: {labels: conditions, datasets: ds},
              options: {scales: {y: {min: 0, max: 1}}}};
    }
  };

  function painted(canvas) {
    var w = canvas.width, h = canvas.height;
    if (!w || !h) return false;
    var px = canvas.getContext('2d').getImageData(0, 0, w, h).data;
    for (var i = 3; i < px.length; i += 4) if (px[i] !== 0) return true;
    return false;
  }

  var canvases = document.querySelectorAll('canvas[data-chart]');
  var drawn = 0;
  canvases.forEach(function (el) {
    try {
      var chart = new Chart(el, builders[el.dataset.chart](el));
      var hasData = chart.data.datasets.some(function (d) { return d.data.length > 0; });
      var ok = hasData && painted(el);
      el.dataset.drawn = ok ? '1' : '0';
      if (ok) drawn += 1;
    } catch (e) {
      window.merErrors.push(el.dataset.chart + ': ' + e);
      el.dataset.drawn = '0';
    }
  });
  var status = document.getElementById('render-status');
  status.dataset.charts = String(canvases.length);
  status.dataset.drawn = String(drawn);
  status.dataset.heatmaps = String(document.querySelectorAll('table.heatmap td').length > 0 ?
                                   document.querySelectorAll('table.heatmap').length : 0);
  status.dataset.errors = String(window.merErrors.length);
  status.textContent = window.merErrors.join('\n');
  status.dataset.done = '1';
})();
)JS";

}  // namespace mer::report
