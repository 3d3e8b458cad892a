// Breaks only-tests-import-console: the server serves the console's built files, it does not import its source.
import { view } from "../../console/view.js";
export const served = view;
