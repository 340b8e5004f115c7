import { aws_events as events, aws_kms as kms, aws_sns as sns, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ArchiveRuleProvider, AutoApply } from '../src';
import { accessAnalyzerArn, analyzersStatement, logicalId, newStack, placeholderCode, stackWithProvider } from './util';

function autoApply(props: Partial<ConstructorParameters<typeof AutoApply>[2]> = {}, providerProps = {}) {
  const stack = newStack();
  const provider = ArchiveRuleProvider.of(stack, { code: placeholderCode(), ...providerProps });
  const auto = new AutoApply(stack, 'AutoApply', { provider, maxFindings: 100, ...props });
  return { stack, provider, auto, template: Template.fromStack(stack) };
}

function resourceOf(template: Template, construct: any) {
  return template.toJSON().Resources[logicalId(construct)];
}

const arn = accessAnalyzerArn;

describe('AutoApply', () => {
  test('a second function from the same code, named after the provider, with the environment of SPEC 9.1', () => {
    const { template, provider, auto } = autoApply({ principals: ['arn:aws:iam::*:role/pipeline-*'], reconcileSchedule: undefined });
    const fn = resourceOf(template, auto.function);
    const providerFn = resourceOf(template, provider.function);
    expect(fn.Properties).toEqual(expect.objectContaining({
      FunctionName: 'applied-archive-rule-provider-auto-apply',
      Runtime: 'provided.al2023',
      Architectures: ['arm64'],
      Handler: 'bootstrap',
      Timeout: 300,
      MemorySize: 256,
      Code: providerFn.Properties.Code,
      LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: logicalId(auto.logGroup) } },
    }));
    expect(fn.Properties.Environment.Variables).toEqual({
      APPLIED_ARCHIVE_RULE_AUTO_APPLY: 'true',
      APPLIED_ARCHIVE_RULE_ROLE_ARN: { 'Fn::GetAtt': [logicalId(provider.role), 'Arn'] },
      APPLIED_ARCHIVE_RULE_AUTO_APPLY_PRINCIPALS: 'arn:aws:iam::*:role/pipeline-*',
      APPLIED_ARCHIVE_RULE_AUTO_APPLY_MAX_FINDINGS: '100',
      APPLIED_ARCHIVE_RULE_AUTO_APPLY_WAIT_SECONDS: '60',
      APPLIED_ARCHIVE_RULE_ANALYZERS: '',
    });
    // The CloudFormation provider never acts on EventBridge events.
    expect(providerFn.Properties.Environment.Variables.APPLIED_ARCHIVE_RULE_AUTO_APPLY).toBeUndefined();
  });

  test('principals are comma-separated; an absent guard is empty, as the template leaves it', () => {
    const { template, auto } = autoApply({ maxFindings: undefined, principals: ['arn:aws:iam::111122223333:role/a', 'arn:aws:iam::*:role/b/*'] });
    const variables = resourceOf(template, auto.function).Properties.Environment.Variables;
    expect(variables.APPLIED_ARCHIVE_RULE_AUTO_APPLY_PRINCIPALS).toBe('arn:aws:iam::111122223333:role/a,arn:aws:iam::*:role/b/*');
    expect(variables.APPLIED_ARCHIVE_RULE_AUTO_APPLY_MAX_FINDINGS).toBe('');
    const other = autoApply({ maxFindings: 0 });
    const otherVariables = resourceOf(other.template, other.auto.function).Properties.Environment.Variables;
    expect(otherVariables.APPLIED_ARCHIVE_RULE_AUTO_APPLY_PRINCIPALS).toBe('');
    expect(otherVariables.APPLIED_ARCHIVE_RULE_AUTO_APPLY_MAX_FINDINGS).toBe('0');
  });

  test('waitTime, functionName and analyzerNames are passed on', () => {
    const { template, auto } = autoApply({ waitTime: Duration.minutes(2), functionName: 'aar-auto', analyzerNames: ['main'] });
    const fn = resourceOf(template, auto.function);
    expect(fn.Properties.FunctionName).toBe('aar-auto');
    expect(fn.Properties.Environment.Variables.APPLIED_ARCHIVE_RULE_AUTO_APPLY_WAIT_SECONDS).toBe('120');
    expect(fn.Properties.Environment.Variables.APPLIED_ARCHIVE_RULE_ANALYZERS).toBe('main');
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/aws/lambda/aar-auto', RetentionInDays: 90 });
  });

  test("the provider's settings are the defaults: analyzers, memory, log retention and key, concurrency", () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'Key');
    const provider = ArchiveRuleProvider.of(stack, {
      code: placeholderCode(), analyzerNames: ['main'], memorySize: 512,
      logRetention: 365, logEncryptionKey: key, reservedConcurrentExecutions: 3,
    });
    const auto = new AutoApply(stack, 'AutoApply', { provider, maxFindings: 10 });
    const template = Template.fromStack(stack);
    const fn = resourceOf(template, auto.function);
    expect(fn.Properties.MemorySize).toBe(512);
    expect(fn.Properties.ReservedConcurrentExecutions).toBe(3);
    expect(fn.Properties.Environment.Variables.APPLIED_ARCHIVE_RULE_ANALYZERS).toBe('main');
    expect(resourceOf(template, auto.logGroup).Properties).toEqual(expect.objectContaining({
      RetentionInDays: 365, KmsKeyId: { 'Fn::GetAtt': [logicalId(key), 'Arn'] },
    }));
    const statements = resourceOf(template, auto.role).Properties.Policies[0].PolicyDocument.Statement;
    expect(statements.find((s: any) => s.Sid === 'Analyzers').Resource).toEqual(arn('analyzer/main'));
  });

  test('its role only reads and applies rules, and writes its own logs', () => {
    const { template, auto, provider } = autoApply();
    const role = resourceOf(template, auto.role);
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
    ]);
    const statements = role.Properties.Policies[0].PolicyDocument.Statement;
    expect(statements).toEqual([
      { Sid: 'ArchiveRules', Effect: 'Allow', Action: 'access-analyzer:GetArchiveRule', Resource: arn('analyzer/*/archive-rule/*') },
      analyzersStatement(arn('analyzer/*')),
      { Sid: 'ListAnalyzers', Effect: 'Allow', Action: 'access-analyzer:ListAnalyzers', Resource: '*' },
      {
        Sid: 'Logs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [logicalId(auto.logGroup), 'Arn'] },
      },
    ]);
    const actions = statements.flatMap((s: any) => [].concat(s.Action));
    for (const write of ['CreateArchiveRule', 'UpdateArchiveRule', 'DeleteArchiveRule']) {
      expect(actions).not.toContain(`access-analyzer:${write}`);
    }
    expect(logicalId(auto.role)).not.toBe(logicalId(provider.role));
    template.resourceCountIs('AWS::IAM::Policy', 0);
  });

  test('the EventBridge rule matches successful CreateArchiveRule and UpdateArchiveRule calls, never ApplyArchiveRule', () => {
    const { template, auto } = autoApply();
    const rule = resourceOf(template, auto.eventRule);
    expect(rule.Properties.EventPattern).toEqual({
      'source': ['aws.access-analyzer'],
      'detail-type': ['AWS API Call via CloudTrail'],
      'detail': {
        eventSource: ['access-analyzer.amazonaws.com'],
        eventName: ['CreateArchiveRule', 'UpdateArchiveRule'],
        errorCode: [{ exists: false }],
      },
    });
    expect(rule.Properties.EventBusName).toBeUndefined();
    expect(rule.Properties.State).toBe('ENABLED');
    expect(rule.Properties.Targets).toEqual([
      { Arn: { 'Fn::GetAtt': [logicalId(auto.function), 'Arn'] }, Id: 'Target0' },
    ]);
    expect(auto.scheduleRule).toBeUndefined();
    template.resourceCountIs('AWS::Events::Rule', 1);
  });

  test('the only invoke permission is events.amazonaws.com, scoped by SourceArn to the rule', () => {
    const { template, auto } = autoApply();
    const permissions = Object.values<any>(template.findResources('AWS::Lambda::Permission'));
    expect(permissions.map((p) => p.Properties)).toEqual([{
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [logicalId(auto.function), 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [logicalId(auto.eventRule), 'Arn'] },
    }]);
  });

  test('reconcileSchedule adds a schedule rule on the same function, with its own permission', () => {
    const { template, auto } = autoApply({ reconcileSchedule: events.Schedule.rate(Duration.days(1)) });
    const rule = resourceOf(template, auto.scheduleRule);
    expect(rule.Properties.ScheduleExpression).toBe('rate(1 day)');
    expect(rule.Properties.EventPattern).toBeUndefined();
    expect(rule.Properties.Targets).toEqual([{ Arn: { 'Fn::GetAtt': [logicalId(auto.function), 'Arn'] }, Id: 'Target0' }]);
    const sources = Object.values<any>(template.findResources('AWS::Lambda::Permission')).map((p) => p.Properties.SourceArn);
    expect(sources).toEqual(expect.arrayContaining([{ 'Fn::GetAtt': [logicalId(auto.scheduleRule!), 'Arn'] }]));
    expect(sources).toHaveLength(2);
  });

  test('the EventInvokeConfig keeps the retry defaults and has no destination without a queue', () => {
    const { template, auto } = autoApply();
    expect(auto.failureQueue).toBeUndefined();
    template.resourceCountIs('AWS::SQS::Queue', 0);
    const configs = Object.values<any>(template.findResources('AWS::Lambda::EventInvokeConfig'));
    expect(configs.map((c) => c.Properties)).toEqual([expect.objectContaining({
      MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 21600, Qualifier: '$LATEST',
    })]);
    expect(configs[0].Properties.DestinationConfig).toBeUndefined();
  });

  test('keepFailedEvents makes an encrypted queue the on-failure destination, which only the role may send to', () => {
    const { template, auto } = autoApply({ keepFailedEvents: true, retryAttempts: 1, maxEventAge: Duration.hours(1) });
    const queue = auto.failureQueue!;
    const queueResource = resourceOf(template, queue);
    expect(queueResource.Properties).toEqual({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 1209600 });
    expect(queueResource.DeletionPolicy).toBe('Delete');
    expect(queueResource.Metadata.checkov.skip.map((s: any) => s.id)).toEqual(['CKV_AWS_27']);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(auto.function) },
      MaximumRetryAttempts: 1,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(queue), 'Arn'] } } },
    });
    const policies = resourceOf(template, auto.role).Properties.Policies;
    expect(policies.map((p: any) => p.PolicyName)).toEqual(['applied-archive-rule-auto-apply', 'applied-archive-rule-auto-apply-failed-events']);
    expect(policies[1].PolicyDocument.Statement).toEqual([
      { Sid: 'FailedEvents', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [logicalId(queue), 'Arn'] } },
    ]);
    template.resourceCountIs('AWS::IAM::Policy', 0);
  });

  test('alarmTopic is the alarm action', () => {
    const stack = newStack();
    const provider = ArchiveRuleProvider.of(stack, { code: placeholderCode() });
    const topic = new sns.Topic(stack, 'Alerts');
    const auto = new AutoApply(stack, 'AutoApply', { provider, maxFindings: 10, alarmTopic: topic });
    const alarm = resourceOf(Template.fromStack(stack), auto.refusedAlarm);
    expect(alarm.Properties.AlarmActions).toEqual([{ Ref: logicalId(topic) }]);
  });

  test('the alarm fires on AutoApplyRefused of the whole account, and missing data is not breaching', () => {
    const { template, auto } = autoApply();
    const alarm = resourceOf(template, auto.refusedAlarm);
    expect(alarm.Properties).toEqual(expect.objectContaining({
      Namespace: 'AppliedArchiveRule',
      MetricName: 'AutoApplyRefused',
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    }));
    expect(alarm.Properties.Dimensions).toBeUndefined();
    expect(alarm.Properties.AlarmActions).toBeUndefined();
  });

  test('its log group is its own', () => {
    const { template, auto, provider } = autoApply();
    expect(logicalId(auto.logGroup)).not.toBe(logicalId(provider.logGroup));
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/aws/lambda/applied-archive-rule-provider-auto-apply', RetentionInDays: 90,
    });
  });

  test('in another stack than the provider, the code asset is that stack\'s own', () => {
    const { stack, provider } = stackWithProvider();
    const other = new Stack(stack.node.scope!, 'Other');
    const auto = new AutoApply(other, 'AutoApply', { provider, maxFindings: 5 });
    const template = Template.fromStack(other);
    const fn = resourceOf(template, auto.function);
    expect(fn.Properties.Code.S3Key).toMatch(/^[0-9a-f]{64}\.zip$/);
    expect(fn.Properties.Environment.Variables.APPLIED_ARCHIVE_RULE_ROLE_ARN).toEqual({ 'Fn::ImportValue': expect.stringMatching(/ArchiveRuleProviderRole/) });
  });

  describe('guards, refused at synth as the template Rules refuse them', () => {
    test('at least one of principals and maxFindings', () => {
      expect(() => autoApply({ maxFindings: undefined })).toThrow(/needs a guard: principals .*, maxFindings, or both/);
    });

    test('no schedule together with principals', () => {
      expect(() => autoApply({ principals: ['arn:aws:iam::*:role/ci'], reconcileSchedule: events.Schedule.rate(Duration.days(1)) }))
        .toThrow(/reconcileSchedule cannot be combined with principals \(a scheduled run has no caller to check\)/);
    });

    test('a schedule with maxFindings alone is fine', () => {
      expect(() => autoApply({ reconcileSchedule: events.Schedule.rate(Duration.days(1)) })).not.toThrow();
    });

    test.each([
      [{ principals: [] }, /principals is empty/],
      [{ principals: ['arn:aws:iam::*:role/a,b'] }, /principals\[0\] "arn:aws:iam::\*:role\/a,b" is not an ARN pattern/],
      [{ principals: ['role/ci'] }, /principals\[0\] "role\/ci" is not an ARN pattern \(starting with arn:/],
      [{ maxFindings: 1_000_000_000 }, /maxFindings must be a whole number from 0 to 999999999/],
      [{ maxFindings: -1 }, /maxFindings must be a whole number from 0 to 999999999, got "-1"/],
      [{ waitTime: Duration.minutes(20) }, /must be a whole number from 0 to 900, got "1200"/],
      [{ functionName: 'x'.repeat(70) }, /is not a function name/],
    ])('%j', (props, message) => {
      expect(() => autoApply(props as any)).toThrow(message);
    });
  });
});
