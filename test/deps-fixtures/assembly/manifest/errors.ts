import { compile } from "../compile/program";
export class Problem { next(): Problem { return compile(); } }
