import { commands } from "./cli/main.js";
export const fine = commands;
