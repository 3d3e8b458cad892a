// Facts about the file a tool call names, which a policy cannot compute itself (the language
// compares a field with constants, not with another field): the file's absolute path with
// symbolic links resolved, and whether it lies inside the project. "Write outside the project" is
// then `context.file.in_project: false` in a policy.

import { lstatSync, readlinkSync } from "node:fs";
import { dirname, isAbsolute, resolve, sep } from "node:path";

/** The tool input keys that name a file or directory (Read/Write/Edit/MultiEdit, NotebookEdit, Glob/Grep/LS). */
export const PATH_KEYS = ["file_path", "notebook_path", "path"] as const;

/** Symbolic links followed before giving up, as the kernel does (ELOOP past 40). */
const MAX_LINKS = 40;

/**
 * The file an absolute `path` reaches, as the kernel resolves it: component by component, each
 * symbolic link replaced by its target — a dangling one too (a write through it creates the
 * target) — and `..` applied to the directory reached so far, not to the text (`link/..` is the
 * link target's parent). From the first component that does not exist, the rest is appended.
 */
export function physicalPath(path: string): string {
  const rest = path.split("/");
  let cur = "/";
  let links = 0;
  while (rest.length > 0) {
    const c = rest.shift()!;
    if (c === "" || c === ".") continue;
    if (c === "..") {
      cur = dirname(cur);
      continue;
    }
    const next = cur === "/" ? `/${c}` : `${cur}/${c}`;
    let link: string | null = null;
    try {
      if (lstatSync(next).isSymbolicLink()) link = readlinkSync(next);
    } catch {
      return resolve(next, ...rest); // does not exist: nothing further can be a link
    }
    if (link === null) {
      cur = next;
      continue;
    }
    if (++links > MAX_LINKS) return next; // a loop: any open of it fails
    rest.unshift(...link.split("/"));
    if (link.startsWith("/")) cur = "/";
  }
  return cur;
}

function inside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/**
 * `{project_dir, file?}` for the action's context: `project_dir` is `projectDir` (else `cwd`);
 * `file` is `{path, in_project}` when the tool input names a file (the first string among
 * `file_path`, `notebook_path`, `path`), resolved against `cwd`. Without a project directory, or
 * for a relative path without `cwd`, `in_project` is left out (UNKNOWN to a policy).
 */
export function projectFacts(toolInput: Record<string, unknown>, cwd: string | undefined, projectDir: string | undefined): Record<string, unknown> {
  const facts: Record<string, unknown> = {};
  const root = projectDir ?? cwd;
  if (root !== undefined && isAbsolute(root)) facts.project_dir = root;
  const named = PATH_KEYS.map((k) => toolInput[k]).find((v): v is string => typeof v === "string" && v !== "" && !v.includes("\0"));
  if (named === undefined) return facts;
  const base = cwd !== undefined && isAbsolute(cwd) ? cwd : undefined;
  if (!isAbsolute(named) && base === undefined) return facts;
  // Joined, not normalized: `..` is applied where the kernel applies it, after links (physicalPath).
  const joined = isAbsolute(named) ? named : `${base}/${named}`;
  const path = physicalPath(joined);
  const file: Record<string, unknown> = { path };
  if (facts.project_dir !== undefined) {
    // A tool that normalizes the text first (`a/link/../x` as `a/x`) reaches another file when a
    // link precedes a `..`: in the project only if both readings are (fail closed).
    const project = physicalPath(root!);
    file.in_project = inside(path, project) && inside(physicalPath(resolve(joined)), project);
  }
  facts.file = file;
  return facts;
}
