import { compile } from "./compile/program";
export function run(): void { compile(); }
