// Durations (spec section 2): a positive integer and a unit (ms s m h d), at most 7 days unless a
// section says otherwise (counter windows: 30 days; test step times: 365 days, and zero allowed).
// Returns ms, or -1.

import { MAX_DURATION_MS } from "../abi";

export function parseDuration(s: string, max: f64 = MAX_DURATION_MS, zero: bool = false): f64 {
  let i = 0;
  let n: f64 = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    n = n * 10 + <f64>(c - 0x30);
    i++;
  }
  if (i == 0 || i > 16) return -1;
  const unit = s.substring(i);
  let scale: f64;
  if (unit == "ms") scale = 1;
  else if (unit == "s") scale = 1000;
  else if (unit == "m") scale = 60000;
  else if (unit == "h") scale = 3600000;
  else if (unit == "d") scale = 86400000;
  else return -1;
  const ms = n * scale;
  if ((ms <= 0 && !(zero && ms == 0)) || ms > max) return -1;
  return ms;
}
