import {
  aws_cloudwatch as cloudwatch,
  aws_cloudwatch_actions as cloudwatchActions,
  aws_events as events,
  aws_events_targets as targets,
  aws_iam as iam,
  aws_kms as kms,
  aws_lambda as lambda,
  aws_logs as logs,
  aws_sns as sns,
  aws_sqs as sqs,
  CfnResource,
  Duration,
  RemovalPolicy,
  Stack,
  Token,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ProviderCode } from './code';
import { autoApplyStatements } from './policy';
import { ArchiveRuleProvider, checkFunctionSettings, providerFunction } from './provider';
import { checkWholeNumber } from './validate';

/** Properties of an {@link AutoApply}. */
export interface AutoApplyProps {
  /**
   * The CloudFormation provider of this account and region. Its role's own calls are skipped (it
   * applies its rules itself), and its code and settings are the defaults here.
   */
  readonly provider: ArchiveRuleProvider;

  /**
   * ARN glob patterns of the callers whose `CreateArchiveRule` / `UpdateArchiveRule` calls are
   * applied (`*` matches any run of characters, `/` included); a caller matching none is refused.
   * Name the pipeline roles that own rules. At least one of `principals` and `maxFindings` is
   * required.
   * @default - any caller
   */
  readonly principals?: string[];

  /**
   * The most ACTIVE findings one rule may archive; a rule that matches more is refused and nothing
   * is written. At least one of `principals` and `maxFindings` is required.
   * @default - no limit
   */
  readonly maxFindings?: number;

  /**
   * Also apply every rule of every analyzer on a schedule (e.g. `Schedule.rate(Duration.days(1))`).
   * Not with `principals`: a scheduled run has no caller to check.
   * @default - no schedule: only rules created or updated are applied
   */
  readonly reconcileSchedule?: events.Schedule;

  /**
   * How long to wait after an apply until the matched findings read ARCHIVED (0–900 s; never past
   * the invocation's deadline).
   * @default Duration.seconds(60)
   */
  readonly waitTime?: Duration;

  /**
   * Keep every event the function failed on through all its retries, with the error, for 14 days
   * in an SQS queue (encrypted with SQS managed keys) that this construct creates: the
   * EventInvokeConfig's on-failure destination.
   * @default false - such an event is only in the function's log
   */
  readonly keepFailedEvents?: boolean;

  /**
   * An SNS topic the `AutoApplyRefused` alarm notifies.
   * @default - the alarm has no action (it still shows its state in CloudWatch)
   */
  readonly alarmTopic?: sns.ITopic;

  /**
   * How many times Lambda retries a failed asynchronous invocation (0–2).
   * @default 2
   */
  readonly retryAttempts?: number;

  /**
   * How long Lambda keeps an event it could not yet run (60 s to 6 hours).
   * @default Duration.hours(6)
   */
  readonly maxEventAge?: Duration;

  /**
   * The function's name; its log group is `/aws/lambda/<functionName>`.
   * @default '<the provider's function name>-auto-apply'
   */
  readonly functionName?: string;

  /**
   * The code the function runs.
   * @default - the provider's code
   */
  readonly code?: ProviderCode;

  /**
   * Analyzer names the role may act on; events for other analyzers are skipped.
   * @default - the provider's analyzerNames (every analyzer when it has none)
   */
  readonly analyzerNames?: string[];

  /**
   * Memory in MB (128–10240).
   * @default - the provider's memorySize (256)
   */
  readonly memorySize?: number;

  /**
   * How long the function's logs are kept.
   * @default - the provider's logRetention (logs.RetentionDays.THREE_MONTHS)
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * A KMS key whose key policy lets CloudWatch Logs use it, to encrypt the log group.
   * @default - the provider's logEncryptionKey
   */
  readonly logEncryptionKey?: kms.IKey;

  /**
   * The most invocations that run at once.
   * @default - the provider's reservedConcurrentExecutions
   */
  readonly reservedConcurrentExecutions?: number;

  /**
   * A Lambda code signing configuration (AWS Signer).
   * @default - the provider's codeSigningConfig
   */
  readonly codeSigningConfig?: lambda.ICodeSigningConfig;
}

/**
 * Auto-apply (SPEC §9): a second function, from the same code, that applies every archive rule
 * created or updated by any tool (CloudTrail's `CreateArchiveRule` / `UpdateArchiveRule` through
 * EventBridge), with the guards and the alarm of `cfn/provider.yaml`.
 *
 * One per account and region: two would each apply every event. The events need a CloudTrail trail
 * that logs management events in the account (an organization trail counts).
 */
