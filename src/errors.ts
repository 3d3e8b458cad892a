// Typed errors of the Node host.

/** One problem in a policy, with its position (1-based line and column). */
export interface PolicyProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

/** Sorted by line, then column, in place (a stable sort: those at one position keep their order):
 *  the order every list of errors and findings is reported in. */
export function inPositionOrder<T extends { line: number; column: number }>(items: T[]): T[] {
  return items.sort((a, b) => a.line - b.line || a.column - b.column);
}

export function formatProblem(p: PolicyProblem): string {
  return `${p.file}:${p.line}:${p.column}: error: ${p.message}`;
}

/**
 * A policy that cannot be loaded. `file`, `line`, `column` and `message` describe the first
 * problem (by position); `errors` lists all of them. Nothing of the policy was loaded.
 */
export class PolicyError extends Error {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly errors: readonly PolicyProblem[];

  constructor(errors: PolicyProblem[]) {
    if (errors.length === 0) throw new TypeError("PolicyError needs at least one problem");
    super(errors[0]!.message);
    this.name = "PolicyError";
    this.errors = Object.freeze(errors.slice());
    this.file = errors[0]!.file;
    this.line = errors[0]!.line;
    this.column = errors[0]!.column;
  }

  /** Every problem as `FILE:LINE:COL: error: MESSAGE`, one per line. */
  format(): string {
    return this.errors.map(formatProblem).join("\n");
  }

  override toString(): string {
    return this.format();
  }
}
