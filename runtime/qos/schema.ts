// The JSON Schema of the getMetrics answer (docs/metrics.md) and an ajv validator for it.

import Ajv2020 from 'ajv/dist/2020';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020';
import getMetricsSchema from './schema.json';

export { getMetricsSchema };

let compiled: ValidateFunction | undefined;

/** Compiled once on first use: ajv compiles to code, which is the costly part. */
function validator(): ValidateFunction {
  if (!compiled) {
    // union types ("number" | "null") are how the schema says "not measured yet"
    const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
    compiled = ajv.compile(getMetricsSchema);
  }
  return compiled;
}

/** Checks a getMetrics answer; `errors` are ajv's, each with the JSON pointer of the offending field. */
export function validateGetMetrics(obj: unknown): { valid: boolean; errors: ErrorObject[] } {
  const v = validator();
  const valid = v(obj) as boolean;
  return { valid, errors: valid ? [] : [...(v.errors ?? [])] };
}
