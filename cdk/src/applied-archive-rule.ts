import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { AnalyzerRef } from './analyzer-ref';
import { applyLimits, providerResource } from './custom-resource';
import { Criterion, renderFilter } from './filter';
import { ArchiveRuleProvider } from './provider';
import { checkRuleName } from './validate';

/** Properties of an {@link AppliedArchiveRule}. */
export interface AppliedArchiveRuleProps {
  /** The analyzer the rule belongs to; changing it replaces the rule. */
  readonly analyzer: AnalyzerRef;

  /**
   * The rule's name (1–255 characters of `[A-Za-z][A-Za-z0-9_.-]*`); changing it replaces the rule.
   */
  readonly ruleName: string;

  /**
   * The findings the rule archives, by filter key (`resourceType`, `principal.AWS`, `isPublic`,
   * `findingType`, ...; which keys an analyzer type accepts is the service's call). `status` and
   * `id` are not allowed in archive rules. Changed in place.
   */
  readonly filter: { [key: string]: Criterion };

  /**
   * Archive the ACTIVE findings the filter matches now, not only those that arrive later.
   * @default true
   */
  readonly applyToExistingFindings?: boolean;

  /**
   * How long to wait until the matched findings read ARCHIVED (0–900 s, whole seconds; 0: do not
   * wait). Findings still ACTIVE then do not fail the operation: they are `pendingFindings`.
   * @default Duration.seconds(60)
   */
  readonly archiveTimeout?: Duration;

  /**
   * A guard against a filter far broader than meant: if more ACTIVE findings match, nothing is
   * written and the operation fails.
   * @default - no limit
   */
  readonly maxFindingsToArchive?: number;

  /**
   * Take over a rule of the same name that exists with a different filter (an identical one is
   * always adopted).
   * @default false
   */
  readonly adoptExisting?: boolean;

  /**
   * Any string; changing it alone applies the rule to existing findings again.
   * @default - none
   */
  readonly revision?: string;

  /**
   * The provider that serves the rule.
   * @default - the stack's provider, `ArchiveRuleProvider.of(stack)`
   */
  readonly provider?: ArchiveRuleProvider;

  /**
   * The `ServiceToken` of a provider deployed otherwise (`cfn/provider.yaml` exports it as
   * `<stack name>-ServiceToken`), instead of `provider`.
   * @default - the provider's
   */
  readonly serviceToken?: string;
}

/**
 * An IAM Access Analyzer archive rule that is also applied to the findings that already exist
 * (`Custom::AppliedArchiveRule`): created or updated, applied, and verified in the same stack
 * operation. Deleting it deletes the rule; findings it archived stay archived.
 */
export class AppliedArchiveRule extends Construct {
  /** The archive rule's ARN (also the resource's `Ref`). */
  public readonly arn: string;
  /** ACTIVE findings that matched the filter just before the apply. */
  public readonly matchedFindings: string;
  /** Of those, how many read ARCHIVED when the operation finished. */
  public readonly archivedFindings: string;
  /** Matched findings still ACTIVE when the wait ended. */
  public readonly pendingFindings: string;
  /** `"true"` when a read after the apply produced the counts. */
  public readonly verified: string;

  constructor(scope: Construct, id: string, props: AppliedArchiveRuleProps) {
    super(scope, id);
    checkRuleName(this, 'RuleName', props.ruleName);
    const resource = providerResource(this, props, 'Custom::AppliedArchiveRule', {
      ...props.analyzer._properties(this),
      RuleName: props.ruleName,
      Filter: renderFilter(this, props.filter),
      ApplyToExistingFindings: props.applyToExistingFindings,
      ...applyLimits(this, props.archiveTimeout, props.maxFindingsToArchive),
      AdoptExisting: props.adoptExisting,
      Revision: props.revision,
    });
    this.arn = resource.getAttString('Arn');
    this.matchedFindings = resource.getAttString('MatchedFindings');
    this.archivedFindings = resource.getAttString('ArchivedFindings');
    this.pendingFindings = resource.getAttString('PendingFindings');
    this.verified = resource.getAttString('Verified');
  }
}
