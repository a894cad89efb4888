// The SARIF 2.1.0 schema (sarif-schema-2.1.0.json, OASIS) for the objects crm-tenancy writes: every
// property the schema requires, the types and enums it fixes, and the rules GitHub code scanning adds
// (artifact URIs relative to the repository, help text on each rule). Not a full JSON Schema validator:
// unknown properties pass, as in the schema (objects there allow a `properties` bag and extensions).
import { z } from 'zod';

const isAbsoluteUri = (v: string): boolean => {
  try {
    return Boolean(new URL(v).protocol);
  } catch {
    return false;
  }
};
const uri = z.string().refine(isAbsoluteUri, 'must be an absolute URI');
// GitHub code scanning: a repository-relative path (no scheme, no leading slash, no ..), percent-encoded.
const relativeUri = z
  .string()
  .min(1)
  .refine((v) => !/^[a-z][a-z0-9+.-]*:/i.test(v) && !v.startsWith('/') && !v.split('/').includes('..'), 'must be relative to the repository root')
  .refine((v) => !/\s/.test(v), 'must be percent-encoded');

/** §3.11 message: text or id is required. */
const message = z.object({ text: z.string().optional(), id: z.string().optional() }).refine((m) => m.text !== undefined || m.id !== undefined, 'message needs text or id');
/** §3.12 multiformatMessageString: text is required. */
const multiformat = z.object({ text: z.string(), markdown: z.string().optional() });
const level = z.enum(['none', 'note', 'warning', 'error']);
const propertyBag = z.object({ tags: z.array(z.string()).optional() }).refine((p) => !p.tags || new Set(p.tags).size === p.tags.length, 'tags must be unique');

const region = z.object({
  startLine: z.number().int().min(1).optional(),
  startColumn: z.number().int().min(1).optional(),
  endLine: z.number().int().min(1).optional(),
  endColumn: z.number().int().min(1).optional(),
});
const artifactLocation = z.object({ uri: relativeUri, uriBaseId: z.string().optional() });
const physicalLocation = z.object({ artifactLocation, region: region.optional() });
const logicalLocation = z.object({ name: z.string().optional(), fullyQualifiedName: z.string().optional(), kind: z.string().optional() });
const location = z.object({ physicalLocation: physicalLocation.optional(), logicalLocations: z.array(logicalLocation).optional() });

/** §3.49 reportingDescriptor: id is required; GitHub shows help and links helpUri. */
const reportingDescriptor = z.object({
  id: z.string().min(1),
  name: z.string().optional(),
  shortDescription: multiformat.optional(),
  fullDescription: multiformat.optional(),
  help: multiformat,
  helpUri: uri.optional(),
  defaultConfiguration: z.object({ level: level.optional() }).optional(),
  properties: propertyBag.optional(),
});

/** §3.27 result: message is required. */
const result = z.object({
  ruleId: z.string().optional(),
  ruleIndex: z.number().int().min(-1).optional(),
  level: level.optional(),
  message,
  locations: z.array(location).min(1).max(10),
  partialFingerprints: z.record(z.string(), z.string()).optional(),
  suppressions: z.array(z.object({ kind: z.enum(['inSource', 'external']), justification: z.string().optional() })).optional(),
  properties: propertyBag.optional(),
});

/** §3.19 toolComponent: name is required. */
const toolComponent = z.object({
  name: z.string().min(1),
  version: z.string().optional(),
  informationUri: uri.optional(),
  rules: z.array(reportingDescriptor).optional(),
});

/** §3.14 run: tool is required. §3.13 sarifLog: version and runs are required. */
export const sarifLog = z.object({
  $schema: uri.optional(),
  version: z.literal('2.1.0'),
  runs: z.array(
    z
      .object({ tool: z.object({ driver: toolComponent }), results: z.array(result).optional() })
      .superRefine((run, ctx) => {
        // ruleIndex, when given, points at the rule with the same id.
        for (const [i, r] of (run.results ?? []).entries()) {
          if (r.ruleIndex !== undefined && run.tool.driver.rules?.[r.ruleIndex]?.id !== r.ruleId) {
            ctx.addIssue({ code: 'custom', path: ['results', i, 'ruleIndex'], message: `does not point at rule ${r.ruleId}` });
          }
        }
      }),
  ),
});

/** Problems of a SARIF document, one line each; empty when it has the 2.1.0 shape. */
export function sarifProblems(doc: unknown): string[] {
  const parsed = sarifLog.safeParse(doc);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}
