// A record layer reaching up into the pipeline: records-below-pipeline.
import { decide } from "../pipeline/decide.js";
export const log = decide;
