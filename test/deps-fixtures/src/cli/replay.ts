// The CLI importing replay: allowed.
import { replay } from "../replay/replay.js";
export const replayCommand = replay;
