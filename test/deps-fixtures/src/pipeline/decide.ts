// The pipeline reaching up into the gate: pipeline-below-gate.
import { gate } from "../gate/gate.js";
export const decide = gate;
