import { CustomResource, Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ArchiveRuleProvider } from './provider';
import { checkWholeNumber, MAX_ARCHIVE_TIMEOUT_SECONDS } from './validate';

/**
 * `ServiceTimeout`: CloudFormation's wait for the answer. Above the function's 300 s, so the
 * provider's own FAILED (sent before its deadline) is what a stack sees, never CloudFormation's
 * timeout.
 */
export const SERVICE_TIMEOUT = Duration.seconds(360);

/** @internal Which provider serves a custom resource. */
export interface ProviderChoice {
  readonly provider?: ArchiveRuleProvider;
  readonly serviceToken?: string;
}

/**
 * @internal The custom resource of `resourceType` with `properties`, served by the chosen provider
 * (by default the stack's `ArchiveRuleProvider`).
 */
export function providerResource(
  scope: Construct, choice: ProviderChoice, resourceType: string, properties: { [key: string]: any },
): CustomResource {
  if (choice.provider !== undefined && choice.serviceToken !== undefined) {
    throw new Error(`${scope.node.path}: give provider or serviceToken, not both`);
  }
  const serviceToken = choice.serviceToken ?? (choice.provider ?? ArchiveRuleProvider.of(scope)).serviceToken;
  const defined: { [key: string]: any } = {};
  for (const [key, value] of Object.entries(properties)) {
    if (value !== undefined) {
      defined[key] = value;
    }
  }
  return new CustomResource(scope, 'Resource', {
    serviceToken,
    resourceType,
    properties: defined,
    serviceTimeout: SERVICE_TIMEOUT,
  });
}

/**
 * @internal `ArchiveTimeoutSeconds` from a `Duration`, and both limits checked as the provider
 * checks them. `toSeconds()` refuses a fraction of a second, which the provider would refuse too.
 */
export function applyLimits(
  scope: Construct, archiveTimeout: Duration | undefined, maxFindingsToArchive: number | undefined,
): { ArchiveTimeoutSeconds?: number; MaxFindingsToArchive?: number } {
  const archiveTimeoutSeconds = archiveTimeout?.toSeconds();
  if (archiveTimeoutSeconds !== undefined) {
    checkWholeNumber(scope, 'ArchiveTimeoutSeconds', archiveTimeoutSeconds, 0, MAX_ARCHIVE_TIMEOUT_SECONDS);
  }
  if (maxFindingsToArchive !== undefined) {
    checkWholeNumber(scope, 'MaxFindingsToArchive', maxFindingsToArchive, 0);
  }
  return { ArchiveTimeoutSeconds: archiveTimeoutSeconds, MaxFindingsToArchive: maxFindingsToArchive };
}