export class AutoApply extends Construct {
  /** The auto-apply function. */
  public readonly function: lambda.IFunction;
  /** The function's execution role: it reads and applies rules, and never writes one. */
  public readonly role: iam.IRole;
  /** The function's log group. */
  public readonly logGroup: logs.ILogGroup;
  /** The EventBridge rule on CloudTrail's `CreateArchiveRule` / `UpdateArchiveRule` events. */
  public readonly eventRule: events.Rule;
  /** The reconcile schedule's rule, when `reconcileSchedule` is set. */
  public readonly scheduleRule?: events.Rule;
  /** The alarm on `AutoApplyRefused`: a guard refused a rule. */
  public readonly refusedAlarm: cloudwatch.Alarm;
  /** The queue that keeps failed events, with `keepFailedEvents`. */
  public readonly failureQueue?: sqs.IQueue;

  constructor(scope: Construct, id: string, props: AutoApplyProps) {
    super(scope, id);
    checkGuards(this, props);
    const provider = props.provider;
    const base = provider._props;
    const functionName = props.functionName ?? `${provider.functionName}-auto-apply`;
    const memorySize = props.memorySize ?? base.memorySize;
    const reservedConcurrentExecutions = props.reservedConcurrentExecutions ?? base.reservedConcurrentExecutions;
    checkFunctionSettings(this, functionName, memorySize, reservedConcurrentExecutions);
    const analyzerNames = props.analyzerNames ?? provider.analyzerNames;
    const waitSeconds = (props.waitTime ?? Duration.seconds(60)).toSeconds();
    checkWholeNumber(this, 'waitTime (seconds)', waitSeconds, 0, 900);

    const environment: { [key: string]: string } = {
      APPLIED_ARCHIVE_RULE_AUTO_APPLY: 'true',
      // The provider's own calls are skipped: it applies the rules it writes.
      APPLIED_ARCHIVE_RULE_ROLE_ARN: provider.role.roleArn,
      // Empty: any caller, no limit (as the template's empty parameters).
      APPLIED_ARCHIVE_RULE_AUTO_APPLY_PRINCIPALS: (props.principals ?? []).join(','),
      APPLIED_ARCHIVE_RULE_AUTO_APPLY_MAX_FINDINGS: props.maxFindings === undefined ? '' : numberString(props.maxFindings),
      APPLIED_ARCHIVE_RULE_AUTO_APPLY_WAIT_SECONDS: numberString(waitSeconds),
      APPLIED_ARCHIVE_RULE_ANALYZERS: (analyzerNames ?? []).join(','),
    };

    if (props.keepFailedEvents) {
      const queue = new sqs.Queue(this, 'FailureQueue', {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        // 14 days, SQS's longest: time to read the failed events and send them again.
        retentionPeriod: Duration.days(14),
        removalPolicy: RemovalPolicy.DESTROY,
      });
      (queue.node.defaultChild as CfnResource).addMetadata('checkov', {
        skip: [{
          id: 'CKV_AWS_27',
          comment: 'Encrypted at rest with SQS managed keys (SqsManagedSseEnabled); checkov only counts a '
            + "KMS key, which would add key grants for Lambda's delivery and no protection from anyone "
            + 'allowed to read the queue.',
        }],
      });
      this.failureQueue = queue;
    }
    const failureQueue = this.failureQueue;

    const parts = providerFunction(this, {
      code: props.code ?? provider.code,
      functionName,
      description: 'Auto-apply - applies IAM Access Analyzer archive rules that any tool creates or changes to existing findings',
      roleDescription: `Auto-apply of IAM Access Analyzer archive rules in ${Stack.of(this).region} (stack ${Stack.of(this).stackName})`,
      policies: (logGroup) => {
        const policies: { [name: string]: iam.PolicyDocument } = {
          'applied-archive-rule-auto-apply': new iam.PolicyDocument({
            statements: autoApplyStatements(this, analyzerNames, logGroup),
          }),
        };
        if (failureQueue !== undefined) {
          // Lambda sends a failed event to the queue with this role. A policy of its own, as in
          // cfn/provider.yaml, so that the first one stays the same with or without the queue.
          policies['applied-archive-rule-auto-apply-failed-events'] = new iam.PolicyDocument({
            statements: [failedEventsStatement(failureQueue)],
          });
        }
        return policies;
      },
      memorySize,
      logRetention: props.logRetention ?? base.logRetention,
      logEncryptionKey: props.logEncryptionKey ?? base.logEncryptionKey,
      reservedConcurrentExecutions,
      codeSigningConfig: props.codeSigningConfig ?? base.codeSigningConfig,
      environment,
      timeout: provider.timeout,
      // The reasons of cfn/provider.yaml's AutoApplyFunction.
      checkovReasons: {
        CKV_AWS_116:
          'No dead-letter queue: the EventInvokeConfig sends an event that failed every retry to its '
          + 'on-failure destination (keepFailedEvents), which keeps the error with the event; a '
          + 'dead-letter queue would keep the event alone.',
        CKV_AWS_117:
          'No VPC: the function only calls the public Access Analyzer endpoint and serves nothing; '
          + 'docs/deploy.md says what a VPC would need.',
        CKV_AWS_173:
          'The environment holds analyzer names, ARN patterns, a role ARN and numbers, no secret; '
          + 'Lambda encrypts environment variables at rest with an AWS managed key.',
      },
    });
    this.function = parts.function;
    this.role = parts.role;
    this.logGroup = parts.logGroup;

    // EventBridge invokes asynchronously: an error (throttling, 5xx, a timeout) is retried by
    // Lambda with the same event id, and so the same client token.
    parts.function.configureAsyncInvoke({
      retryAttempts: props.retryAttempts ?? 2,
      maxEventAge: props.maxEventAge ?? Duration.hours(6),
      // The destination only: the role's statement for it is failedEventsStatement (the CDK's
      // SqsDestination would also grant queue reads the function never makes).
      onFailure: failureQueue === undefined ? undefined : { bind: () => ({ destination: failureQueue.queueArn }) },
    });

    // Never ApplyArchiveRule: the function's own calls would trigger it again.
    this.eventRule = new events.Rule(this, 'EventRule', {
      description: `CreateArchiveRule and UpdateArchiveRule, from CloudTrail, to ${functionName}`,
      eventPattern: {
        source: ['aws.access-analyzer'],
        detailType: ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['access-analyzer.amazonaws.com'],
          eventName: ['CreateArchiveRule', 'UpdateArchiveRule'],
          errorCode: [{ exists: false }],
        },
      },
      targets: [new targets.LambdaFunction(parts.function)],
    });
    if (props.reconcileSchedule !== undefined) {
      this.scheduleRule = new events.Rule(this, 'ScheduleRule', {
        description: `Reconcile every archive rule with ${functionName}`,
        schedule: props.reconcileSchedule,
        targets: [new targets.LambdaFunction(parts.function)],
      });
    }

