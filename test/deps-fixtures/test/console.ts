// Obeys every rule: a test may import the console's source (its model, to test it).
import { view } from "../console/view.js";
export const checked = view;
