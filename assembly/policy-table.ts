// The success report of `compile`: what hosts need to turn results into decision objects.

import { ABI_VERSION, DECISION_ALLOW } from "./abi";
import { JsonWriter } from "./json/writer";
import { Manifest } from "./manifest/manifest";

function writePath(w: JsonWriter, segments: Array<string>): void {
  w.raw("[");
  for (let i = 0; i < segments.length; i++) {
    if (i > 0) w.raw(",");
    w.str(segments[i]);
  }
  w.raw("]");
}

export function policyTable(m: Manifest): string {
  const w = new JsonWriter();
  w.raw("{\"abi\":").num(<f64>ABI_VERSION)
    .raw(",\"name\":").str(m.name)
    .raw(",\"default\":").str(m.defaultDecision == DECISION_ALLOW ? "allow" : "deny")
    .raw(",\"rules\":[");
  for (let i = 0; i < m.infos.length; i++) {
    const r = m.infos[i];
    if (i > 0) w.raw(",");
    w.raw("{\"id\":").str(r.id).raw(",\"effect\":").str(r.effect).raw(",\"reason\":").strOrNull(r.reason);
    if (r.effect == "escalate") {
      w.raw(",\"approver\":").strOrNull(r.approver).raw(",\"timeout_ms\":").num(r.timeoutMs).raw(",\"on_timeout\":").str(r.onTimeout);
    } else {
      w.raw(",\"approver\":null,\"timeout_ms\":null,\"on_timeout\":null");
    }
    w.raw("}");
  }
  w.raw("],\"fields\":[");
  const paths = m.fields.paths;
  for (let i = 0; i < paths.length; i++) {
    if (i > 0) w.raw(",");
    writePath(w, paths[i]);
  }
  w.raw("],\"redact\":[");
  for (let i = 0; i < m.redact.length; i++) {
    if (i > 0) w.raw(",");
    writePath(w, m.redact[i]);
  }
  w.raw("],\"counters\":[");
  for (let i = 0; i < m.counters.length; i++) {
    const c = m.counters[i];
    if (i > 0) w.raw(",");
    w.raw("{\"name\":").str(c.name).raw(",\"window_ms\":").num(c.windowMs).raw(",\"per\":[");
    for (let k = 0; k < c.per.length; k++) {
      if (k > 0) w.raw(",");
      writePath(w, c.per[k]);
    }
    w.raw("],\"sum\":");
    const sum = c.sum;
    if (sum == null) w.raw("null");
    else writePath(w, sum);
    w.raw(",\"referenced\":").raw(m.counterNames.referenced[i] ? "true" : "false").raw("}");
  }
  w.raw("]}");
  return w.toString();
}
