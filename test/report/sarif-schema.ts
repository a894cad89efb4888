// The SARIF 2.1.0 schema (sarif-schema-2.1.0.json, OASIS) for the objects crm-tenancy writes: every
// property the schema requires, the types and enums it fixes, its `additionalProperties: false` (each
// object's full list of allowed properties, from the schema), and the rules GitHub code scanning adds
// (artifact URIs relative to the repository, help text on each rule). Not a general JSON Schema validator.
import { z } from 'zod';

/** An object of the schema: `shape` checked, any other key must be one the schema allows (`others`). */
function closed<T extends z.ZodRawShape>(shape: T, others: string[] = []) {
  return z.looseObject(shape).superRefine((value, ctx) => {
    for (const key of Object.keys(value)) {
      if (!(key in shape) && !others.includes(key) && key !== 'properties') ctx.addIssue({ code: 'custom', path: [key], message: 'is not a property of this SARIF object' });
    }
  });
}

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
const message = closed({ text: z.string().optional(), id: z.string().optional() }, ['markdown', 'arguments']).refine((m) => m.text !== undefined || m.id !== undefined, 'message needs text or id');
/** §3.12 multiformatMessageString: text is required. */
const multiformat = closed({ text: z.string(), markdown: z.string().optional() });
const level = z.enum(['none', 'note', 'warning', 'error']);
const propertyBag = z.object({ tags: z.array(z.string()).optional() }).refine((p) => !p.tags || new Set(p.tags).size === p.tags.length, 'tags must be unique');

const region = closed(
  {
    startLine: z.number().int().min(1).optional(),
    startColumn: z.number().int().min(1).optional(),
    endLine: z.number().int().min(1).optional(),
    endColumn: z.number().int().min(1).optional(),
  },
  ['charOffset', 'charLength', 'byteOffset', 'byteLength', 'snippet', 'message', 'sourceLanguage'],
);
const artifactLocation = closed({ uri: relativeUri, uriBaseId: z.string().optional() }, ['index', 'description']);
const physicalLocation = closed({ artifactLocation, region: region.optional() }, ['address', 'contextRegion']);
const logicalLocation = closed({ name: z.string().optional(), fullyQualifiedName: z.string().optional(), kind: z.string().optional() }, ['index', 'decoratedName', 'parentIndex']);
const location = closed({ physicalLocation: physicalLocation.optional(), logicalLocations: z.array(logicalLocation).optional() }, ['id', 'message', 'annotations', 'relationships']);

/** §3.49 reportingDescriptor: id is required; GitHub shows help and links helpUri. */
const reportingDescriptor = closed(
  {
    id: z.string().min(1),
    name: z.string().optional(),
    shortDescription: multiformat.optional(),
    fullDescription: multiformat.optional(),
    help: multiformat,
    helpUri: uri.optional(),
    defaultConfiguration: closed({ level: level.optional() }, ['enabled', 'rank', 'parameters']).optional(),
    properties: propertyBag.optional(),
  },
  ['deprecatedIds', 'guid', 'deprecatedGuids', 'deprecatedNames', 'messageStrings', 'relationships'],
);

/** §3.27 result: message is required. */
const result = closed(
  {
    ruleId: z.string().optional(),
    ruleIndex: z.number().int().min(-1).optional(),
    level: level.optional(),
    message,
    locations: z.array(location).min(1).max(10),
    partialFingerprints: z.record(z.string(), z.string()).optional(),
    suppressions: z.array(closed({ kind: z.enum(['inSource', 'external']), justification: z.string().optional() }, ['guid', 'status', 'location'])).optional(),
    properties: propertyBag.optional(),
  },
  ['rule', 'kind', 'analysisTarget', 'guid', 'correlationGuid', 'occurrenceCount', 'fingerprints', 'stacks', 'codeFlows', 'graphs', 'graphTraversals', 'relatedLocations', 'baselineState', 'rank', 'attachments', 'hostedViewerUri', 'workItemUris', 'provenance', 'fixes', 'taxa', 'webRequest', 'webResponse'],
);

/** §3.19 toolComponent: name is required. */
const toolComponent = closed(
  {
    name: z.string().min(1),
    version: z.string().optional(),
    informationUri: uri.optional(),
    rules: z.array(reportingDescriptor).optional(),
  },
  ['guid', 'organization', 'product', 'productSuite', 'shortDescription', 'fullDescription', 'fullName', 'semanticVersion', 'dottedQuadFileVersion', 'releaseDateUtc', 'downloadUri', 'globalMessageStrings', 'notifications', 'taxa', 'locations', 'language', 'contents', 'isComprehensive', 'localizedDataSemanticVersion', 'minimumRequiredLocalizedDataSemanticVersion', 'associatedComponent', 'translationMetadata', 'supportedTaxonomies'],
);

/** §3.14 run: tool is required. §3.13 sarifLog: version and runs are required. */
export const sarifLog = closed(
  {
    $schema: uri.optional(),
    version: z.literal('2.1.0'),
    runs: z.array(
      closed(
        { tool: closed({ driver: toolComponent }, ['extensions']), results: z.array(result).optional() },
        ['invocations', 'conversion', 'language', 'versionControlProvenance', 'originalUriBaseIds', 'artifacts', 'logicalLocations', 'graphs', 'automationDetails', 'runAggregates', 'baselineGuid', 'redactionTokens', 'defaultEncoding', 'defaultSourceLanguage', 'newlineSequences', 'columnKind', 'externalPropertyFileReferences', 'threadFlowLocations', 'taxonomies', 'addresses', 'translations', 'policies', 'webRequests', 'webResponses', 'specialLocations'],
      ).superRefine((run, ctx) => {
        // ruleIndex, when given, points at the rule with the same id.
        for (const [i, r] of (run.results ?? []).entries()) {
          if (r.ruleIndex !== undefined && run.tool.driver.rules?.[r.ruleIndex]?.id !== r.ruleId) {
            ctx.addIssue({ code: 'custom', path: ['results', i, 'ruleIndex'], message: `does not point at rule ${r.ruleId}` });
          }
        }
      }),
    ),
  },
  ['inlineExternalProperties'],
);

/** Problems of a SARIF document, one line each; empty when it has the 2.1.0 shape. */
export function sarifProblems(doc: unknown): string[] {
  const parsed = sarifLog.safeParse(doc);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}
