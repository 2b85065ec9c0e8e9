package report

import "html/template"

// The page is one file: styles inline, plots inline SVG, no scripts, no
// fonts or images from anywhere.
var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{{.Title}}</title>
<style>
:root { --ink:#1f2933; --muted:#6b7785; --line:#d9dee4; --bg:#ffffff; --panel:#f5f7fa;
  --high:#c0392b; --medium:#d9822b; --low:#2f6db5; --info:#6b7785; --ok:#1e8a4c; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink); font:15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 28px 32px 60px; }
header.top { border-bottom: 3px solid var(--ink); padding-bottom: 10px; margin-bottom: 22px; }
header.top h1 { margin: 0; font-size: 26px; letter-spacing: -0.01em; }
header.top p { margin: 2px 0 0; color: var(--muted); }
h2 { font-size: 20px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 6px; }
nav.toc { font-size: 13px; color: var(--muted); margin-bottom: 18px; }
nav.toc a { color: var(--low); text-decoration: none; margin-right: 14px; }
.verdict { border-left: 8px solid var(--ok); background: var(--panel); padding: 16px 20px; border-radius: 6px; }
.verdict.high { border-color: var(--high); } .verdict.medium { border-color: var(--medium); } .verdict.low { border-color: var(--low); }
.verdict .headline { font-size: 21px; font-weight: 700; margin: 0 0 10px; }
.counts { display: flex; gap: 10px; margin: 6px 0 14px; flex-wrap: wrap; }
.count { min-width: 96px; padding: 6px 12px; border-radius: 6px; background: #fff; border: 1px solid var(--line); }
.count b { display: block; font-size: 22px; line-height: 1.1; }
.count.high b { color: var(--high); } .count.medium b { color: var(--medium); } .count.low b { color: var(--low); } .count.info b { color: var(--info); }
.verdict h3 { margin: 12px 0 4px; font-size: 14px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
.verdict ul { margin: 0; padding-left: 20px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { background: var(--panel); font-weight: 600; }
tr.question th { background: none; padding-top: 14px; border-bottom: 2px solid var(--line); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.facts th { width: 150px; background: none; }
.sev { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-size: 12px; font-weight: 600; text-transform: uppercase; }
.sev.high { background: var(--high); } .sev.medium { background: var(--medium); } .sev.low { background: var(--low); } .sev.info { background: var(--info); }
.finding { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 8px 0; }
.finding.high { border-left: 5px solid var(--high); } .finding.medium { border-left: 5px solid var(--medium); }
.finding.low { border-left: 5px solid var(--low); } .finding.info { border-left: 5px solid var(--info); }
.finding p { margin: 4px 0 6px; }
.meta { color: var(--muted); font-size: 13px; }
.meta code, code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12.5px; }
.figure { border: 1px solid var(--line); border-radius: 6px; padding: 10px; margin: 8px 0 14px; overflow-x: auto; background: #fff; }
.figure svg { display: block; max-width: 100%; height: auto; }
.legend span { display: inline-block; margin-right: 16px; font-size: 13px; }
.legend i { display: inline-block; width: 22px; height: 4px; vertical-align: middle; margin-right: 6px; }
.prot-oscore { color: var(--ok); } .prot-dtls { color: #c98a00; } .prot-none { color: var(--high); } .prot-oscore-failed { color: var(--high); }
.note { color: var(--muted); font-size: 13px; }
@media print { main { padding: 0; } .figure, .finding { break-inside: avoid; } nav.toc { display: none; } }
</style>
</head>
<body>
<main>
<header class="top">
<h1>{{.Title}}</h1>
<p>CoAP, DTLS and OSCORE audit through proxies</p>
</header>
<nav class="toc"><a href="#verdict">Verdict</a><a href="#findings">Findings</a><a href="#topology">Topology</a><a href="#sequence">Sequence charts</a><a href="#sizes">Sizes</a><a href="#residence">Proxy residence</a><a href="#leaks">Leaks</a><a href="#padding">Padding advice</a></nav>

<section id="verdict">
<h2>Verdict</h2>
<div class="verdict {{.Level}}">
<p class="headline">{{.Headline}}</p>
<div class="counts">{{range .Counts}}<div class="count {{.Class}}"><b>{{.N}}</b>{{.Name}}</div>{{end}}</div>
{{if .Misbehaved}}<h3>{{.MisbehavedTitle}}</h3>
<ul>{{range .Misbehaved}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Exposed}}<h3>What is exposed</h3>
<ul>{{range .Exposed}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Reveals}}<h3>What sizes and timing reveal</h3>
<ul>{{range .Reveals}}<li>{{.}}</li>{{end}}</ul>{{end}}
</div>
{{if .Facts}}<table class="facts">{{range .Facts}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>{{end}}
</section>

<section id="findings">
<h2>Findings by severity</h2>
{{range .Groups}}<h3><span class="sev {{.Class}}">{{.Name}}</span> {{len .Findings}}</h3>
{{range .Findings}}<div class="finding {{.Class}}" id="finding-{{.ID}}">
<p>{{.Message}}</p>
<div class="meta"><code>{{.ID}}</code> · rule <code>{{.Rule}}</code> · threat {{.Threat}} · {{.Certainty}}{{if .Exchange}} · exchange {{if .Charted}}<a href="#chart-{{.Exchange}}">{{.Exchange}}</a>{{else}}{{.Exchange}}{{end}}{{end}} · evidence frames {{.Frames}}{{if .Seed}} · seed §{{.Seed}}{{end}}</div>
</div>{{end}}{{else}}<p>No findings.</p>{{end}}
{{if .MoreFindings}}<p class="note">{{.MoreFindings}} more findings of lower severity are in the NDJSON and CSV outputs.</p>{{end}}
</section>

<section id="topology">
<h2>Proxy topology</h2>
<p class="legend"><span><i style="background:#1e8a4c"></i>OSCORE: end-to-end, proxies cannot read or change the payload</span><span><i style="background:#c98a00"></i>DTLS: hop-by-hop only, each proxy reads everything</span><span><i style="background:#c0392b"></i>no protection, or OSCORE that failed verification (dashed)</span><span><i style="background:#c0392b;height:12px;width:16px;border-radius:3px"></i>a proxy the capture proves misbehaved (proven findings)</span></p>
<div class="figure" id="plot-topology">{{.Topology}}</div>
{{if .Protection}}<table><tr><th>protection</th><th class="num">exchanges</th><th class="num">share</th></tr>{{range .Protection}}<tr><td><span class="prot-{{.Key}}">■</span> {{.Label}}</td><td class="num">{{.N}}</td><td class="num">{{.Share}}</td></tr>{{end}}</table>{{end}}
</section>

<section id="sequence">
<h2>Message sequence charts of high findings</h2>
{{range .Charts}}<h3 id="chart-{{.ID}}">{{.ID}}: {{.Method}} <code>{{.URI}}</code></h3>
<p class="meta">status {{.Status}} · protection {{.Protected}}{{if .Findings}} · findings {{.Findings}}{{end}} · evidence frames in red</p>
<div class="figure msc">{{.SVG}}</div>
{{else}}<p>No high-severity finding points at an exchange.</p>{{end}}
</section>

<section id="sizes">
<h2>Message sizes per resource</h2>
<p class="note">Boxes span the middle half of the sizes, the thick bar is the median, dots are the sizes seen (larger dots: repeated). A resource whose sizes sit apart from the others can be recognised by size alone, even when encrypted.</p>
{{if .HasSizes}}<div class="figure" id="plot-sizes">{{.Sizes}}</div>{{else}}<p>No sizes recorded.</p>{{end}}
{{if .MoreResources}}<p class="note">{{.MoreResources}} exchanges of further resources are not plotted.</p>{{end}}
</section>

<section id="residence">
<h2>Proxy residence times</h2>
<p class="note">How long each proxy held requests and responses before passing them on, over capture time. Outliers (modified z-score above 3.5) are circled red: a proxy that delays a message on purpose shows up here.</p>
{{range .Residence}}<h3>Proxy <code>{{.Proxy}}</code>: {{.N}} residence times, {{.Outliers}} outliers</h3>
<div class="figure residence">{{.SVG}}</div>
{{else}}<p>No exchange crossed a proxy.</p>{{end}}
{{if .Outliers}}<table id="outlier-table"><tr><th>proxy</th><th>direction</th><th>exchange</th><th>frames</th><th class="num">held</th><th class="num">median</th><th class="num">z</th></tr>
{{range .Outliers}}<tr><td><code>{{.Proxy}}</code></td><td>{{.Direction}}</td><td>{{.Exchange}}</td><td>{{.Frames}}</td><td class="num">{{.Held}}</td><td class="num">{{.Median}}</td><td class="num">{{.Z}}</td></tr>
{{end}}</table>{{end}}
{{if .MoreProxies}}<p class="note">{{.MoreProxies}} residence times at further proxies are not plotted.</p>{{end}}
</section>

<section id="leaks">
<h2>Leak metrics</h2>
{{if .Verdicts}}<ul>{{range .Verdicts}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .LeakGroups}}<table id="leak-table"><tr><th>measure</th><th>among</th><th class="num">value</th><th class="num">95% interval</th><th class="num">by guessing</th><th class="num">exchanges</th></tr>
{{range .LeakGroups}}<tr class="question"><th colspan="6">{{.Question}}</th></tr>
{{range .Rows}}<tr><td>{{.Measure}}</td><td>{{if .Scope}}<code>{{.Scope}}</code>{{else}}all{{end}}</td><td class="num">{{.Value}}</td><td class="num">{{.CI}}</td><td class="num">{{.Baseline}}</td><td class="num">{{.N}}</td></tr>
{{end}}{{end}}</table>{{else}}<p>No leak measurements (the leak analysis was off or had too few exchanges).</p>{{end}}
{{if .MoreLeaks}}<p class="note">{{.MoreLeaks}} per-value records are in the NDJSON and CSV outputs.</p>{{end}}
</section>

<section id="padding">
<h2>Padding advice</h2>
{{if .Padding}}<p class="note">What padding the messages would cost (bytes added, as a share of the traffic) and how much the size would still reveal afterwards (bits of mutual information).</p>
<table id="padding-table"><tr><th>sizes</th><th>scheme</th><th class="num">cost</th><th class="num">bytes added</th><th class="num">bits left</th></tr>
{{range .Padding}}<tr><td>{{.What}}</td><td>{{.Scheme}}</td><td class="num">{{.Cost}}</td><td class="num">{{.Added}}</td><td class="num">{{.Left}}</td></tr>
{{end}}</table>{{else}}<p>No padding advice: sizes did not tell resources apart, or too few exchanges were seen.</p>{{end}}
</section>
</main>
</body>
</html>
`))
