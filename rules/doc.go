// Package rules audits CoAP, DTLS and OSCORE traffic against the threat
// model of draft-hartke-core-e2e-security-reqs-03 (the seed): what a proxy
// or pub-sub broker could do unnoticed (spoof, delay, withhold, flood,
// eavesdrop, replay) and what it did, as far as a passive observer can
// prove it. The rules and their threats are listed in docs/RULES.md.
//
// Each check is a Rule, shaped like a golang.org/x/tools/go/analysis
// Analyzer: a stable ID, documentation, the threat it addresses, a
// severity, the seed section it rests on, and a Run function that
// registers hooks on a Pass. Rules hook into three points of a streaming
// run:
//
//   - OnPacket sees every CoAP and DTLS frame as it is decoded, with the
//     OSCORE layer's result and any PSK identity in clear; it must not
//     allocate when it finds nothing;
//   - OnExchange sees every exchange the flows tracker emits, with all of
//     its legs across proxies; the frames behind its frame numbers are
//     looked up with Pass.Frame;
//   - OnClose runs at the end of the capture, for baselines and for
//     decisions held until then; OnFlush lets live captures take held
//     decisions as capture time passes.
//
// Findings (Pass.Report) stream out as soon as a rule decides. Each names
// its threat, its seed section, its evidence frames (never none), says in
// one sentence what the traffic shows, and whether it proves the act
// (Did) or only allows it (Could). Profiles (forwarding, caching, pubsub,
// or auto per exchange) say which options and payloads must be
// confidential and which must be authentic.
//
// All state is bounded (Config.MaxState per table, Config.MaxFrames
// remembered frames) and runs on capture time; what a full table pushes
// out is counted in Stats.
//
// Adding a rule means writing one file that declares a *Rule and adding
// it to All. Rules register nothing in init.
package rules
