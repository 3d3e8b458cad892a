// Facts about the file a tool call names, which a policy cannot compute itself (the language
// compares a field with constants, not with another field): the file's absolute path with
// symbolic links resolved, and whether it lies inside the project. "Write outside the project" is
// then `context.file.in_project: false` in a policy.

import { realpathSync } from "node:fs";
import { dirname, isAbsolute, join, resolve, sep } from "node:path";

/** The tool input keys that name a file or directory (Read/Write/Edit/MultiEdit, NotebookEdit, Glob/Grep/LS). */
export const PATH_KEYS = ["file_path", "notebook_path", "path"] as const;

/**
 * `path` with symbolic links resolved as far as it exists: the deepest existing ancestor is
 * resolved by the file system and the rest appended (a file about to be created through a link
 * to a directory elsewhere is elsewhere).
 */
export function physicalPath(path: string): string {
  let head = path;
  const tail: string[] = [];
  for (;;) {
    try {
      const real = realpathSync(head);
      return tail.length === 0 ? real : join(real, ...tail.reverse());
    } catch {
      const parent = dirname(head);
      if (parent === head) return path;
      tail.push(head.slice(parent.length + (parent.endsWith(sep) ? 0 : 1)));
      head = parent;
    }
  }
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
  const path = physicalPath(resolve(base ?? "/", named));
  const file: Record<string, unknown> = { path };
  if (facts.project_dir !== undefined) file.in_project = inside(path, physicalPath(resolve(root!)));
  facts.file = file;
  return facts;
}
