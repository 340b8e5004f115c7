import {
  aws_iam as iam,
  aws_kms as kms,
  aws_lambda as lambda,
  aws_logs as logs,
  CfnResource,
  Duration,
  RemovalPolicy,
  Stack,
  Token,
} from 'aws-cdk-lib';
import { Construct, IConstruct } from 'constructs';
import { ProviderCode } from './code';
import { providerStatements } from './policy';
import { checkAnalyzerName } from './validate';

/** The default function name, as in `cfn/provider.yaml` (the docs' SCP names it). */
export const DEFAULT_FUNCTION_NAME = 'applied-archive-rule-provider';

/** Properties of an {@link ArchiveRuleProvider}. */
export interface ArchiveRuleProviderProps {
  /**
   * The provider's code: the zip `make package` builds, as an asset, or a copy already in S3.
   */
  readonly code: ProviderCode;

  /**
   * The function's name; its log group is `/aws/lambda/<functionName>`. Function names are per
   * region, so the default collides only with a second provider in the same region.
   * @default 'applied-archive-rule-provider'
   */
  readonly functionName?: string;

  /**
   * Memory in MB (128–10240). Lambda gives CPU in proportion; at 128 MB the first TLS handshakes
   * take hundreds of milliseconds, at 256 MB a few tens.
   * @default 256
   */
  readonly memorySize?: number;

  /**
   * How long the provider's logs are kept (they list every finding each apply archived).
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * A KMS key whose key policy lets CloudWatch Logs use it, to encrypt the log group.
   * @default - CloudWatch Logs' own encryption at rest
   */
  readonly logEncryptionKey?: kms.IKey;

  /**
   * Analyzer names the role may act on (their archive rules included); the function skips the
   * others instead of meeting AccessDenied.
   * @default - every analyzer of the account and region
   */
  readonly analyzerNames?: string[];

  /**
   * The most invocations that run at once (each custom resource of a stack operation is one);
   * more are queued and retried by Lambda. Reserving needs an account concurrency quota of at least
   * 100 plus this number.
   * @default - no function-level limit
   */
  readonly reservedConcurrentExecutions?: number;

  /**
   * A Lambda code signing configuration (AWS Signer) with `UntrustedArtifactOnDeployment: Enforce`,
   * so that Lambda refuses code its owner did not sign.
   * @default - the code is not checked
   */
  readonly codeSigningConfig?: lambda.ICodeSigningConfig;
}

// One provider per stack: the `of` lookup and the constructor's guard share this.
const PROVIDERS = new WeakMap<Stack, ArchiveRuleProvider>();

/**
 * The `Custom::AppliedArchiveRule` / `Custom::ApplyArchiveRules` provider: the Lambda function
 * (`provided.al2023`, arm64), its least-privilege role (the statements of `cfn/provider.yaml`'s
 * `ProviderRole`), and its log group with a retention. One per stack: create it with
 * `ArchiveRuleProvider.of(stack, props)`; the rules of the stack find it there.
 */
export class ArchiveRuleProvider extends Construct {
  /**
   * The stack's provider. The first call creates it (`props` are required then); later calls
   * return it and take no `props`.
   */
  public static of(scope: IConstruct, props?: ArchiveRuleProviderProps): ArchiveRuleProvider {
    const stack = Stack.of(scope);
    const existing = PROVIDERS.get(stack);
    if (existing !== undefined) {
      if (props !== undefined) {
        throw new Error(`${stack.node.path} already has an ArchiveRuleProvider (${existing.node.path}); pass its props only to the call that creates it`);
      }
      return existing;
    }
    if (props === undefined) {
      throw new Error(`${stack.node.path} has no ArchiveRuleProvider yet; create it with ArchiveRuleProvider.of(stack, { code: ProviderCode.fromAsset(...) })`);
    }
    return new ArchiveRuleProvider(stack, 'ArchiveRuleProvider', props);
  }

