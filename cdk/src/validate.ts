// Synth-time checks of literal values, worded as the provider words its FAILED reasons
// (src/properties.rs, src/filter.rs): a value that would fail the stack operation fails `cdk synth`
// instead. Tokens are left alone; the provider checks them when CloudFormation sends them.

import { Token } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** `ValueList` in the service model: min 1, max 20. */
export const MAX_VALUES = 20;
/** Keys the service rejects in archive rules. */
export const FORBIDDEN_KEYS = ['status', 'id'];
/** Lambda's own limit: no wait can outlast a 15-minute invocation. */
export const MAX_ARCHIVE_TIMEOUT_SECONDS = 900;

/** The provider's `PropertyError`, `property <path> <problem>`, behind its "invalid" prefix. */
export function fail(scope: IConstruct, property: string, problem: string): never {
  throw new Error(`invalid property ${property} ${problem} (in ${scope.node.path})`);
}

/** Rust's `{:?}` of a string, which the provider uses to quote names. */
export function quote(value: string): string {
  return JSON.stringify(value);
}

/** How the provider shows a number it received: CloudFormation sends every scalar as a string. */
function describeNumber(value: number): string {
  return quote(String(value));
}

const NAME_REST = /^[A-Za-z0-9_.-]*$/;

function checkName(scope: IConstruct, property: string, what: string, name: string, firstOk: RegExp) {
  if (Token.isUnresolved(name)) {
    return;
  }
  if (name === '') {
    fail(scope, property, 'must be a non-empty string, got ""');
  }
  const length = [...name].length;
  if (length < 1 || length > 255 || !firstOk.test(name.charAt(0)) || !NAME_REST.test(name.slice(1))) {
    const first = what === 'analyzer name' ? 'starting with a letter or _' : 'starting with a letter';
    fail(scope, property, `${quote(name)} is not a valid ${what} (1-255 characters, letters, digits, _ . -, ${first})`);
  }
}

/** The service's rule `Name` shape: 1–255 characters of `[A-Za-z][A-Za-z0-9_.-]*`. */
export function checkRuleName(scope: IConstruct, property: string, name: string): void {
  checkName(scope, property, 'rule name', name, /^[A-Za-z]$/);
}

/** The service's `AnalyzerName` shape: `[A-Za-z_][A-Za-z0-9_.-]*` (service-linked ones start with `_`). */
export function checkAnalyzerName(scope: IConstruct, property: string, name: string): void {
  checkName(scope, property, 'analyzer name', name, /^[A-Za-z_]$/);
}

// arn:<partition>:access-analyzer:<region>:<12-digit account>:analyzer/<name> (src/arn.rs).
const ANALYZER_ARN = /^arn:[^:]+:access-analyzer:[^:]+:[0-9]{12}:analyzer\/([^/]+)$/;

/** An analyzer ARN's shape, then its name's. */
export function checkAnalyzerArn(scope: IConstruct, arn: string): void {
  if (Token.isUnresolved(arn)) {
    return;
  }
  if (arn === '') {
    fail(scope, 'AnalyzerArn', 'must be a non-empty string, got ""');
  }
  const match = ANALYZER_ARN.exec(arn);
  if (!match) {
    fail(scope, 'AnalyzerArn',
      `${quote(arn)} is not an analyzer ARN (arn:<partition>:access-analyzer:<region>:<account>:analyzer/<name>)`);
  }
  checkAnalyzerName(scope, 'AnalyzerArn', match[1]);
}

/** A whole number in `min..=max` (`max` undefined: no upper bound), as `parse_u64_in` words it. */
export function checkWholeNumber(scope: IConstruct, property: string, value: number, min: number, max?: number): void {
  if (Token.isUnresolved(value)) {
    return;
  }
  if (!Number.isInteger(value) || value < min || (max !== undefined && value > max)) {
    const range = max === undefined ? `a whole number of at least ${min}` : `a whole number from ${min} to ${max}`;
    fail(scope, property, `must be ${range}, got ${describeNumber(value)}`);
  }
}

/** `Eq`, `Neq` and `Contains`: 1–20 values, none empty. */
export function checkValues(scope: IConstruct, path: string, values: string[]): void {
  if (Token.isUnresolved(values)) {
    return;
  }
  if (values.length < 1 || values.length > MAX_VALUES) {
    fail(scope, path, `must hold 1 to ${MAX_VALUES} values, got ${values.length}`);
  }
  values.forEach((value, i) => {
    if (!Token.isUnresolved(value) && value === '') {
      fail(scope, `${path}[${i}]`, 'must not be empty');
    }
  });
}

/** A filter key: non-empty, and not one the service refuses in archive rules. */
export function checkFilterKey(scope: IConstruct, key: string): void {
  if (Token.isUnresolved(key)) {
    return;
  }
  const path = `Filter.${key}`;
  if (key === '') {
    fail(scope, path, 'has an empty filter key');
  }
  if (FORBIDDEN_KEYS.includes(key)) {
    fail(scope, path, `filter key \`${key}\` is not allowed in archive rules`);
  }
}

/** `RuleNames`: at least one, each a rule name, none twice. */
export function checkRuleNames(scope: IConstruct, names: string[]): void {
  if (names.length === 0) {
    fail(scope, 'RuleNames', 'must name at least one rule; leave it out to apply every rule of the analyzer');
  }
  const seen = new Set<string>();
  names.forEach((name, i) => {
    const path = `RuleNames[${i}]`;
    checkRuleName(scope, path, name);
    if (!Token.isUnresolved(name)) {
      if (seen.has(name)) {
        fail(scope, path, `${quote(name)} is listed twice`);
      }
      seen.add(name);
    }
  });
}
