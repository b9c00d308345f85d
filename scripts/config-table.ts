/**
 * `npm run docs:config`: prints the configuration table of docs/operations.md, generated from the
 * config schema in libs/config/src/config.ts; `npm run docs:config -- --write` puts it into
 * docs/operations.md between its `<!-- config-table:start -->` and `<!-- config-table:end -->`
 * markers. test/config-table.test.ts fails when the two differ.
 *
 * The schema is the one place a variable is declared, so the table is read from it: each property
 * of the `schema` object is a variable, its doc comment (`/** … *\/`) is the description, and its
 * default is what the schema gives when the variable is unset (`loadConfig({})`). A default that is
 * not a plain value (a generated secret, one computed from other variables) is written as an
 * `@default` tag in the comment. A variable without a doc comment stops the script, naming it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { loadConfig } from "@seatdrop/config";

const root = fileURLToPath(new URL("..", import.meta.url));
export const SCHEMA_FILE = "libs/config/src/config.ts";
export const DOC_FILE = "docs/operations.md";
export const START_MARKER = "<!-- config-table:start -->";
export const END_MARKER = "<!-- config-table:end -->";

interface Variable {
  name: string;
  description: string;
  /** The `@default` tag's text (Markdown), when the comment has one. */
  defaultText?: string;
}

/** The variables of the schema in libs/config/src/config.ts, in their order there. */
export function schemaVariables(source = readFileSync(root + SCHEMA_FILE, "utf8")): Variable[] {
  const file = ts.createSourceFile(SCHEMA_FILE, source, ts.ScriptTarget.ES2022, true);
  let shape: ts.ObjectLiteralExpression | undefined;
  const visit = (node: ts.Node): void => {
    if (
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.name.text === "schema" &&
      node.initializer &&
      ts.isCallExpression(node.initializer) &&
      node.initializer.arguments[0] &&
      ts.isObjectLiteralExpression(node.initializer.arguments[0])
    )
      shape = node.initializer.arguments[0];
    else ts.forEachChild(node, visit);
  };
  visit(file);
  if (!shape) throw new Error(`${SCHEMA_FILE}: no \`const schema = z.object({ … })\` found`);

  const oneLine = (s: string) => s.replace(/\s+/g, " ").trim();
  const variables: Variable[] = [];
  const undocumented: string[] = [];
  for (const prop of shape.properties) {
    if (!ts.isPropertyAssignment(prop) || !(ts.isIdentifier(prop.name) || ts.isStringLiteral(prop.name)))
      throw new Error(`${SCHEMA_FILE}: unexpected schema member ${prop.getText(file).slice(0, 40)}`);
    const name = prop.name.text;
    const docs = ts.getJSDocCommentsAndTags(prop).filter(ts.isJSDoc);
    const description = oneLine(docs.map((d) => ts.getTextOfJSDocComment(d.comment) ?? "").join(" "));
    const tag = docs.flatMap((d) => d.tags ?? []).find((t) => t.tagName.text === "default");
    if (!description) undocumented.push(name);
    variables.push({ name, description, defaultText: tag ? oneLine(ts.getTextOfJSDocComment(tag.comment) ?? "") : undefined });
  }
  if (undocumented.length > 0)
    throw new Error(`${SCHEMA_FILE}: give each of these a doc comment (/** … */) saying what it does: ${undocumented.join(", ")}`);
  return variables;
}

/** A default as the table shows it. */
function shownDefault(name: string, value: unknown): string {
  if (value === undefined) return "unset";
  if (typeof value === "number" || typeof value === "string") return `\`${value}\``;
  if (Array.isArray(value) && value.every((v) => typeof v === "number" || typeof v === "string")) return `\`${value.join(",")}\``;
  throw new Error(`${SCHEMA_FILE}: ${name}'s default is not a plain value; write how to show it as an @default tag in its doc comment`);
}

const cell = (s: string) => s.replace(/\|/g, "\\|");

/** The Markdown table of every variable: name, default, meaning. */
export function configTable(source?: string): string {
  const defaults = loadConfig({}) as unknown as Record<string, unknown>;
  const rows = schemaVariables(source).map(
    (v) => `| \`${v.name}\` | ${cell(v.defaultText ?? shownDefault(v.name, defaults[v.name]))} | ${cell(v.description)} |`,
  );
  return ["| variable | default | meaning |", "| --- | --- | --- |", ...rows].join("\n");
}

/** The table between the markers of a document, or undefined when it has no such block. */
export function tableInDoc(doc: string): string | undefined {
  const start = doc.indexOf(START_MARKER);
  const end = doc.indexOf(END_MARKER);
  if (start < 0 || end < start) return undefined;
  return doc.slice(start + START_MARKER.length, end).trim();
}

/** The document with the block between its markers replaced by `table`. */
export function withTable(doc: string, table: string): string {
  const start = doc.indexOf(START_MARKER);
  const end = doc.indexOf(END_MARKER);
  if (start < 0 || end < start) throw new Error(`${DOC_FILE} has no ${START_MARKER} … ${END_MARKER} block`);
  return `${doc.slice(0, start + START_MARKER.length)}\n${table}\n${doc.slice(end)}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const table = configTable();
  if (process.argv.includes("--write")) {
    const doc = readFileSync(root + DOC_FILE, "utf8");
    const next = withTable(doc, table);
    if (next === doc) console.log(`${DOC_FILE}: the configuration table is up to date`);
    else {
      writeFileSync(root + DOC_FILE, next);
      console.log(`${DOC_FILE}: configuration table rewritten from ${SCHEMA_FILE}`);
    }
  } else console.log(table);
}
