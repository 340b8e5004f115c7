import { aws_accessanalyzer as accessanalyzer, Duration, Fn, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AnalyzerRef, ApplyArchiveRules } from '../src';
import { logicalId, newStack, onlyResource, stackWithProvider } from './util';

function nativeRule(stack: Stack, id: string, analyzerName: string, ruleName: string) {
  return new accessanalyzer.CfnArchiveRule(stack, id, {
    analyzerName,
    ruleName,
    filter: { resourceType: { eq: ['AWS::IAM::Role'] } },
  });
}

describe('ApplyArchiveRules', () => {
  test('rules declared with CfnArchiveRule are applied by name, after they exist', () => {
    const { stack, provider } = stackWithProvider();
    const a = nativeRule(stack, 'A', 'main', 'vendor-roles');
    const b = nativeRule(stack, 'B', 'main', 'break-glass');
    new ApplyArchiveRules(stack, 'Apply', { rules: [a, b] });

    const { resource } = onlyResource(Template.fromStack(stack), 'Custom::ApplyArchiveRules');
    expect(resource.Properties).toEqual({
      ServiceToken: { 'Fn::GetAtt': [logicalId(provider.function), 'Arn'] },
      ServiceTimeout: '360',
      AnalyzerName: 'main',
      RuleNames: ['vendor-roles', 'break-glass'],
    });
    expect(resource.DependsOn).toEqual([logicalId(a), logicalId(b)]);
  });

  test("the inline rules of a CfnAnalyzer: the analyzer's Ref, and every rule when none is named", () => {
    const { stack } = stackWithProvider();
    const analyzer = new accessanalyzer.CfnAnalyzer(stack, 'Analyzer', {
      type: 'ACCOUNT',
      analyzerName: 'main',
      archiveRules: [{ ruleName: 'inline', filter: [{ property: 'isPublic', eq: ['false'] }] }],
    });
    new ApplyArchiveRules(stack, 'Apply', { analyzer: AnalyzerRef.fromCfnAnalyzer(analyzer) });

    const { resource } = onlyResource(Template.fromStack(stack), 'Custom::ApplyArchiveRules');
    expect(resource.Properties.AnalyzerArn).toEqual({ Ref: logicalId(analyzer) });
    expect(resource.Properties.RuleNames).toBeUndefined();
    expect(resource.Properties.AnalyzerName).toBeUndefined();
  });

  test('plain names and rules together, with every option', () => {
    const { stack } = stackWithProvider();
    const a = nativeRule(stack, 'A', 'main', 'declared');
    new ApplyArchiveRules(stack, 'Apply', {
      analyzer: AnalyzerRef.fromName('main'),
      rules: [a],
      ruleNames: ['made-by-hand'],
      archiveTimeout: Duration.seconds(90),
      maxFindingsToArchive: 500,
      revision: '3',
    });

    Template.fromStack(stack).hasResourceProperties('Custom::ApplyArchiveRules', {
      AnalyzerName: 'main',
      RuleNames: ['declared', 'made-by-hand'],
      ArchiveTimeoutSeconds: 90,
      MaxFindingsToArchive: 500,
      Revision: '3',
    });
  });

  test('an analyzer by ARN, every rule', () => {
    const { stack } = stackWithProvider();
    new ApplyArchiveRules(stack, 'Apply', {
      analyzer: AnalyzerRef.fromArn('arn:aws:access-analyzer:us-east-1:123456789012:analyzer/main'),
    });
    const { resource } = onlyResource(Template.fromStack(stack), 'Custom::ApplyArchiveRules');
    expect(resource.Properties.AnalyzerArn).toBe('arn:aws:access-analyzer:us-east-1:123456789012:analyzer/main');
    expect(resource.Properties.RuleNames).toBeUndefined();
    expect(resource.DependsOn).toBeUndefined();
  });

  test('attributes are Fn::GetAtt of the provider return values', () => {
    const { stack } = stackWithProvider();
    const apply = new ApplyArchiveRules(stack, 'Apply', { analyzer: AnalyzerRef.fromName('main') });
    const id = logicalId(apply);
    for (const [property, attribute] of [
      ['rulesApplied', 'RulesApplied'],
      ['matchedFindings', 'MatchedFindings'],
      ['archivedFindings', 'ArchivedFindings'],
      ['pendingFindings', 'PendingFindings'],
      ['verified', 'Verified'],
    ]) {
      expect(stack.resolve((apply as any)[property])).toEqual({ 'Fn::GetAtt': [id, attribute] });
    }
  });

  test('serviceToken serves it from a provider deployed otherwise', () => {
    const stack = newStack();
    new ApplyArchiveRules(stack, 'Apply', {
      analyzer: AnalyzerRef.fromName('main'),
      serviceToken: Fn.importValue('applied-archive-rule-ServiceToken'),
    });
    Template.fromStack(stack).hasResourceProperties('Custom::ApplyArchiveRules', {
      ServiceToken: { 'Fn::ImportValue': 'applied-archive-rule-ServiceToken' },
    });
  });

  describe('synth-time validation', () => {
    test('an analyzer is needed when no rule says which', () => {
      const { stack } = stackWithProvider();
      expect(() => new ApplyArchiveRules(stack, 'Apply', {})).toThrow(/needs an analyzer: give analyzer, or rules to take it from/);
    });

    test('rules of two analyzers are refused', () => {
      const { stack } = stackWithProvider();
      const a = nativeRule(stack, 'A', 'main', 'a');
      const b = nativeRule(stack, 'B', 'other', 'b');
      expect(() => new ApplyArchiveRules(stack, 'Apply', { rules: [a, b] }))
        .toThrow(/rule TestStack\/B belongs to analyzer "other", not "main"; one ApplyArchiveRules applies the rules of one analyzer/);
    });

    test("a rule of another analyzer than the CfnAnalyzer given is refused", () => {
      const { stack } = stackWithProvider();
      const analyzer = new accessanalyzer.CfnAnalyzer(stack, 'Analyzer', { type: 'ACCOUNT', analyzerName: 'main' });
      const rule = nativeRule(stack, 'A', 'elsewhere', 'a');
      expect(() => new ApplyArchiveRules(stack, 'Apply', { analyzer: AnalyzerRef.fromCfnAnalyzer(analyzer), rules: [rule] }))
        .toThrow(/belongs to analyzer "elsewhere", not "main"/);
    });

    test('a rule named both as a rule and by name is listed twice', () => {
      const { stack } = stackWithProvider();
      const a = nativeRule(stack, 'A', 'main', 'a');
      expect(() => new ApplyArchiveRules(stack, 'Apply', { rules: [a], ruleNames: ['a'] }))
        .toThrow('property RuleNames[1] "a" is listed twice');
    });
  });
});