  /** The `ServiceToken` of the custom resources: the function's ARN. */
  public readonly serviceToken: string;
  /** The provider function. */
  public readonly function: lambda.IFunction;
  /** The function's name. */
  public readonly functionName: string;
  /** The function's execution role. */
  public readonly role: iam.IRole;
  /** The function's log group, `/aws/lambda/<functionName>`. */
  public readonly logGroup: logs.ILogGroup;
  /** The function's timeout: the custom resources' `ServiceTimeout` is set above it. */
  public readonly timeout: Duration;
  /** The code the function runs (`AutoApply` runs it too). */
  public readonly code: ProviderCode;
  /** The analyzers the role is narrowed to; undefined: every analyzer. */
  public readonly analyzerNames?: string[];
  /** @internal The props the provider was made with: `AutoApply`'s defaults. */
  public readonly _props: ArchiveRuleProviderProps;

  constructor(scope: Construct, id: string, props: ArchiveRuleProviderProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const existing = PROVIDERS.get(stack);
    if (existing !== undefined) {
      throw new Error(`${stack.node.path} already has an ArchiveRuleProvider (${existing.node.path}); one per stack serves every rule`);
    }
    PROVIDERS.set(stack, this);

    this._props = props;
    this.code = props.code;
    this.analyzerNames = checkAnalyzerNames(this, props.analyzerNames);
    this.functionName = props.functionName ?? DEFAULT_FUNCTION_NAME;
    this.timeout = Duration.seconds(300);
    checkFunctionSettings(this, this.functionName, props.memorySize, props.reservedConcurrentExecutions);

    const parts = providerFunction(this, {
      code: props.code,
      functionName: this.functionName,
      description: 'Custom::AppliedArchiveRule - creates IAM Access Analyzer archive rules and applies them to existing findings',
      roleDescription: `Custom::AppliedArchiveRule provider in ${stack.region} (stack ${stack.stackName})`,
      policies: (logGroup) => ({
        'applied-archive-rule': new iam.PolicyDocument({ statements: providerStatements(this, this.analyzerNames, logGroup) }),
      }),
      memorySize: props.memorySize,
      logRetention: props.logRetention,
      logEncryptionKey: props.logEncryptionKey,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      codeSigningConfig: props.codeSigningConfig,
      environment: { APPLIED_ARCHIVE_RULE_ANALYZERS: (this.analyzerNames ?? []).join(',') },
      timeout: this.timeout,
      // The reasons of cfn/provider.yaml's ProviderFunction.
      checkovReasons: {
        CKV_AWS_116:
          'No dead-letter queue: CloudFormation waits for the answer at the ResponseURL, not on a queue, '
          + 'and a queued event would keep that presigned URL (a credential); a failed event is in the '
          + "stack's events and this function's log.",
        CKV_AWS_117:
          'No VPC: the function only calls public AWS endpoints (Access Analyzer, and S3 for the '
          + 'ResponseURL) and serves nothing; docs/deploy.md says what a VPC would need.',
        CKV_AWS_173:
          'The one environment variable is a list of analyzer names, not a secret; Lambda encrypts '
          + 'environment variables at rest with an AWS managed key.',
      },
    });
    this.function = parts.function;
    this.role = parts.role;
    this.logGroup = parts.logGroup;
    this.serviceToken = parts.function.functionArn;
  }
}

/** @internal What both functions share: a role, a log group and the function. */
export interface FunctionParts {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
}

/** @internal */
export interface FunctionSettings {
  readonly code: ProviderCode;
  readonly functionName: string;
  readonly description: string;
  readonly roleDescription: string;
  /** The role's inline policies, by name. */
  readonly policies: (logGroup: logs.ILogGroup) => { [name: string]: iam.PolicyDocument };
  readonly memorySize?: number;
  readonly logRetention?: logs.RetentionDays;
  readonly logEncryptionKey?: kms.IKey;
  readonly reservedConcurrentExecutions?: number;
  readonly codeSigningConfig?: lambda.ICodeSigningConfig;
  readonly environment: { [key: string]: string };
  readonly timeout: Duration;
  /** Why the function meets neither of these checkov checks. */
  readonly checkovReasons: { CKV_AWS_116: string; CKV_AWS_117: string; CKV_AWS_173: string };
}

/**
 * @internal The function, its role and its log group, as `cfn/provider.yaml` declares them for
 * either function.
 */
