// Shared by the lint tests: a manifest from YAML (validated by the core first, as `tollgate lint`
// does) and its findings.

import { Policy } from "../../src/index.js";
import { lintManifest, type Finding } from "../../src/lint/index.js";
import { parse } from "yaml";

/** The findings for a policy written as YAML (`rules:` and more, without the header). */
export function lint(body: string): Finding[] {
  const text = `tollgate: 1\nname: lint-test\n${body}`;
  Policy.fromYaml(text); // a lint only ever sees a policy that loads
  return lintManifest(parse(text));
}

export const messages = (fs: Finding[], family?: Finding["family"]): string[] =>
  fs.filter((f) => family === undefined || f.family === family).map((f) => f.message);