    this.refusedAlarm = new cloudwatch.Alarm(this, 'RefusedAlarm', {
      alarmDescription: `${functionName} refused to apply an archive rule (a caller outside principals, or more `
        + 'findings than maxFindings) and archived nothing; its log group has the line with the rule, the caller and the reason.',
      metric: new cloudwatch.Metric({
        namespace: 'AppliedArchiveRule',
        metricName: 'AutoApplyRefused',
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(5),
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // No apply, no data point: quiet is not a refusal.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic !== undefined) {
      this.refusedAlarm.addAlarmAction(new cloudwatchActions.SnsAction(props.alarmTopic));
    }
  }
}

function failedEventsStatement(queue: sqs.IQueue): iam.PolicyStatement {
  return new iam.PolicyStatement({ sid: 'FailedEvents', actions: ['sqs:SendMessage'], resources: [queue.queueArn] });
}

function checkGuards(scope: Construct, props: AutoApplyProps): void {
  if (props.principals === undefined && props.maxFindings === undefined) {
    throw new Error(`AutoApply ${scope.node.path} needs a guard: principals (the callers whose rules are applied), maxFindings, or both`);
  }
  if (props.principals !== undefined && props.reconcileSchedule !== undefined) {
    throw new Error(`AutoApply ${scope.node.path}: reconcileSchedule cannot be combined with principals (a scheduled run has no caller to check)`);
  }
  props.principals?.forEach((pattern, i) => {
    if (!Token.isUnresolved(pattern) && !/^arn:[^,\s]+$/.test(pattern)) {
      throw new Error(`AutoApply ${scope.node.path}: principals[${i}] ${JSON.stringify(pattern)} is not an ARN pattern (starting with arn:, no commas or spaces)`);
    }
  });
  if (props.principals !== undefined && props.principals.length === 0) {
    throw new Error(`AutoApply ${scope.node.path}: principals is empty; leave it out to accept any caller`);
  }
  if (props.maxFindings !== undefined) {
    // The template's AllowedPattern: up to 9 digits.
    checkWholeNumber(scope, 'maxFindings', props.maxFindings, 0, 999_999_999);
  }
}

/** An environment variable's value is a string, a token included. */
function numberString(value: number): string {
  return Token.isUnresolved(value) ? Token.asString(value) : String(value);
}
