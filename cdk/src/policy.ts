// The statements of the two roles, written once for the constructs. cfn/provider.yaml writes the
// same statements in CloudFormation; test/policy-parity.test.ts evaluates both and proves them
// equal, action for action and resource for resource.

import { aws_iam as iam, aws_logs as logs, ArnFormat, Stack } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

function analyzerArn(scope: IConstruct, name: string): string {
  return Stack.of(scope).formatArn({
    service: 'access-analyzer',
    resource: 'analyzer',
    resourceName: name,
    arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
  });
}

/** Every analyzer of the account and region, or the named ones. */
function analyzerArns(scope: IConstruct, analyzerNames: string[] | undefined): string[] {
  return (analyzerNames ?? ['*']).map((name) => analyzerArn(scope, name));
}

function archiveRuleArns(scope: IConstruct, analyzerNames: string[] | undefined): string[] {
  return (analyzerNames ?? ['*']).map((name) => analyzerArn(scope, `${name}/archive-rule/*`));
}

/**
 * What both functions do on analyzers. ListFindings authorises ListFindingsV2; ListArchiveRules
 * serves the rules of an analyzer, and GetAnalyzer tells an analyzer without rules from a missing one.
 */
function analyzersStatement(scope: IConstruct, analyzerNames: string[] | undefined): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'Analyzers',
    actions: [
      'access-analyzer:ApplyArchiveRule',
      'access-analyzer:ListFindings',
      'access-analyzer:ListArchiveRules',
      'access-analyzer:GetAnalyzer',
    ],
    resources: analyzerArns(scope, analyzerNames),
  });
}

/** AWSLambdaBasicExecutionRole narrowed to the function's own log group (the stack creates it). */
function logStatement(logGroup: logs.ILogGroup): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'Logs',
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [logGroup.logGroupArn],
  });
}

/**
 * The CloudFormation provider's role: exactly the operations it calls (tests/deployment.rs checks
 * the list against the calls the provider makes). Per the Service Authorization Reference the
 * four rule operations are authorised on the archive-rule resource, the others on the analyzer.
 */
export function providerStatements(
  scope: IConstruct, analyzerNames: string[] | undefined, logGroup: logs.ILogGroup,
): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: 'ArchiveRules',
      actions: [
        'access-analyzer:CreateArchiveRule',
        'access-analyzer:UpdateArchiveRule',
        'access-analyzer:GetArchiveRule',
        'access-analyzer:DeleteArchiveRule',
      ],
      resources: archiveRuleArns(scope, analyzerNames),
    }),
    analyzersStatement(scope, analyzerNames),
    logStatement(logGroup),
  ];
}

/**
 * The auto-apply function's role (SPEC §9.1): it reads rules and analyzers and applies rules, and
 * never creates, updates or deletes one.
 */
export function autoApplyStatements(
  scope: IConstruct, analyzerNames: string[] | undefined, logGroup: logs.ILogGroup,
): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: 'ArchiveRules',
      actions: ['access-analyzer:GetArchiveRule'],
      resources: archiveRuleArns(scope, analyzerNames),
    }),
    analyzersStatement(scope, analyzerNames),
    // The reconcile run lists the analyzers; ListAnalyzers is not authorised on any resource.
    new iam.PolicyStatement({
      sid: 'ListAnalyzers',
      actions: ['access-analyzer:ListAnalyzers'],
      resources: ['*'],
    }),
    logStatement(logGroup),
  ];
}
