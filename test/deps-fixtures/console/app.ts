// Breaks console-is-a-browser-app (the console reaches the server over HTTP, never its code);
// the import of its own module obeys every rule.
import { fine } from "../src/fine.js";
import { view } from "./view.js";
export const app = [fine, view];
