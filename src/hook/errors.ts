// A hook that cannot decide as configured (counters with nowhere to keep them, an audit log whose
// end is not signed): its message is the reason of the deny.

export class HookSetupError extends Error {
  override name = "HookSetupError";
}
