// The constructs refuse at synth time what the provider would refuse, in the provider's words:
// test/validation-cases.json holds the properties and the words, and tests/cdk_contract.rs sends
// the same properties to the provider and finds the same words in its Reason.

import { Duration } from 'aws-cdk-lib';
import { AnalyzerRef, AppliedArchiveRule, ApplyArchiveRules, Criterion } from '../src';
import { stackWithProvider } from './util';
import * as fixture from './validation-cases.json';

interface Case {
  readonly case: string;
  readonly resourceType: string;
  readonly properties: { [key: string]: any };
  readonly message: string;
}

/** The construct props that synthesize `properties`. */
function declare(c: Case): () => unknown {
  const p = c.properties;
  const { stack } = stackWithProvider();
  const analyzer = p.AnalyzerArn !== undefined ? AnalyzerRef.fromArn(p.AnalyzerArn) : AnalyzerRef.fromName(p.AnalyzerName);
  const limits = {
    archiveTimeout: p.ArchiveTimeoutSeconds === undefined ? undefined : Duration.seconds(p.ArchiveTimeoutSeconds),
    maxFindingsToArchive: p.MaxFindingsToArchive,
  };
  if (c.resourceType === 'Custom::ApplyArchiveRules') {
    return () => new ApplyArchiveRules(stack, 'Apply', { analyzer, ruleNames: p.RuleNames, ...limits });
  }
  const filter = Object.fromEntries(Object.entries<any>(p.Filter).map(([key, ops]) => [key, Criterion.of({
    eq: ops.Eq, neq: ops.Neq, contains: ops.Contains, exists: ops.Exists,
  })]));
  return () => new AppliedArchiveRule(stack, 'Rule', { analyzer, ruleName: p.RuleName, filter, ...limits });
}

describe('synth-time validation, in the provider words', () => {
  const cases: Case[] = fixture.cases;

  test('the fixture covers both resource types', () => {
    expect(new Set(cases.map((c) => c.resourceType))).toEqual(new Set(['Custom::AppliedArchiveRule', 'Custom::ApplyArchiveRules']));
  });

  test.each(cases.map((c) => [c.case, c] as const))('%s', (_, c) => {
    expect(declare(c)).toThrow(`invalid ${c.message}`);
  });
});
