// cfn/provider.yaml and the constructs declare the same roles and functions: both templates are
// evaluated for the same parameters and compared by the values CloudFormation would deploy.

import * as path from 'path';
import { aws_events as events, aws_sns as sns, Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ArchiveRuleProvider, AutoApply, AutoApplyProps } from '../src';
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
function roleOf(template: any, evaluator: Evaluator, functionId: string, label: (v: any) => any = (v) => v) {
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
    resources: asList(s.Resource).map((r: string) => (r === `getatt:${logGroupId}.Arn` ? OWN_LOG_GROUP : label(r))).sort(),
  }));
  statements.sort((a, b) => a.sid.localeCompare(b.sid));
  return {
    trust: role.Properties.AssumeRolePolicyDocument.Statement,
    managedPolicies: role.Properties.ManagedPolicyArns ?? [],
    policyNames: (role.Properties.Policies ?? []).map((p: any) => p.PolicyName),
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

/**
 * The auto-apply resources of a template as deployed, with references to its resources named by
 * what they are (the logical ids differ between the two templates).
 */
function autoApplyView(template: any, evaluator: Evaluator) {
  // A resource whose Condition is false is not deployed.
  const deployed = Object.entries<any>(template.Resources)
    .filter(([, r]) => r.Condition === undefined || evaluator.condition(r.Condition))
    .map(([id, r]) => [id, evaluator.evaluate(r)] as const);
  const ofType = (type: string) => deployed.filter(([, r]) => r.Type === type);
  const labels = new Map<string, string>();
  for (const [id, fn] of ofType('AWS::Lambda::Function')) {
    const kind = fn.Properties.Environment.Variables.APPLIED_ARCHIVE_RULE_AUTO_APPLY === 'true' ? 'AutoApply' : 'Provider';
    labels.set(id, `${kind}Function`);
    labels.set(/^getatt:(.+)\.Arn$/.exec(fn.Properties.Role)![1], `${kind}Role`);
    labels.set(/^ref:(.+)$/.exec(fn.Properties.LoggingConfig.LogGroup)![1], `${kind}LogGroup`);
  }
  for (const [id, rule] of ofType('AWS::Events::Rule')) {
    labels.set(id, rule.Properties.EventPattern !== undefined ? 'EventRule' : 'ScheduleRule');
  }
  for (const [id] of ofType('AWS::SQS::Queue')) {
    labels.set(id, 'FailureQueue');
  }
  const label = (value: any): any => JSON.parse(JSON.stringify(value ?? null), (_, v) => {
    const m = typeof v === 'string' ? /^(ref|getatt):([^.]+)(\..+)?$/.exec(v) : null;
    return m ? `${m[1]}:${labels.get(m[2]) ?? m[2]}${m[3] ?? ''}` : v;
  });
  const byLabel = (name: string) => deployed.find(([id]) => labels.get(id) === name)?.[1];
  const autoFunctionId = [...labels].find(([, l]) => l === 'AutoApplyFunction')![0];
  const fn = byLabel('AutoApplyFunction').Properties;
  const logGroup = byLabel('AutoApplyLogGroup');
  const queue = byLabel('FailureQueue');
  const [, invokeConfig] = ofType('AWS::Lambda::EventInvokeConfig')[0];
  const [, alarm] = ofType('AWS::CloudWatch::Alarm')[0];
  const { AlarmDescription: _, ...alarmProperties } = alarm.Properties;
  return label({
    role: roleOf(template, evaluator, autoFunctionId, label),
    function: {
      ...Object.fromEntries(['FunctionName', 'Runtime', 'Architectures', 'Handler', 'Timeout', 'Environment',
        'ReservedConcurrentExecutions', 'CodeSigningConfigArn'].map((f) => [f, fn[f]])),
      MemorySize: Number(fn.MemorySize),
      LogFormat: fn.LoggingConfig.LogFormat,
    },
    logGroup: {
      name: logGroup.Properties.LogGroupName,
      retention: Number(logGroup.Properties.RetentionInDays),
      key: logGroup.Properties.KmsKeyId,
      deletionPolicy: logGroup.DeletionPolicy,
    },
    rules: ofType('AWS::Events::Rule').map(([id, r]) => ({
      rule: labels.get(id),
      pattern: r.Properties.EventPattern,
      schedule: r.Properties.ScheduleExpression,
      bus: r.Properties.EventBusName ?? 'default',
      state: r.Properties.State,
      targets: r.Properties.Targets.map((t: any) => t.Arn),
    })).sort((a, b) => a.rule!.localeCompare(b.rule!)),
    permissions: ofType('AWS::Lambda::Permission').map(([, p]) => p.Properties)
      .sort((a, b) => label(a.SourceArn).localeCompare(label(b.SourceArn))),
    invokeConfig: invokeConfig.Properties,
    queue: queue && { properties: queue.Properties, deletionPolicy: queue.DeletionPolicy },
    alarm: alarmProperties,
  });
}

const TOPIC = 'arn:aws:sns:eu-west-1:111122223333:security-alerts';

describe('AutoApply is the auto-apply of cfn/provider.yaml', () => {
  const cases: Array<[string, { [name: string]: string }, Partial<AutoApplyProps>, string[] | undefined]> = [
    ['a finding limit', { AutoApplyMaxFindings: '100' }, { maxFindings: 100 }, undefined],
    [
      'principals, a queue for failed events, an alarm topic, named analyzers',
      {
        AutoApplyPrincipals: 'arn:aws:iam::*:role/pipeline-*,arn:aws:iam::111122223333:role/ci',
        AutoApplyKeepFailedEvents: 'true',
        AutoApplyAlarmTopicArn: TOPIC,
        AnalyzerNames: 'main,unused-access',
      },
      { principals: ['arn:aws:iam::*:role/pipeline-*', 'arn:aws:iam::111122223333:role/ci'], keepFailedEvents: true },
      ['main', 'unused-access'],
    ],
    ['a reconcile schedule', { AutoApplyMaxFindings: '0', ReconcileSchedule: 'rate(1 day)' },
      { maxFindings: 0, reconcileSchedule: events.Schedule.rate(Duration.days(1)) }, undefined],
  ];

  test.each(cases)('%s', (_, parameters, props, analyzerNames) => {
    const cfn = cfnProvider({ AutoApply: 'true', ...parameters });
    const stack = newStack();
    const provider = ArchiveRuleProvider.of(stack, { code: placeholderCode(), analyzerNames });
    const alarmTopic = parameters.AutoApplyAlarmTopicArn === undefined
      ? undefined : sns.Topic.fromTopicArn(stack, 'Topic', parameters.AutoApplyAlarmTopicArn);
    new AutoApply(stack, 'AutoApply', { provider, alarmTopic, ...props });
    const cdkTemplate = Template.fromStack(stack).toJSON();

    const expected = autoApplyView(cfn.template, cfn.evaluator);
    expect(autoApplyView(cdkTemplate, new Evaluator(cdkTemplate, ENV))).toEqual(expected);
    // Guard the comparison itself: it compared the auto-apply role and function.
    expect(expected.role.statements.map((s: Statement) => s.sid)).toEqual(
      expect.arrayContaining(['Analyzers', 'ArchiveRules', 'ListAnalyzers', 'Logs']));
    expect(expected.function.FunctionName).toBe('applied-archive-rule-provider-auto-apply');
    expect(expected.function.Environment.Variables.APPLIED_ARCHIVE_RULE_ROLE_ARN).toBe('getatt:ProviderRole.Arn');
  });
});
