// The server importing replay: only-cli-imports-replay.
import { replay } from "../replay/replay.js";
export const route = replay;
