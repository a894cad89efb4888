// Renders a drafted manifest as commented YAML a DBA can accept as is (or edit where it says TODO).
import { Scalar, stringify } from 'yaml';
import { escapeText } from '../db/quote.js';
import type { Classification, ManifestDraft, PolymorphicProposal, ScopedProposal } from './draft-manifest.js';

const PLAIN_SCALAR = /^[A-Za-z_][A-Za-z0-9_$.]*$/;
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu;

/**
 * One YAML scalar on one line, written by the yaml library: plain when the library writes it plain
 * and it is an ordinary name (safe as a key, a value and a flow-sequence item), else double-quoted
 * with escapes, never folded and never a block scalar. Characters the library leaves raw inside
 * double quotes (DEL, C1, U+2028/U+2029: line breaks for YAML 1.1 readers) become \u escapes.
 *
 * @example yamlScalar('deals') // => deals
 * @example yamlScalar('notes\nDELETE') // => "notes\nDELETE"
 */
export function yamlScalar(value: string): string {
  // The library ends its output with one newline: only that goes. trimEnd() also took a name's
  // trailing U+2028 (or other Unicode blank) off, and the rest passed as plain ("re\u2028" read back "re").
  const plain = stringify(value).replace(/\n$/, '');
  if (PLAIN_SCALAR.test(plain)) return plain;
  const node = new Scalar(value);
  node.type = Scalar.QUOTE_DOUBLE;
  const quoted = stringify(node, { lineWidth: 0, doubleQuotedMinMultiLineLength: Number.MAX_SAFE_INTEGER }).trimEnd();
  return quoted.replace(UNSAFE, (ch) => `\\u${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}

const key = yamlScalar;
/** A comment's text: names in it cannot end the comment line. */
const note = (text: string): string => escapeText(text);

/** The flow-form YAML of one polymorphic entry, e.g. `{type: payable_type, id: payable_id, targets: {Invoice: invoices}}`. */
function polymorphicEntry(p: PolymorphicProposal): string {
  const targets = p.targets.length > 0 ? p.targets.map((x) => `${key(x.type)}: ${key(x.table)}`).join(', ') : 'TODO_TypeValue: TODO_table';
  return `{type: ${key(p.typeColumn)}, id: ${key(p.idColumn)}, targets: {${targets}}}`;
}

/** The TODO comment of a pair the data does not prove: what was seen and why it is not proposed. */
function polymorphicNote(p: PolymorphicProposal): string {
  const seen = [...p.targets.map((x) => x.type), ...p.unmatched, ...p.ambiguous];
  const values = seen.length > 0 ? `type values seen: ${seen.join(', ')}` : 'no type values seen';
  return note(`TODO: ${p.typeColumn}/${p.idColumn} look like a polymorphic reference (${values}); not proposed: ${p.doubt}; check the targets, then uncomment:`);
}

/** The comment of a pair the data proves: how the type values were read and what was checked. */
function inferredNote(p: PolymorphicProposal): string {
  return note(`inferred: every ${p.typeColumn} value names a table (${p.convention}) and all ${p.rows} ${p.idColumn} value(s) are rows of it`);
}

/** The polymorphic lines of a table: proven pairs as entries, the others as TODO comments. */
function polymorphicLines(pairs: PolymorphicProposal[]): string[] {
  const proven = pairs.filter((p) => p.doubt === undefined);
  const todo = pairs.filter((p) => p.doubt !== undefined);
  const lines: string[] = [];
  if (proven.length > 0) {
    lines.push('polymorphic:');
    for (const p of proven) lines.push(`  - ${polymorphicEntry(p)}   # ${inferredNote(p)}`);
    for (const p of todo) lines.push(`  # ${polymorphicNote(p).replace(/uncomment:$/, 'uncomment as a list item:')}`, `  # - ${polymorphicEntry(p)}`);
    return lines;
  }
  for (const p of todo) lines.push(`# ${polymorphicNote(p)}`, `# polymorphic: [${polymorphicEntry(p)}]`);
  return lines;
}

function sourcesNote(c: ScopedProposal): string {
  const parts = c.sources.map((s) => `${s.column} → ${s.parent}${Number.isFinite(s.hops) ? ` (${s.hops} hop${s.hops === 1 ? '' : 's'})` : ' (self-reference)'}${s.composite ? ' (composite FK)' : ''}`);
  return note(`best source first: ${parts.join(', ')}`);
}

function uniqueEntry(u: { columns: string[]; where?: string }): string {
  if (!u.where) return `[${u.columns.map(key).join(', ')}]`;
  return `{columns: [${u.columns.map(key).join(', ')}], where: ${key(u.where)}}`;
}

