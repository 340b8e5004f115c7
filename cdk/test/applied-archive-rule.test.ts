import { aws_accessanalyzer as accessanalyzer, CfnParameter, Duration, Fn, Token } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AnalyzerRef, AppliedArchiveRule, ArchiveRuleProvider, Criterion } from '../src';
import { logicalId, newStack, onlyResource, placeholderCode, stackWithProvider } from './util';

const ROLES = { resourceType: Criterion.eq(['AWS::IAM::Role']) };

describe('AppliedArchiveRule', () => {
  test('declares Custom::AppliedArchiveRule with the required properties only, served by the stack provider', () => {
    const { stack, provider } = stackWithProvider();
    new AppliedArchiveRule(stack, 'Rule', {
      analyzer: AnalyzerRef.fromName('main'),
      ruleName: 'vendor-roles',
      filter: ROLES,
    });

    const { resource } = onlyResource(Template.fromStack(stack), 'Custom::AppliedArchiveRule');
    expect(resource.Properties).toEqual({
      ServiceToken: { 'Fn::GetAtt': [logicalId(provider.function), 'Arn'] },
      ServiceTimeout: '360',
      AnalyzerName: 'main',
      RuleName: 'vendor-roles',
      Filter: { resourceType: { Eq: ['AWS::IAM::Role'] } },
    });
  });

  test('sends every optional property when set', () => {
    const { stack } = stackWithProvider();
    new AppliedArchiveRule(stack, 'Rule', {
      analyzer: AnalyzerRef.fromName('main'),
      ruleName: 'r',
      filter: ROLES,
      applyToExistingFindings: false,
      archiveTimeout: Duration.minutes(2),
      maxFindingsToArchive: 250,
      adoptExisting: true,
      revision: '2024-10-01',
    });

    Template.fromStack(stack).hasResourceProperties('Custom::AppliedArchiveRule', {
      ApplyToExistingFindings: false,
      ArchiveTimeoutSeconds: 120,
      MaxFindingsToArchive: 250,
      AdoptExisting: true,
      Revision: '2024-10-01',
    });
  });

  test('zero is a value, not an absent one', () => {
    const { stack } = stackWithProvider();
    new AppliedArchiveRule(stack, 'Rule', {
      analyzer: AnalyzerRef.fromName('main'),
      ruleName: 'r',
      filter: ROLES,
      archiveTimeout: Duration.seconds(0),
      maxFindingsToArchive: 0,
    });

    Template.fromStack(stack).hasResourceProperties('Custom::AppliedArchiveRule', {
      ArchiveTimeoutSeconds: 0,
      MaxFindingsToArchive: 0,
    });
  });

  test('the custom resource waits longer than the provider function may run', () => {
    const { stack, provider } = stackWithProvider();
    new AppliedArchiveRule(stack, 'Rule', { analyzer: AnalyzerRef.fromName('main'), ruleName: 'r', filter: ROLES });

    const { resource } = onlyResource(Template.fromStack(stack), 'Custom::AppliedArchiveRule');
    expect(Number(resource.Properties.ServiceTimeout)).toBeGreaterThan(provider.timeout.toSeconds());
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', { Timeout: provider.timeout.toSeconds() });
  });

  test('the filter renders in the map shape with every operator', () => {
    const { stack } = stackWithProvider();
    new AppliedArchiveRule(stack, 'Rule', {
      analyzer: AnalyzerRef.fromName('main'),
      ruleName: 'r',
      filter: {
        'resourceType': Criterion.eq(['AWS::S3::Bucket', 'AWS::KMS::Key']),
        'principal.AWS': Criterion.neq(['*']),
        'resource': Criterion.contains(['reports']),
        'isPublic': Criterion.exists(true),
        'condition.aws:SourceAccount': Criterion.of({ eq: ['111122223333'], exists: true }),
      },
    });

    Template.fromStack(stack).hasResourceProperties('Custom::AppliedArchiveRule', {
      Filter: {
        'resourceType': { Eq: ['AWS::S3::Bucket', 'AWS::KMS::Key'] },
        'principal.AWS': { Neq: ['*'] },
        'resource': { Contains: ['reports'] },
        'isPublic': { Exists: true },
        'condition.aws:SourceAccount': { Eq: ['111122223333'], Exists: true },
      },
    });
  });

  test('Criterion.exists(false) is kept', () => {
    const { stack } = stackWithProvider();
    new AppliedArchiveRule(stack, 'Rule', {
      analyzer: AnalyzerRef.fromName('main'), ruleName: 'r', filter: { 'error': Criterion.exists(false) },
    });
    Template.fromStack(stack).hasResourceProperties('Custom::AppliedArchiveRule', {
      Filter: { error: { Exists: false } },
    });
  });

  test('attributes are Fn::GetAtt of the provider return values', () => {
    const { stack } = stackWithProvider();
    const rule = new AppliedArchiveRule(stack, 'Rule', {
      analyzer: AnalyzerRef.fromName('main'), ruleName: 'r', filter: ROLES,
    });
    const id = logicalId(rule);
    const attributes = {
      arn: 'Arn',
      matchedFindings: 'MatchedFindings',
      archivedFindings: 'ArchivedFindings',
      pendingFindings: 'PendingFindings',
      verified: 'Verified',
    } as const;
    for (const [property, attribute] of Object.entries(attributes)) {
      expect(stack.resolve((rule as any)[property])).toEqual({ 'Fn::GetAtt': [id, attribute] });
    }
  });

  describe('analyzer', () => {
    test('fromArn sends AnalyzerArn', () => {
      const { stack } = stackWithProvider();
      new AppliedArchiveRule(stack, 'Rule', {
        analyzer: AnalyzerRef.fromArn('arn:aws:access-analyzer:us-east-1:123456789012:analyzer/main'),
        ruleName: 'r',
        filter: ROLES,
      });
      const { resource } = onlyResource(Template.fromStack(stack), 'Custom::AppliedArchiveRule');
      expect(resource.Properties.AnalyzerArn).toBe('arn:aws:access-analyzer:us-east-1:123456789012:analyzer/main');
      expect(resource.Properties.AnalyzerName).toBeUndefined();
    });

    test('fromCfnAnalyzer sends the analyzer Ref (its ARN), so CloudFormation orders the two', () => {
      const { stack } = stackWithProvider();
      const analyzer = new accessanalyzer.CfnAnalyzer(stack, 'Analyzer', { type: 'ACCOUNT', analyzerName: 'main' });
      const ref = AnalyzerRef.fromCfnAnalyzer(analyzer);
      new AppliedArchiveRule(stack, 'Rule', { analyzer: ref, ruleName: 'r', filter: ROLES });

      const { resource } = onlyResource(Template.fromStack(stack), 'Custom::AppliedArchiveRule');
      expect(resource.Properties.AnalyzerArn).toEqual({ Ref: logicalId(analyzer) });
      expect(resource.Properties.AnalyzerName).toBeUndefined();
      expect(ref.cfnAnalyzer).toBe(analyzer);
    });

    test('a token name is sent as given, unchecked', () => {
      const { stack } = stackWithProvider();
      const name = new CfnParameter(stack, 'AnalyzerName');
      new AppliedArchiveRule(stack, 'Rule', {
        analyzer: AnalyzerRef.fromName(name.valueAsString), ruleName: 'r', filter: ROLES,
      });
      Template.fromStack(stack).hasResourceProperties('Custom::AppliedArchiveRule', {
        AnalyzerName: { Ref: 'AnalyzerName' },
      });
    });
  });

  describe('provider', () => {
    test('an explicit provider serves the rule', () => {
      const { stack, provider } = stackWithProvider();
      new AppliedArchiveRule(stack, 'Rule', {
        analyzer: AnalyzerRef.fromName('main'), ruleName: 'r', filter: ROLES, provider,
      });
      Template.fromStack(stack).hasResourceProperties('Custom::AppliedArchiveRule', {
        ServiceToken: { 'Fn::GetAtt': [logicalId(provider.function), 'Arn'] },
      });
    });

    test("serviceToken names a provider deployed by cfn/provider.yaml, and no function is made", () => {
      const stack = newStack();
      new AppliedArchiveRule(stack, 'Rule', {
        analyzer: AnalyzerRef.fromName('main'),
        ruleName: 'r',
        filter: ROLES,
        serviceToken: Fn.importValue('applied-archive-rule-ServiceToken'),
      });
      const template = Template.fromStack(stack);
      template.hasResourceProperties('Custom::AppliedArchiveRule', {
        ServiceToken: { 'Fn::ImportValue': 'applied-archive-rule-ServiceToken' },
        ServiceTimeout: '360',
      });
      template.resourceCountIs('AWS::Lambda::Function', 0);
    });

    test('a stack without a provider says how to make one', () => {
      const stack = newStack();
      expect(() => new AppliedArchiveRule(stack, 'Rule', {
        analyzer: AnalyzerRef.fromName('main'), ruleName: 'r', filter: ROLES,
      })).toThrow(/has no ArchiveRuleProvider yet; create it with ArchiveRuleProvider.of/);
    });

    test('provider and serviceToken together are refused', () => {
      const { stack, provider } = stackWithProvider();
      expect(() => new AppliedArchiveRule(stack, 'Rule', {
        analyzer: AnalyzerRef.fromName('main'), ruleName: 'r', filter: ROLES, provider, serviceToken: 'arn:x',
      })).toThrow(/give provider or serviceToken, not both/);
    });

    test('rules of one stack share one provider', () => {
      const stack = newStack();
      ArchiveRuleProvider.of(stack, { code: placeholderCode() });
      for (const name of ['a', 'b', 'c']) {
        new AppliedArchiveRule(stack, name, { analyzer: AnalyzerRef.fromName('main'), ruleName: name, filter: ROLES });
      }
      const template = Template.fromStack(stack);
      template.resourceCountIs('Custom::AppliedArchiveRule', 3);
      template.resourceCountIs('AWS::Lambda::Function', 1);
    });
  });

  describe('synth-time validation (the messages: validation-cases.test.ts)', () => {
    function declare(props: Partial<ConstructorParameters<typeof AppliedArchiveRule>[2]>) {
      const { stack } = stackWithProvider();
      return () => new AppliedArchiveRule(stack, 'Rule', {
        analyzer: AnalyzerRef.fromName('main'), ruleName: 'r', filter: ROLES, ...props,
      });
    }

    test('a 255-character rule name is valid', () => {
      expect(declare({ ruleName: 'R' + 'r.-_9'.repeat(50) + 'abcd' })).not.toThrow();
    });

    test('a service-linked analyzer name (leading _) is valid', () => {
      expect(declare({ analyzer: AnalyzerRef.fromName('_service.linked') })).not.toThrow();
    });

    test('twenty values are valid', () => {
      expect(declare({ filter: { resource: Criterion.eq(Array.from({ length: 20 }, (_, i) => `v${i}`)) } })).not.toThrow();
    });

    test('the largest archive timeout is valid', () => {
      expect(declare({ archiveTimeout: Duration.minutes(15) })).not.toThrow();
    });

    test('a Duration in minutes counts in seconds', () => {
      expect(declare({ archiveTimeout: Duration.minutes(16) })).toThrow('must be a whole number from 0 to 900, got "960"');
    });

    test('the error names the construct', () => {
      expect(declare({ ruleName: '9rule' })).toThrow(/\(in TestStack\/Rule\)$/);
    });

    test('tokens are left for the provider to check', () => {
      const { stack } = stackWithProvider();
      const name = new CfnParameter(stack, 'RuleName').valueAsString;
      const values = new CfnParameter(stack, 'Values', { type: 'CommaDelimitedList' }).valueAsList;
      const limit = new CfnParameter(stack, 'Limit', { type: 'Number' }).valueAsNumber;
      new AppliedArchiveRule(stack, 'Rule', {
        analyzer: AnalyzerRef.fromName('main'),
        ruleName: name,
        filter: { resourceType: Criterion.eq(values), resource: Criterion.eq([Token.asString({ Ref: 'AWS::AccountId' })]) },
        maxFindingsToArchive: limit,
      });
      Template.fromStack(stack).hasResourceProperties('Custom::AppliedArchiveRule', {
        RuleName: { Ref: 'RuleName' },
        Filter: { resourceType: { Eq: { Ref: 'Values' } }, resource: { Eq: [{ Ref: 'AWS::AccountId' }] } },
        MaxFindingsToArchive: { Ref: 'Limit' },
      });
    });
  });

  test('deleting the stack deletes the rule (no retain policy)', () => {
    const { stack } = stackWithProvider();
    new AppliedArchiveRule(stack, 'Rule', { analyzer: AnalyzerRef.fromName('main'), ruleName: 'r', filter: ROLES });
    Template.fromStack(stack).hasResource('Custom::AppliedArchiveRule', {
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
      Properties: Match.anyValue(),
    });
  });
});
