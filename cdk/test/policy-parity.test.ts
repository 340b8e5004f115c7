// cfn/provider.yaml and the constructs declare the same roles and functions: both templates are
// evaluated for the same parameters and compared by the values CloudFormation would deploy.

import * as path from 'path';
import { Template } from 'aws-cdk-lib/assertions';
import { ArchiveRuleProvider } from '../src';
import { Environment, Evaluator, readYamlTemplate } from './cfn-eval';
import { logicalId, newStack, placeholderCode } from './util';

const PROVIDER_YAML = path.join(__dirname, '..', '..', 'cfn', 'provider.yaml');
const ENV: Environment = { partition: 'aws', region: 'eu-west-1', account: '111122223333', stackName: 'provider' };
const OWN_LOG_GROUP = '<the function own log group>';

interface Statement {
  readonly sid: string;
  readonly effect: string;
  readonly actions: string[];
  readonly resources: string[];
}

const asList = (value: any): any[] => (Array.isArray(value) ? value : [value]);

/** The role of `functionId` as deployed: its trust policy, managed policies and every statement. */
function roleOf(template: any, evaluator: Evaluator, functionId: string) {
  const fn = evaluator.evaluate(template.Resources[functionId]);
  const roleId = /^getatt:(.+)\.Arn$/.exec(fn.Properties.Role)![1];
  const logGroupId = /^ref:(.+)$/.exec(fn.Properties.LoggingConfig.LogGroup)![1];
  const role = evaluator.evaluate(template.Resources[roleId]);
  const documents = (role.Properties.Policies ?? []).map((p: any) => p.PolicyDocument);
  // Policies attached to the role from outside it count too.
  for (const resource of Object.values<any>(template.Resources)) {
    if (resource.Type === 'AWS::IAM::Policy') {
      const policy = evaluator.evaluate(resource);
      if (asList(policy.Properties.Roles).includes(`ref:${roleId}`)) {
        documents.push(policy.Properties.PolicyDocument);
      }
    }
  }
  const statements: Statement[] = documents.flatMap((d: any) => d.Statement).map((s: any) => ({
    sid: s.Sid,
    effect: s.Effect,
    actions: asList(s.Action).sort(),
    resources: asList(s.Resource).map((r: string) => (r === `getatt:${logGroupId}.Arn` ? OWN_LOG_GROUP : r)).sort(),
  }));
  statements.sort((a, b) => a.sid.localeCompare(b.sid));
  return {
    trust: role.Properties.AssumeRolePolicyDocument.Statement,
    managedPolicies: role.Properties.ManagedPolicyArns ?? [],
    statements,
  };
}

function cfnProvider(parameters: { [name: string]: string }) {
  const template = readYamlTemplate(PROVIDER_YAML);
  const evaluator = new Evaluator(template, { ...ENV, parameters: { CodeBucketPrefix: 'code', CodeKey: 'k.zip', ...parameters } });
  return { template, evaluator, functionId: 'ProviderFunction' };
}

function cdkProvider(analyzerNames: string[] | undefined) {
  const stack = newStack();
  const provider = ArchiveRuleProvider.of(stack, { code: placeholderCode(), analyzerNames });
  const template = Template.fromStack(stack).toJSON();
  return { template, evaluator: new Evaluator(template, ENV), functionId: logicalId(provider.function) };
}

const NARROWINGS: Array<[string, string[] | undefined]> = [
  ['', undefined],
  ['main', ['main']],
  ['main,unused-access,_service.linked', ['main', 'unused-access', '_service.linked']],
  ['a,b,c,d,e', ['a', 'b', 'c', 'd', 'e']],
];

describe('the provider role is the one cfn/provider.yaml declares', () => {
  test.each(NARROWINGS)('AnalyzerNames %j', (parameter, analyzerNames) => {
    const cfn = cfnProvider({ AnalyzerNames: parameter });
    const cdk = cdkProvider(analyzerNames);

    const expected = roleOf(cfn.template, cfn.evaluator, cfn.functionId);
    const actual = roleOf(cdk.template, cdk.evaluator, cdk.functionId);

    expect(actual).toEqual(expected);
    // Guard the comparison itself: it compared real statements, ARNs of this account and region.
    expect(expected.statements.map((s) => s.sid)).toEqual(['Analyzers', 'ArchiveRules', 'Logs']);
    const names = analyzerNames ?? ['*'];
    expect(expected.statements[0].resources).toEqual(
      names.map((n) => `arn:aws:access-analyzer:eu-west-1:111122223333:analyzer/${n}`).sort());
  });
});

describe('the provider function is the one cfn/provider.yaml declares', () => {
  const FIELDS = ['Runtime', 'Architectures', 'Handler', 'Timeout', 'MemorySize', 'FunctionName', 'Environment'];

  test.each(NARROWINGS)('AnalyzerNames %j', (parameter, analyzerNames) => {
    const cfn = cfnProvider({ AnalyzerNames: parameter });
    const cdk = cdkProvider(analyzerNames);
    const pick = (t: typeof cfn) => {
      const fn = t.evaluator.evaluate(t.template.Resources[t.functionId]).Properties;
      const logGroupId = /^ref:(.+)$/.exec(fn.LoggingConfig.LogGroup)![1];
      const logGroup = t.evaluator.evaluate(t.template.Resources[logGroupId]);
      return {
        function: Object.fromEntries(FIELDS.map((f) => [f, fn[f]])),
        logFormat: fn.LoggingConfig.LogFormat,
        logGroup: {
          name: logGroup.Properties.LogGroupName,
          retention: Number(logGroup.Properties.RetentionInDays),
          deletionPolicy: logGroup.DeletionPolicy,
        },
      };
    };
    const expected = pick(cfn);
    expected.function.MemorySize = Number(expected.function.MemorySize);
    expect(pick(cdk)).toEqual(expected);
  });
});
