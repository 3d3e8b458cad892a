// Replay reading audit records (allowed) and reaching up into the gate: replay-below-cli.
import { log } from "../audit/log.js";
import { gate } from "../gate/gate.js";
export const replay = [log, gate];
