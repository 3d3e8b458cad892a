// The engine reaching up into the audit log: engine-imports-no-io.
import { log } from "../audit/log.js";
export const store = log;