export function providerFunction(scope: Construct, settings: FunctionSettings): FunctionParts {
  // Created before the function, with a retention, so Lambda never creates it without one.
  const logGroup = new logs.LogGroup(scope, 'LogGroup', {
    logGroupName: `/aws/lambda/${settings.functionName}`,
    retention: settings.logRetention ?? logs.RetentionDays.THREE_MONTHS,
    encryptionKey: settings.logEncryptionKey,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  // No explicit role name: IAM names are global to the account, and a stack per region would
  // collide. Inline statements only, so nothing else widens the role unnoticed.
  const role = new iam.Role(scope, 'Role', {
    description: settings.roleDescription,
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    inlinePolicies: settings.policies(logGroup),
  });
  const fn = new lambda.Function(scope, 'Function', {
    functionName: settings.functionName,
    description: settings.description,
    runtime: lambda.Runtime.PROVIDED_AL2023,
    architecture: lambda.Architecture.ARM_64,
    handler: 'bootstrap',
    code: settings.code.bind(scope),
    role,
    // CPU scales with memory, and the first calls' TLS handshakes are CPU bound.
    memorySize: settings.memorySize ?? 256,
    // The provider answers FAILED before its deadline, so this bounds how long a stack can wait.
    timeout: settings.timeout,
    loggingFormat: lambda.LoggingFormat.JSON,
    logGroup,
    reservedConcurrentExecutions: settings.reservedConcurrentExecutions,
    codeSigningConfig: settings.codeSigningConfig,
    environment: settings.environment,
  });

  const skips = Object.entries(settings.checkovReasons).map(([id, comment]) => ({ id, comment }));
  if (settings.reservedConcurrentExecutions === undefined) {
    skips.push({
      id: 'CKV_AWS_115',
      comment: 'A function-level concurrency limit is the reservedConcurrentExecutions prop; reserving '
        + "takes from the account's unreserved pool, so the owner decides.",
    });
  }
  if (settings.codeSigningConfig === undefined) {
    skips.push({
      id: 'CKV_AWS_272',
      comment: 'Code signing is the codeSigningConfig prop (AWS Signer); docs/deploy.md, Signing the code.',
    });
  }
  const cfnFunction = fn.node.defaultChild as CfnResource;
  cfnFunction.addMetadata('checkov', { skip: skips });
  // lambda.Function always adds its role to DependsOn (for policies attached later); with the
  // GetAtt of the role's ARN beside it, cfn-lint calls that redundant (W3005), which it is, harmlessly.
  cfnFunction.addMetadata('cfn-lint', { config: { ignore_checks: ['W3005'] } });
  if (settings.logEncryptionKey === undefined) {
    (logGroup.node.defaultChild as CfnResource).addMetadata('checkov', {
      skip: [{
        id: 'CKV_AWS_158',
        comment: "CloudWatch Logs encrypts at rest with its own key; a key of yours is the logEncryptionKey prop.",
      }],
    });
  }
  return { function: fn, role, logGroup };
}

function checkAnalyzerNames(scope: IConstruct, names: string[] | undefined): string[] | undefined {
  if (names === undefined) {
    return undefined;
  }
  if (names.length === 0) {
    throw new Error(`analyzerNames is empty in ${scope.node.path}; leave it out for every analyzer of the account and region`);
  }
  names.forEach((name, i) => checkAnalyzerName(scope, `analyzerNames[${i}]`, name));
  return names;
}

/** @internal Ranges Lambda and `cfn/provider.yaml` allow. */
export function checkFunctionSettings(
  scope: IConstruct, functionName: string, memorySize?: number, reservedConcurrentExecutions?: number,
): void {
  if (!Token.isUnresolved(functionName) && !/^[A-Za-z0-9_-]{1,64}$/.test(functionName)) {
    throw new Error(`functionName ${JSON.stringify(functionName)} in ${scope.node.path} is not a function name (1-64 characters: letters, digits, - _)`);
  }
  if (memorySize !== undefined && !Token.isUnresolved(memorySize)
    && !(Number.isInteger(memorySize) && memorySize >= 128 && memorySize <= 10240)) {
    throw new Error(`memorySize ${memorySize} in ${scope.node.path} must be a whole number of MB from 128 to 10240`);
  }
  if (reservedConcurrentExecutions !== undefined && !Token.isUnresolved(reservedConcurrentExecutions)
    && !(Number.isInteger(reservedConcurrentExecutions) && reservedConcurrentExecutions >= 1)) {
    throw new Error(`reservedConcurrentExecutions ${reservedConcurrentExecutions} in ${scope.node.path} must be a whole number of at least 1`);
  }
}