/** The lines of one scoped table: its keys, then TODO comments for what needs a decision. */
function scopedLines(name: string, c: ScopedProposal, tenantColumn: string): string[] {
  const body: string[] = [];
  if (c.sharedRows) {
    body.push(
      `shared_rows: true   # ${note(`${c.nullRows} row(s) with NULL ${tenantColumn} and no backfill source places them, shared by design: ${c.sharedEvidence.join('; ')}`)}`,
    );
  }
  if (c.backfill.length > 0) body.push(`backfill: [${c.backfill.map(key).join(', ')}]   # ${sourcesNote(c)}`);
  if (c.unique.length > 0) {
    body.push(`unique: [${c.unique.map(uniqueEntry).join(', ')}]   # ${note(`from ${c.unique.map((u) => u.index).join(', ')}`)}`);
  }
  if (c.singleton) body.push(`singleton: true   # ${note(`from ${c.singleton}: UNIQUE (${tenantColumn}), one row per tenant`)}`);
  const poly = polymorphicLines(c.polymorphic);
  if (poly[0] === 'polymorphic:') body.push(...poly);
  const todo = poly[0] === 'polymorphic:' ? [] : poly;
  if (c.orphans) {
    todo.unshift(
      `# ${note(`TODO: ${c.nullRows} row(s) with NULL ${tenantColumn} that no backfill source places and nothing marks as shared (no CHECK on ${tenantColumn} IS NULL, no references from several tenants, no per-tenant overrides): give them a tenant (backfill --assign-orphans-to ID, or by hand) before migrate validates; if they are shared by design, add shared_rows: true`)}`,
    );
  }
  const lines = [`  # ${note(c.why)}${c.tenantNotNull ? note(`, NOT NULL already (nothing to backfill)`) : c.nullRows > 0 && !c.sharedRows ? note(`; ${c.nullRows} row(s) with NULL ${tenantColumn}`) : ''}`];
  if (body.length === 0 && todo.length === 0) {
    lines.push(`  ${key(name)}: {}`);
  } else {
    // With only TODO lines the entry reads as null (a scoped table with nothing to add): uncommenting them just works.
    lines.push(`  ${key(name)}:`);
    lines.push(...[...body, ...todo].map((l) => `    ${l}`));
  }
  return lines;
}

/** Renders a draft as commented YAML, ready for review. */
export function renderDraft(draft: ManifestDraft): string {
  const lines: string[] = [];
  lines.push('# tenancy.yaml drafted by `crm-tenancy init`. Review every line before relying on it:');
  lines.push('# each table says why it was classified so, and every exempt table needs a real reason.');
  lines.push(`schema: ${key(draft.schema)}`);
  lines.push('tenant:');
  lines.push(`  table: ${key(draft.tenantTable)}          # ${note(draft.tenantWhy)}`);
  lines.push(`  key: ${key(draft.tenantKey)}                # type ${note(draft.tenantType)}`);
  lines.push(`  column: ${key(draft.tenantColumn)}`);
  lines.push(`  setting: ${key(draft.setting)}   # what the application sets per transaction`);
  if (draft.compositeForeignKeys > 0) {
    const n = draft.compositeForeignKeys;
    lines.push(`  composite_keys: true   # makes ${n} foreign key${n === 1 ? '' : 's'} between scoped tables tenant-safe: (tenant, x_id) → (tenant, id)`);
  }
  lines.push('roles:');
  if (draft.appRoles.length > 0) {
    lines.push(`  app: [${draft.appRoles.map(key).join(', ')}]   # roles holding table privileges; keep those the application uses`);
  } else {
    lines.push('  app: [app_user]   # TODO: the role(s) your application connects as');
  }
  lines.push('tables:');
  for (const t of draft.tables) {
    if (t.classification.kind === 'scoped') lines.push(...scopedLines(t.name, t.classification, draft.tenantColumn));
  }
  const exempt = draft.tables.filter((t) => t.classification.kind === 'exempt');
  // Exempt tables reached through a polymorphic pair: the ready-to-edit entry to scope them instead.
  for (const t of exempt) {
    const c = t.classification as Extract<Classification, { kind: 'exempt' }>;
    if (c.polymorphic.length === 0) continue;
    lines.push(`  # TODO: ${note(t.name)} holds ${c.polymorphic.length === 1 ? 'a polymorphic pair' : 'polymorphic pairs'}; to scope it through ${c.polymorphic.length === 1 ? 'it' : 'them'}, check the targets, uncomment, and remove it from exempt:`);
    lines.push(`  # ${key(t.name)}:`);
    for (const p of c.polymorphic) {
      lines.push(`  #   # ${polymorphicNote(p)}`);
      lines.push(`  #   polymorphic: [${polymorphicEntry(p)}]`);
    }
  }
  if (exempt.length > 0) {
    lines.push('exempt:');
    for (const t of exempt) {
      const c = t.classification as Extract<Classification, { kind: 'exempt' }>;
      lines.push(`  # ${note(c.why)}`);
      lines.push(`  ${key(t.name)}: "TODO: reason"`);
    }
  }
  return `${lines.join('\n')}\n`;
}
